//! `xerosync sync payments` against the Xero and Productive doubles.

mod common;

use std::time::Duration;

use common::*;
use rust_decimal::Decimal;
use serde_json::Value;
use xerosync::sandbox::productive::{
    Fault as ProductiveFault, ProductiveDouble, ProductiveDoubleConfig,
};
use xerosync::sandbox::xero::{Fault, FaultAction};

const CSV: &str = "tests/fixtures/invoices.csv";
const PRODUCTIVE_TOKEN: &str = "prod-token-0123456789abcdef";
const ORGANIZATION: &str = "12345";

struct Month {
    env: TestEnv,
    productive: ProductiveDouble,
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// Invoices pushed from the fixture, Productive configured with a stored token.
fn pushed() -> Month {
    let env = TestEnv::new();
    env.connect_and_select();
    let tenant = env.xero.default_tenant_id();
    env.xero.insert_existing_invoice(
        &tenant,
        "INV-2025-0117",
        "8f0b6c2e-4d1a-4c7e-9b55-3e2d7a91c0f4",
        "EUR",
        dec("6275.00"),
    );
    assert_success(&env.run(&["sync", "invoices", CSV]), "sync invoices");

    let productive = ProductiveDouble::start(ProductiveDoubleConfig {
        token: PRODUCTIVE_TOKEN.into(),
        organization_id: ORGANIZATION.into(),
        ..ProductiveDoubleConfig::default()
    })
    .unwrap();
    for (id, number, currency, gross) in [
        ("880101", "INV-2025-0101", "EUR", "9684.38"),
        ("880103", "INV-2025-0103", "USD", "8148.02"),
        ("880104", "INV-2025-0104", "EUR", "2772.50"),
        ("880106", "INV-2025-0106", "GBP", "2218.88"),
        ("880113", "INV-2025-0113", "EUR", "3376.80"),
        ("880124", "INV-2025-0124", "EUR", "1345.16"),
    ] {
        productive.add_invoice(id, number, currency, dec(gross));
    }
    env.append_config(&format!(
        "[productive]\napi_url = \"{}\"\norganization_id = \"{ORGANIZATION}\"\n",
        productive.base_url()
    ));
    let stored = env.run_with(
        env.cmd()
            .args(["connect", "--productive"])
            .write_stdin(format!("{PRODUCTIVE_TOKEN}\n")),
    );
    assert_success(&stored, "connect --productive");
    env.xero.clear_requests();
    Month { env, productive }
}

fn payments_run(month: &Month) -> std::process::Output {
    month.env.run(&["sync", "payments", "--json"])
}

fn invoice<'a>(report: &'a Value, number: &str) -> &'a Value {
    report["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["number"] == number)
        .unwrap_or_else(|| panic!("{number} not in the report: {report}"))
}

fn productive_payments_of(
    month: &Month,
    invoice_id: &str,
) -> Vec<xerosync::sandbox::productive::DoublePayment> {
    month
        .productive
        .payments()
        .into_iter()
        .filter(|p| p.invoice_id == invoice_id)
        .collect()
}

#[test]
fn full_partial_and_no_payment() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    assert_success(&payments_run(&month), "first run, before any payment");
    let full = month.env.xero.add_payment(
        &tenant,
        "INV-2025-0101",
        dec("9684.38"),
        "2025-02-03".parse().unwrap(),
        "BANK-1",
    );
    let part = month.env.xero.add_payment(
        &tenant,
        "INV-2025-0103",
        dec("5000.00"),
        "2025-02-10".parse().unwrap(),
        "BANK-2",
    );

    let output = payments_run(&month);

    assert_success(&output, "sync payments");
    let report = json(&output);
    let paid = invoice(&report, "INV-2025-0101");
    assert_eq!(paid["status"], "PAID");
    assert_eq!(paid["payment_state"], "paid");
    assert_eq!(paid["amount_due"], "0.00");
    assert_eq!(paid["fully_paid_on"], "2025-02-03");
    assert_eq!(paid["payments"][0]["payment_id"], full.as_str());
    assert_eq!(paid["payments"][0]["amount"], "9684.38");
    let partly = invoice(&report, "INV-2025-0103");
    assert_eq!(partly["payment_state"], "part_paid");
    assert_eq!(partly["amount_paid"], "5000.00");
    assert_eq!(partly["amount_due"], "3148.02");
    assert!(
        report["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["number"] != "INV-2025-0104"),
        "an unchanged invoice was reported"
    );

    let recorded = productive_payments_of(&month, "880101");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].external_id.as_deref(), Some(full.as_str()));
    assert_eq!(recorded[0].amount, dec("9684.38"));
    assert_eq!(recorded[0].paid_on.to_string(), "2025-02-03");
    let partial = productive_payments_of(&month, "880103");
    assert_eq!(partial[0].external_id.as_deref(), Some(part.as_str()));
    assert_eq!(partial[0].amount, dec("5000.00"));
    month.env.assert_no_secrets_leaked();
    for output in [stdout(&output), stderr(&output)] {
        assert!(
            !output.contains(PRODUCTIVE_TOKEN),
            "the Productive token leaked"
        );
    }
}

#[test]
fn voided_deleted_and_credited() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    month
        .env
        .xero
        .set_invoice_status(&tenant, "INV-2025-0106", "VOIDED");
    month
        .env
        .xero
        .set_invoice_status(&tenant, "INV-2025-0124", "DELETED");
    month
        .env
        .xero
        .allocate_credit_note(&tenant, "CN-2025-0001", "INV-2025-0113", dec("576.80"));
    month.env.xero.add_payment(
        &tenant,
        "INV-2025-0113",
        dec("2800.00"),
        "2025-03-01".parse().unwrap(),
        "BANK-3",
    );

    let output = payments_run(&month);

    assert_success(&output, "sync payments");
    let report = json(&output);
    assert_eq!(invoice(&report, "INV-2025-0106")["status"], "VOIDED");
    assert_eq!(invoice(&report, "INV-2025-0106")["payment_state"], "voided");
    assert_eq!(
        invoice(&report, "INV-2025-0124")["payment_state"],
        "deleted"
    );
    let credited = invoice(&report, "INV-2025-0113");
    assert_eq!(credited["status"], "PAID");
    assert_eq!(credited["amount_credited"], "576.80");
    assert_eq!(credited["amount_paid"], "2800.00");
    assert_eq!(
        credited["payments"].as_array().unwrap().len(),
        1,
        "the credit allocation became a payment row"
    );
    assert_eq!(productive_payments_of(&month, "880113").len(), 1);
}

#[test]
fn rerun_without_changes_costs_one_request() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    month
        .env
        .xero
        .allocate_credit_note(&tenant, "CN-2025-0001", "INV-2025-0113", dec("576.80"));
    assert_success(&payments_run(&month), "first run");
    std::thread::sleep(Duration::from_millis(1100));
    month.env.xero.clear_requests();

    let output = payments_run(&month);

    assert_success(&output, "second run");
    let accounting: Vec<_> = month
        .env
        .xero
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api.xro/"))
        .collect();
    assert_eq!(
        accounting.len(),
        1,
        "requests: {:?}",
        accounting
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    assert!(
        accounting[0]
            .headers
            .iter()
            .any(|(k, _)| k == "if-modified-since"),
        "no If-Modified-Since header"
    );
    assert!(
        month
            .env
            .xero
            .requests()
            .iter()
            .all(|r| r.path.starts_with("/api.xro/")),
        "other calls were made"
    );
}

#[test]
fn failed_run_keeps_watermark() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    assert_success(&payments_run(&month), "first run");
    let state_file = std::fs::read_dir(month.env.path().join("profiles/default"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("state-"))
        .unwrap();
    let watermark = |path: &std::path::Path| {
        serde_json::from_str::<Value>(&std::fs::read_to_string(path).unwrap()).unwrap()
            ["payments_watermark"]
            .clone()
    };
    let before = watermark(&state_file);

    std::thread::sleep(Duration::from_millis(1100));
    month.env.xero.add_payment(
        &tenant,
        "INV-2025-0104",
        dec("2772.50"),
        "2025-02-20".parse().unwrap(),
        "BANK-4",
    );
    // Enough 503s for every attempt of the client's first request.
    for _ in 0..4 {
        month.productive.inject(ProductiveFault::ServiceUnavailable);
    }
    let failed = payments_run(&month);
    assert_exit(&failed, 75, "run with Productive down");
    assert_eq!(
        watermark(&state_file),
        before,
        "the watermark moved after a failed run"
    );
    assert!(productive_payments_of(&month, "880104").is_empty());

    let output = payments_run(&month);

    assert_success(&output, "run after recovery");
    assert_eq!(
        productive_payments_of(&month, "880104").len(),
        1,
        "the payment was missed"
    );
}

#[test]
fn each_payment_recorded_once_across_runs() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    month.env.xero.add_payment(
        &tenant,
        "INV-2025-0101",
        dec("9684.38"),
        "2025-02-03".parse().unwrap(),
        "BANK-1",
    );
    assert_success(&payments_run(&month), "first run");

    let output = month.env.run(&[
        "sync",
        "payments",
        "--json",
        "--since",
        "2000-01-01T00:00:00Z",
    ]);

    assert_success(&output, "second run from scratch");
    assert_eq!(productive_payments_of(&month, "880101").len(), 1);
}

#[test]
fn crash_before_state_saved_records_once() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    let profile = month.env.path().join("profiles/default");
    let state_file = std::fs::read_dir(&profile)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("state-"))
        .unwrap();
    let saved_before = std::fs::read(&state_file).unwrap();
    month.env.xero.add_payment(
        &tenant,
        "INV-2025-0101",
        dec("9684.38"),
        "2025-02-03".parse().unwrap(),
        "BANK-1",
    );
    assert_success(&payments_run(&month), "first run");

    // The process "died" after Productive stored the payment and before the
    // state file recorded it: put the old state back.
    std::fs::write(&state_file, saved_before).unwrap();
    let output = payments_run(&month);

    assert_success(&output, "run after the crash");
    assert_eq!(
        productive_payments_of(&month, "880101").len(),
        1,
        "the payment was recorded twice"
    );
    let report = json(&output);
    let recorded = &invoice(&report, "INV-2025-0101")["productive"]["recorded"];
    assert_eq!(recorded[0]["how"], "already_in_productive", "{recorded}");
}

#[test]
fn lost_productive_response_records_once() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    month.env.xero.add_payment(
        &tenant,
        "INV-2025-0101",
        dec("9684.38"),
        "2025-02-03".parse().unwrap(),
        "BANK-1",
    );
    month.productive.inject(ProductiveFault::DropAfterCommit);

    let output = payments_run(&month);

    assert_success(&output, "run with a lost Productive response");
    assert_eq!(
        productive_payments_of(&month, "880101").len(),
        1,
        "the payment was recorded twice"
    );
}

#[test]
fn payment_already_in_productive_adopted() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    let payment_id = month.env.xero.add_payment(
        &tenant,
        "INV-2025-0101",
        dec("9684.38"),
        "2025-02-03".parse().unwrap(),
        "BANK-1",
    );
    month.productive.add_existing_payment(
        "880101",
        dec("9684.38"),
        "2025-02-03".parse().unwrap(),
        Some(&payment_id),
    );

    let output = payments_run(&month);

    assert_success(&output, "sync payments");
    assert_eq!(productive_payments_of(&month, "880101").len(), 1);
    assert_eq!(
        invoice(&json(&output), "INV-2025-0101")["productive"]["recorded"][0]["how"],
        "already_in_productive"
    );
}

#[test]
fn deleted_payment_needs_attention() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    let payment_id = month.env.xero.add_payment(
        &tenant,
        "INV-2025-0101",
        dec("9684.38"),
        "2025-02-03".parse().unwrap(),
        "BANK-1",
    );
    assert_success(&payments_run(&month), "first run");
    std::thread::sleep(Duration::from_millis(1100));
    month.env.xero.delete_payment(&tenant, &payment_id);

    let output = payments_run(&month);

    assert_exit(&output, 1, "deleted payment");
    let attention =
        invoice(&json(&output), "INV-2025-0101")["productive"]["needs_attention"].to_string();
    assert!(attention.contains("deleted in Xero"), "{attention}");
    assert_eq!(
        productive_payments_of(&month, "880101").len(),
        1,
        "a deleted payment was removed by guesswork"
    );
}

#[test]
fn quiet_cron_run_prints_nothing() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    month.env.xero.add_payment(
        &tenant,
        "INV-2025-0101",
        dec("9684.38"),
        "2025-02-03".parse().unwrap(),
        "BANK-1",
    );

    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("xerosync"))
        .env("XEROSYNC_HOME", month.env.path())
        .env_remove("RUST_LOG")
        .args(["sync", "payments", "-q"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();

    assert_success(&output, "quiet run");
    assert!(output.stdout.is_empty(), "stdout: {}", stdout(&output));
    assert!(output.stderr.is_empty(), "stderr: {}", stderr(&output));
    assert_eq!(productive_payments_of(&month, "880101").len(), 1);
}

#[test]
fn overlapping_run_waits_then_exits_75() {
    let month = pushed();
    let lock_path = month.env.path().join("profiles/default/sync.lock");
    let _held =
        xerosync::fsutil::FileLock::acquire(&lock_path, Duration::from_secs(1), "test").unwrap();

    let output = month.env.run_with(
        month
            .env
            .cmd()
            .env("XEROSYNC_LOCK_TIMEOUT", "1")
            .args(["sync", "payments"]),
    );

    assert_exit(&output, 75, "overlapping run");
    assert!(stderr(&output).contains("lock"), "{}", stderr(&output));
    assert!(
        month.env.xero.requests().is_empty(),
        "the second run called Xero"
    );
}

#[test]
fn concurrent_runs_record_once() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    month.env.xero.add_payment(
        &tenant,
        "INV-2025-0101",
        dec("9684.38"),
        "2025-02-03".parse().unwrap(),
        "BANK-1",
    );
    month.env.xero.inject(Fault {
        method: Some("GET".into()),
        path_prefix: "/api.xro/2.0/Invoices".into(),
        times: 1,
        action: FaultAction::Delay(Duration::from_millis(800)),
    });

    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("xerosync"))
            .env("XEROSYNC_HOME", month.env.path())
            .env_remove("RUST_LOG")
            .args(["sync", "payments", "-q"])
            .output()
    };
    let (a, b) = std::thread::scope(|scope| {
        let first = scope.spawn(spawn);
        let second = scope.spawn(spawn);
        (
            first.join().unwrap().unwrap(),
            second.join().unwrap().unwrap(),
        )
    });

    assert_success(&a, "first run");
    assert_success(&b, "second run");
    assert_eq!(productive_payments_of(&month, "880101").len(), 1);
}

#[test]
fn expired_connection_exits_77() {
    let month = pushed();
    month.env.xero.revoke_refresh_tokens();
    month.env.xero.expire_access_tokens();

    let output = month.env.run(&["sync", "payments", "-q"]);

    assert_exit(&output, 77, "expired connection");
    assert!(
        stderr(&output).contains("xerosync connect"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn report_written_as_csv_and_json() {
    let month = pushed();
    let tenant = month.env.xero.default_tenant_id();
    month.env.xero.add_payment(
        &tenant,
        "INV-2025-0101",
        dec("9684.38"),
        "2025-02-03".parse().unwrap(),
        "BANK-1",
    );
    let csv_path = month.env.path().join("report.csv");
    let json_path = month.env.path().join("report.json");

    assert_success(
        &month.env.run(&[
            "sync",
            "payments",
            "-q",
            "--output",
            csv_path.to_str().unwrap(),
            "--since",
            "2000-01-01T00:00:00Z",
        ]),
        "csv",
    );
    assert_success(
        &month.env.run(&[
            "sync",
            "payments",
            "-q",
            "--output",
            json_path.to_str().unwrap(),
            "--since",
            "2000-01-01T00:00:00Z",
        ]),
        "json",
    );

    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv.starts_with("number,productive_id,xero_id"), "{csv}");
    assert!(
        csv.contains("INV-2025-0101") && csv.contains("9684.38"),
        "{csv}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(invoice(&report, "INV-2025-0101")["amount_paid"], "9684.38");
}

#[test]
fn missing_productive_token_exits_78() {
    let month = pushed();
    let store = month.env.path().join("profiles/default/token.json");
    let mut tokens: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
    tokens.remove("productive:default");
    std::fs::write(&store, serde_json::to_string(&tokens).unwrap()).unwrap();

    let output = month.env.run(&["sync", "payments"]);

    assert_exit(&output, 78, "no Productive token");
    assert!(
        stderr(&output).contains("connect --productive"),
        "{}",
        stderr(&output)
    );
}
