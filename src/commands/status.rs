//! `xerosync status`: profile, connection, token store and last syncs.

use chrono::SecondsFormat;
use serde_json::json;

use crate::auth::store::open_store;
use crate::auth::tokens::{load_token_set, GrantKind};
use crate::commands::{print_json, Context};
use crate::error::Result;
use crate::sync::state::SyncState;

pub async fn run(context: &Context) -> Result<i32> {
    let settings = &context.settings;
    let store = open_store(settings.token_store, settings.profile_dir());
    let tokens = load_token_set(store.as_ref(), &settings.profile)?;
    let tenant = settings.profile_section.tenant_id.as_ref().map(|id| {
        (
            id.clone(),
            settings
                .profile_section
                .tenant_name
                .clone()
                .unwrap_or_default(),
        )
    });
    let state = match &tenant {
        Some((id, _)) => Some(SyncState::load(&settings.profile_dir(), id)?),
        None => None,
    };
    let connected = tokens.is_some();
    let productive_token = std::env::var("PRODUCTIVE_API_TOKEN")
        .is_ok_and(|t| !t.trim().is_empty())
        || crate::auth::tokens::load_productive_token(store.as_ref(), &settings.profile)?.is_some();
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
    };

    if context.global.json {
        print_json(&json!({
            "profile": settings.profile,
            "connected": connected,
            "connection_type": tokens.as_ref().map(|t| match t.grant { GrantKind::AuthorizationCode => "oauth", GrantKind::CustomConnection => "custom_connection" }),
            "tenant": tenant.as_ref().map(|(id, name)| json!({ "id": id, "name": name })),
            "scopes": tokens.as_ref().map(|t| t.scopes.clone()).unwrap_or_default(),
            "access_token_expires_at": time(tokens.as_ref().and_then(|t| t.access_token_expires_at)),
            "refresh_token_stored": tokens.as_ref().map(|t| t.refresh_token.is_some()).unwrap_or(false),
            "productive_token_stored": productive_token,
            "token_store": settings.token_store.name(),
            "config_file": settings.config_path.display().to_string(),
            "last_sync": {
                "invoices": time(state.as_ref().and_then(|s| s.last_invoices_sync)),
                "payments": time(state.as_ref().and_then(|s| s.last_payments_sync)),
            },
        }));
    } else if !context.global.quiet {
        println!("Profile:        {}", settings.profile);
        println!("Config file:    {}", settings.config_path.display());
        println!("Token store:    {}", settings.token_store.name());
        match &tokens {
            None => println!(
                "Connection:     not connected (run `xerosync connect{}`)",
                settings.profile_flag()
            ),
            Some(tokens) => {
                let kind = match tokens.grant {
                    GrantKind::AuthorizationCode => "connected (browser sign-in)",
                    GrantKind::CustomConnection => "connected (Custom Connection)",
                };
                println!("Connection:     {kind}");
                println!("Scopes:         {}", tokens.scopes.join(" "));
                let expiry = tokens
                    .access_token_expires_at
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                    .unwrap_or_else(|| "-".into());
                println!("Access token:   expires {expiry} (renewed automatically)");
                println!(
                    "Refresh token:  {}",
                    if tokens.refresh_token.is_some() {
                        "stored"
                    } else {
                        "none"
                    }
                );
            }
        }
        match &tenant {
            Some((id, name)) => println!("Organisation:   {name} ({id})"),
            None => println!(
                "Organisation:   none selected (run `xerosync tenants --select NAME{}`)",
                settings.profile_flag()
            ),
        }
        println!(
            "Productive:     {}",
            match (&settings.productive, productive_token) {
                (None, _) => "not configured (no [productive] section)".to_string(),
                (Some(p), true) => format!("organization {}, API token stored", p.organization_id),
                (Some(p), false) => format!(
                    "organization {}, no API token (run `xerosync connect --productive`)",
                    p.organization_id
                ),
            }
        );
        let show =
            |t: Option<chrono::DateTime<chrono::Utc>>| time(t).unwrap_or_else(|| "never".into());
        println!(
            "Last invoices:  {}",
            show(state.as_ref().and_then(|s| s.last_invoices_sync))
        );
        println!(
            "Last payments:  {}",
            show(state.as_ref().and_then(|s| s.last_payments_sync))
        );
    }

    Ok(if connected { 0 } else { 77 })
}
