//! `sync payments`: what Xero reports about the documents this profile pushed,
//! and the write-back of each new Xero payment to Productive, exactly once.
//!
//! Statuses come from Xero's own figures (`Status`, `AmountPaid`,
//! `AmountCredited`, `AmountDue`), never from adding up payment rows:
//! payments are deleted and re-created in Xero, and credit-note allocations
//! have no payment rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::Result;
use crate::xero::api::{self, Document, DocumentEndpoint, MAX_PAGE_SIZE};
use crate::xero::http::XeroClient;

/// The watermark is set this far before the newest `UpdatedDateUTC` seen.
/// `If-Modified-Since` has second precision, so documents updated in the
/// same second as the newest one are fetched again rather than missed. Their
/// fingerprints keep them out of the next report.
pub const WATERMARK_OVERLAP: Duration = Duration::seconds(1);

/// Derives a document's payment state from Xero's figures.
pub fn payment_state(document: &Document, is_credit_note: bool) -> &'static str {
    let zero = Decimal::ZERO;
    let paid = document.amount_paid.unwrap_or(zero);
    let credited = document.amount_credited.unwrap_or(zero);
    match document.status.as_str() {
        "VOIDED" => "voided",
        "DELETED" => "deleted",
        "DRAFT" | "SUBMITTED" => "draft",
        _ if is_credit_note => {
            let remaining = document.remaining_credit.unwrap_or(zero);
            match (document.status.as_str(), remaining.is_zero()) {
                ("PAID", _) | (_, true) => "allocated",
                _ if document.total.is_some_and(|t| remaining < t) => "part_allocated",
                _ => "open",
            }
        }
        "PAID" if paid.is_zero() && credited > zero => "credited",
        "PAID" => "paid",
        _ if document.amount_due.is_some_and(|d| d.is_zero())
            && (paid > zero || credited > zero) =>
        {
            "paid"
        }
        _ if paid > zero || credited > zero => "part_paid",
        _ => "unpaid",
    }
}

/// Summarises what a report shows about a document: status, amounts and
/// payments. Two equal fingerprints mean nothing to report.
pub fn fingerprint(document: &Document) -> String {
    let mut payments: Vec<String> = document
        .payments
        .iter()
        .map(|p| {
            format!(
                "{}:{}:{}",
                p.payment_id,
                p.status,
                p.amount.map(|a| a.to_string()).unwrap_or_default()
            )
        })
        .collect();
    payments.sort();
    let amount =
        |value: Option<Decimal>| value.map(|v| v.normalize().to_string()).unwrap_or_default();
    format!(
        "{}|{}|{}|{}|{}|{}",
        document.status,
        amount(document.total),
        amount(document.amount_paid),
        amount(document.amount_credited),
        amount(document.remaining_credit),
        payments.join(",")
    )
}

/// Fetches every document of `endpoint` changed since `since`, page by page
/// at Xero's largest page size. With nothing changed this is one request.
pub async fn fetch_changed(
    client: &XeroClient,
    endpoint: DocumentEndpoint,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Document>> {
    let mut documents = Vec::new();
    let mut page = 1;
    loop {
        let batch = api::changed_documents(client, endpoint, since, page).await?;
        let full = batch.len() >= MAX_PAGE_SIZE;
        documents.extend(batch);
        if !full {
            return Ok(documents);
        }
        page += 1;
    }
}

/// Computes the next watermark: the newest `UpdatedDateUTC` seen minus the
/// overlap, never earlier than the current one. It comes from Xero's clock, not ours.
pub fn next_watermark(
    current: Option<DateTime<Utc>>,
    documents: &[Document],
) -> Option<DateTime<Utc>> {
    let newest = documents.iter().filter_map(|d| d.updated_at).max();
    match (current, newest) {
        (current, None) => current,
        (None, Some(newest)) => Some(newest - WATERMARK_OVERLAP),
        (Some(current), Some(newest)) => Some(current.max(newest - WATERMARK_OVERLAP)),
    }
}

/// Something a person should look at.
#[derive(Debug, Clone, Serialize)]
pub struct Attention {
    pub payment_id: Option<String>,
    pub reason: String,
    /// Set when the run must exit 1 so that cron alerts a person. Notes, such
    /// as a partial payment recorded as it is, leave it unset.
    pub action_required: bool,
}

/// One payment row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentReport {
    pub payment_id: String,
    pub date: Option<NaiveDate>,
    pub amount: Option<String>,
    pub reference: Option<String>,
    pub status: String,
}

/// One changed document of the report.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentStatus {
    pub number: String,
    pub productive_id: String,
    pub xero_id: String,
    pub kind: String,
    pub status: String,
    pub payment_state: String,
    pub currency: Option<String>,
    pub total: Option<String>,
    pub amount_paid: Option<String>,
    pub amount_credited: Option<String>,
    pub amount_due: Option<String>,
    pub fully_paid_on: Option<NaiveDate>,
    pub payments: Vec<PaymentReport>,
    pub productive: ProductiveOutcome,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProductiveOutcome {
    /// Xero PaymentIDs recorded in Productive by this run (or found there already).
    pub recorded: Vec<RecordedEntry>,
    pub needs_attention: Vec<Attention>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordedEntry {
    pub payment_id: String,
    pub productive_payment_id: String,
    /// `created` by this run, or `already_in_productive` (found by external_id).
    pub how: String,
}

pub fn decimal_text(value: Option<Decimal>) -> Option<String> {
    value.map(|v| v.to_string())
}

pub fn document_status(
    document: &Document,
    number: &str,
    productive_id: &str,
    kind: &str,
) -> DocumentStatus {
    DocumentStatus {
        number: if document.number.is_empty() {
            number.to_string()
        } else {
            document.number.clone()
        },
        productive_id: productive_id.to_string(),
        xero_id: document.id.clone(),
        kind: kind.to_string(),
        status: document.status.clone(),
        payment_state: payment_state(document, kind == "credit_note").to_string(),
        currency: document.currency.clone(),
        total: decimal_text(document.total),
        amount_paid: decimal_text(document.amount_paid),
        amount_credited: decimal_text(document.amount_credited),
        amount_due: decimal_text(document.amount_due),
        fully_paid_on: document.fully_paid_on,
        payments: document
            .payments
            .iter()
            .map(|p| PaymentReport {
                payment_id: p.payment_id.clone(),
                date: p.date,
                amount: decimal_text(p.amount),
                reference: p.reference.clone(),
                status: p.status.clone(),
            })
            .collect(),
        productive: ProductiveOutcome::default(),
    }
}

/// Counts by payment state for the summary.
pub fn count_states(documents: &[DocumentStatus]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for document in documents {
        *counts.entry(document.payment_state.clone()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(status: &str, total: &str, paid: &str, credited: &str, due: &str) -> Document {
        Document {
            id: "id".into(),
            number: "INV-1".into(),
            status: status.into(),
            currency: Some("EUR".into()),
            total: Some(total.parse().unwrap()),
            amount_paid: Some(paid.parse().unwrap()),
            amount_credited: Some(credited.parse().unwrap()),
            amount_due: Some(due.parse().unwrap()),
            remaining_credit: None,
            fully_paid_on: None,
            updated_at: None,
            payments: Vec::new(),
        }
    }

    #[test]
    fn states_from_xero_figures() {
        assert_eq!(
            payment_state(&document("AUTHORISED", "100", "0", "0", "100"), false),
            "unpaid"
        );
        assert_eq!(
            payment_state(&document("AUTHORISED", "100", "40", "0", "60"), false),
            "part_paid"
        );
        assert_eq!(
            payment_state(&document("PAID", "100", "100", "0", "0"), false),
            "paid"
        );
        assert_eq!(
            payment_state(&document("PAID", "100", "0", "100", "0"), false),
            "credited"
        );
        assert_eq!(
            payment_state(&document("PAID", "100", "60", "40", "0"), false),
            "paid"
        );
        assert_eq!(
            payment_state(&document("VOIDED", "100", "0", "0", "0"), false),
            "voided"
        );
    }

    #[test]
    fn watermark_never_moves_back() {
        let current = Some("2026-11-30T10:00:00Z".parse().unwrap());
        let mut old = document("PAID", "1", "1", "0", "0");
        old.updated_at = Some("2026-11-30T09:00:00Z".parse().unwrap());
        assert_eq!(next_watermark(current, &[old.clone()]), current);

        old.updated_at = Some("2026-11-30T12:00:00Z".parse().unwrap());
        let expected: DateTime<Utc> = "2026-11-30T11:59:59Z".parse().unwrap();
        assert_eq!(next_watermark(current, &[old]), Some(expected));
        assert_eq!(next_watermark(current, &[]), current);
    }
}
