//! Typed calls to Xero's identity and accounting APIs, built on [`XeroClient`].

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::xero::dates::{parse_xero_date, parse_xero_datetime};
use crate::xero::errors::validation_messages;
use crate::xero::http::{ApiRequest, XeroClient};

pub const ACCOUNTING: &str = "/api.xro/2.0";

/// Maximum length of the query value of one look-up. Xero's URL limit is not
/// documented. About 52 GUIDs (1,900 characters) is the largest `IDs` list
/// reported to work, so look-ups stay under that.
pub const MAX_QUERY_CHARS: usize = 1800;

/// Xero's largest page size for Invoices, CreditNotes, Contacts and Payments.
/// NOTE: 1000 comes from third-party documentation, not from a Xero page.
pub const MAX_PAGE_SIZE: usize = 1000;

/// One organisation the connection reaches (`GET /connections`).
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: String,
    pub tenant_id: String,
    pub tenant_type: String,
    pub tenant_name: String,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub code: String,
    pub name: String,
    pub status: String,
    /// Account class: `REVENUE`, `EXPENSE`, `ASSET`, `LIABILITY` or `EQUITY`.
    pub class: String,
}

#[derive(Debug, Clone)]
pub struct TaxRate {
    pub tax_type: String,
    pub name: String,
    pub status: String,
    /// Whether sales documents may use it (`CanApplyToRevenue`).
    pub revenue: bool,
}

#[derive(Debug, Clone)]
pub struct Contact {
    pub contact_id: String,
    pub name: String,
    pub contact_number: Option<String>,
    pub status: String,
}

/// A document (invoice or credit note) as Xero reports it.
#[derive(Debug, Clone)]
pub struct Document {
    pub id: String,
    pub number: String,
    pub status: String,
    pub currency: Option<String>,
    pub total: Option<Decimal>,
    pub amount_paid: Option<Decimal>,
    pub amount_credited: Option<Decimal>,
    pub amount_due: Option<Decimal>,
    pub remaining_credit: Option<Decimal>,
    pub fully_paid_on: Option<NaiveDate>,
    pub updated_at: Option<DateTime<Utc>>,
    pub payments: Vec<PaymentRow>,
}

#[derive(Debug, Clone)]
pub struct PaymentRow {
    pub payment_id: String,
    pub date: Option<NaiveDate>,
    pub amount: Option<Decimal>,
    pub reference: Option<String>,
    pub status: String,
}

/// The outcome of one element of a batch write with `summarizeErrors=false`.
#[derive(Debug, Clone)]
pub struct ElementResult {
    pub ok: bool,
    pub document: Option<Document>,
    pub messages: Vec<String>,
}

/// Reads an exact decimal from a JSON number or string.
pub fn decimal(value: Option<&Value>) -> Option<Decimal> {
    match value? {
        Value::Number(number) => {
            let text = number.to_string();
            Decimal::from_str(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .ok()
        }
        Value::String(text) => Decimal::from_str(text.trim()).ok(),
        _ => None,
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

fn list<'a>(body: &'a Value, key: &str) -> &'a [Value] {
    body.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub async fn list_connections(client: &XeroClient) -> Result<Vec<Connection>> {
    let response = client.send(&ApiRequest::get("/connections")).await?;
    let items = response.body.as_array().cloned().unwrap_or_default();
    Ok(items
        .iter()
        .map(|item| Connection {
            id: text(item, "id").unwrap_or_default(),
            tenant_id: text(item, "tenantId").unwrap_or_default(),
            tenant_type: text(item, "tenantType").unwrap_or_default(),
            tenant_name: text(item, "tenantName").unwrap_or_default(),
        })
        .collect())
}

pub async fn delete_connection(client: &XeroClient, connection_id: &str) -> Result<()> {
    let request = ApiRequest {
        method: Method::DELETE,
        ..ApiRequest::get(format!("/connections/{connection_id}"))
    };
    client.send(&request).await.map(|_| ())
}

pub async fn organisation_name(client: &XeroClient) -> Result<Option<String>> {
    let response = client
        .send(&ApiRequest::get(format!("{ACCOUNTING}/Organisation")))
        .await?;
    Ok(list(&response.body, "Organisations")
        .first()
        .and_then(|o| text(o, "Name")))
}

pub async fn accounts(client: &XeroClient) -> Result<Vec<Account>> {
    let response = client
        .send(&ApiRequest::get(format!("{ACCOUNTING}/Accounts")))
        .await?;
    Ok(list(&response.body, "Accounts")
        .iter()
        .filter_map(|item| {
            Some(Account {
                code: text(item, "Code")?,
                name: text(item, "Name").unwrap_or_default(),
                status: text(item, "Status").unwrap_or_else(|| "ACTIVE".into()),
                class: text(item, "Class").unwrap_or_default(),
            })
        })
        .collect())
}

/// Returns the currency codes the organisation can invoice in.
pub async fn currencies(client: &XeroClient) -> Result<Vec<String>> {
    let response = client
        .send(&ApiRequest::get(format!("{ACCOUNTING}/Currencies")))
        .await?;
    Ok(list(&response.body, "Currencies")
        .iter()
        .filter_map(|item| text(item, "Code"))
        .collect())
}

pub async fn tax_rates(client: &XeroClient) -> Result<Vec<TaxRate>> {
    let response = client
        .send(&ApiRequest::get(format!("{ACCOUNTING}/TaxRates")))
        .await?;
    Ok(list(&response.body, "TaxRates")
        .iter()
        .filter_map(|item| {
            Some(TaxRate {
                tax_type: text(item, "TaxType")?,
                name: text(item, "Name").unwrap_or_default(),
                status: text(item, "Status").unwrap_or_else(|| "ACTIVE".into()),
                revenue: item
                    .get("CanApplyToRevenue")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            })
        })
        .collect())
}

fn parse_contact(item: &Value) -> Option<Contact> {
    Some(Contact {
        contact_id: text(item, "ContactID")?,
        name: text(item, "Name").unwrap_or_default(),
        contact_number: text(item, "ContactNumber").filter(|n| !n.is_empty()),
        status: text(item, "ContactStatus").unwrap_or_else(|| "ACTIVE".into()),
    })
}

/// Length of `text` once percent-encoded in a query string.
fn encoded_len(text: &str) -> usize {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .map(str::len)
        .sum()
}

/// Quotes a value for Xero's `where` filter.
fn where_literal(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Splits values into groups whose joined query stays under [`MAX_QUERY_CHARS`].
pub fn chunk_by_length(values: &[String], cost: impl Fn(&str) -> usize) -> Vec<Vec<&String>> {
    let mut chunks = Vec::new();
    let mut current: Vec<&String> = Vec::new();
    let mut length = 0;
    for value in values {
        let value_cost = cost(value);
        if !current.is_empty() && length + value_cost > MAX_QUERY_CHARS {
            chunks.push(std::mem::take(&mut current));
            length = 0;
        }
        length += value_cost;
        current.push(value);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Finds contacts whose `field` (Name or ContactNumber) equals one of
/// `values`, archived ones included, in as few requests as the URL allows.
pub async fn find_contacts(
    client: &XeroClient,
    field: &str,
    values: &[String],
) -> Result<Vec<Contact>> {
    let mut found = Vec::new();
    let cost = |value: &str| encoded_len(&format!("{field}=={} OR ", where_literal(value)));
    for chunk in chunk_by_length(values, cost) {
        let filter = chunk
            .iter()
            .map(|value| format!("{field}=={}", where_literal(value)))
            .collect::<Vec<_>>()
            .join(" OR ");
        let mut page = 1;
        loop {
            let request = ApiRequest::get(format!("{ACCOUNTING}/Contacts"))
                .query("where", filter.clone())
                .query("includeArchived", "true")
                .query("summaryOnly", "true")
                .query("page", page.to_string())
                .query("pageSize", MAX_PAGE_SIZE.to_string());
            let response = client.send(&request).await?;
            let items = list(&response.body, "Contacts");
            found.extend(items.iter().filter_map(parse_contact));
            if items.len() < MAX_PAGE_SIZE {
                break;
            }
            page += 1;
        }
    }
    Ok(found)
}

/// Searches contacts with Xero's case-insensitive `searchTerm` (Name,
/// names, ContactNumber, email), archived ones included.
pub async fn search_contacts(client: &XeroClient, term: &str) -> Result<Vec<Contact>> {
    let request = ApiRequest::get(format!("{ACCOUNTING}/Contacts"))
        .query("searchTerm", term.to_string())
        .query("includeArchived", "true")
        .query("summaryOnly", "true")
        .query("page", "1")
        .query("pageSize", MAX_PAGE_SIZE.to_string());
    let response = client.send(&request).await?;
    Ok(list(&response.body, "Contacts")
        .iter()
        .filter_map(parse_contact)
        .collect())
}

/// Looks up contacts by ContactID (archived included).
pub async fn contacts_by_id(client: &XeroClient, ids: &[String]) -> Result<Vec<Contact>> {
    let mut found = Vec::new();
    for chunk in chunk_by_length(ids, |id| encoded_len(id) + encoded_len(",")) {
        let joined = chunk
            .iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let request = ApiRequest::get(format!("{ACCOUNTING}/Contacts"))
            .query("IDs", joined)
            .query("includeArchived", "true")
            .query("summaryOnly", "true");
        let response = client.send(&request).await?;
        found.extend(
            list(&response.body, "Contacts")
                .iter()
                .filter_map(parse_contact),
        );
    }
    Ok(found)
}

/// Creates contacts in one batch (per 50) with per-element results.
pub async fn create_contacts(
    client: &XeroClient,
    contacts: &[Value],
    idempotency_key: &str,
) -> Result<Vec<(bool, Option<Contact>, Vec<String>)>> {
    let request = ApiRequest::write(
        Method::PUT,
        format!("{ACCOUNTING}/Contacts"),
        serde_json::json!({ "Contacts": contacts }),
        idempotency_key.to_string(),
    )
    .query("summarizeErrors", "false");
    let response = client.send(&request).await?;
    Ok(list(&response.body, "Contacts")
        .iter()
        .map(|item| {
            let messages = validation_messages(item);
            let ok = element_ok(item, &messages);
            (ok, if ok { parse_contact(item) } else { None }, messages)
        })
        .collect())
}

fn element_ok(item: &Value, messages: &[String]) -> bool {
    let status_error = text(item, "StatusAttributeString")
        .map(|s| s.eq_ignore_ascii_case("ERROR"))
        .unwrap_or(false);
    let has_errors = item
        .get("HasErrors")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    !status_error && !has_errors && messages.is_empty()
}

/// Endpoint of a document kind: invoices or credit notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentEndpoint {
    Invoices,
    CreditNotes,
}

impl DocumentEndpoint {
    pub fn path(self) -> String {
        match self {
            DocumentEndpoint::Invoices => format!("{ACCOUNTING}/Invoices"),
            DocumentEndpoint::CreditNotes => format!("{ACCOUNTING}/CreditNotes"),
        }
    }

    fn list_key(self) -> &'static str {
        match self {
            DocumentEndpoint::Invoices => "Invoices",
            DocumentEndpoint::CreditNotes => "CreditNotes",
        }
    }

    fn id_key(self) -> &'static str {
        match self {
            DocumentEndpoint::Invoices => "InvoiceID",
            DocumentEndpoint::CreditNotes => "CreditNoteID",
        }
    }

    pub fn number_key(self) -> &'static str {
        match self {
            DocumentEndpoint::Invoices => "InvoiceNumber",
            DocumentEndpoint::CreditNotes => "CreditNoteNumber",
        }
    }
}

pub fn parse_document(endpoint: DocumentEndpoint, item: &Value) -> Option<Document> {
    let payments = list(item, "Payments")
        .iter()
        .filter_map(|payment| {
            Some(PaymentRow {
                payment_id: text(payment, "PaymentID")?,
                date: text(payment, "Date").as_deref().and_then(parse_xero_date),
                amount: decimal(payment.get("Amount")),
                reference: text(payment, "Reference").filter(|r| !r.is_empty()),
                status: text(payment, "Status").unwrap_or_else(|| "AUTHORISED".into()),
            })
        })
        .collect();
    Some(Document {
        id: text(item, endpoint.id_key())?,
        number: text(item, endpoint.number_key()).unwrap_or_default(),
        status: text(item, "Status").unwrap_or_default(),
        currency: text(item, "CurrencyCode"),
        total: decimal(item.get("Total")),
        amount_paid: decimal(item.get("AmountPaid")),
        amount_credited: decimal(item.get("AmountCredited")),
        amount_due: decimal(item.get("AmountDue")),
        remaining_credit: decimal(item.get("RemainingCredit")),
        fully_paid_on: text(item, "FullyPaidOnDate")
            .as_deref()
            .and_then(parse_xero_date),
        updated_at: text(item, "UpdatedDateUTC")
            .as_deref()
            .and_then(parse_xero_datetime),
        payments,
    })
}

/// Finds existing documents by number, all statuses, in as few requests as
/// the URL allows. Invoices have an `InvoiceNumbers` filter; credit notes
/// only `where`.
pub async fn find_documents_by_number(
    client: &XeroClient,
    endpoint: DocumentEndpoint,
    numbers: &[String],
) -> Result<Vec<Document>> {
    let mut found = Vec::new();
    for chunk in chunk_by_length(numbers, number_cost(endpoint)) {
        let mut page = 1;
        loop {
            let mut request = ApiRequest::get(endpoint.path())
                .query("page", page.to_string())
                .query("pageSize", MAX_PAGE_SIZE.to_string());
            request = match endpoint {
                DocumentEndpoint::Invoices => request
                    .query(
                        "InvoiceNumbers",
                        chunk
                            .iter()
                            .map(|n| n.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    )
                    .query("summaryOnly", "true"),
                DocumentEndpoint::CreditNotes => request.query(
                    "where",
                    chunk
                        .iter()
                        .map(|n| format!("CreditNoteNumber=={}", where_literal(n)))
                        .collect::<Vec<_>>()
                        .join(" OR "),
                ),
            };
            let response = client.send(&request).await?;
            let items = list(&response.body, endpoint.list_key());
            found.extend(
                items
                    .iter()
                    .filter_map(|item| parse_document(endpoint, item)),
            );
            if items.len() < MAX_PAGE_SIZE {
                break;
            }
            page += 1;
        }
    }
    Ok(found)
}

/// Fetches the sales invoices dated within `from..=to`, at most `max_pages`
/// pages of [`MAX_PAGE_SIZE`]. Returns `None` when there are more, so the
/// caller can fall back to looking up numbers instead.
pub async fn invoices_dated_between(
    client: &XeroClient,
    from: NaiveDate,
    to: NaiveDate,
    max_pages: usize,
) -> Result<Option<Vec<Document>>> {
    let date = |d: NaiveDate| d.format("DateTime(%Y,%m,%d)").to_string();
    let filter = format!(
        "Type==\"ACCREC\" AND Date>={} AND Date<={}",
        date(from),
        date(to)
    );
    let mut found = Vec::new();
    for page in 1..=max_pages {
        let request = ApiRequest::get(DocumentEndpoint::Invoices.path())
            .query("where", filter.clone())
            .query("summaryOnly", "true")
            .query("page", page.to_string())
            .query("pageSize", MAX_PAGE_SIZE.to_string());
        let response = client.send(&request).await?;
        let items = list(&response.body, "Invoices");
        found.extend(
            items
                .iter()
                .filter_map(|item| parse_document(DocumentEndpoint::Invoices, item)),
        );
        if items.len() < MAX_PAGE_SIZE {
            return Ok(Some(found));
        }
        // Xero reports the page count with the first page: stop at once
        // when the range would cost more than the budget.
        let page_count = response
            .body
            .get("pagination")
            .and_then(|p| p.get("pageCount"))
            .and_then(Value::as_u64);
        if page_count.is_some_and(|count| count as usize > max_pages) {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Counts the requests [`find_documents_by_number`] needs for these numbers.
pub fn number_lookup_requests(endpoint: DocumentEndpoint, numbers: &[String]) -> usize {
    chunk_by_length(numbers, number_cost(endpoint)).len()
}

fn number_cost(endpoint: DocumentEndpoint) -> impl Fn(&str) -> usize {
    move |number: &str| match endpoint {
        DocumentEndpoint::Invoices => encoded_len(number) + encoded_len(","),
        DocumentEndpoint::CreditNotes => {
            encoded_len(&format!("CreditNoteNumber=={} OR ", where_literal(number)))
        }
    }
}

/// Fetches documents by id (at most about 50 per request, see [`MAX_QUERY_CHARS`]).
pub async fn documents_by_id(
    client: &XeroClient,
    endpoint: DocumentEndpoint,
    ids: &[String],
) -> Result<Vec<Document>> {
    let mut found = Vec::new();
    for chunk in chunk_by_length(ids, |id| encoded_len(id) + encoded_len(",")) {
        let request = ApiRequest::get(endpoint.path()).query(
            "IDs",
            chunk
                .iter()
                .map(|id| id.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        let response = client.send(&request).await?;
        found.extend(
            list(&response.body, endpoint.list_key())
                .iter()
                .filter_map(|item| parse_document(endpoint, item)),
        );
    }
    Ok(found)
}

/// Creates a batch of documents with `summarizeErrors=false` (so one bad
/// document cannot hide the good ones) and `unitdp=4`.
pub async fn create_documents(
    client: &XeroClient,
    endpoint: DocumentEndpoint,
    documents: &[Value],
    idempotency_key: &str,
) -> Result<Vec<ElementResult>> {
    let body = serde_json::json!({ endpoint.list_key(): documents });
    let request = ApiRequest::write(
        Method::PUT,
        endpoint.path(),
        body,
        idempotency_key.to_string(),
    )
    .query("summarizeErrors", "false")
    .query("unitdp", "4");
    let response = client.send(&request).await?;
    let items = list(&response.body, endpoint.list_key());
    if items.len() != documents.len() {
        return Err(Error::temporary(format!(
            "Xero returned {} results for a batch of {} documents; run again (documents already created are recognised)",
            items.len(),
            documents.len()
        )));
    }
    Ok(items
        .iter()
        .map(|item| {
            let messages = validation_messages(item);
            let ok = element_ok(item, &messages);
            // An errored element may carry an id Xero never saved: drop it.
            ElementResult {
                ok,
                document: if ok {
                    parse_document(endpoint, item)
                } else {
                    None
                },
                messages,
            }
        })
        .collect())
}

/// Fetches one page of documents changed since `since` (all when `None`),
/// limited to documents created by this app.
pub async fn changed_documents(
    client: &XeroClient,
    endpoint: DocumentEndpoint,
    since: Option<DateTime<Utc>>,
    page: usize,
) -> Result<Vec<Document>> {
    let mut request = ApiRequest::get(endpoint.path())
        .query("page", page.to_string())
        .query("pageSize", MAX_PAGE_SIZE.to_string());
    if endpoint == DocumentEndpoint::Invoices {
        request = request.query("createdByMyApp", "true");
    }
    request.if_modified_since = since;
    let response = client.send(&request).await?;
    Ok(list(&response.body, endpoint.list_key())
        .iter()
        .filter_map(|item| parse_document(endpoint, item))
        .collect())
}
