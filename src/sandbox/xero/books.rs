//! One tenant's data: chart of accounts, tax rates, contacts, invoices and
//! credit notes, payments, credit-note allocations and stored idempotent
//! responses.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

pub(crate) struct Books {
    pub accounts: Vec<Account>,
    pub tax_rates: Vec<TaxRate>,
    pub contacts: Vec<Contact>,
    pub documents: Vec<Document>,
    pub payments: Vec<Payment>,
    pub allocations: Vec<Allocation>,
    /// Responses stored by `Idempotency-Key`.
    pub idempotency: HashMap<String, StoredReply>,
    pub last_invoice_number: u32,
    pub last_credit_note_number: u32,
    /// The base currency first, then the currencies the organisation added.
    pub currencies: Vec<String>,
}

pub(crate) struct StoredReply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

pub(crate) struct Account {
    pub id: String,
    pub code: String,
    pub name: String,
    pub account_type: String,
    pub class: String,
    pub tax_type: String,
    pub status: String,
}

pub(crate) struct TaxRate {
    pub tax_type: String,
    pub name: String,
    /// Percent, e.g. 25 for 25 %.
    pub rate: Decimal,
    pub status: String,
    pub can_apply_to_revenue: bool,
    pub can_apply_to_expenses: bool,
}

#[derive(Clone)]
pub(crate) struct Contact {
    pub id: String,
    pub name: String,
    pub contact_number: Option<String>,
    pub account_number: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub tax_number: Option<String>,
    /// `ACTIVE` or `ARCHIVED`.
    pub status: String,
    pub is_customer: bool,
    pub is_supplier: bool,
    pub updated: DateTime<Utc>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DocKind {
    Invoice,
    CreditNote,
}

/// An invoice or a credit note, which Xero computes the same way.
#[derive(Clone)]
pub(crate) struct Document {
    pub kind: DocKind,
    pub id: String,
    /// `ACCREC`, `ACCPAY`, `ACCRECCREDIT` or `ACCPAYCREDIT`.
    pub doc_type: String,
    pub number: String,
    pub contact_id: String,
    pub date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub status: String,
    /// `Exclusive`, `Inclusive` or `NoTax`.
    pub line_amount_types: String,
    pub lines: Vec<Line>,
    pub sub_total: Decimal,
    pub total_tax: Decimal,
    pub total: Decimal,
    pub currency_code: String,
    pub currency_rate: Decimal,
    pub reference: Option<String>,
    pub branding_theme_id: Option<String>,
    pub url: Option<String>,
    /// For invoices: payments received. Unused for credit notes.
    pub amount_paid: Decimal,
    /// For invoices: credit notes allocated to it. For credit notes: the
    /// amount allocated to invoices (`AppliedAmount`).
    pub amount_credited: Decimal,
    pub fully_paid_on: Option<NaiveDate>,
    pub updated: DateTime<Utc>,
}

impl Document {
    /// `AmountDue` of an invoice, `RemainingCredit` of a credit note.
    pub fn amount_due(&self) -> Decimal {
        self.total - self.amount_paid - self.amount_credited
    }

    pub fn is_void_or_deleted(&self) -> bool {
        matches!(self.status.as_str(), "VOIDED" | "DELETED")
    }
}

#[derive(Clone)]
pub(crate) struct Line {
    pub id: String,
    pub description: Option<String>,
    pub quantity: Decimal,
    /// Stored with up to 4 decimal places and shown with 2 unless
    /// `unitdp=4`.
    pub unit_amount: Decimal,
    pub item_code: Option<String>,
    pub account_code: Option<String>,
    pub tax_type: Option<String>,
    pub tax_amount: Decimal,
    pub line_amount: Decimal,
    pub discount_rate: Option<Decimal>,
    pub discount_amount: Option<Decimal>,
}

pub(crate) struct Payment {
    pub id: String,
    pub invoice_id: String,
    pub date: NaiveDate,
    pub amount: Decimal,
    pub reference: String,
    /// `AUTHORISED` or `DELETED`.
    pub status: String,
    pub updated: DateTime<Utc>,
}

pub(crate) struct Allocation {
    pub id: String,
    pub credit_note_id: String,
    pub invoice_id: String,
    pub amount: Decimal,
    pub date: NaiveDate,
}

impl Books {
    /// Books with the seeded chart of accounts and tax rates of a Croatian
    /// organisation and no contacts or documents.
    pub fn seeded() -> Books {
        Books {
            accounts: seed_accounts(),
            tax_rates: seed_tax_rates(),
            contacts: Vec::new(),
            documents: Vec::new(),
            payments: Vec::new(),
            allocations: Vec::new(),
            idempotency: HashMap::new(),
            last_invoice_number: 0,
            last_credit_note_number: 0,
            currencies: vec!["EUR".into(), "GBP".into(), "USD".into()],
        }
    }

    pub fn contact(&self, id: &str) -> Option<&Contact> {
        self.contacts
            .iter()
            .find(|contact| contact.id.eq_ignore_ascii_case(id))
    }

    pub fn account(&self, code: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|account| account.code.eq_ignore_ascii_case(code))
    }

    pub fn tax_rate(&self, tax_type: &str) -> Option<&TaxRate> {
        self.tax_rates
            .iter()
            .find(|rate| rate.tax_type.eq_ignore_ascii_case(tax_type))
    }

    pub fn document_index(&self, kind: DocKind, id: &str) -> Option<usize> {
        self.documents
            .iter()
            .position(|document| document.kind == kind && document.id.eq_ignore_ascii_case(id))
    }

    /// Finds the live document with a number, else the latest voided or
    /// deleted one, since Xero allows a number again once its document is
    /// voided or deleted.
    pub fn document_index_by_number(&self, kind: DocKind, number: &str) -> Option<usize> {
        let matching = |document: &&Document| document.kind == kind && document.number == number;
        let live = self
            .documents
            .iter()
            .rposition(|document| matching(&document) && !document.is_void_or_deleted());
        live.or_else(|| {
            self.documents
                .iter()
                .rposition(|document| matching(&document))
        })
    }

    /// Recomputes what has been paid and credited on an invoice, and moves it
    /// between `AUTHORISED` and `PAID` as Xero does when the amount due
    /// reaches or leaves zero.
    pub fn settle_invoice(&mut self, invoice_index: usize, now: DateTime<Utc>) {
        let invoice_id = self.documents[invoice_index].id.clone();
        let live_payments: Vec<&Payment> = self
            .payments
            .iter()
            .filter(|payment| payment.invoice_id == invoice_id && payment.status == "AUTHORISED")
            .collect();
        let allocations: Vec<&Allocation> = self
            .allocations
            .iter()
            .filter(|allocation| allocation.invoice_id == invoice_id)
            .collect();
        let paid: Decimal = live_payments.iter().map(|payment| payment.amount).sum();
        let credited: Decimal = allocations.iter().map(|allocation| allocation.amount).sum();
        let last_settled = live_payments
            .iter()
            .map(|payment| payment.date)
            .chain(allocations.iter().map(|allocation| allocation.date))
            .max();

        let invoice = &mut self.documents[invoice_index];
        invoice.amount_paid = paid;
        invoice.amount_credited = credited;
        settle_status(invoice, last_settled);
        invoice.updated = now;
    }

    /// Recomputes a credit note's applied amount and moves it between
    /// `AUTHORISED` and `PAID` as its remaining credit reaches or leaves zero.
    pub fn settle_credit_note(&mut self, credit_note_index: usize, now: DateTime<Utc>) {
        let credit_note_id = self.documents[credit_note_index].id.clone();
        let allocations: Vec<&Allocation> = self
            .allocations
            .iter()
            .filter(|allocation| allocation.credit_note_id == credit_note_id)
            .collect();
        let applied: Decimal = allocations.iter().map(|allocation| allocation.amount).sum();
        let last_settled = allocations.iter().map(|allocation| allocation.date).max();

        let credit_note = &mut self.documents[credit_note_index];
        credit_note.amount_credited = applied;
        settle_status(credit_note, last_settled);
        credit_note.updated = now;
    }
}

fn settle_status(document: &mut Document, last_settled: Option<NaiveDate>) {
    let settled = document.amount_due() <= Decimal::ZERO && document.total > Decimal::ZERO;
    match document.status.as_str() {
        "AUTHORISED" if settled => {
            document.status = "PAID".into();
            document.fully_paid_on = last_settled;
        }
        "PAID" if !settled => {
            document.status = "AUTHORISED".into();
            document.fully_paid_on = None;
        }
        _ => {}
    }
}

fn seed_accounts() -> Vec<Account> {
    let account =
        |code: &str, name: &str, account_type: &str, class: &str, tax_type: &str, status: &str| {
            Account {
                id: uuid::Uuid::new_v4().to_string(),
                code: code.into(),
                name: name.into(),
                account_type: account_type.into(),
                class: class.into(),
                tax_type: tax_type.into(),
                status: status.into(),
            }
        };
    vec![
        account(
            "090",
            "Business Bank Account",
            "BANK",
            "ASSET",
            "NONE",
            "ACTIVE",
        ),
        account("200", "Sales", "REVENUE", "REVENUE", "OUTPUT2", "ACTIVE"),
        account(
            "210",
            "Consulting Income (old)",
            "REVENUE",
            "REVENUE",
            "OUTPUT2",
            "ARCHIVED",
        ),
        account(
            "260",
            "Other Revenue",
            "REVENUE",
            "REVENUE",
            "OUTPUT2",
            "ACTIVE",
        ),
        account(
            "270",
            "Interest Income",
            "REVENUE",
            "REVENUE",
            "NONE",
            "ACTIVE",
        ),
        account(
            "400",
            "Advertising",
            "EXPENSE",
            "EXPENSE",
            "INPUT2",
            "ACTIVE",
        ),
        account(
            "610",
            "Accounts Receivable",
            "CURRENT",
            "ASSET",
            "NONE",
            "ACTIVE",
        ),
    ]
}

fn seed_tax_rates() -> Vec<TaxRate> {
    let rate = |tax_type: &str, name: &str, percent: i64, revenue: bool, expenses: bool| TaxRate {
        tax_type: tax_type.into(),
        name: name.into(),
        rate: Decimal::new(percent, 0),
        status: "ACTIVE".into(),
        can_apply_to_revenue: revenue,
        can_apply_to_expenses: expenses,
    };
    vec![
        rate("OUTPUT2", "VAT 25%", 25, true, false),
        rate("OUTPUT", "VAT 13%", 13, true, false),
        rate("ZERORATEDOUTPUT", "Zero Rated Output", 0, true, false),
        rate("EXEMPTOUTPUT", "Exempt Output", 0, true, false),
        rate("INPUT2", "VAT on Purchases 25%", 25, false, true),
        rate("NONE", "No VAT", 0, true, true),
    ]
}
