//! Shared by the examples that drive the real `xerosync` binary against the
//! local stand-ins: building the binary, a temporary home with a config
//! pointing at the stand-ins, and a simulated browser.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use xerosync::sandbox::productive::{ProductiveDouble, ProductiveDoubleConfig};
use xerosync::sandbox::xero::{DoubleConfig, XeroDouble};

pub const CLIENT_ID: &str = "SANDBOXCLIENT";
pub const PRODUCTIVE_TOKEN: &str = "sample-productive-token";
pub const ORGANIZATION: &str = "12345";

/// Handles `--play-user URL`: when xerosync opens "the browser", it runs the
/// example again with the sign-in address, which is followed the way a
/// browser would after the person clicks Allow. Returns true when handled.
pub fn play_user_if_asked() -> bool {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 || args[1] != "--play-user" {
        return false;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    if let Err(err) = runtime.block_on(reqwest::get(&args[2])) {
        eprintln!("the simulated browser could not follow the sign-in address: {err}");
    }
    true
}

/// Both stand-ins and a temporary xerosync home configured for them.
pub struct Sandbox {
    pub xero: XeroDouble,
    pub productive: ProductiveDouble,
    pub home: tempfile::TempDir,
    pub binary: PathBuf,
}

impl Sandbox {
    pub fn start(adjust: impl FnOnce(&mut DoubleConfig)) -> Result<Sandbox, String> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let binary = build_binary(manifest)?;

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let redirect_uri = format!("http://localhost:{port}/callback");
        let mut config = DoubleConfig {
            client_id: CLIENT_ID.into(),
            redirect_uris: vec![redirect_uri.clone()],
            ..DoubleConfig::default()
        };
        adjust(&mut config);
        let xero = XeroDouble::start(config)
            .map_err(|e| format!("cannot start the Xero stand-in: {e}"))?;
        let productive = ProductiveDouble::start(ProductiveDoubleConfig {
            token: PRODUCTIVE_TOKEN.into(),
            organization_id: ORGANIZATION.into(),
            ..ProductiveDoubleConfig::default()
        })
        .map_err(|e| format!("cannot start the Productive stand-in: {e}"))?;

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
        Ok(Sandbox {
            xero,
            productive,
            home,
            binary,
        })
    }

    /// Builds a command for the binary with this sandbox's home and simulated browser.
    pub fn command(&self, args: &[&str]) -> Result<Command, String> {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .env("XEROSYNC_HOME", self.home.path())
            .env(
                "BROWSER",
                format!(
                    "{} --play-user",
                    std::env::current_exe()
                        .map_err(|e| e.to_string())?
                        .display()
                ),
            )
            .env_remove("XEROSYNC_CONFIG")
            .env_remove("XEROSYNC_PROFILE")
            .env_remove("XERO_CLIENT_ID")
            .env_remove("RUST_LOG");
        Ok(command)
    }

    /// Prints the command as a user would type it, runs it with its output
    /// on the terminal, and checks the exit code.
    pub fn show(&self, args: &[&str], stdin: Option<&str>, expected: i32) -> Result<(), String> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    a.to_string()
                }
            })
            .collect();
        let piped = if stdin.is_some() {
            "printf '%s' \"$PRODUCTIVE_API_TOKEN\" | "
        } else {
            ""
        };
        println!("\n$ {piped}xerosync {}", shown.join(" "));

        let mut command = self.command(args)?;
        command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        let status = run_with_stdin(&mut command, stdin)?.status;
        match status.code() {
            Some(code) if code == expected => Ok(()),
            other => Err(format!(
                "`xerosync {}` exited with {other:?}, expected {expected}",
                args.join(" ")
            )),
        }
    }

    /// Runs the command quietly and returns its output, checking the exit code.
    pub fn quiet(&self, args: &[&str], stdin: Option<&str>) -> Result<Output, String> {
        let mut command = self.command(args)?;
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let output = run_with_stdin(&mut command, stdin)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(format!(
                "`xerosync {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

/// Runs the command with `stdin` written to its standard input (or with
/// none), and waits for it.
fn run_with_stdin(command: &mut Command, stdin: Option<&str>) -> Result<Output, String> {
    let Some(text) = stdin else {
        return command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string());
    };
    command.stdin(Stdio::piped());
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    child.wait_with_output().map_err(|e| e.to_string())
}

/// Builds the `xerosync` binary in the profile this example was built in,
/// so the examples run the real binary, never a stale one.
pub fn build_binary(manifest: &Path) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let release = exe.components().any(|c| c.as_os_str() == "release");
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(manifest)
        .args(["build", "--quiet", "--bin", "xerosync"]);
    if release {
        command.arg("--release");
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build --bin xerosync failed".into());
    }
    // examples/ sits one level below the profile folder.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("unexpected example path")?;
    let binary = profile_dir.join(format!("xerosync{}", std::env::consts::EXE_SUFFIX));
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!("{} was not built", binary.display()))
    }
}
