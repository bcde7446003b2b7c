//! One module per command; `run` dispatches the parsed command line.

mod connect;
mod disconnect;
mod status;
mod sync_invoices;
mod sync_payments;
mod tenants;

use std::io::IsTerminal;
use std::sync::Arc;

use clap::CommandFactory;

use crate::auth::session::Session;
use crate::cli::{Cli, Command, GlobalArgs, SyncCommand};
use crate::config::{Overrides, Settings};
use crate::error::{Error, Result};
use crate::xero::http::{Tenant, XeroClient};

/// Global options and resolved settings, passed to every command.
pub struct Context {
    pub global: GlobalArgs,
    pub settings: Settings,
}

impl Context {
    /// Returns whether prompting is allowed: not switched off and both stdin and
    /// stderr are terminals.
    pub fn interactive(&self) -> bool {
        !self.global.non_interactive
            && std::io::stdin().is_terminal()
            && std::io::stderr().is_terminal()
    }

    /// Builds a client for the selected organisation, or fails with exit 77.
    pub fn tenant_client(&self) -> Result<XeroClient> {
        let session = Session::open(&self.settings)?;
        let (id, name) = self.settings.require_tenant()?;
        XeroClient::new(
            self.settings.endpoints.api_url.clone(),
            session,
            Some(Tenant { id, name }),
        )
    }

    /// Builds a client for tenantless calls such as `/connections`.
    pub fn connection_client(&self, session: Arc<Session>) -> Result<XeroClient> {
        XeroClient::new(self.settings.endpoints.api_url.clone(), session, None)
    }
}

/// Runs the command and returns the exit code of a run that did not fail outright.
pub fn run(cli: Cli) -> Result<i32> {
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "xerosync",
            &mut std::io::stdout(),
        );
        return Ok(0);
    }

    let overrides = Overrides {
        config: cli.global.config.clone(),
        profile: cli.global.profile.clone(),
        home: None,
    };
    let settings = Settings::load(&overrides)?;
    let context = Context {
        global: cli.global.clone(),
        settings,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| Error::failed(format!("cannot start the async runtime: {err}")))?;

    runtime.block_on(async {
        match cli.command {
            Command::Connect(args) => connect::run(&context, args).await,
            Command::Status => status::run(&context).await,
            Command::Disconnect(args) => disconnect::run(&context, args).await,
            Command::Tenants(args) => tenants::run(&context, args).await,
            Command::Sync(SyncCommand::Invoices(args)) => sync_invoices::run(&context, args).await,
            Command::Sync(SyncCommand::Payments(args)) => sync_payments::run(&context, args).await,
            Command::Completions { .. } => unreachable!("handled before the settings are loaded"),
        }
    })
}

/// Prints one JSON document on stdout.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a JSON value always serializes")
    );
}
