//! Payments: `GET /Payments` and the records that tests add or delete
//! through `XeroDouble::add_payment` and `delete_payment`.

use serde_json::{json, Value};

use super::accounting::{ApiResponse, Call};
use super::books::{Books, Payment};
use super::format::{decimal_json, money_json, ms_date, ms_date_of_day};
use super::query::{filter_and_order, if_modified_since, modified_since, Paging};

pub(crate) fn payment_json(books: &Books, payment: &Payment) -> Value {
    let invoice = books
        .documents
        .iter()
        .find(|document| document.id == payment.invoice_id);
    let bank = books.account("090");
    let (payment_type, invoice_summary, currency_rate) = match invoice {
        Some(invoice) => {
            let contact = books.contact(&invoice.contact_id);
            let summary = json!({
                "Type": invoice.doc_type,
                "InvoiceID": invoice.id,
                "InvoiceNumber": invoice.number,
                "Contact": {
                    "ContactID": invoice.contact_id,
                    "Name": contact.map(|contact| contact.name.clone()).unwrap_or_default(),
                },
                "CurrencyCode": invoice.currency_code,
            });
            let payment_type = if invoice.doc_type == "ACCPAY" {
                "ACCPAYPAYMENT"
            } else {
                "ACCRECPAYMENT"
            };
            (payment_type, summary, invoice.currency_rate)
        }
        None => (
            "ACCRECPAYMENT",
            json!({ "InvoiceID": payment.invoice_id }),
            rust_decimal::Decimal::ONE,
        ),
    };
    json!({
        "PaymentID": payment.id,
        "Date": ms_date_of_day(payment.date),
        "BankAmount": money_json(payment.amount),
        "Amount": money_json(payment.amount),
        "Reference": payment.reference,
        "CurrencyRate": decimal_json(currency_rate, 6),
        "PaymentType": payment_type,
        "Status": payment.status,
        "UpdatedDateUTC": ms_date(payment.updated),
        "HasAccount": true,
        "IsReconciled": false,
        "Account": {
            "AccountID": bank.map(|account| account.id.clone()).unwrap_or_default(),
            "Code": "090",
        },
        "Invoice": invoice_summary,
        "HasValidationErrors": false,
    })
}

/// `GET /Payments` with `If-Modified-Since`, `where`, `order` and paging.
/// Deleted payments stay listed with Status `DELETED`, as in Xero.
pub(crate) fn list(books: &Books, call: &Call) -> ApiResponse {
    let incoming = call.incoming;
    let since = match if_modified_since(incoming) {
        Ok(since) => since,
        Err(error) => return ApiResponse::query_failed(error),
    };
    let paging = match Paging::from_query(incoming) {
        Ok(paging) => paging,
        Err(error) => return ApiResponse::query_failed(error),
    };
    let records: Vec<Value> = books
        .payments
        .iter()
        .filter(|payment| modified_since(payment.updated, since))
        .map(|payment| payment_json(books, payment))
        .collect();
    let records = match filter_and_order(incoming, records) {
        Ok(records) => records,
        Err(error) => return ApiResponse::query_failed(error),
    };
    let (records, pagination) = paging.apply(records);
    ApiResponse::records("Payments", records, pagination, call.now)
}

pub(crate) fn get(books: &Books, call: &Call, id: &str) -> ApiResponse {
    match books
        .payments
        .iter()
        .find(|payment| payment.id.eq_ignore_ascii_case(id))
    {
        Some(payment) => ApiResponse::records(
            "Payments",
            vec![payment_json(books, payment)],
            None,
            call.now,
        ),
        None => ApiResponse::not_found(),
    }
}
