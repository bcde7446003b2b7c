//! Measures reading and validating a large Productive CSV export.
//!
//! Writes a 100,000-line export to a temporary folder (about 10,000 invoices
//! for 100 clients, in EUR, GBP and USD, with 25 %, 13 % and 0 % tax, some
//! discounts and descriptions with commas, quotes and line breaks). Then it
//! times `read_export`, which reads and validates the file, times `validate`
//! alone, and prints the peak resident memory (VmHWM from /proc/self/status,
//! Linux only). The peak includes the generation, which streams to the file.
//!
//! Run: `cargo run --release --example parse_bench [LINES]`

use std::path::Path;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use xerosync::config::Mapping;
use xerosync::productive::csv_export::standard_column_names;
use xerosync::productive::money::round_money;
use xerosync::productive::{read_export, validate, ExportFormat};

const DEFAULT_LINES: usize = 100_000;
const CLIENTS: usize = 100;
const SERVICE_TYPES: [&str; 6] = [
    "Design",
    "Development",
    "Consulting",
    "Project management",
    "Support",
    "Pass-through costs",
];

fn main() {
    let lines: usize = match std::env::args().nth(1) {
        Some(text) => text.parse().expect("LINES must be a whole number"),
        None => DEFAULT_LINES,
    };
    let folder = tempfile::tempdir().expect("cannot create a temporary folder");
    let path = folder.path().join("invoices.csv");

    let started = Instant::now();
    let invoices = write_export(&path, lines);
    let size = std::fs::metadata(&path)
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    println!(
        "generated {lines} lines in {invoices} invoices ({:.1} MB) in {:.2} s",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let mut mapping = Mapping {
        default_account_code: Some("200".to_string()),
        ..Mapping::default()
    };
    for (rate, tax_type) in [
        ("25", "OUTPUT2"),
        ("13", "OUTPUT"),
        ("0", "ZERORATEDOUTPUT"),
    ] {
        mapping
            .tax_types
            .insert(rate.to_string(), tax_type.to_string());
    }

    let started = Instant::now();
    let export =
        read_export(&path, ExportFormat::Csv, &mapping).expect("cannot read the generated export");
    let elapsed = started.elapsed();

    // Mapping: the Xero document each invoice becomes, as `sync invoices` builds it.
    let mapping_started = Instant::now();
    let payload_bytes: usize = export
        .invoices
        .iter()
        .map(|invoice| {
            xerosync::sync::invoices::payload(invoice, &mapping, Some("contact-id"))
                .to_string()
                .len()
        })
        .sum();
    let mapping_elapsed = mapping_started.elapsed();

    let line_count: usize = export
        .invoices
        .iter()
        .map(|invoice| invoice.lines.len())
        .sum();
    println!(
        "read and validated {} invoices, {line_count} lines, {} problems",
        export.invoices.len(),
        export.problems.len()
    );
    for problem in export.problems.iter().take(5) {
        println!("  {problem}");
    }
    println!("time (read + validate): {:.3} s", elapsed.as_secs_f64());
    println!(
        "time (map to Xero documents, {:.1} MB of JSON): {:.3} s; read + validate + map: {:.3} s",
        payload_bytes as f64 / 1_048_576.0,
        mapping_elapsed.as_secs_f64(),
        (elapsed + mapping_elapsed).as_secs_f64()
    );

    let started = Instant::now();
    let problems = validate(&path.display().to_string(), &export.invoices, &mapping);
    println!(
        "time (validate alone, run again): {:.3} s, {} problems",
        started.elapsed().as_secs_f64(),
        problems.len()
    );
    match peak_memory_kib() {
        Some(kib) => println!("peak memory (VmHWM): {:.1} MB", kib as f64 / 1024.0),
        None => println!("peak memory: unknown (no /proc/self/status)"),
    }
}

/// Returns the peak resident set size of this process in KiB.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct ClientRecord {
    id: String,
    name: String,
    code: String,
    tax_id: String,
    country: &'static str,
    currency: &'static str,
}

fn clients(random: &mut StdRng) -> Vec<ClientRecord> {
    (0..CLIENTS)
        .map(|index| {
            let (country, currency) = match random.gen_range(0..10) {
                0..=5 => ("HR", "EUR"),
                6..=7 => ("GB", "GBP"),
                _ => ("US", "USD"),
            };
            ClientRecord {
                id: (7000 + index).to_string(),
                name: if index % 7 == 0 {
                    format!("Client {index}, Partners & Co.")
                } else {
                    format!("Client {index} d.o.o.")
                },
                code: format!("C{index:03}"),
                tax_id: format!("{country}{:011}", 48_213_957_062u64 + index as u64),
                country,
                currency,
            }
        })
        .collect()
}

/// One generated invoice line with amounts that pass validation.
struct GeneratedLine {
    service_type: &'static str,
    description: String,
    quantity: Decimal,
    unit_price: Decimal,
    discount: Decimal,
    tax_percent: Decimal,
    net: Decimal,
    tax: Decimal,
}

fn generate_line(random: &mut StdRng, domestic: bool, position: usize) -> GeneratedLine {
    let quantity = Decimal::new(random.gen_range(25..20_000), 2);
    let unit_price = Decimal::new(random.gen_range(50..2_000_000), random.gen_range(2..=4));
    let discount = match random.gen_range(0..20) {
        0 => Decimal::from(10),
        1 => Decimal::from(50),
        _ => Decimal::ZERO,
    };
    let tax_percent = match (domestic, random.gen_range(0..5)) {
        (false, _) => Decimal::ZERO,
        (true, 0) => Decimal::from(13),
        (true, _) => Decimal::from(25),
    };
    let net = round_money(
        quantity * unit_price * (Decimal::ONE_HUNDRED - discount) / Decimal::ONE_HUNDRED,
    );
    let tax = round_money(net * tax_percent / Decimal::ONE_HUNDRED);
    let description = match position % 9 {
        0 => format!("Campaign visual \"Variant {position}\""),
        4 => format!("Workshop (on site, day {position})"),
        8 => "Tasting event catering\n(incl. sommelier service)".to_string(),
        _ => format!("Work package {position}"),
    };
    GeneratedLine {
        service_type: SERVICE_TYPES[random.gen_range(0..SERVICE_TYPES.len())],
        description,
        quantity,
        unit_price,
        discount,
        tax_percent,
        net,
        tax,
    }
}

/// Writes an export with `total_lines` lines and returns the number of invoices.
fn write_export(path: &Path, total_lines: usize) -> usize {
    let mut random = StdRng::seed_from_u64(20_250_101);
    let clients = clients(&mut random);
    let mut writer = csv::Writer::from_path(path).expect("cannot create the export file");
    writer
        .write_record(standard_column_names())
        .expect("cannot write the header");

    let first_day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("valid date");
    let mut written = 0;
    let mut invoices = 0;
    while written < total_lines {
        let client = &clients[random.gen_range(0..clients.len())];
        let line_count = random.gen_range(1..=19).min(total_lines - written);
        let lines: Vec<GeneratedLine> = (1..=line_count)
            .map(|position| generate_line(&mut random, client.country == "HR", position))
            .collect();
        let net: Decimal = lines.iter().map(|line| line.net).sum();
        let tax: Decimal = lines.iter().map(|line| line.tax).sum();
        let issue_date = first_day + chrono::Days::new(random.gen_range(0..365));
        let due_date = issue_date + chrono::Days::new(30);
        let exchange_rate = match client.currency {
            "EUR" => "1.0",
            "GBP" => "1.1915",
            _ => "0.9712",
        };

        let invoice_id = (900_000 + invoices).to_string();
        let number = format!("INV-2025-{:05}", invoices + 1);
        for (index, line) in lines.iter().enumerate() {
            let record = [
                invoice_id.clone(),
                number.clone(),
                "Invoice".to_string(),
                String::new(),
                client.id.clone(),
                client.name.clone(),
                client.code.clone(),
                client.tax_id.clone(),
                "Solarna aleja 52, floor 3".to_string(),
                "Zagreb".to_string(),
                "10000".to_string(),
                client.country.to_string(),
                format!("Monthly work – {issue_date}"),
                String::new(),
                issue_date.to_string(),
                due_date.to_string(),
                issue_date.to_string(),
                client.currency.to_string(),
                exchange_rate.to_string(),
                (index + 1).to_string(),
                line.service_type.to_string(),
                line.description.clone(),
                line.quantity.to_string(),
                "hour".to_string(),
                line.unit_price.to_string(),
                format!("{:.2}", line.discount),
                format!("Tax {}%", line.tax_percent),
                format!("{:.2}", line.tax_percent),
                format!("{:.2}", line.net),
                format!("{:.2}", line.tax),
                format!("{:.2}", line.net + line.tax),
                format!("{net:.2}"),
                format!("{tax:.2}"),
                format!("{:.2}", net + tax),
                "0.00".to_string(),
                String::new(),
                "unpaid".to_string(),
                "no".to_string(),
                String::new(),
            ];
            writer.write_record(&record).expect("cannot write a record");
        }
        written += line_count;
        invoices += 1;
    }
    writer.flush().expect("cannot write the export file");
    invoices
}
