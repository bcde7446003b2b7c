//! The whole month end on bundled sample data, against local stand-ins for
//! Xero and Productive: the real `xerosync` binary, the real code paths.
//!
//! Run with `cargo run --release --example month_end`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rust_decimal::Decimal;
use xerosync::config::Mapping;
use xerosync::productive::{read_export, ExportFormat};
use xerosync::sandbox::productive::{ProductiveDouble, ProductiveDoubleConfig};
use xerosync::sandbox::xero::{DoubleConfig, XeroDouble};

const CLIENT_ID: &str = "SANDBOXCLIENT";
const PRODUCTIVE_TOKEN: &str = "sample-productive-token";
const ORGANIZATION: &str = "12345";

fn main() {
    // When xerosync opens "the browser", it runs this example again with the
    // sign-in address: follow it the way a browser would after Allow.
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--play-user" {
        play_user(&args[2]);
        return;
    }
    if let Err(message) = run() {
        eprintln!("month_end failed: {message}");
        std::process::exit(1);
    }
}

fn play_user(url: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let result = runtime.block_on(async { reqwest::get(url).await.map(|r| r.status()) });
    if let Err(err) = result {
        eprintln!("the simulated browser could not follow the sign-in address: {err}");
    }
}

fn run() -> Result<(), String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = build_binary(manifest)?;
    let export = manifest.join("examples").join("invoices.csv");

    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let redirect_uri = format!("http://localhost:{port}/callback");
    let xero = XeroDouble::start(DoubleConfig { client_id: CLIENT_ID.into(), redirect_uris: vec![redirect_uri.clone()], ..DoubleConfig::default() })
        .map_err(|e| format!("cannot start the Xero stand-in: {e}"))?;
    let productive = ProductiveDouble::start(ProductiveDoubleConfig {
        token: PRODUCTIVE_TOKEN.into(),
        organization_id: ORGANIZATION.into(),
        ..ProductiveDoubleConfig::default()
    })
    .map_err(|e| format!("cannot start the Productive stand-in: {e}"))?;

    // Productive knows the invoices of the sample export.
    let sample = read_export(&export, ExportFormat::Csv, &Mapping::default()).map_err(|e| e.to_string())?;
    for invoice in &sample.invoices {
        productive.add_invoice(&invoice.productive_id, &invoice.number, &invoice.currency, invoice.gross);
    }

    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = format!(
        "[xero]\nclient_id = \"{CLIENT_ID}\"\nredirect_uri = \"{redirect_uri}\"\nauthorize_url = \"{}\"\ntoken_url = \"{}\"\nrevoke_url = \"{}\"\napi_url = \"{}\"\n\n\
         [auth]\ntoken_store = \"file\"\n\n[productive]\napi_url = \"{}\"\norganization_id = \"{ORGANIZATION}\"\n\n\
         [mapping]\ninvoice_status = \"AUTHORISED\"\ndefault_account_code = \"200\"\n[mapping.tax_types]\n\"25\" = \"OUTPUT2\"\n\"13\" = \"OUTPUT\"\n\"0\" = \"ZERORATEDOUTPUT\"\n",
        xero.authorize_url(),
        xero.token_url(),
        xero.revoke_url(),
        xero.api_url(),
        productive.base_url()
    );
    std::fs::write(home.path().join("config.toml"), &config).map_err(|e| e.to_string())?;

    let shell = Shell { binary, home: home.path().to_path_buf(), browser: std::env::current_exe().map_err(|e| e.to_string())? };
    say(&format!(
        "Local stand-ins: Xero at {}, Productive at {}.\nXEROSYNC_HOME={} holds the config and, after connect, the tokens (file store).",
        xero.base_url(),
        productive.base_url(),
        home.path().display()
    ));

    say("Sign in to Xero. The stand-in plays the person who clicks Allow in the browser.");
    shell.run(&["connect", "--timeout", "60"], None, 0)?;
    shell.run(&["tenants"], None, 0)?;
    shell.run(&["tenants", "--select", &xero.default_tenant_id()], None, 0)?;

    say("INV-2025-0117 was copied to Xero last month (the export marks it as exported), so it is already there.");
    let tenant = xero.default_tenant_id();
    xero.insert_existing_invoice(&tenant, "INV-2025-0117", "8f0b6c2e-4d1a-4c7e-9b55-3e2d7a91c0f4", "EUR", "6275.00".parse::<Decimal>().unwrap());

    say("Check the export and the mapping without sending anything.");
    shell.run(&["sync", "invoices", "--dry-run", "-q", export.to_str().unwrap()], None, 0)?;
    say("Month end: push the export.");
    shell.run(&["sync", "invoices", export.to_str().unwrap()], None, 0)?;
    say("Run it again: nothing is sent twice.");
    shell.run(&["sync", "invoices", "-q", export.to_str().unwrap()], None, 0)?;

    say("Store the Productive API token (read from stdin, never from the command line).");
    shell.run(&["connect", "--productive"], Some(PRODUCTIVE_TOKEN), 0)?;

    say("In Xero, the bookkeeper records two payments from the bank feed: INV-2025-0101 in full, INV-2025-0103 in part.");
    xero.add_payment(&tenant, "INV-2025-0101", "9684.38".parse().unwrap(), "2025-02-03".parse().unwrap(), "Bank transfer 0101");
    xero.add_payment(&tenant, "INV-2025-0103", "5000.00".parse().unwrap(), "2025-02-10".parse().unwrap(), "Wire 0103");

    say("The nightly cron job brings the payments back and records them in Productive.");
    shell.run(&["sync", "payments"], None, 0)?;
    say("The next night, nothing changed: one request to Xero, nothing recorded twice.");
    shell.run(&["sync", "payments"], None, 0)?;
    shell.run(&["status"], None, 0)?;

    let recorded = productive.payments().len();
    say(&format!("Productive now holds {recorded} payments recorded by xerosync. Done."));
    if recorded != 2 {
        return Err(format!("expected 2 payments in Productive, found {recorded}"));
    }
    Ok(())
}

struct Shell {
    binary: PathBuf,
    home: PathBuf,
    browser: PathBuf,
}

impl Shell {
    /// Prints the command as a user would type it, runs it, shows its output.
    fn run(&self, args: &[&str], stdin: Option<&str>, expected: i32) -> Result<(), String> {
        let shown: Vec<String> = args.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.to_string() }).collect();
        let piped = if stdin.is_some() { "printf '%s' \"$PRODUCTIVE_API_TOKEN\" | " } else { "" };
        println!("\n$ {piped}xerosync {}", shown.join(" "));

        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .env("XEROSYNC_HOME", &self.home)
            .env("BROWSER", format!("{} --play-user", self.browser.display()))
            .env_remove("XEROSYNC_CONFIG")
            .env_remove("XEROSYNC_PROFILE")
            .env_remove("XERO_CLIENT_ID")
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        let status = match stdin {
            Some(text) => {
                command.stdin(Stdio::piped());
                let mut child = command.spawn().map_err(|e| e.to_string())?;
                use std::io::Write;
                child.stdin.take().unwrap().write_all(text.as_bytes()).map_err(|e| e.to_string())?;
                child.wait().map_err(|e| e.to_string())?
            }
            None => command.stdin(Stdio::null()).status().map_err(|e| e.to_string())?,
        };
        match status.code() {
            Some(code) if code == expected => Ok(()),
            other => Err(format!("`xerosync {}` exited with {other:?}, expected {expected}", args.join(" "))),
        }
    }
}

fn say(text: &str) {
    println!("\n# {}", text.replace('\n', "\n# "));
}

/// Builds the `xerosync` binary in the profile this example was built in,
/// so the month end runs the real binary, never a stale one.
fn build_binary(manifest: &Path) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let release = exe.components().any(|c| c.as_os_str() == "release");
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(manifest).args(["build", "--quiet", "--bin", "xerosync"]);
    if release {
        command.arg("--release");
    }
    let status = command.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build --bin xerosync failed".into());
    }
    // examples/ sits one level below the profile folder.
    let profile_dir = exe.parent().and_then(Path::parent).ok_or("unexpected example path")?;
    let binary = profile_dir.join(format!("xerosync{}", std::env::consts::EXE_SUFFIX));
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!("{} was not built", binary.display()))
    }
}
