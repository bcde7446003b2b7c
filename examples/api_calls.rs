//! Counts the requests `xerosync` sends to Xero for large runs, measured at
//! the local Xero stand-in:
//!
//! - `sync invoices` of 1,000 invoices to 100 clients, 30 of them new;
//! - `sync payments` following 10,000 invoices of which 300 changed, and a
//!   run in which nothing changed.
//!
//! Run with `cargo run --release --example api_calls`.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::Sandbox;
use rust_decimal::Decimal;

const HEADER: &str = "Invoice ID,Invoice number,Document type,Credited invoice number,Client ID,Client,Client code,Client tax ID,Client address,Client city,Client postcode,Client country,Subject,PO number,Issue date,Due date,Sent on,Currency,Exchange rate,Line position,Service type,Description,Quantity,Unit,Unit price,Discount %,Tax rate name,Tax rate %,Line net,Line tax,Line gross,Invoice net,Invoice tax,Invoice gross,Amount paid,Paid on,Payment status,Exported,Export ID";

fn main() {
    if common::play_user_if_asked() {
        return;
    }
    if let Err(message) = run() {
        eprintln!("api_calls failed: {message}");
        std::process::exit(1);
    }
}

/// Generates a valid export of `count` one-line EUR invoices numbered from `first`,
/// spread over `clients` clients, all issued on `issued`.
fn export(first: usize, count: usize, clients: usize, issued: &str) -> String {
    let mut text = String::from(HEADER);
    text.push('\n');
    for index in first..first + count {
        let client = index % clients;
        let net = Decimal::new(10_000 + index as i64, 2);
        let tax = (net * Decimal::new(25, 2))
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        let gross = net + tax;
        text.push_str(&format!(
            "{id},BENCH-{index:06},Invoice,,{client_id},Client {client:03} d.o.o.,C{client:03},,Street {client},Zagreb,10000,HR,Monthly retainer,,{issued},2026-12-31,{issued},EUR,1.0,1,Design,Retainer,1.00,month,{net},0.00,PDV 25%,25.00,{net},{tax},{gross},{net},{tax},{gross},0.00,,unpaid,no,\n",
            id = 500_000 + index,
            client_id = 9_000 + client,
        ));
    }
    text
}

fn accounting_calls(sandbox: &Sandbox) -> BTreeMap<String, usize> {
    let mut calls = BTreeMap::new();
    for request in sandbox
        .xero
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api.xro/"))
    {
        *calls
            .entry(format!(
                "{} {}",
                request.method,
                request.path.trim_start_matches("/api.xro/2.0")
            ))
            .or_insert(0) += 1;
    }
    calls
}

fn print_calls(title: &str, calls: &BTreeMap<String, usize>, seconds: f64) {
    let total: usize = calls.values().sum();
    println!("\n{title}: {total} requests to Xero's accounting API in {seconds:.2} s against the local stand-in");
    for (call, count) in calls {
        println!("  {count:>5}  {call}");
    }
}

fn run() -> Result<(), String> {
    let sandbox = Sandbox::start(|config| {
        // Count calls without being slowed by the stand-in's limits.
        config.minute_limit = 1_000_000;
        config.day_limit = 1_000_000;
    })?;
    let config_path = sandbox.home.path().join("config.toml");
    let config = std::fs::read_to_string(&config_path).map_err(|e| e.to_string())?;
    let without_productive = config
        .split("[productive]")
        .next()
        .unwrap_or_default()
        .to_string()
        + &config[config.find("[mapping]").unwrap_or(config.len())..];
    std::fs::write(&config_path, without_productive).map_err(|e| e.to_string())?;

    let tenant = sandbox.xero.default_tenant_id();
    sandbox.quiet(&["connect", "--timeout", "60"], None)?;
    sandbox.quiet(&["tenants", "--select", &tenant], None)?;

    // 70 of the 100 clients are already Xero contacts.
    for client in 0..70 {
        sandbox
            .xero
            .add_contact(&tenant, &format!("Client {client:03} d.o.o."), None, false);
    }

    // Earlier months: 9,000 invoices pushed two days before this month end.
    sandbox.xero.set_clock_offset(chrono::Duration::days(-2));
    let earlier = sandbox.home.path().join("earlier.csv");
    // They went to the 70 clients that already are Xero contacts.
    std::fs::write(&earlier, export(1_000, 9_000, 70, "2026-10-01")).map_err(|e| e.to_string())?;
    sandbox.quiet(&["sync", "invoices", "-q", earlier.to_str().unwrap()], None)?;

    // This month end, a day before the payments arrive.
    sandbox.xero.set_clock_offset(chrono::Duration::days(-1));
    let month = sandbox.home.path().join("month.csv");
    std::fs::write(&month, export(0, 1_000, 100, "2026-11-30")).map_err(|e| e.to_string())?;
    sandbox.xero.clear_requests();
    let started = Instant::now();
    sandbox.quiet(&["sync", "invoices", "-q", month.to_str().unwrap()], None)?;
    let calls = accounting_calls(&sandbox);
    print_calls(
        "sync invoices, 1,000 invoices, 100 clients (30 new)",
        &calls,
        started.elapsed().as_secs_f64(),
    );
    let total: usize = calls.values().sum();
    println!("  A client that sends one invoice per call needs at least 1,000 writes plus one contact look-up per client.");
    println!("  At Xero's 60 calls per minute these {total} calls fit in one minute window, so no 429 wait is needed.");

    sandbox.xero.clear_requests();
    let started = Instant::now();
    sandbox.quiet(&["sync", "payments", "-q"], None)?;
    print_calls(
        "sync payments, first run, 10,000 followed invoices",
        &accounting_calls(&sandbox),
        started.elapsed().as_secs_f64(),
    );

    sandbox.xero.set_clock_offset(chrono::Duration::zero());
    for index in (0..10_000).step_by(33).take(300) {
        let amount = Decimal::new(10_000 + index as i64, 2) * Decimal::new(125, 2);
        let amount =
            amount.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        sandbox.xero.add_payment(
            &tenant,
            &format!("BENCH-{index:06}"),
            amount,
            "2026-11-30".parse().unwrap(),
            "bench",
        );
    }
    sandbox.xero.clear_requests();
    let started = Instant::now();
    let output = sandbox.quiet(&["sync", "payments", "--json"], None)?;
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    print_calls(
        &format!(
            "sync payments, 300 paid since the last run ({} reported as changed)",
            report["summary"]["changed"]
        ),
        &accounting_calls(&sandbox),
        started.elapsed().as_secs_f64(),
    );

    std::thread::sleep(std::time::Duration::from_millis(1100));
    sandbox.xero.clear_requests();
    let started = Instant::now();
    sandbox.quiet(&["sync", "payments", "-q"], None)?;
    print_calls(
        "sync payments, nothing changed",
        &accounting_calls(&sandbox),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}
