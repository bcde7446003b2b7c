//! Command-line contract: help texts, usage errors, config errors and exit codes.

mod common;

use common::*;

#[test]
fn help_lists_every_command_and_exit_codes() {
    let env = TestEnv::new();

    let output = env.run(&["--help"]);

    assert_success(&output, "--help");
    let help = stdout(&output);
    for command in [
        "connect",
        "status",
        "disconnect",
        "tenants",
        "sync",
        "completions",
    ] {
        assert!(help.contains(command), "--help lacks {command}:\n{help}");
    }
    for option in [
        "--config",
        "--profile",
        "--json",
        "--quiet",
        "--non-interactive",
        "--verbose",
    ] {
        assert!(help.contains(option), "--help lacks {option}:\n{help}");
    }
    assert!(help.contains("77"), "--help lacks the exit codes:\n{help}");
}

#[test]
fn sync_help_has_examples_and_units() {
    let env = TestEnv::new();

    let invoices = stdout(&env.run(&["sync", "invoices", "--help"]));
    let payments = stdout(&env.run(&["sync", "payments", "--help"]));
    let connect = stdout(&env.run(&["connect", "--help"]));

    assert!(invoices.contains("Examples:"), "{invoices}");
    assert!(invoices.contains("--dry-run"), "{invoices}");
    assert!(payments.contains("Examples:"), "{payments}");
    assert!(payments.contains("RFC 3339"), "{payments}");
    assert!(connect.contains("Seconds to wait"), "{connect}");
}

#[test]
fn global_options_accepted_after_subcommand() {
    let env = TestEnv::new();

    let before = env.run(&["--json", "status"]);
    let after = env.run(&["status", "--json"]);

    assert_eq!(before.status.code(), after.status.code());
    assert_eq!(json(&before)["profile"], json(&after)["profile"]);
}

#[test]
fn unknown_option_exits_2() {
    let env = TestEnv::new();

    let output = env.run(&["sync", "invoices", "--frobnicate", "x.csv"]);

    assert_exit(&output, 2, "unknown option");
}

#[test]
fn unknown_config_key_exits_78() {
    let env = TestEnv::new();
    env.write_config("[xero2]\nclient_id = \"x\"\n");

    let output = env.run(&["status"]);

    assert_exit(&output, 78, "unknown key");
    let message = stderr(&output);
    assert!(message.contains("xero2"), "{message}");
    assert!(message.contains("config.toml"), "{message}");
}

#[test]
fn wrong_type_in_config_exits_78() {
    let env = TestEnv::new();
    std::fs::write(env.config_path(), "[mapping]\ndue_days = \"thirty\"\n").unwrap();

    let output = env.run(&["status"]);

    assert_exit(&output, 78, "wrong type");
    assert!(stderr(&output).contains("due_days"), "{}", stderr(&output));
}

#[test]
fn plain_http_to_remote_host_exits_78() {
    let env = TestEnv::new();
    std::fs::write(
        env.config_path(),
        "[xero]\napi_url = \"http://api.xero.example\"\n",
    )
    .unwrap();

    let output = env.run(&["status"]);

    assert_exit(&output, 78, "plain http");
    assert!(
        stderr(&output).contains("xero.api_url"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unknown_token_store_exits_78() {
    let env = TestEnv::new();

    let output = env.run_with(
        env.cmd()
            .env("XEROSYNC_TOKEN_STORE", "plaintext")
            .args(["status"]),
    );

    assert_exit(&output, 78, "unknown token store");
    assert!(stderr(&output).contains("plaintext"), "{}", stderr(&output));
}

#[test]
fn missing_client_id_exits_78() {
    let env = TestEnv::new();
    std::fs::write(env.config_path(), "").unwrap();

    let output = env.run(&["connect", "--timeout", "1"]);

    assert_exit(&output, 78, "no client id");
    assert!(
        stderr(&output).contains("XERO_CLIENT_ID"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn not_connected_commands_exit_77() {
    let env = TestEnv::new();

    for args in [vec!["tenants"], vec!["sync", "payments"]] {
        let output = env.run(&args);
        assert_exit(&output, 77, &args.join(" "));
    }
}

#[test]
fn completions_print_script() {
    let env = TestEnv::new();

    let output = env.run(&["completions", "bash"]);

    assert_success(&output, "completions");
    assert!(stdout(&output).contains("xerosync"), "{}", stdout(&output));
}

#[test]
fn invalid_profile_name_exits_78() {
    let env = TestEnv::new();

    let output = env.run(&["--profile", "../evil", "status"]);

    assert_exit(&output, 78, "bad profile");
}

#[test]
fn missing_config_file_exits_78() {
    let env = TestEnv::new();

    let output = env.run(&["--config", "/nonexistent/xerosync.toml", "status"]);

    assert_exit(&output, 78, "missing --config file");
    assert!(
        stderr(&output).contains("does not exist"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_since_value_explains_format() {
    let env = TestEnv::new();

    let output = env.run(&["sync", "payments", "--since", "yesterday"]);

    assert_exit(&output, 2, "bad --since");
    assert!(
        stderr(&output).contains("2026-11-01T00:00:00Z"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn sync_before_connect_says_connect() {
    let env = TestEnv::new();

    let output = env.run(&["sync", "invoices", "tests/fixtures/invoices.csv"]);

    assert_exit(&output, 77, "sync before connect");
    assert!(
        stderr(&output).contains("xerosync connect"),
        "{}",
        stderr(&output)
    );
}
