//! The whole month end on bundled sample data, against local stand-ins for
//! Xero and Productive: the real `xerosync` binary, the real code paths.
//!
//! Run with `cargo run --release --example month_end`.

mod common;

use std::path::Path;

use common::{Sandbox, PRODUCTIVE_TOKEN};
use rust_decimal::Decimal;
use xerosync::config::Mapping;
use xerosync::productive::{read_export, ExportFormat};

fn main() {
    if common::play_user_if_asked() {
        return;
    }
    if let Err(message) = run() {
        eprintln!("month_end failed: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let export = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join("invoices.csv");
    let export_arg = export.to_str().ok_or("the export path is not UTF-8")?;
    let sandbox = Sandbox::start(|_| {})?;
    let xero = &sandbox.xero;
    let productive = &sandbox.productive;

    // Productive has the invoices of the sample export.
    let sample =
        read_export(&export, ExportFormat::Csv, &Mapping::default()).map_err(|e| e.to_string())?;
    for invoice in &sample.invoices {
        productive.add_invoice(
            &invoice.productive_id,
            &invoice.number,
            &invoice.currency,
            invoice.gross,
        );
    }

    say(&format!(
        "Local stand-ins: Xero at {}, Productive at {}.\nXEROSYNC_HOME={} holds the config and, after connect, the tokens (file store).",
        xero.base_url(),
        productive.base_url(),
        sandbox.home.path().display()
    ));

    say("Sign in to Xero. The stand-in plays the person who clicks Allow in the browser.");
    sandbox.show(&["connect", "--timeout", "60"], None, 0)?;
    sandbox.show(&["tenants"], None, 0)?;
    sandbox.show(&["tenants", "--select", &xero.default_tenant_id()], None, 0)?;

    say("INV-2025-0117 was copied to Xero last month (the export marks it as exported), so it is already there.");
    let tenant = xero.default_tenant_id();
    xero.insert_existing_invoice(
        &tenant,
        "INV-2025-0117",
        "8f0b6c2e-4d1a-4c7e-9b55-3e2d7a91c0f4",
        "EUR",
        "6275.00".parse::<Decimal>().map_err(|e| e.to_string())?,
    );

    say("Check the export and the mapping without sending anything.");
    sandbox.show(
        &["sync", "invoices", "--dry-run", "-q", export_arg],
        None,
        0,
    )?;
    say("Month end: push the export.");
    sandbox.show(&["sync", "invoices", export_arg], None, 0)?;
    say("Run it again: nothing is sent twice.");
    sandbox.show(&["sync", "invoices", "-q", export_arg], None, 0)?;

    say("Store the Productive API token (read from stdin, never from the command line).");
    sandbox.show(&["connect", "--productive"], Some(PRODUCTIVE_TOKEN), 0)?;

    say(
        "The nightly cron job has run since the month end: it follows the pushed invoices quietly.",
    );
    sandbox.show(&["sync", "payments", "-q"], None, 0)?;

    say("In Xero, the bookkeeper records two payments from the bank feed: INV-2025-0101 in full, INV-2025-0103 in part.");
    xero.add_payment(
        &tenant,
        "INV-2025-0101",
        "9684.38"
            .parse()
            .map_err(|e: rust_decimal::Error| e.to_string())?,
        date("2025-02-03")?,
        "Bank transfer 0101",
    );
    xero.add_payment(
        &tenant,
        "INV-2025-0103",
        "5000.00"
            .parse()
            .map_err(|e: rust_decimal::Error| e.to_string())?,
        date("2025-02-10")?,
        "Wire 0103",
    );

    say("The nightly cron job brings the payments back and records them in Productive.");
    sandbox.show(&["sync", "payments"], None, 0)?;
    say("The next night, nothing changed: one request to Xero, nothing recorded twice.");
    sandbox.show(&["sync", "payments"], None, 0)?;
    sandbox.show(&["status"], None, 0)?;

    let recorded = productive.payments().len();
    say(&format!(
        "Productive now holds {recorded} payments recorded by xerosync. Done."
    ));
    if recorded != 2 {
        return Err(format!(
            "expected 2 payments in Productive, found {recorded}"
        ));
    }
    Ok(())
}

fn date(text: &str) -> Result<chrono::NaiveDate, String> {
    text.parse().map_err(|e: chrono::ParseError| e.to_string())
}

fn say(text: &str) {
    println!("\n# {}", text.replace('\n', "\n# "));
}
