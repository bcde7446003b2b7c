//! Typed invoices as read from a Productive export, and the problems found in it.
//!
//! Money is in major units of the document currency, exactly as the export
//! states it: credit notes keep their negative amounts, and the sync code
//! turns them into positive Xero credit notes.

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// Whether a Productive document is an invoice or a credit note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    Invoice,
    CreditNote,
}

impl DocumentKind {
    /// Returns the value of the "Document type" column in the CSV export.
    pub fn export_name(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "Invoice",
            DocumentKind::CreditNote => "Credit note",
        }
    }
}

/// Billing address of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub line: Option<String>,
    pub city: Option<String>,
    pub postcode: Option<String>,
    /// ISO 3166-1 alpha-2 code.
    pub country: Option<String>,
}

/// The client company an invoice is billed to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    /// Productive company id.
    pub id: String,
    pub name: String,
    pub code: Option<String>,
    pub tax_id: Option<String>,
    pub address: Address,
}

/// One invoice line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based position of the line on the invoice.
    pub position: u32,
    pub service_type: Option<String>,
    pub description: String,
    /// Negative on credit-note lines.
    pub quantity: Decimal,
    pub unit: Option<String>,
    /// Major units, up to 4 decimals.
    pub unit_price: Decimal,
    /// Line discount in percent, 0 to 100.
    pub discount_percent: Decimal,
    pub tax_name: Option<String>,
    /// Tax rate in percent, e.g. 25 for 25 %.
    pub tax_percent: Decimal,
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
    /// 1-based physical line in the export where this line's record or object starts.
    pub source_line: usize,
}

/// One Productive invoice or credit note with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub productive_id: String,
    pub number: String,
    pub kind: DocumentKind,
    /// Number of the invoice that a credit note credits.
    pub credited_number: Option<String>,
    pub client: Client,
    pub subject: Option<String>,
    pub po_number: Option<String>,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub sent_on: Option<NaiveDate>,
    /// ISO 4217 code in upper case.
    pub currency: String,
    /// Organization default currency per 1 unit of `currency`, as Productive states it.
    pub exchange_rate: Option<Decimal>,
    pub lines: Vec<Line>,
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
    pub amount_paid: Decimal,
    /// Set only when the invoice is fully settled.
    pub paid_on: Option<NaiveDate>,
    /// Whether Productive already copied the invoice to an accounting system.
    pub exported: bool,
    /// The invoice's id in the accounting system (a Xero InvoiceID) when exported.
    pub export_id: Option<String>,
    /// 1-based physical line in the export where the document starts.
    pub source_line: usize,
}

impl Invoice {
    pub fn is_credit_note(&self) -> bool {
        self.kind == DocumentKind::CreditNote
    }
}

/// Something wrong in an export, tied to a line of the file.
///
/// `message` states what is wrong on which value, then "; " and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// 1-based physical line in the file.
    pub line: usize,
    pub message: String,
}

impl Problem {
    pub fn new(file: &str, line: usize, message: impl Into<String>) -> Self {
        Problem {
            file: file.to_string(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}
