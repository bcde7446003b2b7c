//! An invalid export: every problem reported with its line, nothing sent.

mod common;

use common::*;

const CSV: &str = "tests/fixtures/invoices.csv";

/// Physical line (1-based) of the first line of the fixture containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in the fixture"))
        + 1
}

#[test]
fn every_problem_reported_nothing_sent() {
    let env = TestEnv::new();
    env.connect_and_select();
    env.xero.clear_requests();

    let original = std::fs::read_to_string(CSV).unwrap();
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    let bad_amount = line_of(&original, "UX/UI design,32.00,hour,85.00");
    let bad_currency = line_of(&original, "Brand strategy workshop (on site, London)");
    let missing_client = line_of(&original, "880104,INV-2025-0104");
    let duplicate = line_of(&original, "880110,INV-2025-0110");

    lines[bad_amount - 1] = lines[bad_amount - 1].replace(",85.00,", ",85.0O,");
    lines[bad_currency - 1] = lines[bad_currency - 1].replace(",GBP,", ",GPB,");
    lines[missing_client - 1] =
        lines[missing_client - 1].replace("Gradska Ljekarna Šestine d.o.o.", "");
    for line in lines.iter_mut().filter(|l| l.starts_with("880110,")) {
        *line = line.replace("INV-2025-0110", "INV-2025-0109");
    }
    let wrong_total = line_of(&original, "880105,INV-2025-0105");
    for line in lines.iter_mut().filter(|l| l.starts_with("880105,")) {
        *line = line.replace(",3780.51,", ",3780.52,");
    }
    let file = env.path().join("broken.csv");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let name = file.display().to_string();

    let output = env.run(&["sync", "invoices", &name]);

    assert_exit(&output, 65, "invalid export");
    let message = stderr(&output);
    for (line, what) in [
        (bad_amount, "bad amount"),
        (bad_currency, "unknown currency"),
        (missing_client, "missing client"),
        (duplicate, "duplicate number"),
        (wrong_total, "totals"),
    ] {
        assert!(
            message.contains(&format!("{name}:{line}:")),
            "{what} not reported at line {line}:\n{message}"
        );
    }
    assert!(message.contains("GPB"), "{message}");
    assert!(message.contains("INV-2025-0109"), "{message}");
    assert!(message.contains("nothing was sent"), "{message}");
    assert!(
        env.xero.requests().is_empty(),
        "requests reached Xero: {:?}",
        env.xero
            .requests()
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn unmapped_tax_rate_named_with_fix() {
    let env = TestEnv::new();
    std::fs::write(
        env.config_path(),
        std::fs::read_to_string(env.config_path())
            .unwrap()
            .replace("\"13\" = \"OUTPUT\"\n", ""),
    )
    .unwrap();
    let original = std::fs::read_to_string(CSV).unwrap();
    let thirteen = original
        .lines()
        .position(|l| l.contains(",PDV 13%,13.00,"))
        .unwrap()
        + 1;

    let output = env.run(&["sync", "invoices", CSV, "--dry-run"]);

    assert_exit(&output, 65, "unmapped tax rate");
    let message = stderr(&output);
    assert!(message.contains(&format!("{CSV}:{thirteen}:")), "{message}");
    assert!(message.contains("[mapping.tax_types]"), "{message}");
}

#[test]
fn bom_and_crlf_accepted() {
    let env = TestEnv::new();
    let original = std::fs::read_to_string(CSV).unwrap();
    let file = env.path().join("windows.csv");
    std::fs::write(&file, format!("\u{feff}{}", original.replace('\n', "\r\n"))).unwrap();

    let output = env.run(&[
        "sync",
        "invoices",
        file.to_str().unwrap(),
        "--dry-run",
        "--json",
    ]);

    assert_success(&output, "BOM + CRLF export");
    assert_eq!(json(&output)["invoices"].as_array().unwrap().len(), 25);
}

#[test]
fn renamed_headers_mapped() {
    let env = TestEnv::new();
    env.write_config("[mapping.columns]\n\"Invoice no.\" = \"Invoice number\"\n");
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    // The mapping section is written twice by write_config(extra); keep the extra table only.
    assert!(config.contains("[mapping.columns]"));
    let original = std::fs::read_to_string(CSV).unwrap();
    let file = env.path().join("renamed.csv");
    std::fs::write(&file, original.replacen("Invoice number", "Invoice no.", 1)).unwrap();

    let output = env.run(&[
        "sync",
        "invoices",
        file.to_str().unwrap(),
        "--dry-run",
        "--json",
    ]);

    assert_success(&output, "renamed header");
    assert_eq!(json(&output)["invoices"].as_array().unwrap().len(), 25);
}

#[test]
fn header_only_export_exits_65() {
    let env = TestEnv::new();
    let header = std::fs::read_to_string(CSV)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let file = env.path().join("empty.csv");
    std::fs::write(&file, header + "\n").unwrap();

    let output = env.run(&["sync", "invoices", file.to_str().unwrap(), "--dry-run"]);

    assert_exit(&output, 65, "header-only export");
    assert!(
        stderr(&output).contains("contains no invoices"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn missing_export_exits_65() {
    let env = TestEnv::new();

    let output = env.run(&["sync", "invoices", "no-such-export.csv", "--dry-run"]);

    assert_exit(&output, 65, "missing export");
    assert!(
        stderr(&output).contains("no-such-export.csv"),
        "{}",
        stderr(&output)
    );
}
