//! `xerosync connect`, `status` and `disconnect` against the Xero identity
//! double, through the real binary.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use common::*;
use xerosync::sandbox::xero::Consent;

fn token_file(env: &TestEnv) -> std::path::PathBuf {
    env.path()
        .join("profiles")
        .join("default")
        .join("token.json")
}

#[test]
fn connect_stores_tokens_and_selects_tenant() {
    let env = TestEnv::new();

    env.connect();

    let status = env.run(&["status", "--json"]);
    assert_success(&status, "status");
    let status = json(&status);
    assert_eq!(status["connected"], true);
    assert_eq!(status["refresh_token_stored"], true);
    assert_eq!(status["token_store"], "file");
    assert_eq!(status["tenant"]["id"], env.xero.default_tenant_id());
    assert!(
        status["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "accounting.invoices"),
        "{status}"
    );

    let config = std::fs::read_to_string(env.config_path()).unwrap();
    assert!(
        config.contains(&env.xero.default_tenant_id()),
        "tenant not saved:\n{config}"
    );
    assert!(!config.contains("sbx_"), "config holds a token:\n{config}");
    assert_eq!(env.xero.pkce_failures(), 0);
    env.assert_no_secrets_leaked();
}

#[test]
fn token_file_is_private() {
    let env = TestEnv::new();
    env.connect();

    let mode = std::fs::metadata(token_file(&env)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }
    let _ = mode;
}

#[test]
fn verifier_sent_matches_challenge() {
    let env = TestEnv::new();
    env.connect();

    let requests = env.xero.requests();
    let token_request = requests
        .iter()
        .find(|r| r.path == "/connect/token")
        .expect("a token request");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(token_request.body.as_bytes())
        .into_owned()
        .collect();
    let verifier = form
        .iter()
        .find(|(k, _)| k == "code_verifier")
        .map(|(_, v)| v.clone())
        .expect("code_verifier sent");
    assert!(
        (43..=128).contains(&verifier.len()),
        "verifier length {}",
        verifier.len()
    );
    assert!(
        form.iter().any(|(k, v)| k == "client_id" && v == CLIENT_ID),
        "client_id missing from the form"
    );
    assert_eq!(
        env.xero.pkce_failures(),
        0,
        "the double rejected the verifier"
    );

    let authorize = requests
        .iter()
        .find(|r| r.path == "/identity/connect/authorize")
        .expect("an authorize request");
    assert!(
        authorize.query.contains("code_challenge_method=S256"),
        "{}",
        authorize.query
    );
}

#[test]
fn denied_consent_stores_nothing() {
    let env = TestEnv::new();
    env.xero.set_consent(Consent::Deny);

    let output = env.run(&["connect", "--timeout", "30"]);

    assert_exit(&output, 1, "connect");
    assert!(stderr(&output).contains("denied"), "{}", stderr(&output));
    assert!(!token_file(&env).exists());
    env.assert_no_secrets_leaked();
}

#[test]
fn wrong_state_stores_nothing() {
    let env = TestEnv::new();
    env.xero.set_consent(Consent::WrongState);

    let output = env.run(&["connect", "--timeout", "30"]);

    assert_exit(&output, 1, "connect");
    assert!(stderr(&output).contains("state"), "{}", stderr(&output));
    assert!(!token_file(&env).exists());
    assert!(
        env.xero
            .requests()
            .iter()
            .all(|r| r.path != "/connect/token"),
        "a code with a wrong state was exchanged"
    );
}

#[test]
fn sign_in_timeout_stores_nothing() {
    let env = TestEnv::new();

    let output = env.run_with(
        env.cmd()
            .env("BROWSER", "true")
            .args(["connect", "--timeout", "1"]),
    );

    assert_exit(&output, 1, "connect");
    assert!(
        stderr(&output).contains("within 1 s"),
        "{}",
        stderr(&output)
    );
    assert!(!token_file(&env).exists());
}

#[test]
fn busy_port_names_port_and_uri() {
    let env = TestEnv::new();
    let port = url::Url::parse(&env.redirect_uri).unwrap().port().unwrap();
    let _occupied = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();

    let output = env.run(&["connect", "--timeout", "5"]);

    assert_exit(&output, 1, "connect");
    let message = stderr(&output);
    assert!(message.contains(&port.to_string()), "{message}");
    assert!(message.contains(&env.redirect_uri), "{message}");
    assert!(!token_file(&env).exists());
}

#[test]
fn stray_request_does_not_end_flow() {
    let env = TestEnv::new();
    let port = url::Url::parse(&env.redirect_uri).unwrap().port().unwrap();
    let script = env.path().join("probe-then-browse.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ncurl -s -o /dev/null http://127.0.0.1:{port}/favicon.ico\ncurl -s -o /dev/null http://127.0.0.1:{port}/callback-not\nexec curl -s -L -o /dev/null \"$1\"\n"),
    )
    .unwrap();
    make_executable(&script);

    let output =
        env.run_with(
            env.cmd()
                .env("BROWSER", &script)
                .args(["connect", "--timeout", "30"]),
        );

    assert_success(&output, "connect");
    assert!(token_file(&env).exists());
}

#[test]
fn callback_through_ipv6_loopback() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let env = TestEnv::new();
    let script = env.path().join("ipv6.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nnext=$(curl -s -o /dev/null -w '%{redirect_url}' \"$1\")\nnext=$(echo \"$next\" | sed 's#//localhost:#//[::1]:#')\nexec curl -s -g -o /dev/null \"$next\"\n",
    )
    .unwrap();
    make_executable(&script);

    let output =
        env.run_with(
            env.cmd()
                .env("BROWSER", &script)
                .args(["connect", "--timeout", "30"]),
        );

    assert_success(&output, "connect over [::1]");
    assert!(token_file(&env).exists());
}

#[test]
fn listener_binds_loopback_only() {
    let env = TestEnv::new();
    let port = url::Url::parse(&env.redirect_uri).unwrap().port().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("xerosync"))
        .env("XEROSYNC_HOME", env.path())
        .env("BROWSER", "true")
        .env_remove("RUST_LOG")
        .args(["connect", "--timeout", "20"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let mut stderr_lines = BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(Ok(line)) = stderr_lines.next() {
        if line.contains("Waiting up to") {
            break;
        }
    }

    let listening = listening_addresses(port);
    child.kill().unwrap();
    let _ = child.wait();

    assert!(!listening.is_empty(), "nothing listens on port {port}");
    for address in &listening {
        assert!(
            address.is_loopback(),
            "the listener is bound to {address}, which is not loopback"
        );
    }
}

/// Local addresses in LISTEN state on `port`, read from /proc/net/tcp{,6}.
fn listening_addresses(port: u16) -> Vec<std::net::IpAddr> {
    let mut found = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state) = (fields[1], fields[3]);
            let (address, local_port) = local.split_once(':').unwrap();
            if state != "0A" || u16::from_str_radix(local_port, 16).unwrap() != port {
                continue;
            }
            let bytes: Vec<u8> = (0..address.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&address[i..i + 2], 16).unwrap())
                .collect();
            let ip = if v6 {
                let mut octets = [0u8; 16];
                for (word, chunk) in bytes.chunks(4).enumerate() {
                    for (i, byte) in chunk.iter().rev().enumerate() {
                        octets[word * 4 + i] = *byte;
                    }
                }
                std::net::IpAddr::from(octets)
            } else {
                std::net::IpAddr::from([bytes[3], bytes[2], bytes[1], bytes[0]])
            };
            found.push(ip);
        }
    }
    found
}

#[test]
fn no_browser_accepts_pasted_redirect() {
    let env = TestEnv::new();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("xerosync"))
        .env("XEROSYNC_HOME", env.path())
        .env_remove("BROWSER")
        .env_remove("RUST_LOG")
        .args(["connect", "--no-browser", "--timeout", "30"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("connect printed the address").unwrap();
        if let Some(start) = line.find("http://127.0.0.1") {
            break line[start..].trim().to_string();
        }
    };
    let redirect = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{redirect_url}", &url])
        .output()
        .unwrap();
    let redirect = String::from_utf8(redirect.stdout).unwrap();
    assert!(
        redirect.contains("code="),
        "the double did not redirect with a code: {redirect}"
    );

    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{redirect}").unwrap();
    drop(stdin);
    let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    let status = child.wait().unwrap();

    assert!(
        status.success(),
        "connect --no-browser failed: {}",
        rest.join("\n")
    );
    assert!(token_file(&env).exists());
    let joined = rest.join("\n");
    assert!(!joined.contains("sbx_"), "{joined}");
}

#[test]
fn invalid_scope_explains_fix() {
    let env = TestEnv::new();

    let output = env.run(&[
        "connect",
        "--timeout",
        "30",
        "--scopes",
        "offline_access accounting.everything",
    ]);

    assert_exit(&output, 78, "connect");
    let message = stderr(&output);
    assert!(message.contains("invalid_scope"), "{message}");
    assert!(message.contains("--scopes"), "{message}");
}

#[test]
fn status_without_connection_exits_77() {
    let env = TestEnv::new();

    let output = env.run(&["status", "--json"]);

    assert_exit(&output, 77, "status");
    assert_eq!(json(&output)["connected"], false);
}

#[test]
fn disconnect_revokes_and_deletes_tokens() {
    let env = TestEnv::new();
    env.connect();

    let output = env.run(&["disconnect"]);

    assert_success(&output, "disconnect");
    assert!(!token_file(&env).exists());
    let requests = env.xero.requests();
    assert!(
        requests.iter().any(|r| r.path == "/connect/revocation"),
        "no revocation request"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "DELETE" && r.path.starts_with("/connections/")),
        "no connection deleted"
    );
    assert_exit(&env.run(&["status"]), 77, "status after disconnect");
    env.assert_no_secrets_leaked();
}

#[test]
fn disconnect_local_only_calls_nothing() {
    let env = TestEnv::new();
    env.connect();
    env.xero.clear_requests();

    let output = env.run(&["disconnect", "--local-only"]);

    assert_success(&output, "disconnect --local-only");
    assert!(!token_file(&env).exists());
    assert!(env.xero.requests().is_empty(), "--local-only called Xero");
}

#[test]
fn verbose_logs_hold_no_secrets() {
    let env = TestEnv::new();
    let output = env.run(&["-vv", "connect", "--timeout", "30"]);
    assert_success(&output, "connect -vv");
    env.xero.expire_access_tokens();

    let output = env.run(&["-vv", "tenants"]);

    assert_success(&output, "tenants -vv");
    assert!(
        stderr(&output).contains("xero request"),
        "no request log line at -vv:\n{}",
        stderr(&output)
    );
    env.assert_no_secrets_leaked();
}

#[test]
fn keyring_unavailable_names_file_store() {
    let env = TestEnv::new();
    env.write_config("");
    let config = std::fs::read_to_string(env.config_path())
        .unwrap()
        .replace("token_store = \"file\"", "token_store = \"keyring\"");
    std::fs::write(env.config_path(), config).unwrap();

    let output = env.run_with(
        env.cmd()
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}/no-bus", env.path().display()),
            )
            .args(["status"]),
    );

    assert_exit(&output, 78, "status with no keyring");
    assert!(
        stderr(&output).contains("XEROSYNC_TOKEN_STORE=file"),
        "{}",
        stderr(&output)
    );
}

/// Runs only where CI started a real Secret Service (gnome-keyring under
/// dbus-run-session): tokens saved by one process are read by the next.
#[test]
fn keyring_persists_across_processes() {
    if std::env::var("XEROSYNC_TEST_SECRET_SERVICE").is_err() {
        eprintln!("skipped: no Secret Service (CI sets XEROSYNC_TEST_SECRET_SERVICE=1 inside dbus-run-session)");
        return;
    }
    let env = TestEnv::new();
    let config = std::fs::read_to_string(env.config_path())
        .unwrap()
        .replace("token_store = \"file\"", "token_store = \"keyring\"");
    std::fs::write(env.config_path(), config).unwrap();
    let profile = format!("kr{}", std::process::id());

    let output = env.run(&["--profile", &profile, "connect", "--timeout", "30"]);
    assert_success(&output, "connect with the keyring");
    assert!(
        !token_file(&env).exists(),
        "the keyring store wrote a token file"
    );

    let status = env.run(&["--profile", &profile, "status", "--json"]);
    assert_success(&status, "status in a second process");
    assert_eq!(json(&status)["refresh_token_stored"], true);
    assert_eq!(json(&status)["token_store"], "keyring");

    env.xero.expire_access_tokens();
    assert_success(
        &env.run(&["--profile", &profile, "tenants"]),
        "refresh through the keyring",
    );

    assert_success(
        &env.run(&["--profile", &profile, "disconnect", "--local-only"]),
        "disconnect",
    );
    assert_exit(
        &env.run(&["--profile", &profile, "status"]),
        77,
        "status after disconnect",
    );
    env.assert_no_secrets_leaked();
}

fn make_executable(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
