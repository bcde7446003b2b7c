//! `sync invoices`: export → typed invoices → plan (what Xero lacks) →
//! batches → report.
//!
//! Nothing is ever created twice. Documents this profile already pushed are
//! in the sync state. Documents already in Xero are looked up (by date range
//! or by number) before any write, and Xero rejects a second sales invoice
//! with a number it has. Batches carry an `Idempotency-Key` derived from their
//! content, so Xero replays its stored response to a retried or rerun batch.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, Utc};
use futures::stream::{self, StreamExt};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::Mapping;
use crate::error::{Error, Result};
use crate::productive::model::{Client, DocumentKind, Invoice};
use crate::sync::state::{PushedDocument, SyncState};
use crate::xero::api::{self, Contact, Document, DocumentEndpoint};
use crate::xero::http::XeroClient;

/// Xero advises at most 50 elements per write.
pub const BATCH_SIZE: usize = 50;

/// Batches written at the same time. With the look-ups of a run this stays
/// under Xero's limit of five requests in flight per tenant.
const CONCURRENT_BATCHES: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    AlreadySynced,
    Rejected,
    Skipped,
    /// Dry run only: the document would be created.
    WouldCreate,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::AlreadySynced => "already in Xero",
            Outcome::Rejected => "rejected",
            Outcome::Skipped => "skipped",
            Outcome::WouldCreate => "would create",
        }
    }
}

/// Outcome of one document of the export.
#[derive(Debug, Clone)]
pub struct DocumentReport {
    pub number: String,
    pub productive_id: String,
    pub client: String,
    pub kind: DocumentKind,
    pub outcome: Outcome,
    pub xero_id: Option<String>,
    pub currency: String,
    /// The export's gross total (negative for credit notes, as exported).
    pub total: Decimal,
    /// Xero's total after creation (positive for credit notes, as Xero shows them).
    pub xero_total: Option<Decimal>,
    pub messages: Vec<String>,
    /// Dry run only: the document as it would be sent.
    pub payload: Option<Value>,
    /// Set when the outcome needs a person (rejected, skipped, total differs).
    pub needs_attention: bool,
}

pub fn endpoint_for(kind: DocumentKind) -> DocumentEndpoint {
    match kind {
        DocumentKind::Invoice => DocumentEndpoint::Invoices,
        DocumentKind::CreditNote => DocumentEndpoint::CreditNotes,
    }
}

fn kind_name(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Invoice => "invoice",
        DocumentKind::CreditNote => "credit_note",
    }
}

/// Xero shows credit notes with positive amounts; the export has them negative.
pub fn xero_sign(invoice: &Invoice, amount: Decimal) -> Decimal {
    match invoice.kind {
        DocumentKind::CreditNote => -amount,
        DocumentKind::Invoice => amount,
    }
}

/// Returns the due date sent to Xero: the export's, else the issue date plus
/// `mapping.due_days`.
pub fn due_date(invoice: &Invoice, mapping: &Mapping) -> Option<chrono::NaiveDate> {
    invoice.due_date.or_else(|| {
        mapping
            .due_days
            .map(|days| invoice.issue_date + Duration::days(i64::from(days)))
    })
}

/// Problems that only the mapping reveals (reported with exit 65 like the
/// export's own): an AUTHORISED document with no due date.
pub fn mapping_problems(
    file: &str,
    invoices: &[Invoice],
    mapping: &Mapping,
) -> Vec<crate::productive::model::Problem> {
    invoices
        .iter()
        .filter(|invoice| invoice.kind == DocumentKind::Invoice && mapping.invoice_status == "AUTHORISED" && due_date(invoice, mapping).is_none())
        .map(|invoice| crate::productive::model::Problem {
            file: file.to_string(),
            line: invoice.source_line,
            message: format!(
                "invoice {} has no due date, which Xero requires for AUTHORISED invoices; fill in the due date in Productive, \
                 or set due_days (days after the issue date) under [mapping]",
                invoice.number
            ),
        })
        .collect()
}

/// Builds the Xero document for an invoice or credit note. Dates are plain
/// `YYYY-MM-DD`; quantities and unit prices are exact decimals (sent with
/// `unitdp=4`); the line amount type is always stated.
pub fn payload(invoice: &Invoice, mapping: &Mapping, contact_id: Option<&str>) -> Value {
    let lines: Vec<Value> = invoice
        .lines
        .iter()
        .map(|line| {
            let mut item = json!({
                "Description": line.description,
                "Quantity": number(xero_sign(invoice, line.quantity)),
                "UnitAmount": number(line.unit_price),
                "AccountCode": mapping.account_for(line.service_type.as_deref()),
                "TaxType": mapping.tax_type_for(line.tax_name.as_deref(), line.tax_percent),
            });
            if !line.discount_percent.is_zero() {
                item["DiscountRate"] = number(line.discount_percent);
            }
            item
        })
        .collect();

    let reference = match mapping.reference.as_str() {
        "subject" => invoice.subject.clone(),
        "po_number" => invoice.po_number.clone(),
        "number" => Some(invoice.number.clone()),
        _ => None,
    };

    let mut document = json!({
        "Type": match invoice.kind { DocumentKind::Invoice => "ACCREC", DocumentKind::CreditNote => "ACCRECCREDIT" },
        "Contact": { "ContactID": contact_id.unwrap_or("(to be created)") },
        "Date": invoice.issue_date.format("%Y-%m-%d").to_string(),
        "CurrencyCode": invoice.currency,
        "Status": mapping.invoice_status,
        "LineAmountTypes": mapping.line_amount_types,
        "LineItems": lines,
    });
    let number_key = endpoint_for(invoice.kind).number_key();
    document[number_key] = json!(invoice.number);
    if let Some(due) = due_date(invoice, mapping).filter(|_| invoice.kind == DocumentKind::Invoice)
    {
        document["DueDate"] = json!(due.format("%Y-%m-%d").to_string());
    }
    if let Some(reference) = reference.filter(|r| !r.trim().is_empty()) {
        document["Reference"] = json!(reference);
    }
    if let Some(theme) = &mapping.branding_theme_id {
        document["BrandingThemeID"] = json!(theme);
    }
    document
}

/// Converts a decimal to a JSON number with its exact digits.
fn number(value: Decimal) -> Value {
    serde_json::from_str(&value.normalize().to_string())
        .expect("a decimal's text is a valid JSON number")
}

/// Derives the `Idempotency-Key` of a batch: a hash of the organisation, the
/// endpoint and the exact body, so the same batch always gets the same key
/// and a different batch never does. Xero allows up to 128 characters.
pub fn idempotency_key(tenant_id: &str, endpoint: &str, body: &[Value]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(tenant_id.as_bytes());
    hasher.update(b"\n");
    hasher.update(endpoint.as_bytes());
    hasher.update(b"\n");
    hasher.update(serde_json::to_vec(body).expect("JSON values always serialize"));
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("xerosync-{hex}")
}

/// Checks every account code and tax type the export needs against the
/// organisation before the first write; exit 78 listing the valid choices.
pub async fn check_mapping_against_organisation(
    client: &XeroClient,
    invoices: &[Invoice],
    mapping: &Mapping,
    config_file: &str,
) -> Result<()> {
    let accounts = api::accounts(client).await?;
    let tax_rates = api::tax_rates(client).await?;
    let currencies = api::currencies(client).await?;

    let mut used_accounts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut used_tax_types: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for invoice in invoices {
        for line in &invoice.lines {
            if let Some(code) = mapping.account_for(line.service_type.as_deref()) {
                used_accounts.entry(code.to_string()).or_default().push(
                    line.service_type
                        .clone()
                        .unwrap_or_else(|| "(no service type)".into()),
                );
            }
            if let Some(tax_type) = mapping.tax_type_for(line.tax_name.as_deref(), line.tax_percent)
            {
                used_tax_types
                    .entry(tax_type.to_string())
                    .or_default()
                    .push(format!("{}%", line.tax_percent.normalize()));
            }
        }
    }

    let mut problems = Vec::new();
    let active_accounts: Vec<_> = accounts
        .iter()
        .filter(|a| a.status.eq_ignore_ascii_case("ACTIVE"))
        .collect();
    for (code, users) in &used_accounts {
        if !active_accounts.iter().any(|a| &a.code == code) {
            let users = dedup(users);
            problems.push(format!(
                "account code \"{code}\" (for {}) is not an active account of the organisation; its active revenue accounts are: {}",
                users.join(", "),
                active_accounts
                    .iter()
                    .filter(|a| a.class.eq_ignore_ascii_case("REVENUE"))
                    .map(|a| format!("{} {}", a.code, a.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let active_tax: Vec<_> = tax_rates
        .iter()
        .filter(|t| t.status.eq_ignore_ascii_case("ACTIVE") && t.revenue)
        .collect();
    for (tax_type, users) in &used_tax_types {
        if !active_tax.iter().any(|t| &t.tax_type == tax_type) {
            let users = dedup(users);
            problems.push(format!(
                "tax type \"{tax_type}\" (for tax rate {}) is not an active sales tax rate of the organisation; valid tax types: {}",
                users.join(", "),
                active_tax.iter().map(|t| format!("{} ({})", t.tax_type, t.name)).collect::<Vec<_>>().join(", ")
            ));
        }
    }

    let mut missing_currencies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for invoice in invoices {
        if !currencies
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&invoice.currency))
        {
            missing_currencies
                .entry(invoice.currency.clone())
                .or_default()
                .push(invoice.number.clone());
        }
    }
    let currency_problems: Vec<String> = missing_currencies
        .iter()
        .map(|(currency, numbers)| {
            format!(
                "currency {currency} (invoices {}) is not enabled in the organisation, which has {}; add it in Xero under Settings > Currencies",
                numbers.join(", "),
                currencies.join(", ")
            )
        })
        .collect();

    if problems.is_empty() && currency_problems.is_empty() {
        return Ok(());
    }
    if problems.is_empty() {
        return Err(Error::config(format!(
            "the Xero organisation cannot take every invoice of the export; nothing was sent:\n  {}",
            currency_problems.join("\n  ")
        )));
    }
    problems.extend(currency_problems);
    Err(Error::config(format!(
        "the [mapping] in {config_file} does not fit the Xero organisation; nothing was sent:\n  {}\nFix [mapping.accounts], default_account_code or [mapping.tax_types] and run again",
        problems.join("\n  ")
    )))
}

fn dedup(values: &[String]) -> Vec<String> {
    let mut unique: Vec<String> = Vec::new();
    for value in values {
        if !unique.contains(value) {
            unique.push(value.clone());
        }
    }
    unique
}

/// Returns a Productive client's key in the sync state.
fn client_key(client: &Client) -> String {
    client.id.clone()
}

fn contact_number_for(client: &Client, mapping: &Mapping) -> Option<String> {
    match mapping.contact_number.as_str() {
        "client_code" => client.code.clone().filter(|c| !c.trim().is_empty()),
        "client_id" => Some(client.id.clone()),
        _ => None,
    }
}

fn normalized_name(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Matches each client to a Xero contact: by remembered ContactID, else by
/// contact number (when mapped), else by name (trimmed, case-insensitive).
/// Archived and duplicate-named contacts are reported, never guessed.
/// Returns, per client key, the ContactID or the reason there is none, and
/// the clients that need a new contact.
pub async fn match_contacts(
    client: &XeroClient,
    clients: &[&Client],
    mapping: &Mapping,
    state: &SyncState,
) -> Result<(
    HashMap<String, std::result::Result<String, String>>,
    Vec<Client>,
)> {
    let mut resolved: HashMap<String, std::result::Result<String, String>> = HashMap::new();

    let remembered: Vec<String> = clients
        .iter()
        .filter_map(|c| state.contacts.get(&client_key(c)).cloned())
        .collect();
    if !remembered.is_empty() {
        let found = api::contacts_by_id(client, &remembered).await?;
        for productive_client in clients {
            let Some(id) = state.contacts.get(&client_key(productive_client)) else {
                continue;
            };
            match found.iter().find(|c| &c.contact_id == id) {
                Some(contact) if contact.status.eq_ignore_ascii_case("ARCHIVED") => {
                    resolved.insert(
                        client_key(productive_client),
                        Err(archived_message(productive_client, contact)),
                    );
                }
                Some(contact) => {
                    resolved.insert(
                        client_key(productive_client),
                        Ok(contact.contact_id.clone()),
                    );
                }
                None => {
                    tracing::info!(client = %productive_client.name, contact_id = %id, "remembered contact no longer exists in Xero; matching again")
                }
            }
        }
    }

    let pending = |resolved: &HashMap<_, _>| -> Vec<&Client> {
        clients
            .iter()
            .copied()
            .filter(|c| !resolved.contains_key(&client_key(c)))
            .collect()
    };

    let with_numbers: Vec<(&Client, String)> = pending(&resolved)
        .into_iter()
        .filter_map(|c| contact_number_for(c, mapping).map(|n| (c, n)))
        .collect();
    if !with_numbers.is_empty() {
        let numbers: Vec<String> = with_numbers.iter().map(|(_, n)| n.clone()).collect();
        let found = api::find_contacts(client, "ContactNumber", &numbers).await?;
        for (productive_client, contact_number) in &with_numbers {
            let matches: Vec<&Contact> = found
                .iter()
                .filter(|c| c.contact_number.as_deref() == Some(contact_number.as_str()))
                .collect();
            if let Some(result) = decide(
                productive_client,
                &matches,
                &format!("contact number \"{contact_number}\""),
            ) {
                resolved.insert(client_key(productive_client), result);
            }
        }
    }

    let by_name = pending(&resolved);
    if !by_name.is_empty() {
        let mut names: Vec<String> = by_name.iter().map(|c| c.name.trim().to_string()).collect();
        names.sort();
        names.dedup();
        let found = api::find_contacts(client, "Name", &names).await?;
        for productive_client in &by_name {
            let wanted = normalized_name(&productive_client.name);
            let matches: Vec<&Contact> = found
                .iter()
                .filter(|c| normalized_name(&c.name) == wanted)
                .collect();
            if let Some(result) = decide(productive_client, &matches, "name") {
                resolved.insert(client_key(productive_client), result);
            }
        }
    }

    let missing: Vec<Client> = pending(&resolved).into_iter().cloned().collect();
    Ok((resolved, missing))
}

/// Decides a match: none → `None` (create), one active → its id, archived
/// only or several active → a reason for a person.
fn decide(
    productive_client: &Client,
    matches: &[&Contact],
    matched_by: &str,
) -> Option<std::result::Result<String, String>> {
    let active: Vec<&&Contact> = matches
        .iter()
        .filter(|c| !c.status.eq_ignore_ascii_case("ARCHIVED"))
        .collect();
    match (active.as_slice(), matches.first()) {
        ([one], _) => Some(Ok(one.contact_id.clone())),
        ([], None) => None,
        ([], Some(archived)) => Some(Err(archived_message(productive_client, archived))),
        (several, _) => Some(Err(format!(
            "Xero has {} active contacts with the {matched_by} of client \"{}\" ({}); xerosync will not guess. Merge or rename them in Xero, \
             or set contact_number = \"client_code\" under [mapping] and give the right contact that code",
            several.len(),
            productive_client.name,
            several.iter().map(|c| c.contact_id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn archived_message(productive_client: &Client, contact: &Contact) -> String {
    format!(
        "the Xero contact for client \"{}\" ({}) is archived; restore it in Xero (Contacts → Archived → Restore) and run again",
        productive_client.name, contact.contact_id
    )
}

/// Builds the Xero contact created for a Productive client.
pub fn contact_payload(client: &Client, mapping: &Mapping) -> Value {
    let mut contact = json!({ "Name": client.name.trim() });
    if let Some(number) = contact_number_for(client, mapping) {
        contact["ContactNumber"] = json!(number);
    }
    if let Some(tax_id) = client.tax_id.as_ref().filter(|t| !t.trim().is_empty()) {
        contact["TaxNumber"] = json!(tax_id);
    }
    let address = &client.address;
    if address.line.is_some()
        || address.city.is_some()
        || address.postcode.is_some()
        || address.country.is_some()
    {
        let mut entry = json!({ "AddressType": "POBOX" });
        if let Some(line) = &address.line {
            entry["AddressLine1"] = json!(line);
        }
        if let Some(city) = &address.city {
            entry["City"] = json!(city);
        }
        if let Some(postcode) = &address.postcode {
            entry["PostalCode"] = json!(postcode);
        }
        if let Some(country) = &address.country {
            entry["Country"] = json!(country);
        }
        contact["Addresses"] = json!([entry]);
    }
    contact
}

/// Creates the missing contacts in batches of 50 and remembers their ids.
pub async fn create_contacts(
    client: &XeroClient,
    missing: &[Client],
    mapping: &Mapping,
    state: &mut SyncState,
    profile_dir: &std::path::Path,
) -> Result<HashMap<String, std::result::Result<String, String>>> {
    let mut resolved = HashMap::new();
    let tenant_id = state.tenant_id.clone();
    for batch in missing.chunks(BATCH_SIZE) {
        let payloads: Vec<Value> = batch.iter().map(|c| contact_payload(c, mapping)).collect();
        let key = idempotency_key(&tenant_id, "Contacts", &payloads);
        let results = api::create_contacts(client, &payloads, &key).await?;
        for (productive_client, (ok, contact, messages)) in batch.iter().zip(results) {
            match (ok, contact) {
                (true, Some(contact)) => {
                    state
                        .contacts
                        .insert(client_key(productive_client), contact.contact_id.clone());
                    resolved.insert(client_key(productive_client), Ok(contact.contact_id));
                }
                _ if messages
                    .iter()
                    .any(|m| m.contains("already assigned to another contact")) =>
                {
                    // Xero's `where` on Name may compare case or spaces
                    // differently than xerosync's matching; its searchTerm
                    // ignores case, so look again before giving up.
                    let found = api::search_contacts(client, productive_client.name.trim()).await?;
                    let wanted = normalized_name(&productive_client.name);
                    let matches: Vec<&Contact> = found
                        .iter()
                        .filter(|c| normalized_name(&c.name) == wanted)
                        .collect();
                    let result = decide(productive_client, &matches, "name").unwrap_or_else(|| {
                        Err(format!(
                            "Xero rejected the new contact \"{}\": {}",
                            productive_client.name,
                            messages.join("; ")
                        ))
                    });
                    if let Ok(contact_id) = &result {
                        state
                            .contacts
                            .insert(client_key(productive_client), contact_id.clone());
                    }
                    resolved.insert(client_key(productive_client), result);
                }
                _ => {
                    resolved.insert(
                        client_key(productive_client),
                        Err(format!(
                            "Xero rejected the new contact \"{}\": {}",
                            productive_client.name,
                            messages.join("; ")
                        )),
                    );
                }
            }
        }
        state.save(profile_dir)?;
    }
    Ok(resolved)
}

/// Finds which documents Xero already has: the export's own Xero ids first,
/// then the numbers of everything not recorded in the sync state.
pub async fn find_existing(
    client: &XeroClient,
    invoices: &[&Invoice],
) -> Result<HashMap<String, Document>> {
    let mut existing: HashMap<String, Document> = HashMap::new();

    for kind in [DocumentKind::Invoice, DocumentKind::CreditNote] {
        let endpoint = endpoint_for(kind);
        let of_kind: Vec<&&Invoice> = invoices.iter().filter(|i| i.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }

        let ids: Vec<String> = of_kind.iter().filter_map(|i| i.export_id.clone()).collect();
        if !ids.is_empty() {
            for document in api::documents_by_id(client, endpoint, &ids).await? {
                if let Some(invoice) = of_kind
                    .iter()
                    .find(|i| i.export_id.as_deref() == Some(document.id.as_str()))
                {
                    existing.insert(invoice.productive_id.clone(), document);
                }
            }
        }

        let unresolved: Vec<&&Invoice> = of_kind
            .iter()
            .filter(|i| !existing.contains_key(&i.productive_id))
            .copied()
            .collect();
        let numbers: Vec<String> = unresolved.iter().map(|i| i.number.clone()).collect();
        if numbers.is_empty() {
            continue;
        }

        // A month-end export spans a few weeks: the invoices Xero has in that
        // date range usually take fewer requests than the numbers do. An
        // invoice Xero has under another date is still caught, because Xero
        // rejects a second ACCREC with the same number (see `recheck_numbers`).
        let number_requests = api::number_lookup_requests(endpoint, &numbers);
        let mut found = None;
        if kind == DocumentKind::Invoice && number_requests > 1 {
            let from = unresolved
                .iter()
                .map(|i| i.issue_date)
                .min()
                .expect("not empty");
            let to = unresolved
                .iter()
                .map(|i| i.issue_date)
                .max()
                .expect("not empty");
            found = api::invoices_dated_between(client, from, to, number_requests - 1).await?;
        }
        let found = match found {
            Some(found) => found,
            None => api::find_documents_by_number(client, endpoint, &numbers).await?,
        };
        for invoice in &of_kind {
            if existing.contains_key(&invoice.productive_id) {
                continue;
            }
            // Prefer a live document over a deleted or voided one of the same number.
            let mut candidates: Vec<&Document> = found
                .iter()
                .filter(|d| d.number == invoice.number)
                .collect();
            candidates.sort_by_key(|d| matches!(d.status.as_str(), "DELETED" | "VOIDED"));
            if let Some(document) = candidates.first() {
                existing.insert(invoice.productive_id.clone(), (*document).clone());
            }
        }
    }
    Ok(existing)
}

/// Compares Xero's total with the export's gross; any difference is reported.
pub fn compare_totals(invoice: &Invoice, xero_total: Option<Decimal>) -> Option<String> {
    let expected = xero_sign(invoice, invoice.gross);
    match xero_total {
        Some(total) if total == expected => None,
        Some(total) => Some(format!(
            "Xero's total {total} {} differs from the export's {expected} by {}; check the tax types and rounding in Xero",
            invoice.currency,
            total - expected
        )),
        None => Some("Xero did not report a total; check the document in Xero".into()),
    }
}

/// Result of writing one batch.
pub struct BatchResult {
    pub indexes: Vec<usize>,
    pub outcome: Result<Vec<api::ElementResult>>,
}

/// Sends the batches, at most [`CONCURRENT_BATCHES`] at a time, and hands
/// each finished batch to `on_batch` in completion order.
pub async fn send_batches(
    client: &XeroClient,
    tenant_id: &str,
    batches: Vec<(DocumentEndpoint, Vec<usize>, Vec<Value>)>,
    mut on_batch: impl FnMut(DocumentEndpoint, BatchResult) -> Result<()>,
) -> Result<()> {
    let mut results = stream::iter(batches.into_iter().map(
        |(endpoint, indexes, payloads)| async move {
            let key = idempotency_key(tenant_id, &endpoint.path(), &payloads);
            let outcome = api::create_documents(client, endpoint, &payloads, &key).await;
            (endpoint, BatchResult { indexes, outcome })
        },
    ))
    .buffer_unordered(CONCURRENT_BATCHES);

    while let Some((endpoint, result)) = results.next().await {
        on_batch(endpoint, result)?;
    }
    Ok(())
}

/// Records a created or found document in the sync state.
pub fn remember(state: &mut SyncState, invoice: &Invoice, xero_id: &str, total: Decimal) {
    state.documents.insert(
        invoice.productive_id.clone(),
        PushedDocument {
            number: invoice.number.clone(),
            kind: kind_name(invoice.kind).to_string(),
            xero_id: xero_id.to_string(),
            pushed_at: Utc::now(),
            currency: invoice.currency.clone(),
            total,
            last_status: None,
            last_fingerprint: None,
        },
    );
}

pub fn kind_label(kind: DocumentKind) -> &'static str {
    kind_name(kind)
}
