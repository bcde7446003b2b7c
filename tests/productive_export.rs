//! Reading the Productive fixture exports (CSV and JSON:API) and reporting
//! problems in broken copies of them.

use std::path::Path;

use rust_decimal::Decimal;
use xerosync::config::Mapping;
use xerosync::error::Kind;
use xerosync::productive::{
    read_csv_export, read_export, read_jsonapi_export, DocumentKind, Export, ExportFormat, Invoice,
};

const CSV_FIXTURE: &str = "tests/fixtures/invoices.csv";
const JSON_FIXTURE: &str = "tests/fixtures/invoices.jsonapi.json";

const SERVICE_TYPES: [&str; 10] = [
    "Design",
    "Development",
    "Project management",
    "Consulting",
    "QA",
    "Support",
    "Event management",
    "Pass-through costs",
    "Translation",
    "Retainer",
];

/// A mapping that covers every tax rate and service type of the fixture,
/// with the 0 % rate mapped by name only and no default account.
fn fixture_mapping() -> Mapping {
    let mut mapping = Mapping::default();
    mapping.tax_types.insert("25".into(), "OUTPUT2".into());
    mapping.tax_types.insert("13".into(), "OUTPUT".into());
    mapping
        .tax_types
        .insert("Export 0%".into(), "ZERORATEDOUTPUT".into());
    for service_type in SERVICE_TYPES {
        mapping.accounts.insert(service_type.into(), "200".into());
    }
    mapping
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn read_fixture(path: &str, format: ExportFormat) -> Export {
    read_export(Path::new(path), format, &fixture_mapping()).unwrap()
}

fn read_csv_text(text: &str, mapping: &Mapping) -> Export {
    read_csv_export(text.as_bytes(), "invoices.csv", mapping).unwrap()
}

fn find<'a>(export: &'a Export, number: &str) -> &'a Invoice {
    export
        .invoices
        .iter()
        .find(|invoice| invoice.number == number)
        .unwrap_or_else(|| panic!("{number} not found"))
}

/// Clears every source line so that invoices from different files compare equal.
fn without_source_lines(invoices: &[Invoice]) -> Vec<Invoice> {
    let mut invoices = invoices.to_vec();
    for invoice in &mut invoices {
        invoice.source_line = 0;
        for line in &mut invoice.lines {
            line.source_line = 0;
        }
    }
    invoices
}

fn problem_lines(export: &Export) -> Vec<String> {
    export.problems.iter().map(ToString::to_string).collect()
}

/// The fixture CSV as records, to be edited and written back.
struct CsvTable {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl CsvTable {
    fn fixture() -> CsvTable {
        let mut reader = csv::Reader::from_path(CSV_FIXTURE).unwrap();
        let header = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        let rows = reader
            .records()
            .map(|record| record.unwrap().iter().map(str::to_string).collect())
            .collect();
        CsvTable { header, rows }
    }

    fn column(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|header| header == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    /// Sets `column` on the record of line `position` of invoice `number`.
    fn set_line(&mut self, number: &str, position: &str, column: &str, value: &str) {
        let (number_column, position_column, column) = (
            self.column("Invoice number"),
            self.column("Line position"),
            self.column(column),
        );
        let row = self
            .rows
            .iter_mut()
            .find(|row| row[number_column] == number && row[position_column] == position)
            .unwrap();
        row[column] = value.to_string();
    }

    /// Sets `column` on every record of invoice `number`.
    fn set_invoice(&mut self, number: &str, column: &str, value: &str) {
        let (number_column, column) = (self.column("Invoice number"), self.column(column));
        let mut found = false;
        for row in self
            .rows
            .iter_mut()
            .filter(|row| row[number_column] == number)
        {
            row[column] = value.to_string();
            found = true;
        }
        assert!(found, "{number} not found");
    }

    fn to_text(&self, terminator: csv::Terminator) -> String {
        let mut writer = csv::WriterBuilder::new()
            .terminator(terminator)
            .from_writer(Vec::new());
        writer.write_record(&self.header).unwrap();
        for row in &self.rows {
            writer.write_record(row).unwrap();
        }
        String::from_utf8(writer.into_inner().unwrap()).unwrap()
    }
}

#[test]
fn csv_fixture_has_25_documents_65_lines() {
    let export = read_fixture(CSV_FIXTURE, ExportFormat::Csv);
    assert_eq!(problem_lines(&export), Vec::<String>::new());
    assert_eq!(export.invoices.len(), 25);
    assert_eq!(
        export
            .invoices
            .iter()
            .map(|invoice| invoice.lines.len())
            .sum::<usize>(),
        65
    );
}

#[test]
fn jsonapi_fixture_has_25_documents_65_lines() {
    let export = read_fixture(JSON_FIXTURE, ExportFormat::JsonApi);
    assert_eq!(problem_lines(&export), Vec::<String>::new());
    assert_eq!(export.invoices.len(), 25);
    assert_eq!(
        export
            .invoices
            .iter()
            .map(|invoice| invoice.lines.len())
            .sum::<usize>(),
        65
    );
}

/// Number, client, currency, net, tax, gross, amount paid and line count of a document.
type DocumentTotals = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    usize,
);

const DOCUMENT_TOTALS: [DocumentTotals; 25] = [
    (
        "INV-2025-0101",
        "Žitnjak Solarni Sustavi d.o.o.",
        "EUR",
        "7747.50",
        "1936.88",
        "9684.38",
        "9684.38",
        3,
    ),
    (
        "INV-2025-0102",
        "Hartley, Bloom & Co. Ltd",
        "GBP",
        "3315.00",
        "0.00",
        "3315.00",
        "3315.00",
        3,
    ),
    (
        "INV-2025-0103",
        "Bluefin Outfitters Inc.",
        "USD",
        "8148.02",
        "0.00",
        "8148.02",
        "5000.00",
        3,
    ),
    (
        "INV-2025-0104",
        "Gradska Ljekarna Šestine d.o.o.",
        "EUR",
        "2290.00",
        "482.50",
        "2772.50",
        "2772.50",
        3,
    ),
    (
        "INV-2025-0105",
        "Müller & Söhne Digital d.o.o.",
        "EUR",
        "3024.41",
        "756.10",
        "3780.51",
        "3780.51",
        2,
    ),
    (
        "INV-2025-0106",
        "Adriatic Yacht Charter d.o.o.",
        "GBP",
        "1775.10",
        "443.78",
        "2218.88",
        "0.00",
        3,
    ),
    (
        "INV-2025-0107",
        "Northwind Ledger LLC",
        "USD",
        "5237.50",
        "0.00",
        "5237.50",
        "5237.50",
        2,
    ),
    (
        "INV-2025-0108",
        "Vinarija Zlatni Grič d.o.o.",
        "EUR",
        "3351.01",
        "740.55",
        "4091.56",
        "1500.00",
        4,
    ),
    (
        "INV-2025-0109",
        "Žitnjak Solarni Sustavi d.o.o.",
        "EUR",
        "6123.25",
        "1530.81",
        "7654.06",
        "7654.06",
        2,
    ),
    (
        "INV-2025-0110",
        "Hartley, Bloom & Co. Ltd",
        "GBP",
        "4421.75",
        "0.00",
        "4421.75",
        "0.00",
        2,
    ),
    (
        "INV-2025-0111",
        "Bluefin Outfitters Inc.",
        "USD",
        "9245.14",
        "0.00",
        "9245.14",
        "0.00",
        3,
    ),
    (
        "INV-2025-0112",
        "Gradska Ljekarna Šestine d.o.o.",
        "EUR",
        "969.00",
        "242.25",
        "1211.25",
        "1211.25",
        2,
    ),
    (
        "INV-2025-0113",
        "Müller & Söhne Digital d.o.o.",
        "EUR",
        "2701.44",
        "675.36",
        "3376.80",
        "2800.00",
        2,
    ),
    (
        "CN-2025-0001",
        "Müller & Söhne Digital d.o.o.",
        "EUR",
        "-461.44",
        "-115.36",
        "-576.80",
        "0.00",
        2,
    ),
    (
        "INV-2025-0114",
        "Adriatic Yacht Charter d.o.o.",
        "GBP",
        "2946.00",
        "715.62",
        "3661.62",
        "0.00",
        3,
    ),
    (
        "INV-2025-0115",
        "Northwind Ledger LLC",
        "USD",
        "11387.25",
        "0.00",
        "11387.25",
        "0.00",
        3,
    ),
    (
        "INV-2025-0116",
        "Vinarija Zlatni Grič d.o.o.",
        "EUR",
        "1795.00",
        "448.75",
        "2243.75",
        "0.00",
        2,
    ),
    (
        "INV-2025-0117",
        "Žitnjak Solarni Sustavi d.o.o.",
        "EUR",
        "5020.00",
        "1255.00",
        "6275.00",
        "0.00",
        4,
    ),
    (
        "INV-2025-0118",
        "Hartley, Bloom & Co. Ltd",
        "GBP",
        "3095.00",
        "0.00",
        "3095.00",
        "0.00",
        3,
    ),
    (
        "INV-2025-0119",
        "Bluefin Outfitters Inc.",
        "USD",
        "7235.00",
        "0.00",
        "7235.00",
        "0.00",
        2,
    ),
    (
        "INV-2025-0120",
        "Gradska Ljekarna Šestine d.o.o.",
        "EUR",
        "1972.00",
        "349.96",
        "2321.96",
        "0.00",
        3,
    ),
    (
        "INV-2025-0121",
        "Müller & Söhne Digital d.o.o.",
        "EUR",
        "3634.56",
        "908.64",
        "4543.20",
        "0.00",
        2,
    ),
    (
        "INV-2025-0122",
        "Adriatic Yacht Charter d.o.o.",
        "GBP",
        "1654.00",
        "413.50",
        "2067.50",
        "0.00",
        2,
    ),
    (
        "INV-2025-0123",
        "Northwind Ledger LLC",
        "USD",
        "9538.81",
        "0.00",
        "9538.81",
        "0.00",
        2,
    ),
    (
        "INV-2025-0124",
        "Vinarija Zlatni Grič d.o.o.",
        "EUR",
        "1076.13",
        "269.03",
        "1345.16",
        "0.00",
        3,
    ),
];

fn check_document_totals(export: &Export) {
    let numbers: Vec<&str> = export
        .invoices
        .iter()
        .map(|invoice| invoice.number.as_str())
        .collect();
    let expected_numbers: Vec<&str> = DOCUMENT_TOTALS.iter().map(|row| row.0).collect();
    assert_eq!(numbers, expected_numbers);

    for (number, client, currency, net, tax, gross, paid, lines) in DOCUMENT_TOTALS {
        let invoice = find(export, number);
        assert_eq!(invoice.client.name, client, "{number} client");
        assert_eq!(invoice.currency, currency, "{number} currency");
        assert_eq!(invoice.net, dec(net), "{number} net");
        assert_eq!(invoice.tax, dec(tax), "{number} tax");
        assert_eq!(invoice.gross, dec(gross), "{number} gross");
        assert_eq!(invoice.amount_paid, dec(paid), "{number} amount paid");
        assert_eq!(invoice.lines.len(), lines, "{number} line count");
        assert_eq!(
            invoice.lines.iter().map(|line| line.gross).sum::<Decimal>(),
            dec(gross),
            "{number} sum of line gross"
        );
    }
}

#[test]
fn csv_fixture_document_totals_match() {
    check_document_totals(&read_fixture(CSV_FIXTURE, ExportFormat::Csv));
}

#[test]
fn jsonapi_fixture_document_totals_match() {
    check_document_totals(&read_fixture(JSON_FIXTURE, ExportFormat::JsonApi));
}

fn check_currency_totals(export: &Export) {
    let expected = [
        ("EUR", 13, 34, "39242.86", "9480.47", "48723.33"),
        ("GBP", 6, 16, "17206.85", "1572.90", "18779.75"),
        ("USD", 6, 15, "50791.72", "0.00", "50791.72"),
    ];
    for (currency, documents, lines, net, tax, gross) in expected {
        let invoices: Vec<&Invoice> = export
            .invoices
            .iter()
            .filter(|invoice| invoice.currency == currency)
            .collect();
        assert_eq!(invoices.len(), documents, "{currency} documents");
        assert_eq!(
            invoices
                .iter()
                .map(|invoice| invoice.lines.len())
                .sum::<usize>(),
            lines,
            "{currency} lines"
        );
        assert_eq!(
            invoices.iter().map(|invoice| invoice.net).sum::<Decimal>(),
            dec(net),
            "{currency} net"
        );
        assert_eq!(
            invoices.iter().map(|invoice| invoice.tax).sum::<Decimal>(),
            dec(tax),
            "{currency} tax"
        );
        assert_eq!(
            invoices
                .iter()
                .map(|invoice| invoice.gross)
                .sum::<Decimal>(),
            dec(gross),
            "{currency} gross"
        );
    }
}

#[test]
fn csv_fixture_currency_totals_match() {
    check_currency_totals(&read_fixture(CSV_FIXTURE, ExportFormat::Csv));
}

#[test]
fn jsonapi_fixture_currency_totals_match() {
    check_currency_totals(&read_fixture(JSON_FIXTURE, ExportFormat::JsonApi));
}

fn check_credit_note(export: &Export) {
    let credit_note = find(export, "CN-2025-0001");
    assert_eq!(credit_note.kind, DocumentKind::CreditNote);
    assert!(credit_note.is_credit_note());
    assert_eq!(
        credit_note.credited_number.as_deref(),
        Some("INV-2025-0113")
    );
    assert_eq!(credit_note.productive_id, "880114");
    assert_eq!(credit_note.po_number.as_deref(), Some("MS-2025-02"));
    assert_eq!(credit_note.lines[0].quantity, dec("-3.5"));
    assert_eq!(credit_note.lines[0].unit_price, dec("86.125"));
    assert_eq!(credit_note.lines[0].net, dec("-301.44"));
    assert_eq!(credit_note.lines[1].quantity, dec("-1"));
    assert_eq!(credit_note.lines[1].gross, dec("-200.00"));

    let invoices = export
        .invoices
        .iter()
        .filter(|invoice| invoice.kind == DocumentKind::Invoice)
        .count();
    assert_eq!(invoices, 24);
    assert_eq!(find(export, "INV-2025-0113").credited_number, None);
}

#[test]
fn csv_credit_note_keeps_negative_amounts() {
    check_credit_note(&read_fixture(CSV_FIXTURE, ExportFormat::Csv));
}

#[test]
fn jsonapi_credit_note_keeps_negative_amounts() {
    check_credit_note(&read_fixture(JSON_FIXTURE, ExportFormat::JsonApi));
}

fn check_awkward_cases(export: &Export) {
    let campaign = find(export, "INV-2025-0108");
    assert_eq!(
        campaign.lines[0].description,
        "Campaign key visual \"Zlatna berba\""
    );
    assert_eq!(
        campaign.lines[1].description,
        "Tasting event catering\n(incl. sommelier service)"
    );
    assert_eq!(
        campaign.client.address.line.as_deref(),
        Some("Ulica Svjetlih Bačvi 7")
    );

    let hosting = &find(export, "INV-2025-0103").lines[2];
    assert_eq!(hosting.unit_price, dec("0.0875"));
    assert_eq!(hosting.quantity, dec("1234.5"));
    assert_eq!(hosting.service_type.as_deref(), Some("Pass-through costs"));
    assert_eq!(
        find(export, "INV-2025-0103").exchange_rate,
        Some(dec("0.9712"))
    );
    assert_eq!(
        find(export, "INV-2025-0103").client.address.city.as_deref(),
        Some("Portland, OR")
    );

    let complimentary = &find(export, "INV-2025-0102").lines[1];
    assert_eq!(complimentary.discount_percent, dec("100"));
    assert_eq!(complimentary.net, Decimal::ZERO);
    assert_eq!(
        find(export, "INV-2025-0102").client.tax_id.as_deref(),
        Some("GB318447290")
    );
    assert_eq!(
        find(export, "INV-2025-0102")
            .client
            .address
            .country
            .as_deref(),
        Some("GB")
    );

    let exported = find(export, "INV-2025-0117");
    assert!(exported.exported);
    assert_eq!(
        exported.export_id.as_deref(),
        Some("8f0b6c2e-4d1a-4c7e-9b55-3e2d7a91c0f4")
    );
    assert!(!find(export, "INV-2025-0116").exported);

    let unsent = find(export, "INV-2025-0124");
    assert_eq!(unsent.sent_on, None);
    assert_eq!(unsent.issue_date.to_string(), "2025-03-24");
    assert_eq!(
        unsent.due_date.map(|date| date.to_string()).as_deref(),
        Some("2025-04-23")
    );

    let paid = find(export, "INV-2025-0101");
    assert_eq!(
        paid.paid_on.map(|date| date.to_string()).as_deref(),
        Some("2025-02-03")
    );
    assert_eq!(find(export, "INV-2025-0103").paid_on, None);
    assert_eq!(paid.lines[0].tax_name.as_deref(), Some("PDV 25%"));
    assert_eq!(paid.lines[0].tax_percent, dec("25"));
    assert_eq!(paid.lines[0].unit.as_deref(), Some("hour"));
}

#[test]
fn csv_awkward_values_read_exactly() {
    check_awkward_cases(&read_fixture(CSV_FIXTURE, ExportFormat::Csv));
}

#[test]
fn jsonapi_awkward_values_read_exactly() {
    check_awkward_cases(&read_fixture(JSON_FIXTURE, ExportFormat::JsonApi));
}

#[test]
fn rounding_traps_round_half_away_from_zero() {
    for path_and_format in [
        (CSV_FIXTURE, ExportFormat::Csv),
        (JSON_FIXTURE, ExportFormat::JsonApi),
    ] {
        let export = read_fixture(path_and_format.0, path_and_format.1);
        assert_eq!(find(&export, "INV-2025-0106").lines[1].tax, dec("2.53"));
        assert_eq!(find(&export, "INV-2025-0108").lines[2].net, dec("31.01"));
        assert_eq!(find(&export, "INV-2025-0124").lines[2].net, dec("311.13"));
        assert!(export.problems.is_empty(), "{:?}", problem_lines(&export));
    }

    let mut table = CsvTable::fixture();
    table.set_line("INV-2025-0124", "3", "Line net", "311.12");
    table.set_line("INV-2025-0124", "3", "Line tax", "77.78");
    table.set_line("INV-2025-0124", "3", "Line gross", "388.90");
    table.set_invoice("INV-2025-0124", "Invoice net", "1076.12");
    table.set_invoice("INV-2025-0124", "Invoice gross", "1345.15");
    let export = read_csv_text(
        &table.to_text(csv::Terminator::Any(b'\n')),
        &fixture_mapping(),
    );
    assert_eq!(
        problem_lines(&export).len(),
        1,
        "{:?}",
        problem_lines(&export)
    );
    assert!(
        problem_lines(&export)[0]
            .starts_with("invoices.csv:67: invoice INV-2025-0124 line 3 has net 311.12"),
        "{:?}",
        problem_lines(&export)
    );
}

#[test]
fn csv_and_jsonapi_give_identical_invoices() {
    let csv = read_fixture(CSV_FIXTURE, ExportFormat::Csv);
    let json = read_fixture(JSON_FIXTURE, ExportFormat::JsonApi);
    let (csv, json) = (
        without_source_lines(&csv.invoices),
        without_source_lines(&json.invoices),
    );
    assert_eq!(csv.len(), json.len());
    for (from_csv, from_json) in csv.iter().zip(&json) {
        assert_eq!(from_csv, from_json, "{}", from_csv.number);
    }
}

#[test]
fn csv_source_lines_are_physical_lines() {
    let export = read_fixture(CSV_FIXTURE, ExportFormat::Csv);
    let campaign = find(&export, "INV-2025-0108");
    assert_eq!(campaign.source_line, 21);
    let lines: Vec<usize> = campaign.lines.iter().map(|line| line.source_line).collect();
    assert_eq!(lines, vec![21, 22, 24, 25]);
    assert_eq!(find(&export, "INV-2025-0109").source_line, 26);
    assert_eq!(find(&export, "INV-2025-0124").source_line, 65);
}

#[test]
fn jsonapi_source_lines_point_at_objects() {
    let text = std::fs::read_to_string(JSON_FIXTURE).unwrap();
    let export = read_fixture(JSON_FIXTURE, ExportFormat::JsonApi);
    let all_lines: Vec<&str> = text.lines().collect();
    for invoice in &export.invoices {
        let opening = all_lines[invoice.source_line - 1].trim();
        let next = all_lines[invoice.source_line].trim();
        assert_eq!(opening, "{", "{}", invoice.number);
        assert_eq!(
            next,
            format!("\"id\": \"{}\",", invoice.productive_id),
            "{}",
            invoice.number
        );
        for line in &invoice.lines {
            assert_eq!(
                all_lines[line.source_line - 1].trim(),
                "{",
                "{} line {}",
                invoice.number,
                line.position
            );
        }
    }
}

#[test]
fn csv_with_bom_and_crlf_reads_the_same() {
    let plain = read_fixture(CSV_FIXTURE, ExportFormat::Csv);
    let text = format!(
        "\u{feff}{}",
        CsvTable::fixture().to_text(csv::Terminator::CRLF)
    );
    assert!(text.contains("\r\n"));

    let windows = read_csv_text(&text, &fixture_mapping());
    assert_eq!(problem_lines(&windows), Vec::<String>::new());
    assert_eq!(windows.invoices.len(), plain.invoices.len());
    for (from_windows, from_plain) in windows.invoices.iter().zip(&plain.invoices) {
        assert_eq!(from_windows, from_plain, "{}", from_plain.number);
    }
}

#[test]
fn csv_renamed_headers_map_through_config() {
    let mut table = CsvTable::fixture();
    for (standard, renamed) in [
        ("Invoice number", "Number"),
        ("Quantity", "Qty"),
        ("Unit price", "Rate"),
        ("Service type", "Service"),
    ] {
        let column = table.column(standard);
        table.header[column] = renamed.to_string();
    }
    let text = table.to_text(csv::Terminator::Any(b'\n'));

    let mut mapping = fixture_mapping();
    for (renamed, standard) in [
        ("Number", "Invoice number"),
        ("qty", "Quantity"),
        ("Rate", "Unit price"),
        ("Service", "Service type"),
    ] {
        mapping.columns.insert(renamed.into(), standard.into());
    }
    let renamed = read_csv_text(&text, &mapping);
    assert_eq!(problem_lines(&renamed), Vec::<String>::new());
    assert_eq!(
        renamed.invoices,
        read_fixture(CSV_FIXTURE, ExportFormat::Csv).invoices
    );
}

#[test]
fn csv_missing_columns_reported_on_line_1() {
    let mut table = CsvTable::fixture();
    for (standard, renamed) in [("Quantity", "Qty"), ("Unit price", "Rate")] {
        let column = table.column(standard);
        table.header[column] = renamed.to_string();
    }
    let export = read_csv_text(
        &table.to_text(csv::Terminator::Any(b'\n')),
        &fixture_mapping(),
    );

    assert!(export.invoices.is_empty());
    let problems = problem_lines(&export);
    assert_eq!(problems.len(), 2, "{problems:?}");
    for (problem, column) in problems.iter().zip(["Quantity", "Unit price"]) {
        assert!(
            problem.starts_with(&format!(
                "invoices.csv:1: required column \"{column}\" is missing"
            )),
            "{problem}"
        );
        assert!(
            problem.contains(&format!(
                "\"<header in your file>\" = \"{column}\" under [mapping.columns]"
            )),
            "{problem}"
        );
    }
}

#[test]
fn csv_mapping_to_unknown_column_is_config_error() {
    let mut mapping = fixture_mapping();
    mapping.columns.insert("Qty".into(), "Quantiy".into());
    let err = read_csv_export(
        std::fs::File::open(CSV_FIXTURE).unwrap(),
        "invoices.csv",
        &mapping,
    )
    .unwrap_err();
    assert_eq!(err.kind, Kind::Config);
    assert!(err.message.contains("\"Quantiy\""), "{}", err.message);
    assert!(err.message.contains("\"Quantity\""), "{}", err.message);
}

#[test]
fn csv_rows_out_of_order_are_regrouped() {
    let mut table = CsvTable::fixture();
    let moved = table.rows.remove(0);
    table.rows.push(moved);
    let export = read_csv_text(
        &table.to_text(csv::Terminator::Any(b'\n')),
        &fixture_mapping(),
    );

    assert_eq!(problem_lines(&export), Vec::<String>::new());
    assert_eq!(export.invoices.len(), 25);
    let first = find(&export, "INV-2025-0101");
    let positions: Vec<u32> = first.lines.iter().map(|line| line.position).collect();
    assert_eq!(positions, vec![1, 2, 3]);
    assert_eq!(first.lines[0].source_line, 67);
    assert_eq!(first.source_line, 2);
}

#[test]
fn csv_record_with_wrong_field_count_reported() {
    let text = std::fs::read_to_string(CSV_FIXTURE).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen("Front-end development", "Front-end, development", 1);
    let export = read_csv_text(&lines.join("\n"), &fixture_mapping());

    let problems = problem_lines(&export);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("invoices.csv:3: the record has 40 fields but the header has 39"),
        "{problems:?}"
    );
    assert_eq!(find(&export, "INV-2025-0101").lines.len(), 2);
}

/// Each problem planted in the broken copy: the line it must be reported on
/// and a part of its message.
const PLANTED_PROBLEMS: [(usize, &str); 20] = [
    (2, "\"Quantity\" value \"32,00\" is not a number"),
    (5, "\"Issue date\" value \"2025-13-08\" is not a date in YYYY-MM-DD form"),
    (34, "\"Subject\" is \"Loyalty app – March support\" here but \"Loyalty app – February support\" on line 33"),
    (51, "\"Line net\" value \"1,885.00\" is not a number"),
    (8, "invoice INV-2025-0103 has currency \"USX\", which is not an ISO 4217 code"),
    (11, "invoice INV-2025-0104 has no client name"),
    (14, "invoice INV-2025-0105 line 1 has an empty description"),
    (17, "invoice INV-2025-0106 line 2 has tax 2.52, but 25 % of net 10.10, rounded half away from zero, is 2.53"),
    (19, "invoice INV-2025-0107 line 1: tax rate \"Export exempt\" (0 %) has no Xero tax type; add \"0\" = \"<Xero TaxType>\" under [mapping.tax_types]"),
    (20, "invoice INV-2025-0107 line 2: service type \"Research\" has no Xero account code; add \"Research\" = \"<account code>\" under [mapping.accounts]"),
    (24, "invoice INV-2025-0108 line 3 has net 31.00, but quantity 3.00 × unit price 10.335 less 0 % discount, rounded half away from zero, is 31.01"),
    (26, "invoice INV-2025-0109 has net total 6123.26, but its lines add up to 6123.25"),
    (26, "invoice INV-2025-0109 has gross total 7654.07, but its lines add up to 7654.06"),
    (30, "invoice number INV-2025-0110 is used on line 28 (invoice id 880110) and again here (invoice id 880111)"),
    (35, "invoice INV-2025-0113 is due on 2025-02-01, before its issue date 2025-02-14"),
    (37, "invoice CN-2025-0001 is an invoice but its total -576.80 is negative"),
    (43, "invoice INV-2025-0115 line 2 has unit price 0.01250001, with more than 4 decimals"),
    (45, "credit note INV-2025-0116 is a credit note but its total 2243.75 is positive"),
    (47, "invoice INV-2025-0117 is marked as exported but has no export ID"),
    (54, "invoice INV-2025-0119 has no client id"),
];

fn broken_fixture() -> String {
    let mut table = CsvTable::fixture();
    table.set_line("INV-2025-0101", "1", "Quantity", "32,00");
    table.set_line("INV-2025-0102", "1", "Issue date", "2025-13-08");
    table.set_invoice("INV-2025-0103", "Currency", "USX");
    table.set_invoice("INV-2025-0104", "Client", "");
    table.set_line("INV-2025-0105", "1", "Description", "");

    table.set_line("INV-2025-0106", "2", "Line tax", "2.52");
    table.set_line("INV-2025-0106", "2", "Line gross", "12.62");
    table.set_invoice("INV-2025-0106", "Invoice tax", "443.77");
    table.set_invoice("INV-2025-0106", "Invoice gross", "2218.87");

    table.set_line("INV-2025-0107", "1", "Tax rate name", "Export exempt");
    table.set_line("INV-2025-0107", "2", "Service type", "Research");

    table.set_line("INV-2025-0108", "3", "Line net", "31.00");
    table.set_line("INV-2025-0108", "3", "Line gross", "38.75");
    table.set_invoice("INV-2025-0108", "Invoice net", "3351.00");
    table.set_invoice("INV-2025-0108", "Invoice gross", "4091.55");

    table.set_invoice("INV-2025-0109", "Invoice net", "6123.26");
    table.set_invoice("INV-2025-0109", "Invoice gross", "7654.07");
    table.set_invoice("INV-2025-0111", "Invoice number", "INV-2025-0110");
    table.set_line(
        "INV-2025-0112",
        "2",
        "Subject",
        "Loyalty app – March support",
    );
    table.set_invoice("INV-2025-0113", "Due date", "2025-02-01");
    table.set_invoice("CN-2025-0001", "Document type", "Invoice");
    table.set_line("INV-2025-0115", "2", "Unit price", "0.01250001");
    table.set_invoice("INV-2025-0116", "Document type", "Credit note");
    table.set_invoice("INV-2025-0117", "Export ID", "");
    table.set_line("INV-2025-0118", "1", "Line net", "1,885.00");
    table.set_invoice("INV-2025-0119", "Client ID", "");
    table.to_text(csv::Terminator::Any(b'\n'))
}

#[test]
fn csv_broken_copy_reports_every_problem() {
    let export = read_csv_text(&broken_fixture(), &fixture_mapping());
    let problems = problem_lines(&export);

    for (line, message) in PLANTED_PROBLEMS {
        let expected = format!("invoices.csv:{line}: {message}");
        assert!(
            problems
                .iter()
                .any(|problem| problem.starts_with(&expected)),
            "missing {expected:?} in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), PLANTED_PROBLEMS.len(), "{problems:#?}");
    for problem in &export.problems {
        assert!(problem.message.contains("; "), "no fix in {problem}");
    }

    let reader_problem = problems
        .iter()
        .position(|problem| problem.starts_with("invoices.csv:51:"))
        .unwrap();
    let validation_problem = problems
        .iter()
        .position(|problem| problem.starts_with("invoices.csv:8:"))
        .unwrap();
    assert!(
        reader_problem < validation_problem,
        "reader problems must come first: {problems:#?}"
    );
    assert_eq!(export.invoices.len(), 25);
}

/// Returns the 1-based line of the `{` that opens the data element with this
/// id, which is the line just before its `"id"` member.
fn jsonapi_invoice_line(text: &str, id: &str) -> usize {
    let needle = format!("\"id\": \"{id}\",");
    let id_index = text.lines().position(|line| line.trim() == needle).unwrap();
    id_index
}

#[test]
fn jsonapi_problems_name_object_lines() {
    let text = std::fs::read_to_string(JSON_FIXTURE).unwrap();
    let broken = text
        .replacen(
            "\"invoiced_on\": \"2025-01-10\"",
            "\"invoiced_on\": \"10.01.2025\"",
            1,
        )
        .replacen("\"quantity\": \"1234.5\"", "\"quantity\": \"1.234,5\"", 1)
        .replacen(
            "\"currency\": \"GBP\",\n        \"currency_default\"",
            "\"currency\": \"GBX\",\n        \"currency_default\"",
            1,
        );
    assert_ne!(broken, text);
    let export =
        read_jsonapi_export(broken.as_bytes(), "invoices.json", &fixture_mapping()).unwrap();
    let problems = problem_lines(&export);

    let invoice_103 = jsonapi_invoice_line(&broken, "880103");
    let quantity_line = broken
        .lines()
        .position(|line| line.contains("\"1.234,5\""))
        .unwrap()
        + 1;
    let item_line = broken
        .lines()
        .take(quantity_line)
        .collect::<Vec<_>>()
        .iter()
        .rposition(|line| line.trim() == "{")
        .unwrap()
        + 1;
    let invoice_102 = jsonapi_invoice_line(&broken, "880102");
    let expected = [
        format!("invoices.json:{invoice_103}: \"invoiced_on\" of invoice 880103 is \"10.01.2025\", which is not a date in YYYY-MM-DD form"),
        format!("invoices.json:{item_line}: \"quantity\" of line item 50009 of invoice 880103 is \"1.234,5\", which is not a number"),
        format!("invoices.json:{invoice_102}: invoice INV-2025-0102 has currency \"GBX\", which is not an ISO 4217 code"),
    ];
    for expected in &expected {
        assert!(
            problems.iter().any(|problem| problem.starts_with(expected)),
            "missing {expected:?} in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
}

#[test]
fn jsonapi_line_items_join_through_invoice() {
    let text = std::fs::read_to_string(JSON_FIXTURE).unwrap();
    let mut document: serde_json::Value = serde_json::from_str(&text).unwrap();
    for invoice in document["data"].as_array_mut().unwrap() {
        invoice["relationships"]
            .as_object_mut()
            .unwrap()
            .remove("line_items");
    }
    let rewritten = serde_json::to_string_pretty(&document).unwrap();
    let export =
        read_jsonapi_export(rewritten.as_bytes(), "invoices.json", &fixture_mapping()).unwrap();

    assert_eq!(problem_lines(&export), Vec::<String>::new());
    let original = read_fixture(JSON_FIXTURE, ExportFormat::JsonApi);
    assert_eq!(
        without_source_lines(&export.invoices),
        without_source_lines(&original.invoices)
    );
}

#[test]
fn jsonapi_missing_company_reported() {
    let text = std::fs::read_to_string(JSON_FIXTURE).unwrap();
    let mut document: serde_json::Value = serde_json::from_str(&text).unwrap();
    document["included"]
        .as_array_mut()
        .unwrap()
        .retain(|resource| !(resource["type"] == "companies" && resource["id"] == "7104"));
    let rewritten = serde_json::to_string_pretty(&document).unwrap();
    let export =
        read_jsonapi_export(rewritten.as_bytes(), "invoices.json", &fixture_mapping()).unwrap();

    let problems = problem_lines(&export);
    let company_problems = problems
        .iter()
        .filter(|problem| problem.contains("points to companies 7104 through \"company\""))
        .count();
    assert_eq!(company_problems, 3, "{problems:#?}");
    let name_problems = problems
        .iter()
        .filter(|problem| problem.contains("has no client name"))
        .count();
    assert_eq!(name_problems, 3, "{problems:#?}");
}

#[test]
fn jsonapi_invalid_json_reported_with_line() {
    let export = read_jsonapi_export(
        b"{\n  \"data\": [\n    {,\n  ]\n}",
        "broken.json",
        &fixture_mapping(),
    )
    .unwrap();
    let problems = problem_lines(&export);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("broken.json:3: the file is not valid JSON"),
        "{problems:?}"
    );
}

#[test]
fn format_from_extension_or_usage_error() {
    assert_eq!(
        ExportFormat::from_path_extension(Path::new("november.CSV")).unwrap(),
        ExportFormat::Csv
    );
    assert_eq!(
        ExportFormat::from_path_extension(Path::new("invoices.json")).unwrap(),
        ExportFormat::JsonApi
    );
    let err = ExportFormat::from_path_extension(Path::new("invoices.xlsx")).unwrap_err();
    assert_eq!(err.kind, Kind::Usage);
    assert!(
        err.message.contains("--format csv|jsonapi"),
        "{}",
        err.message
    );
    assert!(err.message.contains("invoices.xlsx"), "{}", err.message);
}

#[test]
fn unreadable_export_is_error_naming_path() {
    let err = read_export(
        Path::new("tests/fixtures/no-such-file.csv"),
        ExportFormat::Csv,
        &fixture_mapping(),
    )
    .unwrap_err();
    assert!(
        err.message.contains("tests/fixtures/no-such-file.csv"),
        "{}",
        err.message
    );
    let err = read_export(
        Path::new("tests/fixtures/no-such-file.json"),
        ExportFormat::JsonApi,
        &fixture_mapping(),
    )
    .unwrap_err();
    assert!(
        err.message.contains("tests/fixtures/no-such-file.json"),
        "{}",
        err.message
    );
}

#[test]
fn problem_display_is_file_line_message() {
    let mut mapping = fixture_mapping();
    mapping.tax_types.remove("13");
    let export = read_fixture(CSV_FIXTURE, ExportFormat::Csv);
    assert!(export.problems.is_empty());
    let export = read_export(Path::new(CSV_FIXTURE), ExportFormat::Csv, &mapping).unwrap();
    let first = export.problems.first().unwrap();
    assert_eq!(
        first.to_string(),
        "tests/fixtures/invoices.csv:12: invoice INV-2025-0104 line 2: tax rate \"PDV 13%\" (13 %) has no Xero tax type; add \"13\" = \"<Xero TaxType>\" under [mapping.tax_types]"
    );
    assert_eq!(export.problems.len(), 5, "{:#?}", problem_lines(&export));
}

#[test]
fn csv_empty_file_reported_on_line_1() {
    let export = read_csv_text("", &fixture_mapping());
    assert!(export.invoices.is_empty());
    assert_eq!(
        problem_lines(&export),
        vec![
            "invoices.csv:1: the file has no header row; export the invoices from Productive again"
        ]
    );
}

#[test]
fn csv_invalid_utf8_record_reported() {
    let text = std::fs::read_to_string(CSV_FIXTURE).unwrap();
    let mut bytes = Vec::new();
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if index == 4 {
            bytes.extend_from_slice(&line.as_bytes()[..20]);
            bytes.push(0xFF);
            bytes.extend_from_slice(&line.as_bytes()[20..]);
        } else {
            bytes.extend_from_slice(line.as_bytes());
        }
    }
    let export = read_csv_export(bytes.as_slice(), "invoices.csv", &fixture_mapping()).unwrap();

    let problems = problem_lines(&export);
    assert!(
        problems[0].starts_with("invoices.csv:5: the record is not valid UTF-8 text"),
        "{problems:#?}"
    );
    assert_eq!(export.invoices.len(), 25);
    assert_eq!(find(&export, "INV-2025-0102").lines.len(), 2);
}
