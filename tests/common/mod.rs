//! Shared test harness: a temporary xerosync home, the Xero double, the real
//! binary with a hermetic environment, and a leak check over every output.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;

use assert_cmd::Command;
use tempfile::TempDir;
use xerosync::sandbox::xero::{DoubleConfig, XeroDouble};

pub const CLIENT_ID: &str = "SANDBOXCLIENT";

/// Mapping that fits the double's seeded accounts and tax rates.
pub const MAPPING: &str = r#"
[mapping]
invoice_status = "AUTHORISED"
default_account_code = "200"
[mapping.tax_types]
"25" = "OUTPUT2"
"13" = "OUTPUT"
"0" = "ZERORATEDOUTPUT"
"#;

pub struct TestEnv {
    pub home: TempDir,
    pub xero: XeroDouble,
    pub redirect_uri: String,
    outputs: Mutex<Vec<String>>,
}

/// Returns a free port for the redirect URI. Ports come from 20000-32767,
/// below Linux's ephemeral range, so a double started later on port 0
/// cannot take the same port. Each test process starts at its own offset.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 10_000) as u16;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = if port > 32_767 {
            20_000 + port % 12_000
        } else {
            port
        };
        let v4_free = TcpListener::bind(("127.0.0.1", port)).is_ok();
        let no_v6 = TcpListener::bind("[::1]:0").is_err();
        let v6_free = no_v6 || TcpListener::bind(("::1", port)).is_ok();
        if v4_free && v6_free {
            return port;
        }
    }
}

impl TestEnv {
    pub fn new() -> TestEnv {
        Self::with(|_| {})
    }

    /// Starts the double with a redirect URI on a free port; `adjust`
    /// changes the double's configuration first.
    pub fn with(adjust: impl FnOnce(&mut DoubleConfig)) -> TestEnv {
        let redirect_uri = format!("http://localhost:{}/callback", free_port());
        let mut config = DoubleConfig {
            client_id: CLIENT_ID.into(),
            redirect_uris: vec![redirect_uri.clone()],
            ..DoubleConfig::default()
        };
        adjust(&mut config);
        let xero = XeroDouble::start(config).expect("the Xero double starts");
        let env = TestEnv {
            home: tempfile::tempdir().unwrap(),
            xero,
            redirect_uri,
            outputs: Mutex::new(Vec::new()),
        };
        env.write_config("");
        env.write_browser_script();
        env
    }

    pub fn path(&self) -> &Path {
        self.home.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    /// Writes config.toml pointing at the double, plus `extra` TOML.
    pub fn write_config(&self, extra: &str) {
        let text = format!(
            "[xero]\nclient_id = \"{CLIENT_ID}\"\nredirect_uri = \"{}\"\nauthorize_url = \"{}\"\ntoken_url = \"{}\"\nrevoke_url = \"{}\"\napi_url = \"{}\"\n\n[auth]\ntoken_store = \"file\"\n{MAPPING}\n{extra}\n",
            self.redirect_uri,
            self.xero.authorize_url(),
            self.xero.token_url(),
            self.xero.revoke_url(),
            self.xero.api_url(),
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// Appends TOML to config.toml, keeping what commands wrote there.
    pub fn append_config(&self, extra: &str) {
        let mut text = std::fs::read_to_string(self.config_path()).unwrap();
        text.push('\n');
        text.push_str(extra);
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// A `$BROWSER` that plays the consenting user: it follows the sign-in
    /// address, the double redirects to the callback, curl delivers it.
    fn write_browser_script(&self) {
        let script = self.path().join("browser.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nexec curl -s -L -o /dev/null --max-time 30 \"$1\"\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    /// Builds a command for the binary with a hermetic environment.
    pub fn cmd(&self) -> Command {
        let mut command = Command::cargo_bin("xerosync").unwrap();
        for name in [
            "XERO_CLIENT_ID",
            "XERO_CLIENT_SECRET",
            "XEROSYNC_CONFIG",
            "XEROSYNC_PROFILE",
            "XEROSYNC_TOKEN_STORE",
            "XEROSYNC_NON_INTERACTIVE",
            "PRODUCTIVE_API_TOKEN",
            "RUST_LOG",
        ] {
            command.env_remove(name);
        }
        command
            .env("XEROSYNC_HOME", self.path())
            .env("HOME", self.path())
            .env("BROWSER", self.path().join("browser.sh"))
            .timeout(std::time::Duration::from_secs(120));
        command
    }

    /// Runs the binary with `args` and records its output for the leak check.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(self.cmd().args(args))
    }

    pub fn run_with(&self, command: &mut Command) -> Output {
        let output = command.output().unwrap();
        self.outputs
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&output.stdout).into_owned());
        self.outputs
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&output.stderr).into_owned());
        output
    }

    /// `xerosync connect` through the browser script; panics unless it succeeds.
    pub fn connect(&self) {
        let output = self.run(&["connect", "--timeout", "30"]);
        assert_success(&output, "connect");
    }

    /// Connects and selects the double's first tenant.
    pub fn connect_and_select(&self) {
        self.connect();
        let output = self.run(&["tenants", "--select", &self.xero.default_tenant_id()]);
        assert_success(&output, "tenants --select");
    }

    /// Collects every secret value the double received in token requests and
    /// bearer headers.
    fn secrets_seen(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        for request in self.xero.requests() {
            for (key, value) in url::form_urlencoded::parse(request.body.as_bytes()) {
                if matches!(
                    key.as_ref(),
                    "code" | "code_verifier" | "refresh_token" | "token" | "client_secret"
                ) && value.len() >= 8
                {
                    secrets.push(value.into_owned());
                }
            }
            for (name, value) in &request.headers {
                if name == "authorization" {
                    if let Some(token) = value.strip_prefix("Bearer ") {
                        secrets.push(token.to_string());
                    }
                }
            }
        }
        secrets
    }

    /// Asserts that no output so far contains a token, code, verifier or secret.
    pub fn assert_no_secrets_leaked(&self) {
        let secrets = self.secrets_seen();
        for output in self.outputs.lock().unwrap().iter() {
            for prefix in ["sbx_at_", "sbx_rt_", "sbx_code_"] {
                assert!(
                    !output.contains(prefix),
                    "output contains a token with prefix {prefix}:\n{output}"
                );
            }
            for secret in &secrets {
                assert!(
                    !output.contains(secret.as_str()),
                    "output contains a secret value:\n{output}"
                );
            }
        }
        for entry in walk(self.path()) {
            if entry.file_name().is_some_and(|n| n == "token.json") {
                continue;
            }
            let text = std::fs::read_to_string(&entry).unwrap_or_default();
            for prefix in ["sbx_at_", "sbx_rt_", "sbx_code_"] {
                assert!(
                    !text.contains(prefix),
                    "{} contains a token",
                    entry.display()
                );
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

pub fn assert_exit(output: &Output, code: i32, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: unexpected exit code\nstdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}):\n{}\nstderr:\n{}",
            stdout(output),
            stderr(output)
        )
    })
}
