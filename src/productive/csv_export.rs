//! Reader for the CSV invoice export, one record per invoice line.
//!
//! Columns are found by header name: the standard names below, or the
//! user's own names mapped to them under `[mapping.columns]`. Records are read
//! one at a time and grouped by "Invoice ID". The rows of one invoice usually
//! follow each other. A row whose invoice appeared earlier in the file joins
//! that invoice wherever it is, so row order never splits or merges documents.
//! Lines are sorted by "Line position" at the end.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};

use chrono::NaiveDate;
use csv::StringRecord;
use rust_decimal::Decimal;

use super::fields::{parse_date, parse_decimal};
use super::model::{Address, Client, DocumentKind, Invoice, Line, Problem};
use super::Parsed;
use crate::config::Mapping;
use crate::error::{Error, Result};

/// A column of the export, in the order of the standard header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    InvoiceId,
    InvoiceNumber,
    DocumentType,
    CreditedInvoiceNumber,
    ClientId,
    Client,
    ClientCode,
    ClientTaxId,
    ClientAddress,
    ClientCity,
    ClientPostcode,
    ClientCountry,
    Subject,
    PoNumber,
    IssueDate,
    DueDate,
    SentOn,
    Currency,
    ExchangeRate,
    LinePosition,
    ServiceType,
    Description,
    Quantity,
    Unit,
    UnitPrice,
    DiscountPercent,
    TaxRateName,
    TaxRatePercent,
    LineNet,
    LineTax,
    LineGross,
    InvoiceNet,
    InvoiceTax,
    InvoiceGross,
    AmountPaid,
    PaidOn,
    PaymentStatus,
    Exported,
    ExportId,
}

struct ColumnSpec {
    column: Column,
    name: &'static str,
    /// The file must have this column.
    required: bool,
    /// The value belongs to the document, so every line of it must repeat the same value.
    invoice_level: bool,
}

const fn spec(
    column: Column,
    name: &'static str,
    required: bool,
    invoice_level: bool,
) -> ColumnSpec {
    ColumnSpec {
        column,
        name,
        required,
        invoice_level,
    }
}

/// Standard column names. The index of each entry is its `Column as usize`.
/// "Payment status" is read past: xerosync gets payment status from Xero.
const SPECS: [ColumnSpec; 39] = [
    spec(Column::InvoiceId, "Invoice ID", true, false),
    spec(Column::InvoiceNumber, "Invoice number", true, true),
    spec(Column::DocumentType, "Document type", false, true),
    spec(
        Column::CreditedInvoiceNumber,
        "Credited invoice number",
        false,
        true,
    ),
    spec(Column::ClientId, "Client ID", true, true),
    spec(Column::Client, "Client", true, true),
    spec(Column::ClientCode, "Client code", false, true),
    spec(Column::ClientTaxId, "Client tax ID", false, true),
    spec(Column::ClientAddress, "Client address", false, true),
    spec(Column::ClientCity, "Client city", false, true),
    spec(Column::ClientPostcode, "Client postcode", false, true),
    spec(Column::ClientCountry, "Client country", false, true),
    spec(Column::Subject, "Subject", false, true),
    spec(Column::PoNumber, "PO number", false, true),
    spec(Column::IssueDate, "Issue date", true, true),
    spec(Column::DueDate, "Due date", false, true),
    spec(Column::SentOn, "Sent on", false, true),
    spec(Column::Currency, "Currency", true, true),
    spec(Column::ExchangeRate, "Exchange rate", false, true),
    spec(Column::LinePosition, "Line position", false, false),
    spec(Column::ServiceType, "Service type", false, false),
    spec(Column::Description, "Description", true, false),
    spec(Column::Quantity, "Quantity", true, false),
    spec(Column::Unit, "Unit", false, false),
    spec(Column::UnitPrice, "Unit price", true, false),
    spec(Column::DiscountPercent, "Discount %", false, false),
    spec(Column::TaxRateName, "Tax rate name", false, false),
    spec(Column::TaxRatePercent, "Tax rate %", true, false),
    spec(Column::LineNet, "Line net", true, false),
    spec(Column::LineTax, "Line tax", true, false),
    spec(Column::LineGross, "Line gross", true, false),
    spec(Column::InvoiceNet, "Invoice net", true, true),
    spec(Column::InvoiceTax, "Invoice tax", true, true),
    spec(Column::InvoiceGross, "Invoice gross", true, true),
    spec(Column::AmountPaid, "Amount paid", false, true),
    spec(Column::PaidOn, "Paid on", false, true),
    spec(Column::PaymentStatus, "Payment status", false, false),
    spec(Column::Exported, "Exported", false, true),
    spec(Column::ExportId, "Export ID", false, true),
];

impl Column {
    fn name(self) -> &'static str {
        SPECS[self as usize].name
    }
}

/// Returns the standard names of all columns, in the order of the standard header.
pub fn standard_column_names() -> impl Iterator<Item = &'static str> {
    SPECS.iter().map(|spec| spec.name)
}

fn standard_column(name: &str) -> Option<Column> {
    SPECS
        .iter()
        .find(|spec| spec.name.eq_ignore_ascii_case(name))
        .map(|spec| spec.column)
}

/// Checks that every `[mapping.columns]` entry names a standard column.
fn check_column_mapping(mapping: &Mapping) -> Result<()> {
    for (header, target) in &mapping.columns {
        if standard_column(target.trim()).is_none() {
            let names: Vec<String> = standard_column_names()
                .map(|name| format!("\"{name}\""))
                .collect();
            return Err(Error::config(format!(
                "[mapping.columns] maps \"{header}\" to \"{target}\", which is not a column of the Productive export; use one of {}",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// Positions of the columns in the file's records.
struct ColumnIndex {
    positions: [Option<usize>; SPECS.len()],
    header_len: usize,
}

impl ColumnIndex {
    fn has(&self, column: Column) -> bool {
        self.positions[column as usize].is_some()
    }
}

/// Finds the columns by header name. Reports duplicate and missing columns
/// on line 1 and returns `None` when the records cannot be read.
fn resolve_columns(
    headers: &StringRecord,
    mapping: &Mapping,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Option<ColumnIndex> {
    let renames: HashMap<String, Column> = mapping
        .columns
        .iter()
        .filter_map(|(header, target)| {
            Some((
                header.trim().to_lowercase(),
                standard_column(target.trim())?,
            ))
        })
        .collect();

    let mut positions = [None; SPECS.len()];
    let before = problems.len();
    for (position, header) in headers.iter().enumerate() {
        let name = header.trim_start_matches('\u{feff}').trim();
        let Some(column) = renames
            .get(&name.to_lowercase())
            .copied()
            .or_else(|| standard_column(name))
        else {
            continue;
        };
        match positions[column as usize] {
            Some(earlier) => problems.push(Problem::new(
                file,
                1,
                format!(
                    "columns {} \"{}\" and {} \"{name}\" both give \"{}\"; delete one of them, or map one of them to another column under [mapping.columns]",
                    earlier + 1,
                    headers[earlier].trim_start_matches('\u{feff}').trim(),
                    position + 1,
                    column.name()
                ),
            )),
            None => positions[column as usize] = Some(position),
        }
    }

    for spec in SPECS
        .iter()
        .filter(|spec| spec.required && positions[spec.column as usize].is_none())
    {
        problems.push(Problem::new(
            file,
            1,
            format!(
                "required column \"{0}\" is missing from the header; add it to the export, or if the file names it differently, add \"<header in your file>\" = \"{0}\" under [mapping.columns]",
                spec.name
            ),
        ));
    }

    (problems.len() == before).then_some(ColumnIndex {
        positions,
        header_len: headers.len(),
    })
}

/// Reads a CSV export from `input`. `file` names the file in problems and errors.
pub(crate) fn read_csv<R: Read>(input: R, file: &str, mapping: &Mapping) -> Result<Parsed> {
    check_column_mapping(mapping)?;

    let input = CrlfToLf {
        inner: BufReader::with_capacity(1 << 16, input),
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let mut parsed = Parsed::default();

    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(err) => {
            record_csv_error(err, file, &mut parsed.problems)?;
            return Ok(parsed);
        }
    };
    if headers
        .iter()
        .all(|header| header.trim_start_matches('\u{feff}').trim().is_empty())
    {
        parsed.problems.push(Problem::new(
            file,
            1,
            "the file has no header row; export the invoices from Productive again",
        ));
        return Ok(parsed);
    }
    let Some(columns) = resolve_columns(&headers, mapping, file, &mut parsed.problems) else {
        return Ok(parsed);
    };

    let mut grouper = Grouper::new(file, &columns);
    let mut record = StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => grouper.add_record(&record, &mut parsed),
            Ok(false) => break,
            Err(err) => record_csv_error(err, file, &mut parsed.problems)?,
        }
    }
    grouper.finish(&mut parsed);
    Ok(parsed)
}

/// Turns a csv error into a problem, or into an error when reading failed.
fn record_csv_error(err: csv::Error, file: &str, problems: &mut Vec<Problem>) -> Result<()> {
    let line = err
        .position()
        .map_or(1, |position| position.line() as usize);
    match err.kind() {
        csv::ErrorKind::Io(io) => Err(Error::failed(format!("cannot read {file}: {io}"))),
        csv::ErrorKind::Utf8 { .. } => {
            problems.push(Problem::new(
                file,
                line,
                "the record is not valid UTF-8 text; save the export with UTF-8 encoding",
            ));
            Ok(())
        }
        _ => {
            problems.push(Problem::new(
                file,
                line,
                format!("the record cannot be read as CSV ({err}); export the invoices from Productive again"),
            ));
            Ok(())
        }
    }
}

/// Groups records into invoices by "Invoice ID".
struct Grouper<'a> {
    file: &'a str,
    columns: &'a ColumnIndex,
    by_id: HashMap<String, usize>,
    /// Invoice of the previous record, whose invoice-level text is in `current_head`.
    current: Option<usize>,
    current_head: Vec<String>,
    /// Invoice ids of records that were skipped because their field count is wrong.
    skipped_ids: Vec<String>,
    /// Per invoice, the `RowParser::failed` bits of its first record, whose
    /// invalid values must not be compared with later records.
    head_failed: Vec<u64>,
}

impl<'a> Grouper<'a> {
    fn new(file: &'a str, columns: &'a ColumnIndex) -> Self {
        Grouper {
            file,
            columns,
            by_id: HashMap::new(),
            current: None,
            current_head: Vec::new(),
            skipped_ids: Vec::new(),
            head_failed: Vec::new(),
        }
    }

    fn add_record(&mut self, record: &StringRecord, parsed: &mut Parsed) {
        let line = record
            .position()
            .map_or(0, |position| position.line() as usize);
        if record.len() == 1 && record[0].trim().is_empty() {
            return;
        }

        let mut row = RowParser {
            record,
            columns: self.columns,
            file: self.file,
            line,
            problems: &mut parsed.problems,
            failed: 0,
        };
        if record.len() != self.columns.header_len {
            row.problem(format!(
                "the record has {} fields but the header has {}; quote values that contain commas, or add the missing fields",
                record.len(),
                self.columns.header_len
            ));
            let id = row.text(Column::InvoiceId);
            if !id.is_empty() {
                self.skipped_ids.push(id.to_string());
            }
            return;
        }
        let id = row.text(Column::InvoiceId);
        if id.is_empty() {
            row.problem("\"Invoice ID\" is empty; every record needs the Productive id of its invoice, so export the invoices again");
            return;
        }

        let found = match self.current {
            Some(index) if parsed.invoices[index].productive_id == id => Some(index),
            _ => self.by_id.get(id).copied(),
        };
        let index = match found {
            Some(index) => {
                self.check_head(index, &mut row, &parsed.invoices[index]);
                index
            }
            None => {
                let invoice = row.parse_head(id);
                let index = parsed.invoices.len();
                self.by_id.insert(id.to_string(), index);
                self.remember_head(index, &row);
                self.head_failed.push(row.failed);
                parsed.invoices.push(invoice);
                parsed.has_parse_problems.push(false);
                index
            }
        };

        let next_position =
            u32::try_from(parsed.invoices[index].lines.len() + 1).unwrap_or(u32::MAX);
        let line_item = row.parse_line(next_position);
        parsed.has_parse_problems[index] |= row.failed != 0;
        parsed.invoices[index].lines.push(line_item);
    }

    /// Compares the invoice-level fields of a later record of an invoice with
    /// its first record. Equal text is the fast path; otherwise the values are
    /// parsed and compared, so `1.0` and `1.00` agree.
    fn check_head(&mut self, index: usize, row: &mut RowParser, first: &Invoice) {
        let same_text = self.current == Some(index)
            && head_columns()
                .zip(&self.current_head)
                .all(|(column, text)| row.text(column) == text.as_str());
        if same_text {
            return;
        }

        let this = row.parse_head(&first.productive_id);
        let failed = row.failed | self.head_failed[index];
        let mut agrees = true;
        for column in head_columns() {
            if failed & (1u64 << column as usize) != 0 || !self.columns.has(column) {
                continue;
            }
            let (here, there) = (head_value(&this, column), head_value(first, column));
            if here != there {
                agrees = false;
                row.problem(format!(
                    "\"{}\" is \"{here}\" here but \"{there}\" on line {}, where invoice {} starts; every record of an invoice must repeat the same invoice fields, so correct the export",
                    column.name(),
                    first.source_line,
                    first.number
                ));
            }
        }
        if agrees && row.failed == 0 {
            self.remember_head(index, row);
        }
    }

    fn remember_head(&mut self, index: usize, row: &RowParser) {
        self.current = Some(index);
        self.current_head.clear();
        self.current_head
            .extend(head_columns().map(|column| row.text(column).to_string()));
    }

    fn finish(self, parsed: &mut Parsed) {
        for id in &self.skipped_ids {
            if let Some(&index) = self.by_id.get(id) {
                parsed.has_parse_problems[index] = true;
            }
        }
        for invoice in &mut parsed.invoices {
            invoice.lines.sort_by_key(|line| line.position);
        }
    }
}

fn head_columns() -> impl Iterator<Item = Column> {
    SPECS
        .iter()
        .filter(|spec| spec.invoice_level)
        .map(|spec| spec.column)
}

/// Formats the value of an invoice-level column for a problem message.
fn head_value(invoice: &Invoice, column: Column) -> String {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let date = |value: Option<NaiveDate>| value.map(|date| date.to_string()).unwrap_or_default();
    let number = |value: Decimal| value.normalize().to_string();
    match column {
        Column::InvoiceNumber => invoice.number.clone(),
        Column::DocumentType => invoice.kind.export_name().to_string(),
        Column::CreditedInvoiceNumber => text(&invoice.credited_number),
        Column::ClientId => invoice.client.id.clone(),
        Column::Client => invoice.client.name.clone(),
        Column::ClientCode => text(&invoice.client.code),
        Column::ClientTaxId => text(&invoice.client.tax_id),
        Column::ClientAddress => text(&invoice.client.address.line),
        Column::ClientCity => text(&invoice.client.address.city),
        Column::ClientPostcode => text(&invoice.client.address.postcode),
        Column::ClientCountry => text(&invoice.client.address.country),
        Column::Subject => text(&invoice.subject),
        Column::PoNumber => text(&invoice.po_number),
        Column::IssueDate => invoice.issue_date.to_string(),
        Column::DueDate => date(invoice.due_date),
        Column::SentOn => date(invoice.sent_on),
        Column::Currency => invoice.currency.clone(),
        Column::ExchangeRate => invoice.exchange_rate.map(number).unwrap_or_default(),
        Column::InvoiceNet => number(invoice.net),
        Column::InvoiceTax => number(invoice.tax),
        Column::InvoiceGross => number(invoice.gross),
        Column::AmountPaid => number(invoice.amount_paid),
        Column::PaidOn => date(invoice.paid_on),
        Column::Exported => if invoice.exported { "yes" } else { "no" }.to_string(),
        Column::ExportId => text(&invoice.export_id),
        _ => String::new(),
    }
}

/// Parses the fields of one record, reporting each bad value as a problem.
struct RowParser<'r> {
    record: &'r StringRecord,
    columns: &'r ColumnIndex,
    file: &'r str,
    line: usize,
    problems: &'r mut Vec<Problem>,
    /// Bit `Column as usize` is set for each column whose value is invalid.
    failed: u64,
}

impl<'r> RowParser<'r> {
    /// Returns the trimmed value of `column`, or "" when the file has no such column.
    fn text(&self, column: Column) -> &'r str {
        self.columns.positions[column as usize]
            .and_then(|position| self.record.get(position))
            .unwrap_or("")
            .trim()
    }

    fn optional_text(&self, column: Column) -> Option<String> {
        Some(self.text(column))
            .filter(|text| !text.is_empty())
            .map(str::to_string)
    }

    fn problem(&mut self, message: impl Into<String>) {
        self.problems
            .push(Problem::new(self.file, self.line, message));
    }

    fn invalid(&mut self, column: Column, message: String) {
        self.failed |= 1u64 << column as usize;
        self.problem(message);
    }

    fn report_empty(&mut self, column: Column) {
        self.invalid(
            column,
            format!(
                "\"{}\" is empty; fill it in in Productive and export again",
                column.name()
            ),
        );
    }

    fn decimal(&mut self, column: Column) -> Option<Decimal> {
        let text = self.text(column);
        if text.is_empty() {
            return None;
        }
        let value = parse_decimal(text);
        if value.is_none() {
            self.invalid(
                column,
                format!(
                    "\"{}\" value \"{text}\" is not a number; write numbers with \".\" as the decimal separator and no thousands separators, such as 1234.50",
                    column.name()
                ),
            );
        }
        value
    }

    fn required_decimal(&mut self, column: Column) -> Decimal {
        if self.text(column).is_empty() {
            self.report_empty(column);
            return Decimal::ZERO;
        }
        self.decimal(column).unwrap_or_default()
    }

    fn date(&mut self, column: Column) -> Option<NaiveDate> {
        let text = self.text(column);
        if text.is_empty() {
            return None;
        }
        let value = parse_date(text);
        if value.is_none() {
            self.invalid(
                column,
                format!("\"{}\" value \"{text}\" is not a date in YYYY-MM-DD form; write it like 2025-01-31", column.name()),
            );
        }
        value
    }

    fn required_date(&mut self, column: Column) -> NaiveDate {
        if self.text(column).is_empty() {
            self.report_empty(column);
            return NaiveDate::default();
        }
        self.date(column).unwrap_or_default()
    }

    fn document_kind(&mut self) -> Option<DocumentKind> {
        let text = self.text(Column::DocumentType);
        match text.to_ascii_lowercase().as_str() {
            "" => None,
            "invoice" => Some(DocumentKind::Invoice),
            "credit note" | "credit_note" | "creditnote" => Some(DocumentKind::CreditNote),
            _ => {
                self.invalid(
                    Column::DocumentType,
                    format!("\"Document type\" value \"{text}\" is unknown; write \"Invoice\" or \"Credit note\""),
                );
                None
            }
        }
    }

    fn exported(&mut self) -> bool {
        let text = self.text(Column::Exported);
        match text.to_ascii_lowercase().as_str() {
            "" | "no" | "false" | "0" => false,
            "yes" | "true" | "1" => true,
            _ => {
                self.invalid(
                    Column::Exported,
                    format!(
                        "\"Exported\" value \"{text}\" is not yes or no; write \"yes\" or \"no\""
                    ),
                );
                false
            }
        }
    }

    fn position(&mut self, next_position: u32) -> u32 {
        let text = self.text(Column::LinePosition);
        if text.is_empty() {
            return next_position;
        }
        match text.parse::<u32>() {
            Ok(position) if position >= 1 => position,
            _ => {
                self.invalid(
                    Column::LinePosition,
                    format!("\"Line position\" value \"{text}\" is not a whole number of 1 or more; number the lines of an invoice 1, 2, 3 and so on"),
                );
                next_position
            }
        }
    }

    /// Parses the invoice-level fields into an invoice without lines.
    fn parse_head(&mut self, id: &str) -> Invoice {
        let kind = self.document_kind();
        let gross = self.required_decimal(Column::InvoiceGross);
        Invoice {
            productive_id: id.to_string(),
            number: self.text(Column::InvoiceNumber).to_string(),
            // Without a document type, a negative total makes a credit note.
            kind: kind.unwrap_or(if gross < Decimal::ZERO {
                DocumentKind::CreditNote
            } else {
                DocumentKind::Invoice
            }),
            credited_number: self.optional_text(Column::CreditedInvoiceNumber),
            client: Client {
                id: self.text(Column::ClientId).to_string(),
                name: self.text(Column::Client).to_string(),
                code: self.optional_text(Column::ClientCode),
                tax_id: self.optional_text(Column::ClientTaxId),
                address: Address {
                    line: self.optional_text(Column::ClientAddress),
                    city: self.optional_text(Column::ClientCity),
                    postcode: self.optional_text(Column::ClientPostcode),
                    country: self
                        .optional_text(Column::ClientCountry)
                        .map(|country| country.to_ascii_uppercase()),
                },
            },
            subject: self.optional_text(Column::Subject),
            po_number: self.optional_text(Column::PoNumber),
            issue_date: self.required_date(Column::IssueDate),
            due_date: self.date(Column::DueDate),
            sent_on: self.date(Column::SentOn),
            currency: self.text(Column::Currency).to_ascii_uppercase(),
            exchange_rate: self.decimal(Column::ExchangeRate),
            lines: Vec::new(),
            net: self.required_decimal(Column::InvoiceNet),
            tax: self.required_decimal(Column::InvoiceTax),
            gross,
            amount_paid: self.decimal(Column::AmountPaid).unwrap_or_default(),
            paid_on: self.date(Column::PaidOn),
            exported: self.exported(),
            export_id: self.optional_text(Column::ExportId),
            source_line: self.line,
        }
    }

    fn parse_line(&mut self, next_position: u32) -> Line {
        Line {
            position: self.position(next_position),
            service_type: self.optional_text(Column::ServiceType),
            description: self.text(Column::Description).to_string(),
            quantity: self.required_decimal(Column::Quantity),
            unit: self.optional_text(Column::Unit),
            unit_price: self.required_decimal(Column::UnitPrice),
            discount_percent: self.decimal(Column::DiscountPercent).unwrap_or_default(),
            tax_name: self.optional_text(Column::TaxRateName),
            tax_percent: self.required_decimal(Column::TaxRatePercent),
            net: self.required_decimal(Column::LineNet),
            tax: self.required_decimal(Column::LineTax),
            gross: self.required_decimal(Column::LineGross),
            source_line: self.line,
        }
    }
}

/// Replaces every CRLF with LF before the csv parser reads the input.
///
/// With CRLF terminators, csv 1.4.0 reports `Position::line` one lower than
/// the physical line of each record; with LF it reports the physical line.
/// Line breaks inside quoted fields become LF as well. A lone CR stays.
struct CrlfToLf<R> {
    inner: R,
}

impl<R: BufRead> Read for CrlfToLf<R> {
    fn read(&mut self, output: &mut [u8]) -> io::Result<usize> {
        if output.is_empty() {
            return Ok(0);
        }
        loop {
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                return Ok(0);
            }
            let limit = available.len().min(output.len());
            match available[..limit].iter().position(|&byte| byte == b'\r') {
                None => {
                    output[..limit].copy_from_slice(&available[..limit]);
                    self.inner.consume(limit);
                    return Ok(limit);
                }
                Some(0) => {
                    let followed_by_lf = match available.get(1) {
                        Some(&next) => next == b'\n',
                        None => {
                            // The CR ends the buffer, so look at the next byte after refilling.
                            self.inner.consume(1);
                            if self.inner.fill_buf()?.first() == Some(&b'\n') {
                                continue;
                            }
                            output[0] = b'\r';
                            return Ok(1);
                        }
                    };
                    self.inner.consume(1);
                    if !followed_by_lf {
                        output[0] = b'\r';
                        return Ok(1);
                    }
                }
                Some(end) => {
                    output[..end].copy_from_slice(&available[..end]);
                    self.inner.consume(end);
                    return Ok(end);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(input: &[u8], capacity: usize) -> Vec<u8> {
        let mut converted = Vec::new();
        CrlfToLf {
            inner: BufReader::with_capacity(capacity, input),
        }
        .read_to_end(&mut converted)
        .unwrap();
        converted
    }

    #[test]
    fn crlf_becomes_lf_across_buffer_edges() {
        let input = b"a,b\r\n\"x\r\ny\",z\r\nlone\rcr\r\n\r";
        let expected = b"a,b\n\"x\ny\",z\nlone\rcr\n\r";
        for capacity in 1..=input.len() {
            assert_eq!(
                convert(input, capacity),
                expected,
                "buffer capacity {capacity}"
            );
        }
    }
}
