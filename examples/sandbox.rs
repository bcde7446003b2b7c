//! Runs the local Xero double so that xerosync can be tried without a Xero
//! account.
//!
//! ```text
//! cargo run --example sandbox > "$XEROSYNC_HOME/config.toml"
//! xerosync connect
//! ```
//!
//! The sandbox prints a `config.toml` on stdout that points xerosync at it
//! and one instruction line on stderr. Consent is automatic: the authorize
//! endpoint redirects straight back to xerosync's callback, so any browser,
//! or `curl -sL URL`, completes `xerosync connect`. The sandbox listens on a
//! new random port each time, so save the config again after a restart. It
//! keeps its data in memory and runs until Ctrl-C; closing stdin does not
//! stop it, so it also works in the background.

use std::error::Error;

use xerosync::sandbox::xero::{DoubleConfig, XeroDouble};

fn main() -> Result<(), Box<dyn Error>> {
    let double = XeroDouble::start(DoubleConfig::default())?;

    print!("{}", double.config_toml());
    eprintln!(
        "Xero sandbox running at {}: save the config above as $XEROSYNC_HOME/config.toml, \
         run `xerosync connect`, and press Ctrl-C here to stop.",
        double.base_url()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(tokio::signal::ctrl_c())?;
    drop(double);
    eprintln!("Xero sandbox stopped.");
    Ok(())
}
