//! The Xero client against the double: tenants, token refresh and rotation,
//! rate limits, server faults and the per-tenant concurrency limit.

mod common;

use std::time::Duration;

use common::*;
use xerosync::sandbox::xero::{Fault, FaultAction, TenantSeed};

fn two_tenants() -> TestEnv {
    TestEnv::with(|config| {
        config.tenants = vec![
            TenantSeed {
                tenant_id: "11111111-1111-4111-8111-111111111111".into(),
                name: "Acme Design Ltd".into(),
                tenant_type: "ORGANISATION".into(),
            },
            TenantSeed {
                tenant_id: "22222222-2222-4222-8222-222222222222".into(),
                name: "Acme Design UK".into(),
                tenant_type: "ORGANISATION".into(),
            },
        ];
    })
}

fn token_grants(env: &TestEnv, grant: &str) -> usize {
    env.xero
        .requests()
        .iter()
        .filter(|r| {
            r.path == "/connect/token"
                && r.body.contains(&format!("grant_type={grant}"))
                && r.status == 200
        })
        .count()
}

#[test]
fn tenants_listed_with_selection() {
    let env = two_tenants();
    env.connect();

    let listed = env.run(&["tenants", "--json"]);

    assert_success(&listed, "tenants");
    let tenants = json(&listed)["tenants"].as_array().unwrap().clone();
    assert_eq!(tenants.len(), 2);
    assert!(
        tenants.iter().all(|t| t["selected"] == false),
        "connect picked one of two tenants"
    );
}

#[test]
fn tenant_selected_by_name_case_insensitively() {
    let env = two_tenants();
    env.connect();

    let output = env.run(&["tenants", "--select", "acme design uk"]);

    assert_success(&output, "select by name");
    let status = json(&env.run(&["status", "--json"]));
    assert_eq!(
        status["tenant"]["id"],
        "22222222-2222-4222-8222-222222222222"
    );
}

#[test]
fn tenant_selected_by_id() {
    let env = two_tenants();
    env.connect();

    assert_success(
        &env.run(&[
            "tenants",
            "--select",
            "11111111-1111-4111-8111-111111111111",
        ]),
        "select by id",
    );

    let listed = json(&env.run(&["tenants", "--json"]));
    let selected: Vec<_> = listed["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["selected"] == true)
        .collect();
    assert_eq!(selected.len(), 1);
    assert_eq!(selected[0]["name"], "Acme Design Ltd");
}

#[test]
fn unknown_tenant_lists_choices() {
    let env = two_tenants();
    env.connect();

    let output = env.run(&["tenants", "--select", "Globex"]);

    assert_exit(&output, 2, "unknown tenant");
    let message = stderr(&output);
    assert!(message.contains("Acme Design Ltd"), "{message}");
    assert!(message.contains("Acme Design UK"), "{message}");
}

#[test]
fn ambiguous_tenant_name_rejected() {
    let env = TestEnv::with(|config| {
        config.tenants = vec![
            TenantSeed {
                tenant_id: "11111111-1111-4111-8111-111111111111".into(),
                name: "Acme".into(),
                tenant_type: "ORGANISATION".into(),
            },
            TenantSeed {
                tenant_id: "22222222-2222-4222-8222-222222222222".into(),
                name: "ACME".into(),
                tenant_type: "ORGANISATION".into(),
            },
        ];
    });
    env.connect();

    let output = env.run(&["tenants", "--select", "acme"]);

    assert_exit(&output, 2, "ambiguous tenant");
    assert!(
        stderr(&output).contains("more than one"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn non_interactive_without_select_names_flag() {
    let env = two_tenants();
    env.connect();

    let output = env.run(&["--non-interactive", "tenants"]);

    assert_success(&output, "tenants");
    assert!(stderr(&output).contains("--select"), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("Acme Design UK"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn expired_token_refreshed_and_rotation_stored() {
    let env = TestEnv::new();
    env.connect();
    let before = std::fs::read_to_string(env.path().join("profiles/default/token.json")).unwrap();
    env.xero.expire_access_tokens();

    let output = env.run(&["tenants", "--json"]);

    assert_success(&output, "tenants after expiry");
    let after = std::fs::read_to_string(env.path().join("profiles/default/token.json")).unwrap();
    assert_ne!(before, after, "the rotated token set was not stored");
    assert_eq!(token_grants(&env, "refresh_token"), 1);

    env.xero.expire_access_tokens();
    assert_success(
        &env.run(&["tenants"]),
        "second refresh with the rotated token",
    );
    assert_eq!(token_grants(&env, "refresh_token"), 2);
    env.assert_no_secrets_leaked();
}

#[test]
fn concurrent_processes_refresh_once() {
    let env = TestEnv::new();
    env.connect();
    env.xero.expire_access_tokens();
    env.xero.inject(Fault {
        method: Some("POST".into()),
        path_prefix: "/connect/token".into(),
        times: 1,
        action: FaultAction::Delay(Duration::from_millis(700)),
    });

    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("xerosync"))
            .env("XEROSYNC_HOME", env.path())
            .env_remove("RUST_LOG")
            .args(["tenants", "--json"])
            .output()
    };
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(spawn);
        let b = scope.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });

    assert_success(&first, "first process");
    assert_success(&second, "second process");
    assert_eq!(
        token_grants(&env, "refresh_token"),
        1,
        "both processes refreshed; the lock did not hold"
    );
    assert_success(&env.run(&["tenants"]), "the stored token still works");
}

#[test]
fn lost_refresh_response_retried_in_grace() {
    let env = TestEnv::new();
    env.connect();
    env.xero.expire_access_tokens();
    env.xero.inject(Fault {
        method: Some("POST".into()),
        path_prefix: "/connect/token".into(),
        times: 1,
        action: FaultAction::DropAfterCommit,
    });

    let output = env.run(&["tenants", "--json"]);

    assert_success(&output, "tenants after a lost refresh response");
    assert_eq!(
        token_grants(&env, "refresh_token"),
        2,
        "expected the lost refresh and its retry"
    );
    env.xero.expire_access_tokens();
    assert_success(
        &env.run(&["tenants"]),
        "the token stored after the retry works",
    );
}

#[test]
fn revoked_refresh_token_exits_77() {
    let env = TestEnv::new();
    env.connect();
    env.xero.revoke_refresh_tokens();
    env.xero.expire_access_tokens();

    let output = env.run(&["tenants"]);

    assert_exit(&output, 77, "revoked");
    let message = stderr(&output);
    assert!(message.contains("xerosync connect"), "{message}");
    assert!(message.contains("invalid_grant"), "{message}");
}

#[test]
fn minute_limit_waited_out() {
    let env = TestEnv::new();
    env.connect();
    env.xero.inject(Fault {
        method: None,
        path_prefix: "/connections".into(),
        times: 2,
        action: FaultAction::RateLimitMinute {
            retry_after_secs: 1,
        },
    });

    let output = env.run(&["tenants", "--json"]);

    assert_success(&output, "tenants after 429s");
    let statuses: Vec<u16> = env
        .xero
        .requests()
        .iter()
        .filter(|r| r.path == "/connections")
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "statuses {statuses:?}"
    );
    assert_eq!(*statuses.last().unwrap(), 200);
}

#[test]
fn client_keeps_five_in_flight_per_tenant() {
    let env = TestEnv::new();
    env.connect_and_select();
    env.xero.inject(Fault {
        method: Some("GET".into()),
        path_prefix: "/api.xro/2.0/Organisation".into(),
        times: 30,
        action: FaultAction::Delay(Duration::from_millis(150)),
    });

    let overrides = xerosync::config::Overrides {
        config: None,
        profile: None,
        home: Some(env.path().to_path_buf()),
    };
    let settings = xerosync::config::Settings::load(&overrides).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let results = runtime.block_on(async {
        let session = xerosync::auth::session::Session::open(&settings).unwrap();
        let (id, name) = settings.require_tenant().unwrap();
        let client = xerosync::xero::http::XeroClient::new(
            settings.endpoints.api_url.clone(),
            session,
            Some(xerosync::xero::http::Tenant { id, name }),
        )
        .unwrap();
        let calls = (0..20).map(|_| xerosync::xero::api::organisation_name(&client));
        futures::future::join_all(calls).await
    });

    assert!(
        results.iter().all(|r| r.is_ok()),
        "some requests failed: {:?}",
        results.iter().filter(|r| r.is_err()).collect::<Vec<_>>()
    );
    let peak = env.xero.max_in_flight(&env.xero.default_tenant_id());
    assert!(peak <= 5, "{peak} requests were in flight at once");
    assert!(
        peak >= 2,
        "requests never overlapped (peak {peak}), so the limit was not exercised"
    );
    let limited = env
        .xero
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(limited, 0, "the double answered 429 to concurrent requests");
}

#[test]
fn custom_connection_without_browser() {
    let env = TestEnv::with(|config| {
        config.custom_connection = Some((
            "CUSTOMCLIENT".into(),
            "custom-secret-0123456789".into(),
            xerosync::sandbox::xero::DEFAULT_TENANT_ID.into(),
        ));
    });
    let custom = |args: &[&str]| {
        let mut command = env.cmd();
        command
            .env("XERO_CLIENT_ID", "CUSTOMCLIENT")
            .env("BROWSER", "false")
            .args(args);
        command
    };

    let output = env.run_with(
        custom(&["connect", "--custom-connection"]).write_stdin("custom-secret-0123456789\n"),
    );

    assert_success(&output, "connect --custom-connection");
    let status = json(&env.run_with(&mut custom(&["status", "--json"])));
    assert_eq!(status["connection_type"], "custom_connection");
    assert_eq!(
        status["tenant"]["id"],
        xerosync::sandbox::xero::DEFAULT_TENANT_ID
    );
    assert_eq!(status["refresh_token_stored"], false);

    env.xero.expire_access_tokens();
    assert_success(
        &env.run_with(&mut custom(&["tenants"])),
        "tenants after expiry",
    );
    assert_eq!(
        token_grants(&env, "client_credentials"),
        2,
        "the expired token was not replaced by the client-credentials grant"
    );
    env.assert_no_secrets_leaked();
}

#[test]
fn custom_connection_wrong_secret_exits_78() {
    let env = TestEnv::with(|config| {
        config.custom_connection = Some((
            "CUSTOMCLIENT".into(),
            "custom-secret-0123456789".into(),
            xerosync::sandbox::xero::DEFAULT_TENANT_ID.into(),
        ));
    });

    let output = env.run_with(
        env.cmd()
            .env("XERO_CLIENT_ID", "CUSTOMCLIENT")
            .env("XERO_CLIENT_SECRET", "wrong-secret-value")
            .args(["connect", "--custom-connection"]),
    );

    assert_exit(&output, 78, "wrong client secret");
    assert!(
        stderr(&output).contains("invalid_client"),
        "{}",
        stderr(&output)
    );
    assert!(!env.path().join("profiles/default/token.json").exists());
}
