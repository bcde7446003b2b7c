//! `xerosync disconnect`: revoke at Xero, remove the connection, delete tokens.

use crate::auth::oauth::identity_http_client;
use crate::auth::session::Session;
use crate::auth::store::open_store;
use crate::auth::tokens::{load_token_set, xero_key, GrantKind};
use crate::cli::DisconnectArgs;
use crate::commands::Context;
use crate::error::{Error, Result};
use crate::xero::api;

pub async fn run(context: &Context, args: DisconnectArgs) -> Result<i32> {
    let settings = &context.settings;
    let store = open_store(settings.token_store, settings.profile_dir());
    let Some(tokens) = load_token_set(store.as_ref(), &settings.profile)? else {
        if !context.global.quiet {
            eprintln!(
                "Profile \"{}\" has no stored Xero tokens; nothing to disconnect.",
                settings.profile
            );
        }
        return Ok(0);
    };

    if !args.local_only {
        let session = Session::with_tokens(
            settings,
            open_store(settings.token_store, settings.profile_dir()),
            tokens.clone(),
        )?;
        let client = context.connection_client(session)?;

        // Remove the selected organisation's connection first: it needs a
        // working access token, which revoking the grant ends.
        if let Some(tenant_id) = &settings.profile_section.tenant_id {
            match api::list_connections(&client).await {
                Ok(connections) => {
                    if let Some(connection) = connections.iter().find(|c| &c.tenant_id == tenant_id) {
                        api::delete_connection(&client, &connection.id).await?;
                    }
                }
                Err(err) if err.kind == crate::error::Kind::NotConnected => {
                    tracing::info!("the connection is already gone at Xero: {err}");
                }
                Err(err) => return Err(err.context("removing the organisation's connection at Xero (use --local-only to skip Xero)")),
            }
        }

        let current = client.session().snapshot().await;
        if current.grant == GrantKind::AuthorizationCode {
            if let Some(refresh_token) = &current.refresh_token {
                // Xero's revocation endpoint takes the refresh token in a form
                // (RFC 7009). The request is built here because the oauth2
                // crate rejects a revocation URL without https.
                let form = [
                    ("token", refresh_token.expose()),
                    ("token_type_hint", "refresh_token"),
                    ("client_id", current.client_id.as_str()),
                ];
                let response = identity_http_client()?
                    .post(settings.endpoints.revoke_url.clone())
                    .form(&form)
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status().is_success() => {}
                    Ok(response) => {
                        return Err(Error::temporary(format!(
                            "Xero's revocation endpoint returned HTTP {}; the tokens are still stored. Run again later, or use --local-only to delete them here only",
                            response.status().as_u16()
                        )))
                    }
                    Err(err) => {
                        return Err(Error::temporary(format!(
                            "revoking the refresh token at Xero failed ({}); the tokens are still stored. Run again later, or use --local-only to delete them here only",
                            crate::xero::http::describe_reqwest_error(&err)
                        )))
                    }
                }
            }
        }
    }

    store.delete(&xero_key(&settings.profile))?;
    if !context.global.quiet {
        let remote = if args.local_only {
            ""
        } else {
            "revoked xerosync's access at Xero and "
        };
        eprintln!("Disconnected profile \"{}\": {remote}deleted the stored Xero tokens (a stored Productive token is kept).", settings.profile);
    }
    Ok(0)
}
