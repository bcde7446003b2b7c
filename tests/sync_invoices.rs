//! `xerosync sync invoices` with the fixture exports against the Xero double.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use rust_decimal::Decimal;
use serde_json::Value;
use xerosync::sandbox::xero::{Fault, FaultAction};

const CSV: &str = "tests/fixtures/invoices.csv";
const JSONAPI: &str = "tests/fixtures/invoices.jsonapi.json";

/// Number, currency and gross of every document, from the fixture README.
const DOCUMENTS: &[(&str, &str, &str)] = &[
    ("INV-2025-0101", "EUR", "9684.38"),
    ("INV-2025-0102", "GBP", "3315.00"),
    ("INV-2025-0103", "USD", "8148.02"),
    ("INV-2025-0104", "EUR", "2772.50"),
    ("INV-2025-0105", "EUR", "3780.51"),
    ("INV-2025-0106", "GBP", "2218.88"),
    ("INV-2025-0107", "USD", "5237.50"),
    ("INV-2025-0108", "EUR", "4091.56"),
    ("INV-2025-0109", "EUR", "7654.06"),
    ("INV-2025-0110", "GBP", "4421.75"),
    ("INV-2025-0111", "USD", "9245.14"),
    ("INV-2025-0112", "EUR", "1211.25"),
    ("INV-2025-0113", "EUR", "3376.80"),
    ("CN-2025-0001", "EUR", "-576.80"),
    ("INV-2025-0114", "GBP", "3661.62"),
    ("INV-2025-0115", "USD", "11387.25"),
    ("INV-2025-0116", "EUR", "2243.75"),
    ("INV-2025-0117", "EUR", "6275.00"),
    ("INV-2025-0118", "GBP", "3095.00"),
    ("INV-2025-0119", "USD", "7235.00"),
    ("INV-2025-0120", "EUR", "2321.96"),
    ("INV-2025-0121", "EUR", "4543.20"),
    ("INV-2025-0122", "GBP", "2067.50"),
    ("INV-2025-0123", "USD", "9538.81"),
    ("INV-2025-0124", "EUR", "1345.16"),
];

/// The fixture's one already-exported invoice, copied to Xero "last month".
const EXPORTED_NUMBER: &str = "INV-2025-0117";

fn decimal(value: &Value) -> Decimal {
    value.to_string().trim_matches('"').parse().unwrap()
}

/// Connects and selects the tenant, with INV-2025-0117 already in Xero as
/// the export states.
fn ready() -> TestEnv {
    let env = TestEnv::new();
    env.connect_and_select();
    env.xero.insert_existing_invoice(
        &env.xero.default_tenant_id(),
        EXPORTED_NUMBER,
        "8f0b6c2e-4d1a-4c7e-9b55-3e2d7a91c0f4",
        "EUR",
        "6275.00".parse().unwrap(),
    );
    env.xero.clear_requests();
    env
}

/// Each fixture document exists exactly once in the double, with the gross
/// of the fixture README, and the per-currency totals match.
fn assert_fixture_in_double(env: &TestEnv) {
    let tenant = env.xero.default_tenant_id();
    let invoices = env.xero.invoices(&tenant);
    let credit_notes = env.xero.credit_notes(&tenant);
    let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();

    for (number, currency, gross) in DOCUMENTS {
        let expected: Decimal = gross.parse().unwrap();
        let (found, sign): (Vec<&Value>, Decimal) = if number.starts_with("CN-") {
            (
                credit_notes
                    .iter()
                    .filter(|c| c["CreditNoteNumber"] == *number)
                    .collect(),
                Decimal::NEGATIVE_ONE,
            )
        } else {
            (
                invoices
                    .iter()
                    .filter(|i| i["InvoiceNumber"] == *number)
                    .collect(),
                Decimal::ONE,
            )
        };
        assert_eq!(found.len(), 1, "{number} is in Xero {} times", found.len());
        assert_eq!(found[0]["CurrencyCode"], *currency, "{number} currency");
        assert_eq!(
            decimal(&found[0]["Total"]) * sign,
            expected,
            "{number} total"
        );
        *totals.entry(currency.to_string()).or_default() += expected;
    }

    assert_eq!(invoices.len(), 24, "unexpected invoices in Xero");
    assert_eq!(credit_notes.len(), 1, "unexpected credit notes in Xero");
    assert_eq!(totals["EUR"], "48723.33".parse::<Decimal>().unwrap());
    assert_eq!(totals["GBP"], "18779.75".parse::<Decimal>().unwrap());
    assert_eq!(totals["USD"], "50791.72".parse::<Decimal>().unwrap());
}

fn writes(env: &TestEnv) -> Vec<xerosync::sandbox::xero::RecordedRequest> {
    env.xero
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" || r.method == "POST")
        .filter(|r| r.path.starts_with("/api.xro/"))
        .collect()
}

#[test]
fn csv_fixture_lands_exactly() {
    let env = ready();

    let output = env.run(&["sync", "invoices", CSV, "--json"]);

    assert_success(&output, "sync invoices");
    let report = json(&output);
    assert_eq!(report["organisation"]["id"], env.xero.default_tenant_id());
    assert_eq!(report["summary"]["created"], 24);
    assert_eq!(report["summary"]["already_synced"], 1);
    assert_eq!(
        report["summary"]["totals_by_currency"]["EUR"]["total"],
        "48723.33"
    );
    let credit_note = report["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["number"] == "CN-2025-0001")
        .unwrap();
    assert_eq!(credit_note["kind"], "credit_note");
    assert_eq!(credit_note["xero_total"], "576.80");
    assert_fixture_in_double(&env);
    env.assert_no_secrets_leaked();
}

#[test]
fn jsonapi_fixture_lands_exactly() {
    let env = ready();

    let output = env.run(&["sync", "invoices", JSONAPI, "--json"]);

    assert_success(&output, "sync invoices (JSON:API)");
    assert_eq!(json(&output)["summary"]["created"], 24);
    assert_fixture_in_double(&env);
}

#[test]
fn documents_sent_with_exact_fields() {
    let env = ready();
    assert_success(&env.run(&["sync", "invoices", CSV]), "sync");

    let puts = writes(&env);
    let invoice_puts: Vec<_> = puts
        .iter()
        .filter(|r| r.path == "/api.xro/2.0/Invoices")
        .collect();
    assert!(!invoice_puts.is_empty());
    for request in &puts {
        assert!(
            request.query.contains("summarizeErrors=false"),
            "{} {}",
            request.path,
            request.query
        );
        assert!(
            request.headers.iter().any(|(k, _)| k == "idempotency-key"),
            "{} without Idempotency-Key",
            request.path
        );
    }
    let body: Value = serde_json::from_str(&invoice_puts[0].body).unwrap();
    let first = &body["Invoices"][0];
    assert!(invoice_puts[0].query.contains("unitdp=4"));
    assert_eq!(
        first["Date"].as_str().unwrap().len(),
        10,
        "date is not plain YYYY-MM-DD: {}",
        first["Date"]
    );
    assert_eq!(first["LineAmountTypes"], "Exclusive");
    assert!(
        first["Contact"]["ContactID"].is_string() && first["Contact"].get("Name").is_none(),
        "contact by name: {}",
        first["Contact"]
    );
    let all: String = invoice_puts.iter().map(|r| r.body.clone()).collect();
    assert!(
        all.contains("0.0875"),
        "a four-decimal unit price was rounded"
    );
}

#[test]
fn contacts_created_in_one_batch() {
    let env = ready();

    assert_success(&env.run(&["sync", "invoices", CSV]), "sync");

    let contact_writes: Vec<_> = writes(&env)
        .into_iter()
        .filter(|r| r.path == "/api.xro/2.0/Contacts")
        .collect();
    assert_eq!(
        contact_writes.len(),
        1,
        "contacts were not created in one request"
    );
    let contacts = env.xero.contacts(&env.xero.default_tenant_id());
    let names: Vec<&str> = contacts.iter().filter_map(|c| c["Name"].as_str()).collect();
    assert!(names.contains(&"Hartley, Bloom & Co. Ltd"), "{names:?}");
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "Hartley, Bloom & Co. Ltd")
            .count(),
        1
    );
}

#[test]
fn existing_contact_matched_by_name() {
    let env = ready();
    let tenant = env.xero.default_tenant_id();
    let existing = env
        .xero
        .add_contact(&tenant, "  northwind LEDGER llc ", None, false);

    assert_success(&env.run(&["sync", "invoices", CSV]), "sync");

    let invoices = env.xero.invoices(&tenant);
    let northwind = invoices
        .iter()
        .find(|i| i["InvoiceNumber"] == "INV-2025-0107")
        .unwrap();
    assert_eq!(northwind["Contact"]["ContactID"], existing.as_str());
}

#[test]
fn archived_contact_reported() {
    let env = ready();
    let tenant = env.xero.default_tenant_id();
    env.xero
        .add_contact(&tenant, "Northwind Ledger LLC", None, true);

    let output = env.run(&["sync", "invoices", CSV, "--json"]);

    assert_exit(&output, 1, "sync with an archived contact");
    let report = json(&output);
    let outcome = |number: &str| {
        report["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["number"] == number)
            .unwrap()
            .clone()
    };
    assert_eq!(outcome("INV-2025-0107")["outcome"], "skipped");
    assert!(
        outcome("INV-2025-0107")["messages"]
            .to_string()
            .contains("archived"),
        "{}",
        outcome("INV-2025-0107")
    );
    assert_eq!(outcome("INV-2025-0101")["outcome"], "created");
    let archived_copies = env
        .xero
        .contacts(&tenant)
        .iter()
        .filter(|c| c["Name"] == "Northwind Ledger LLC")
        .count();
    assert_eq!(
        archived_copies, 1,
        "a second Northwind contact was created next to the archived one"
    );
}

#[test]
fn duplicate_contact_numbers_reported() {
    let env = ready();
    let tenant = env.xero.default_tenant_id();
    let config = std::fs::read_to_string(env.config_path()).unwrap().replace(
        "[mapping]\n",
        "[mapping]\ncontact_number = \"client_code\"\n",
    );
    std::fs::write(env.config_path(), config).unwrap();
    env.xero
        .add_contact(&tenant, "Bluefin (US)", Some("BFO"), false);
    env.xero
        .add_contact(&tenant, "Bluefin (Canada)", Some("BFO"), false);
    let northwind = env
        .xero
        .add_contact(&tenant, "Northwind, by code", Some("NWL"), false);

    let output = env.run(&["sync", "invoices", CSV, "--json"]);

    assert_exit(&output, 1, "sync with duplicate contact numbers");
    let report = json(&output);
    let outcome = |number: &str| {
        report["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["number"] == number)
            .unwrap()
            .clone()
    };
    assert_eq!(outcome("INV-2025-0103")["outcome"], "skipped");
    assert!(
        outcome("INV-2025-0103")["messages"]
            .to_string()
            .contains("2 active contacts"),
        "{}",
        outcome("INV-2025-0103")
    );
    let invoices = env.xero.invoices(&tenant);
    let by_code = invoices
        .iter()
        .find(|i| i["InvoiceNumber"] == "INV-2025-0107")
        .unwrap();
    assert_eq!(
        by_code["Contact"]["ContactID"],
        northwind.as_str(),
        "not matched by contact number"
    );
}

#[test]
fn rerun_creates_nothing() {
    let env = ready();
    assert_success(&env.run(&["sync", "invoices", CSV]), "first run");
    env.xero.clear_requests();

    let output = env.run(&["sync", "invoices", CSV, "--json"]);

    assert_success(&output, "rerun");
    assert_eq!(json(&output)["summary"]["already_synced"], 25);
    assert!(writes(&env).is_empty(), "the rerun wrote to Xero");
    assert_fixture_in_double(&env);
}

#[test]
fn lost_batch_response_stored_once() {
    let env = ready();
    env.xero.inject(Fault {
        method: Some("PUT".into()),
        path_prefix: "/api.xro/2.0/Invoices".into(),
        times: 1,
        action: FaultAction::DropAfterCommit,
    });

    let output = env.run(&["sync", "invoices", CSV]);

    assert_success(&output, "sync with a lost response");
    let puts: Vec<_> = writes(&env)
        .into_iter()
        .filter(|r| r.path == "/api.xro/2.0/Invoices")
        .collect();
    assert_eq!(puts.len(), 2, "expected the lost write and its retry");
    let key = |r: &xerosync::sandbox::xero::RecordedRequest| {
        r.headers
            .iter()
            .find(|(k, _)| k == "idempotency-key")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        key(&puts[0]),
        key(&puts[1]),
        "the retry used another Idempotency-Key"
    );
    assert_fixture_in_double(&env);
}

#[test]
fn kill_mid_run_then_rerun() {
    let env = ready();
    env.xero.inject(Fault {
        method: Some("PUT".into()),
        path_prefix: "/api.xro/2.0/Invoices".into(),
        times: 1,
        action: FaultAction::Delay(Duration::from_millis(1500)),
    });

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("xerosync"))
        .env("XEROSYNC_HOME", env.path())
        .env_remove("RUST_LOG")
        .args(["sync", "invoices", CSV])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the contacts exist, while the invoice batch is in flight.
    for _ in 0..200 {
        if env
            .xero
            .requests()
            .iter()
            .any(|r| r.path == "/api.xro/2.0/Contacts" && r.method == "PUT")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(1500));

    let output = env.run(&["sync", "invoices", CSV]);

    assert_success(&output, "rerun after the kill");
    assert_fixture_in_double(&env);
}

#[test]
fn rate_limited_throughout() {
    let env = TestEnv::with(|config| {
        config.minute_limit = 4;
        config.minute_window = Duration::from_secs(1);
    });
    env.connect_and_select();
    env.xero.insert_existing_invoice(
        &env.xero.default_tenant_id(),
        EXPORTED_NUMBER,
        "8f0b6c2e-4d1a-4c7e-9b55-3e2d7a91c0f4",
        "EUR",
        "6275.00".parse().unwrap(),
    );

    let output = env.run(&["sync", "invoices", CSV]);

    assert_success(&output, "sync under a tight rate limit");
    assert!(
        env.xero.requests().iter().any(|r| r.status == 429),
        "the limit never applied"
    );
    assert_fixture_in_double(&env);
}

#[test]
fn two_rejected_others_created() {
    let env = ready();
    // Xero rejects a bank account on an invoice line; xerosync's own check
    // only requires an active account, so the two invoices reach Xero.
    env.append_config("[mapping.accounts]\n\"Bank fees\" = \"090\"\n");
    let csv = std::fs::read_to_string(CSV).unwrap();
    let changed: String = csv
        .lines()
        .map(|line| {
            if line.starts_with("880111,") || line.starts_with("880120,") {
                line.replacen(",Development,", ",Bank fees,", 1)
                    .replacen(",Consulting,", ",Bank fees,", 1)
                    .replacen(",Design,", ",Bank fees,", 1)
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        changed.contains("Bank fees"),
        "the fixture changed; pick other service types"
    );
    let file = env.path().join("two-bad.csv");
    std::fs::write(&file, format!("{changed}\n")).unwrap();

    let output = env.run(&["sync", "invoices", file.to_str().unwrap(), "--json"]);

    assert_exit(&output, 1, "sync with two rejected");
    let report = json(&output);
    let rejected: Vec<&Value> = report["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["outcome"] == "rejected")
        .collect();
    let numbers: Vec<&str> = rejected
        .iter()
        .map(|r| r["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, vec!["INV-2025-0111", "INV-2025-0119"], "{report}");
    for item in &rejected {
        assert!(
            item["messages"].to_string().contains("090"),
            "no Xero message: {item}"
        );
    }
    assert_eq!(report["summary"]["created"], 22);
    assert_eq!(
        env.xero.invoices(&env.xero.default_tenant_id()).len(),
        22,
        "21 invoices created plus the one copied earlier"
    );
}

#[test]
fn currency_not_enabled_caught_before_writes() {
    let env = ready();
    let csv = std::fs::read_to_string(CSV).unwrap();
    let changed: String = csv
        .lines()
        .map(|line| {
            if line.starts_with("880111,") {
                line.replace(",USD,", ",CHF,")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let file = env.path().join("chf.csv");
    std::fs::write(&file, format!("{changed}\n")).unwrap();

    let output = env.run(&["sync", "invoices", file.to_str().unwrap(), "--dry-run"]);

    assert_exit(&output, 78, "currency not enabled");
    let message = stderr(&output);
    assert!(
        message.contains("CHF") && message.contains("INV-2025-0111"),
        "{message}"
    );
    assert!(writes(&env).is_empty());
}

#[test]
fn dry_run_makes_no_write() {
    let env = ready();

    let output = env.run(&["sync", "invoices", CSV, "--dry-run", "--json"]);

    assert_success(&output, "dry run");
    let report = json(&output);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["summary"]["would_create"], 24);
    assert!(
        report["invoices"][0]["payload"]["LineItems"].is_array(),
        "no payload shown"
    );
    assert!(writes(&env).is_empty(), "the dry run wrote to Xero");
}

#[test]
fn dry_run_offline_validates() {
    let env = TestEnv::new();

    let output = env.run(&["sync", "invoices", CSV, "--dry-run"]);

    assert_success(&output, "offline dry run");
    assert!(
        stdout(&output).contains("INV-2025-0124"),
        "{}",
        stdout(&output)
    );
    assert!(env.xero.requests().is_empty());
}

#[test]
fn unknown_tax_type_caught_before_writes() {
    let env = ready();
    let config = std::fs::read_to_string(env.config_path())
        .unwrap()
        .replace("\"13\" = \"OUTPUT\"", "\"13\" = \"OUTPUT9\"");
    std::fs::write(env.config_path(), config).unwrap();

    let output = env.run(&["sync", "invoices", CSV]);

    assert_exit(&output, 78, "unknown tax type");
    let message = stderr(&output);
    assert!(message.contains("OUTPUT9"), "{message}");
    assert!(
        message.contains("ZERORATEDOUTPUT"),
        "valid choices not listed: {message}"
    );
    assert!(writes(&env).is_empty());
}

#[test]
fn disconnected_tenant_exits_77() {
    let env = ready();
    env.xero
        .remove_tenant_connection(&env.xero.default_tenant_id());

    let output = env.run(&["sync", "invoices", CSV]);

    assert_exit(&output, 77, "tenant gone");
    assert!(
        stderr(&output).contains(&env.xero.default_tenant_id()),
        "{}",
        stderr(&output)
    );
    assert!(writes(&env).is_empty());
}

#[test]
fn daily_limit_exits_75() {
    let env = ready();
    env.xero.inject(Fault {
        method: None,
        path_prefix: "/api.xro/2.0/".into(),
        times: 1,
        action: FaultAction::RateLimitDay,
    });

    let output = env.run(&["sync", "invoices", CSV]);

    assert_exit(&output, 75, "daily limit");
    assert!(stderr(&output).contains("daily"), "{}", stderr(&output));
}

#[test]
fn server_error_storm_exits_75() {
    let env = ready();
    env.xero.inject(Fault {
        method: None,
        path_prefix: "/api.xro/2.0/Accounts".into(),
        times: 50,
        action: FaultAction::Status(503),
    });

    let output = env.run(&["sync", "invoices", CSV]);

    assert_exit(&output, 75, "503 storm");
    let attempts = env
        .xero
        .requests()
        .iter()
        .filter(|r| r.path == "/api.xro/2.0/Accounts")
        .count();
    assert_eq!(attempts, 5, "expected a bounded number of retries");
    assert!(writes(&env).is_empty());
}

/// Generates a valid export of `count` one-line EUR invoices for 10 clients.
fn generated_export(count: usize) -> String {
    let header = std::fs::read_to_string(CSV)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let mut text = header + "\n";
    for index in 0..count {
        let client = index % 10;
        let net = Decimal::new(10_000 + index as i64, 2);
        let tax = (net * Decimal::new(25, 2))
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        let gross = net + tax;
        text.push_str(&format!(
            "{id},GEN-{index:05},Invoice,,{client_id},Generated Client {client},G{client},,Street 1,Zagreb,10000,HR,Retainer,,2026-11-{day:02},2026-12-31,,EUR,1.0,1,Design,Retainer,1.00,month,{net},0.00,PDV 25%,25.00,{net},{tax},{gross},{net},{tax},{gross},0.00,,unpaid,no,\n",
            id = 700_000 + index,
            client_id = 7_000 + client,
            day = 1 + index % 28,
        ));
    }
    text
}

#[test]
fn number_under_other_date_not_duplicated() {
    let env = TestEnv::new();
    env.connect_and_select();
    let tenant = env.xero.default_tenant_id();
    // Copied to Xero by hand with today's date, outside the export's date range.
    let existing = env.xero.insert_existing_invoice(
        &tenant,
        "GEN-00042",
        "0d9c2b8e-1111-4c7e-9b55-3e2d7a91c0f4",
        "EUR",
        "125.53".parse().unwrap(),
    );
    let file = env.path().join("generated.csv");
    std::fs::write(&file, generated_export(400)).unwrap();

    let output = env.run(&["sync", "invoices", file.to_str().unwrap(), "--json"]);

    assert_success(&output, "sync of a generated export");
    let report = json(&output);
    let item = report["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["number"] == "GEN-00042")
        .unwrap()
        .clone();
    assert_eq!(item["outcome"], "already_synced", "{item}");
    assert_eq!(item["xero_id"], existing.as_str());
    let copies = env
        .xero
        .invoices(&tenant)
        .iter()
        .filter(|i| i["InvoiceNumber"] == "GEN-00042")
        .count();
    assert_eq!(copies, 1);
    assert_eq!(report["summary"]["created"], 399);
    let range_lookups = env
        .xero
        .requests()
        .iter()
        .filter(|r| {
            r.path == "/api.xro/2.0/Invoices" && r.method == "GET" && r.query.contains("where")
        })
        .count();
    assert_eq!(range_lookups, 1, "the date-range look-up was not used");
}

#[test]
fn renumbered_invoice_reported() {
    let env = ready();
    assert_success(&env.run(&["sync", "invoices", CSV]), "first run");
    let csv = std::fs::read_to_string(CSV)
        .unwrap()
        .replace("INV-2025-0101", "INV-2025-9101");
    let file = env.path().join("renumbered.csv");
    std::fs::write(&file, csv).unwrap();

    let output = env.run(&["sync", "invoices", file.to_str().unwrap(), "--json"]);

    assert_exit(&output, 1, "renumbered invoice");
    let report = json(&output);
    let item = report["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["number"] == "INV-2025-9101")
        .unwrap()
        .clone();
    assert_eq!(item["outcome"], "already_synced");
    assert!(
        item["messages"].to_string().contains("INV-2025-0101"),
        "{item}"
    );
    assert!(
        writes(&env)
            .iter()
            .all(|r| !r.body.contains("INV-2025-9101")),
        "the renumbered invoice was sent"
    );
}

#[test]
fn unknown_account_lists_revenue_accounts() {
    let env = ready();
    let config = std::fs::read_to_string(env.config_path()).unwrap().replace(
        "default_account_code = \"200\"",
        "default_account_code = \"999\"",
    );
    std::fs::write(env.config_path(), config).unwrap();

    let output = env.run(&["sync", "invoices", CSV]);

    assert_exit(&output, 78, "unknown account code");
    let message = stderr(&output);
    assert!(message.contains("\"999\""), "{message}");
    assert!(
        message.contains("200 Sales"),
        "revenue accounts not listed: {message}"
    );
    assert!(
        !message.contains("090"),
        "a bank account was offered: {message}"
    );
    assert!(writes(&env).is_empty());
}
