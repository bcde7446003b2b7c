//! The browser sign-in: authorization code with PKCE (S256) and `state`.
//!
//! Order matters: the listener is bound before the browser opens (a fast
//! redirect must find it), and the address is printed before the browser
//! is launched (so it is there when no browser starts).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope};

use crate::auth::listener::{respond, CallbackListener};
use crate::auth::oauth::{
    describe_token_error, identity_http_client, oauth_client, token_set_from_response,
};
use crate::auth::tokens::{GrantKind, TokenSet};
use crate::config::Settings;
use crate::error::{Error, Result};

/// Choice of how the sign-in address reaches the user.
pub struct BrowserChoice {
    /// Only print the address and accept the redirect URL pasted on stdin.
    pub no_browser: bool,
}

/// Finished sign-in: the new token set (not yet stored) and the browser
/// request to respond to once it is stored.
pub struct SignedIn {
    pub tokens: TokenSet,
    pub browser: Option<tiny_http::Request>,
}

impl SignedIn {
    /// Sends the browser the outcome: success, or the error that stopped the command.
    pub fn answer_browser(self, outcome: &Result<()>) {
        let Some(request) = self.browser else { return };
        match outcome {
            Ok(()) => respond(request, 200, "xerosync is now connected to Xero. You can close this tab and return to the terminal."),
            Err(err) => respond(
                request,
                500,
                &format!("Sign-in worked, but xerosync could not store the tokens: {}. You can close this tab.", err.message),
            ),
        }
    }
}

/// Runs the sign-in and returns the new token set (not yet stored).
pub async fn authorize(
    settings: &Settings,
    scopes: &[String],
    browser: BrowserChoice,
    timeout: Duration,
) -> Result<SignedIn> {
    let client_id = settings.require_client_id()?.to_string();
    let client = oauth_client(settings, &client_id, None);
    let http = identity_http_client()?;

    let listener = CallbackListener::bind(&settings.redirect_uri)?;
    tracing::debug!(addresses = ?listener.bound, "listening for the sign-in redirect");

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state) = request.url();

    eprintln!("Open this address in a browser and allow xerosync to access your Xero organisation:\n\n  {url}\n");
    if browser.no_browser {
        eprintln!(
            "When the browser shows an error page for {}, copy the whole address from its address bar, paste it here and press Enter.",
            settings.redirect_uri
        );
        listener.accept_pasted_urls();
    } else {
        open_browser(url.as_str());
    }
    eprintln!(
        "Waiting up to {} s for the sign-in to finish...",
        timeout.as_secs()
    );

    let deadline = Instant::now() + timeout;
    let waited = {
        let state = state.secret().clone();
        let timeout_secs = timeout.as_secs();
        tokio::task::spawn_blocking(move || {
            let result = listener.wait(&state, deadline, timeout_secs);
            drop(listener);
            result
        })
        .await
        .map_err(|err| Error::failed(format!("sign-in listener failed: {err}")))?
    };
    let callback = waited?;

    let exchanged = client
        .exchange_code(AuthorizationCode::new(callback.code.expose().to_string()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await;

    match exchanged {
        Ok(response) => Ok(SignedIn {
            tokens: token_set_from_response(
                &response,
                GrantKind::AuthorizationCode,
                &client_id,
                scopes,
                None,
            ),
            browser: callback.browser,
        }),
        Err(err) => {
            let error = describe_token_error(
                &err,
                "exchanging the sign-in code for tokens",
                &settings.profile_flag(),
            );
            if let Some(request) = callback.browser {
                respond(
                    request,
                    400,
                    &format!("Sign-in failed: {}. You can close this tab.", error.message),
                );
            }
            Err(error)
        }
    }
}

/// Opens the address with `$BROWSER` when set (a `:`-separated list of
/// commands, `%s` standing for the address), else with the desktop's
/// default browser. A launcher that fails only produces a warning, because
/// the address is already on the screen.
fn open_browser(url: &str) {
    if let Ok(browsers) = std::env::var("BROWSER") {
        for command in browsers.split(':').map(str::trim).filter(|c| !c.is_empty()) {
            let mut words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
            if words.iter().any(|w| w.contains("%s")) {
                words.iter_mut().for_each(|w| *w = w.replace("%s", url));
            } else {
                words.push(url.to_string());
            }
            let spawned = Command::new(&words[0])
                .args(&words[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            match spawned {
                Ok(_) => return,
                Err(err) => tracing::warn!(
                    "could not start the browser command from $BROWSER ({}): {err}",
                    words[0]
                ),
            }
        }
        eprintln!(
            "warning: no browser from $BROWSER could be started; open the address above yourself."
        );
        return;
    }
    if let Err(err) = open::that_detached(url) {
        tracing::debug!("opening the browser failed: {err}");
        eprintln!("warning: could not open a browser; open the address above yourself.");
    }
}
