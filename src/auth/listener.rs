//! The one-shot loopback listener that catches Xero's redirect after sign-in.
//!
//! It listens only on the port of the registered `redirect_uri`. Xero matches
//! the URI exactly, so a busy port is an error, never a reason to move. It
//! binds 127.0.0.1 and, for `localhost`, also [::1], because browsers resolve
//! `localhost` to either. Requests to other paths get a 404 and the flow goes
//! on; the first request on the redirect path ends it.

use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Instant;

use url::Url;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// Input to the listener: a browser request, or a redirect URL pasted on stdin.
enum Incoming {
    Browser(tiny_http::Request),
    Pasted(String),
}

/// Successful callback: the authorization code, and the browser request to
/// respond to once the code is exchanged (none for a pasted URL).
pub struct Callback {
    pub code: Secret,
    pub browser: Option<tiny_http::Request>,
}

pub struct CallbackListener {
    servers: Vec<Arc<tiny_http::Server>>,
    incoming: Receiver<Incoming>,
    sender: Sender<Incoming>,
    redirect_uri: Url,
    pub bound: Vec<SocketAddr>,
}

impl CallbackListener {
    /// Binds the redirect URI's port on the loopback addresses it names.
    pub fn bind(redirect_uri: &Url) -> Result<CallbackListener> {
        let port = redirect_uri.port_or_known_default().unwrap_or(80);
        let addresses: Vec<IpAddr> = match redirect_uri.host() {
            Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            _ => vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
        };

        let (sender, incoming) = mpsc::channel();
        let mut servers = Vec::new();
        let mut bound = Vec::new();
        for ip in addresses {
            let address = SocketAddr::new(ip, port);
            match tiny_http::Server::http(address) {
                Ok(server) => {
                    bound.push(address);
                    servers.push(Arc::new(server));
                }
                Err(err) => {
                    let in_use = err
                        .downcast_ref::<std::io::Error>()
                        .map(|io| io.kind() == std::io::ErrorKind::AddrInUse)
                        .unwrap_or(false);
                    if in_use {
                        return Err(Error::failed(format!(
                            "port {port} on {ip} is already in use by another program, and xerosync must catch the sign-in redirect there \
                             because Xero only redirects to the registered address {redirect_uri}. Close the other program \
                             (`ss -ltnp 'sport = :{port}'` shows it) and run `xerosync connect` again, or register another \
                             redirect URI at developer.xero.com and set it as redirect_uri under [xero]"
                        )));
                    }
                    // [::1] is missing on hosts without IPv6; 127.0.0.1 is enough there.
                    if ip.is_ipv6() && !servers.is_empty() {
                        tracing::debug!(%address, "IPv6 loopback not available: {err}");
                        continue;
                    }
                    return Err(Error::failed(format!(
                        "cannot listen on {address} for the sign-in redirect: {err}"
                    )));
                }
            }
        }

        for server in &servers {
            let server = Arc::clone(server);
            let sender = sender.clone();
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    if sender.send(Incoming::Browser(request)).is_err() {
                        break;
                    }
                }
            });
        }

        Ok(CallbackListener {
            servers,
            incoming,
            sender,
            redirect_uri: redirect_uri.clone(),
            bound,
        })
    }

    /// Also accepts the final redirect URL pasted on stdin (for `--no-browser`).
    pub fn accept_pasted_urls(&self) {
        let sender = self.sender.clone();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let Ok(line) = line else { break };
                let line = line.trim().to_string();
                if line.is_empty() {
                    continue;
                }
                if sender.send(Incoming::Pasted(line)).is_err() {
                    break;
                }
            }
        });
    }

    /// Waits for the callback until `deadline`. A callback whose `state` does
    /// not match, or that carries `error=...`, ends the flow with an error.
    pub fn wait(
        &self,
        expected_state: &str,
        deadline: Instant,
        timeout_secs: u64,
    ) -> Result<Callback> {
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let incoming = match self.incoming.recv_timeout(remaining) {
                Ok(incoming) => incoming,
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::failed(format!(
                        "no sign-in arrived within {timeout_secs} s; run `xerosync connect` again and finish the sign-in in the browser \
                         (use --timeout SECS to wait longer)"
                    )))
                }
            };

            match incoming {
                Incoming::Browser(request) => {
                    let Ok(url) = Url::parse(&format!("http://localhost{}", request.url())) else {
                        respond(request, 400, "Bad request.");
                        continue;
                    };
                    if url.path() != self.redirect_uri.path() {
                        tracing::debug!(
                            path = url.path(),
                            "ignoring a request that is not the sign-in redirect"
                        );
                        respond(
                            request,
                            404,
                            "Not found. xerosync is waiting for the Xero sign-in redirect.",
                        );
                        continue;
                    }
                    match parse_callback(&url, expected_state) {
                        Ok(code) => {
                            return Ok(Callback {
                                code,
                                browser: Some(request),
                            })
                        }
                        Err(err) => {
                            respond(
                                request,
                                400,
                                &format!(
                                    "Sign-in failed: {}. You can close this tab.",
                                    err.message
                                ),
                            );
                            return Err(err);
                        }
                    }
                }
                Incoming::Pasted(text) => {
                    let Ok(url) = Url::parse(&text) else {
                        eprintln!("That is not an address. Paste the whole address from the browser's address bar (it starts with {}).", self.redirect_uri);
                        continue;
                    };
                    return parse_callback(&url, expected_state).map(|code| Callback {
                        code,
                        browser: None,
                    });
                }
            }
        }
    }
}

impl Drop for CallbackListener {
    fn drop(&mut self) {
        for server in &self.servers {
            server.unblock();
        }
    }
}

/// Checks `state` and `error`, and returns the code.
fn parse_callback(url: &Url, expected_state: &str) -> Result<Secret> {
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "code" => code = Some(value.into_owned()),
            "state" => state = Some(value.into_owned()),
            "error" => error = Some(value.into_owned()),
            "error_description" => description = Some(value.into_owned()),
            _ => {}
        }
    }

    if let Some(error) = error {
        let detail = description.map(|d| format!(" ({d})")).unwrap_or_default();
        return Err(match error.as_str() {
            "access_denied" => Error::failed("the sign-in was cancelled: access to Xero was denied in the browser. Run `xerosync connect` again and choose Allow access"),
            "invalid_scope" => Error::config(format!(
                "Xero rejected the requested scopes (invalid_scope){detail}. Set the scopes your Xero app may use with `--scopes \"...\"` or `scopes` under [xero]; \
                 apps created since March 2026 must use granular scopes such as accounting.invoices"
            )),
            other => Error::failed(format!("Xero ended the sign-in with error \"{other}\"{detail}; run `xerosync connect` again")),
        });
    }
    if state.as_deref() != Some(expected_state) {
        return Err(Error::failed(
            "the sign-in redirect carried a missing or wrong state value, so it may not come from the sign-in xerosync started; \
             nothing was stored. Run `xerosync connect` again and use only the address it prints",
        ));
    }
    code.filter(|c| !c.is_empty())
        .map(Secret::new)
        .ok_or_else(|| {
            Error::failed(
                "the sign-in redirect has no authorization code; run `xerosync connect` again",
            )
        })
}

/// Sends the browser a short page.
pub fn respond(request: tiny_http::Request, status: u16, message: &str) {
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>xerosync</title></head>\
         <body style=\"font-family: sans-serif; margin: 3em\"><h1>xerosync</h1><p>{}</p></body></html>",
        html_escape(message)
    );
    let header = tiny_http::Header::from_bytes("Content-Type", "text/html; charset=utf-8")
        .expect("static header is valid");
    let response = tiny_http::Response::from_string(page)
        .with_status_code(status)
        .with_header(header);
    if let Err(err) = request.respond(response) {
        tracing::debug!("sending the page to the browser failed: {err}");
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_with_wrong_state_rejected() {
        let url = Url::parse("http://localhost:8910/callback?code=abc&state=other").unwrap();
        let err = parse_callback(&url, "expected").unwrap_err();
        assert!(err.message.contains("state"), "{}", err.message);
    }

    #[test]
    fn callback_with_denial_explains() {
        let url = Url::parse("http://localhost:8910/callback?error=access_denied&state=s").unwrap();
        let err = parse_callback(&url, "s").unwrap_err();
        assert!(err.message.contains("denied"), "{}", err.message);
    }

    #[test]
    fn callback_with_matching_state_returns_code() {
        let url = Url::parse("http://localhost:8910/callback?code=abc&state=s").unwrap();
        assert_eq!(parse_callback(&url, "s").unwrap().expose(), "abc");
    }
}
