//! Read-only settings endpoints: `Organisation`, `Accounts`, `TaxRates` and
//! `Currencies`.

use serde_json::{json, Value};

use super::accounting::{ApiResponse, Call};
use super::books::{Account, Books, TaxRate};
use super::format::{decimal_json, ms_date};
use super::query::filter_and_order;
use super::TenantSeed;

/// Returns the organisation in the shape of Xero's `Organisation` schema,
/// as a Croatian company keeping its books in EUR.
pub(crate) fn organisation(seed: &TenantSeed, call: &Call) -> ApiResponse {
    let short_code: String = seed
        .tenant_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(5)
        .collect();
    let organisation = json!({
        "OrganisationID": seed.tenant_id,
        "APIKey": "",
        "Name": seed.name,
        "LegalName": seed.name,
        "PaysTax": true,
        "Version": "GLOBAL",
        "OrganisationType": "COMPANY",
        "BaseCurrency": "EUR",
        "CountryCode": "HR",
        "IsDemoCompany": false,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 12,
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "MONTHLY",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": ms_date(call.now),
        "OrganisationEntityType": "COMPANY",
        "Timezone": "CENTRALEUROPESTANDARDTIME",
        "ShortCode": format!("!{short_code}"),
        "Edition": "BUSINESS",
        "Class": "STANDARD",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    });
    ApiResponse::records("Organisations", vec![organisation], None, call.now)
}

fn account_json(account: &Account, call: &Call) -> Value {
    json!({
        "AccountID": account.id,
        "Code": account.code,
        "Name": account.name,
        "Status": account.status,
        "Type": account.account_type,
        "TaxType": account.tax_type,
        "Class": account.class,
        "EnablePaymentsToAccount": account.account_type == "BANK",
        "ShowInExpenseClaims": false,
        "ReportingCode": account.class,
        "HasAttachments": false,
        "UpdatedDateUTC": ms_date(call.now),
        "AddToWatchlist": false,
    })
}

pub(crate) fn accounts(books: &Books, call: &Call, id: Option<&str>) -> ApiResponse {
    let records: Vec<Value> = books
        .accounts
        .iter()
        .filter(|account| id.is_none_or(|id| account.id.eq_ignore_ascii_case(id)))
        .map(|account| account_json(account, call))
        .collect();
    if id.is_some() && records.is_empty() {
        return ApiResponse::not_found();
    }
    match filter_and_order(call.incoming, records) {
        Ok(records) => ApiResponse::records("Accounts", records, None, call.now),
        Err(error) => ApiResponse::query_failed(error),
    }
}

fn tax_rate_json(rate: &TaxRate) -> Value {
    json!({
        "Name": rate.name,
        "TaxType": rate.tax_type,
        "ReportTaxType": if rate.can_apply_to_revenue { "OUTPUT" } else { "INPUT" },
        "CanApplyToAssets": false,
        "CanApplyToEquity": false,
        "CanApplyToExpenses": rate.can_apply_to_expenses,
        "CanApplyToLiabilities": false,
        "CanApplyToRevenue": rate.can_apply_to_revenue,
        "DisplayTaxRate": decimal_json(rate.rate, 4),
        "EffectiveRate": decimal_json(rate.rate, 4),
        "Status": rate.status,
        "TaxComponents": [{
            "Name": "VAT",
            "Rate": decimal_json(rate.rate, 4),
            "IsCompound": false,
            "IsNonRecoverable": false,
        }],
    })
}

pub(crate) fn tax_rates(books: &Books, call: &Call) -> ApiResponse {
    let wanted = call.incoming.query_param("TaxType");
    let records: Vec<Value> = books
        .tax_rates
        .iter()
        .filter(|rate| {
            wanted
                .as_deref()
                .is_none_or(|wanted| rate.tax_type.eq_ignore_ascii_case(wanted))
        })
        .map(tax_rate_json)
        .collect();
    match filter_and_order(call.incoming, records) {
        Ok(records) => ApiResponse::records("TaxRates", records, None, call.now),
        Err(error) => ApiResponse::query_failed(error),
    }
}

/// `GET /Currencies`: the base currency and the ones the organisation added.
pub(crate) fn currencies(books: &Books, call: &Call) -> ApiResponse {
    let records: Vec<Value> = books
        .currencies
        .iter()
        .map(|code| serde_json::json!({ "Code": code, "Description": code }))
        .collect();
    match filter_and_order(call.incoming, records) {
        Ok(records) => ApiResponse::records("Currencies", records, None, call.now),
        Err(error) => ApiResponse::query_failed(error),
    }
}
