//! `xerosync connect`: browser sign-in, Custom Connection, or storing the
//! Productive API token.

use std::io::BufRead;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::auth::connect::{authorize, BrowserChoice, SignedIn};
use crate::auth::oauth::{self, describe_token_error, oauth_client};
use crate::auth::session::Session;
use crate::auth::store::open_store;
use crate::auth::tokens::{productive_key, save_token_set, GrantKind, TokenSet};
use crate::cli::ConnectArgs;
use crate::commands::{print_json, Context};
use crate::config::save_tenant;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::xero::api;

pub async fn run(context: &Context, args: ConnectArgs) -> Result<i32> {
    if args.productive {
        return store_productive_token(context);
    }

    let settings = &context.settings;
    let scope_text = args
        .scopes
        .clone()
        .unwrap_or_else(|| settings.scopes.clone());
    let scopes: Vec<String> = scope_text.split_whitespace().map(str::to_string).collect();
    if scopes.is_empty() && !args.custom_connection {
        return Err(Error::usage("--scopes is empty; give the Xero scopes separated by spaces, such as \"offline_access accounting.invoices\""));
    }

    // Reach the token store before the sign-in, so a locked or missing
    // keyring is reported before the user goes through the browser.
    if !args.custom_connection {
        settings.require_client_id()?;
    }

    // A locked collection may still list entries, so probe with a write.
    let store = open_store(settings.token_store, settings.profile_dir());
    let probe = format!("probe:{}", settings.profile);
    store.save(&probe, "xerosync checks that it can store tokens here")?;
    store.delete(&probe)?;

    let signed_in = if args.custom_connection {
        SignedIn {
            tokens: custom_connection_tokens(context).await?,
            browser: None,
        }
    } else {
        if !scopes.iter().any(|s| s == "offline_access") {
            eprintln!("warning: the scopes lack offline_access, so Xero issues no refresh token and the connection ends after 30 minutes.");
        }
        let browser = BrowserChoice {
            no_browser: args.no_browser,
        };
        authorize(
            settings,
            &scopes,
            browser,
            Duration::from_secs(args.timeout),
        )
        .await?
    };

    let saved = save_token_set(store.as_ref(), &settings.profile, &signed_in.tokens);
    let tokens = signed_in.tokens.clone();
    signed_in.answer_browser(&saved);
    saved?;

    let session = Session::with_tokens(
        settings,
        open_store(settings.token_store, settings.profile_dir()),
        tokens.clone(),
    )?;
    let client = context.connection_client(session)?;
    let connections = api::list_connections(&client).await?;
    let organisations: Vec<_> = connections
        .iter()
        .filter(|c| c.tenant_type.eq_ignore_ascii_case("ORGANISATION") || c.tenant_type.is_empty())
        .collect();

    let current = settings.profile_section.tenant_id.as_deref();
    let selected = match organisations.as_slice() {
        [only] => {
            save_tenant(
                &settings.config_path,
                &settings.profile,
                &only.tenant_id,
                &only.tenant_name,
            )?;
            Some((*only).clone())
        }
        several if current.is_some_and(|id| several.iter().any(|c| c.tenant_id == id)) => several
            .iter()
            .find(|c| Some(c.tenant_id.as_str()) == current)
            .map(|c| (*c).clone()),
        [] => None,
        several if context.interactive() && !context.global.json => {
            let owned: Vec<_> = several.iter().map(|c| (*c).clone()).collect();
            let chosen = crate::commands::tenants::choose_interactively(&owned)?;
            save_tenant(
                &settings.config_path,
                &settings.profile,
                &chosen.tenant_id,
                &chosen.tenant_name,
            )?;
            Some(chosen)
        }
        _ => None,
    };

    if context.global.json {
        print_json(&json!({
            "profile": settings.profile,
            "connected": true,
            "token_store": store.kind_name(),
            "scopes": tokens.scopes,
            "tenants": connections.iter().map(|c| json!({"tenant_id": c.tenant_id, "name": c.tenant_name, "type": c.tenant_type})).collect::<Vec<_>>(),
            "selected": selected.as_ref().map(|c| json!({"id": c.tenant_id, "name": c.tenant_name})),
        }));
    } else if !context.global.quiet {
        eprintln!(
            "Connected profile \"{}\" to Xero; tokens are kept in the {} store.",
            settings.profile,
            store.kind_name()
        );
        match (&selected, organisations.len()) {
            (Some(chosen), _) => eprintln!("Organisation: {} ({})", chosen.tenant_name, chosen.tenant_id),
            (None, 0) => eprintln!("warning: the sign-in reached no Xero organisation; run `xerosync connect` again and allow access to one."),
            (None, _) => eprintln!(
                "The sign-in reached {} organisations; choose one with `xerosync tenants --select NAME{}` (`xerosync tenants` lists them).",
                organisations.len(),
                settings.profile_flag()
            ),
        }
    }
    Ok(0)
}

/// Custom Connection: the client secret comes from `XERO_CLIENT_SECRET` or
/// stdin, never from the command line, and is kept in the token store.
async fn custom_connection_tokens(context: &Context) -> Result<TokenSet> {
    let settings = &context.settings;
    let client_id = settings.require_client_id()?.to_string();
    let secret = match std::env::var("XERO_CLIENT_SECRET")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        Some(secret) => Secret::new(secret.trim().to_string()),
        None => read_secret(
            context,
            "Xero client secret of the Custom Connection",
            "XERO_CLIENT_SECRET",
        )?,
    };

    let client = oauth_client(settings, &client_id, Some(&secret));
    let http = oauth::identity_http_client()?;
    let response = oauth::client_credentials(&client, &http, &[])
        .await
        .map_err(|err| {
            describe_token_error(
                &err,
                "getting a Custom Connection access token",
                &settings.profile_flag(),
            )
        })?;
    let previous = TokenSet {
        grant: GrantKind::CustomConnection,
        client_id: client_id.clone(),
        access_token: None,
        access_token_expires_at: None,
        refresh_token: None,
        client_secret: Some(secret),
        scopes: Vec::new(),
        updated_at: Utc::now(),
    };
    Ok(oauth::token_set_from_response(
        &response,
        GrantKind::CustomConnection,
        &client_id,
        &[],
        Some(&previous),
    ))
}

/// `connect --productive`: stores the Productive API token read from stdin.
fn store_productive_token(context: &Context) -> Result<i32> {
    let settings = &context.settings;
    let token = read_secret(
        context,
        "Productive API token (Productive: Settings → API integrations)",
        "PRODUCTIVE_API_TOKEN",
    )?;
    let store = open_store(settings.token_store, settings.profile_dir());
    store.save(&productive_key(&settings.profile), token.expose())?;
    if !context.global.quiet {
        eprintln!(
            "Stored the Productive API token for profile \"{}\" in the {} store.",
            settings.profile,
            store.kind_name()
        );
        if settings.productive.is_none() {
            eprintln!(
                "Next: add a [productive] section with organization_id to {} so `xerosync sync payments` records payments in Productive.",
                settings.config_path.display()
            );
        }
    }
    Ok(0)
}

/// Reads a secret with a hidden prompt on a terminal, else one line from stdin.
fn read_secret(context: &Context, what: &str, env_name: &str) -> Result<Secret> {
    let value = if context.interactive() {
        dialoguer::Password::new()
            .with_prompt(format!("Paste the {what}"))
            .interact()
            .map_err(|err| {
                Error::failed(format!("cannot read the {what} from the terminal: {err}"))
            })?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|err| Error::failed(format!("cannot read the {what} from stdin: {err}")))?;
        line
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(Error::usage(format!(
            "no {what} was given; pipe it on stdin (for example `xerosync connect ... < secret-file`) or set {env_name}. It is never accepted on the command line"
        )));
    }
    Ok(Secret::new(value))
}
