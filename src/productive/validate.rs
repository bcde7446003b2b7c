//! Checks that typed invoices can go to Xero unchanged: known currency,
//! client, mapped tax rates and accounts, line arithmetic, totals, numbering,
//! dates and signs. Every problem names its line and how to fix it.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use rust_decimal::Decimal;

use super::currency::is_known_currency;
use super::model::{DocumentKind, Invoice, Line, Problem};
use super::money::round_money;
use crate::config::Mapping;

/// Maximum decimals of a unit price in Xero, reached with the `unitdp=4` request option.
const MAX_UNIT_PRICE_DECIMALS: u32 = 4;

/// Checks invoices and returns every problem found, in file order per invoice.
pub fn validate(file: &str, invoices: &[Invoice], mapping: &Mapping) -> Vec<Problem> {
    validate_parsed(file, invoices, mapping, &[])
}

/// Checks invoices like [`validate`], but skips the arithmetic, total, sign and date checks
/// of invoices whose `has_parse_problems` entry is true, because a value that
/// failed to parse was replaced by zero and would only repeat the reader's problem.
pub(crate) fn validate_parsed(
    file: &str,
    invoices: &[Invoice],
    mapping: &Mapping,
    has_parse_problems: &[bool],
) -> Vec<Problem> {
    let mut checker = Checker {
        file,
        mapping,
        problems: Vec::new(),
    };
    let mut first_by_number: HashMap<&str, &Invoice> = HashMap::with_capacity(invoices.len());
    for (index, invoice) in invoices.iter().enumerate() {
        let values_parsed = !has_parse_problems.get(index).copied().unwrap_or(false);
        checker.check_invoice(invoice, values_parsed);
        if invoice.number.is_empty() {
            continue;
        }
        match first_by_number.entry(&invoice.number) {
            Entry::Vacant(entry) => {
                entry.insert(invoice);
            }
            Entry::Occupied(entry) => {
                let first = entry.get();
                checker.report(
                    invoice.source_line,
                    format!(
                        "invoice number {} is used on line {} (invoice id {}) and again here (invoice id {}); give each invoice its own number in Productive, or remove the repeated document from the export",
                        invoice.number, first.source_line, first.productive_id, invoice.productive_id
                    ),
                );
            }
        }
    }
    checker.problems
}

struct Checker<'a> {
    file: &'a str,
    mapping: &'a Mapping,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn report(&mut self, line: usize, message: String) {
        self.problems.push(Problem::new(self.file, line, message));
    }

    fn check_invoice(&mut self, invoice: &Invoice, values_parsed: bool) {
        let name = display_name(invoice);
        let line = invoice.source_line;

        if invoice.number.is_empty() {
            self.report(
                line,
                format!("invoice id {} has no invoice number; finalize the invoice in Productive and export again", invoice.productive_id),
            );
        }
        if invoice.currency.is_empty() {
            self.report(line, format!("{name} has no currency; set the invoice currency in Productive and export again"));
        } else if !is_known_currency(&invoice.currency) {
            self.report(
                line,
                format!("{name} has currency \"{}\", which is not an ISO 4217 code; use a code such as EUR, GBP or USD", invoice.currency),
            );
        }
        if invoice.client.id.is_empty() {
            self.report(line, format!("{name} has no client id; export the invoice with its client (the \"Client ID\" column)"));
        }
        if invoice.client.name.is_empty() {
            self.report(line, format!("{name} has no client name; give the client company a name in Productive and export again"));
        }
        if invoice.exported && invoice.export_id.is_none() {
            self.report(
                line,
                format!("{name} is marked as exported but has no export ID; set the export ID to the Xero InvoiceID, or mark the invoice as not exported"),
            );
        }
        if invoice.lines.is_empty() {
            self.report(
                line,
                format!(
                    "{name} has no lines; add lines to the invoice in Productive and export again"
                ),
            );
        }

        let mut positions: HashMap<u32, usize> = HashMap::with_capacity(invoice.lines.len());
        for item in &invoice.lines {
            if let Some(first_line) = positions.insert(item.position, item.source_line) {
                self.report(
                    item.source_line,
                    format!("{name} has line position {} twice, on line {first_line} and here; number the lines of an invoice 1, 2, 3 and so on", item.position),
                );
            }
            self.check_line(&name, item, values_parsed);
        }

        if values_parsed {
            self.check_totals(&name, invoice);
            self.check_dates(&name, invoice);
        }
    }

    fn check_line(&mut self, invoice_name: &str, item: &Line, values_parsed: bool) {
        let name = format!("{invoice_name} line {}", item.position);
        let line = item.source_line;

        if item.description.trim().is_empty() {
            self.report(line, format!("{name} has an empty description; Xero needs a description on every line, so add one in Productive"));
        }
        self.check_mapping(&name, item);
        if item.unit_price.normalize().scale() > MAX_UNIT_PRICE_DECIMALS {
            self.report(
                line,
                format!(
                    "{name} has unit price {}, with more than {MAX_UNIT_PRICE_DECIMALS} decimals, which Xero rejects; round the unit price in Productive to at most {MAX_UNIT_PRICE_DECIMALS} decimals",
                    item.unit_price
                ),
            );
        }
        if item.discount_percent < Decimal::ZERO || item.discount_percent > Decimal::ONE_HUNDRED {
            self.report(
                line,
                format!("{name} has discount {} %, outside 0 to 100; correct the discount in Productive", item.discount_percent),
            );
        }
        if values_parsed {
            self.check_arithmetic(&name, item);
        }
    }

    fn check_mapping(&mut self, name: &str, item: &Line) {
        let line = item.source_line;
        if self
            .mapping
            .tax_type_for(item.tax_name.as_deref(), item.tax_percent)
            .is_none()
        {
            let percent = item.tax_percent.normalize();
            let rate = match &item.tax_name {
                Some(tax_name) => format!("tax rate \"{tax_name}\" ({percent} %)"),
                None => format!("tax rate {percent} %"),
            };
            self.report(
                line,
                format!("{name}: {rate} has no Xero tax type; add \"{percent}\" = \"<Xero TaxType>\" under [mapping.tax_types]"),
            );
        }
        if self
            .mapping
            .account_for(item.service_type.as_deref())
            .is_none()
        {
            let message = match &item.service_type {
                Some(service_type) => format!(
                    "{name}: service type \"{service_type}\" has no Xero account code; add \"{service_type}\" = \"<account code>\" under [mapping.accounts], or set default_account_code = \"<account code>\" under [mapping]"
                ),
                None => format!("{name} has no service type and no default account code is set; set default_account_code = \"<account code>\" under [mapping]"),
            };
            self.report(line, message);
        }
    }

    /// Checks net = round(quantity × unit price × (1 − discount/100)),
    /// tax = round(net × rate/100) and gross = net + tax, rounding half away from zero.
    fn check_arithmetic(&mut self, name: &str, item: &Line) {
        let line = item.source_line;
        let fix = "correct the line in Productive and export again";
        let expected_net = item
            .quantity
            .checked_mul(item.unit_price)
            .and_then(|amount| amount.checked_mul(Decimal::ONE_HUNDRED - item.discount_percent))
            .map(|amount| round_money(amount / Decimal::ONE_HUNDRED));
        let expected_tax = item
            .net
            .checked_mul(item.tax_percent)
            .map(|amount| round_money(amount / Decimal::ONE_HUNDRED));
        let expected_gross = item.net.checked_add(item.tax);
        let (Some(expected_net), Some(expected_tax), Some(expected_gross)) =
            (expected_net, expected_tax, expected_gross)
        else {
            self.report(
                line,
                format!("{name} has amounts too large to compute with 28 digits; {fix}"),
            );
            return;
        };

        if item.net != expected_net {
            self.report(
                line,
                format!(
                    "{name} has net {}, but quantity {} × unit price {} less {} % discount, rounded half away from zero, is {expected_net}; {fix}",
                    item.net,
                    item.quantity,
                    item.unit_price,
                    item.discount_percent.normalize()
                ),
            );
        }
        if item.tax != expected_tax {
            self.report(
                line,
                format!(
                    "{name} has tax {}, but {} % of net {}, rounded half away from zero, is {expected_tax}; {fix}",
                    item.tax,
                    item.tax_percent.normalize(),
                    item.net
                ),
            );
        }
        if item.gross != expected_gross {
            self.report(
                line,
                format!(
                    "{name} has gross {}, but net {} + tax {} is {expected_gross}; {fix}",
                    item.gross, item.net, item.tax
                ),
            );
        }
    }

    fn check_totals(&mut self, name: &str, invoice: &Invoice) {
        let line = invoice.source_line;
        let fix = "correct the invoice in Productive and export again";
        let sum = |amount: fn(&Line) -> Decimal| {
            invoice
                .lines
                .iter()
                .try_fold(Decimal::ZERO, |total, item| total.checked_add(amount(item)))
        };
        let sums = [
            ("net", invoice.net, sum(|item| item.net)),
            ("tax", invoice.tax, sum(|item| item.tax)),
            ("gross", invoice.gross, sum(|item| item.gross)),
        ];
        for (field, total, sum) in sums {
            match sum {
                Some(sum) if sum == total => {}
                Some(sum) => self.report(
                    line,
                    format!(
                        "{name} has {field} total {total}, but its lines add up to {sum}; {fix}"
                    ),
                ),
                None => self.report(
                    line,
                    format!(
                        "{name} has line {field} amounts whose sum is too large to compute; {fix}"
                    ),
                ),
            }
        }
        match invoice.net.checked_add(invoice.tax) {
            Some(expected) if expected == invoice.gross => {}
            Some(expected) => self.report(
                line,
                format!(
                    "{name} has gross total {}, but net {} + tax {} is {expected}; {fix}",
                    invoice.gross, invoice.net, invoice.tax
                ),
            ),
            None => self.report(
                line,
                format!("{name} has totals too large to compute with 28 digits; {fix}"),
            ),
        }

        match invoice.kind {
            DocumentKind::CreditNote if invoice.gross > Decimal::ZERO => self.report(
                line,
                format!("{name} is a credit note but its total {} is positive; credit notes carry negative amounts, so check the document type and the signs of the quantities", invoice.gross),
            ),
            DocumentKind::Invoice if invoice.gross < Decimal::ZERO => self.report(
                line,
                format!("{name} is an invoice but its total {} is negative; make it a credit note in Productive, or check the signs of the quantities", invoice.gross),
            ),
            _ => {}
        }
    }

    fn check_dates(&mut self, name: &str, invoice: &Invoice) {
        if let Some(due_date) = invoice.due_date {
            if due_date < invoice.issue_date {
                self.report(
                    invoice.source_line,
                    format!(
                        "{name} is due on {due_date}, before its issue date {}; correct the due date in Productive",
                        invoice.issue_date
                    ),
                );
            }
        }
    }
}

/// Names an invoice in messages: "invoice INV-2025-0101" or "credit note CN-2025-0001".
fn display_name(invoice: &Invoice) -> String {
    let noun = match invoice.kind {
        DocumentKind::Invoice => "invoice",
        DocumentKind::CreditNote => "credit note",
    };
    if invoice.number.is_empty() {
        format!("{noun} with id {}", invoice.productive_id)
    } else {
        format!("{noun} {}", invoice.number)
    }
}
