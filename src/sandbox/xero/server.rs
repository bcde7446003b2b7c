//! The HTTP side of the double: a tiny_http server with a pool of worker
//! threads, behind a loopback relay that can cut a client's connection.
//!
//! The relay exists for `FaultAction::DropAfterCommit`. tiny_http keeps a
//! connection open after a response and gives no access to the socket, so a
//! partial response would leave the client waiting for the rest. The relay
//! owns the client's socket and can shut it down, which the client sees as a
//! connection closed before the response, like a lost Xero response.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::limits::{self, Problem, Remaining};
use super::state::State;
use super::{accounting, identity, FaultAction, RecordedRequest};

/// Worker threads calling `recv()`, so that concurrent requests really
/// overlap and the concurrency limit can be measured.
const WORKER_THREADS: usize = 24;
/// How often an idle worker checks whether the double is stopping.
const WORKER_POLL: Duration = Duration::from_millis(50);

/// The state shared by all worker threads.
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub fn new(state: State) -> Shared {
        Shared {
            state: Mutex::new(state),
        }
    }

    /// Locks the state. A panic in a test helper poisons the mutex, but the
    /// state is still consistent enough to serve the test's later requests.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request as the handlers see it: path and query split, header names in
/// lower case, the body read as text.
pub(crate) struct Incoming {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Returns a query parameter, matching its name case-insensitively as
    /// Xero does (`summarizeErrors` and `SummarizeErrors` are the same).
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.into_owned())
    }

    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn wants_json(&self) -> bool {
        self.header("accept")
            .is_some_and(|accept| accept.to_ascii_lowercase().contains("application/json"))
    }
}

/// A response before it is written: status, headers and body bytes.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    pub fn text(status: u16, text: &str) -> Reply {
        Reply::new(
            status,
            "text/plain; charset=utf-8",
            text.as_bytes().to_vec(),
        )
    }

    pub fn html(status: u16, html: &str) -> Reply {
        Reply::new(status, "text/html; charset=utf-8", html.as_bytes().to_vec())
    }

    pub fn json(status: u16, value: &Value) -> Reply {
        Reply::new(
            status,
            "application/json; charset=utf-8",
            value.to_string().into_bytes(),
        )
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn redirect(location: &str) -> Reply {
        let mut reply = Reply::empty(302);
        reply.headers.push(("Location".into(), location.into()));
        reply
    }

    pub fn not_found() -> Reply {
        Reply::text(404, "The resource you're looking for cannot be found")
    }
}

/// A reply plus the tenant the request acted on, for the request log.
pub(crate) struct Handled {
    pub reply: Reply,
    pub tenant_id: Option<String>,
}

impl From<Reply> for Handled {
    fn from(reply: Reply) -> Handled {
        Handled {
            reply,
            tenant_id: None,
        }
    }
}

/// The running server: relay, tiny_http server and worker threads.
pub(crate) struct Running {
    pub address: SocketAddr,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    relay: Arc<Relay>,
}

impl Running {
    pub fn start(shared: Arc<Shared>) -> io::Result<Running> {
        let http = tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?;
        let upstream = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("tiny_http did not bind a TCP address"))?;
        let http = Arc::new(http);
        let relay = Arc::new(Relay::start(upstream)?);
        let stop = Arc::new(AtomicBool::new(false));

        let mut workers = Vec::with_capacity(WORKER_THREADS);
        for index in 0..WORKER_THREADS {
            let http = Arc::clone(&http);
            let shared = Arc::clone(&shared);
            let relay = Arc::clone(&relay);
            let stop = Arc::clone(&stop);
            let worker = thread::Builder::new()
                .name(format!("xero-double-{index}"))
                .spawn(move || run_worker(&http, &shared, &relay, &stop))?;
            workers.push(worker);
        }

        Ok(Running {
            address: relay.address,
            stop,
            workers,
            relay,
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        self.relay.stop();
    }
}

fn run_worker(http: &tiny_http::Server, shared: &Shared, relay: &Relay, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match http.recv_timeout(WORKER_POLL) {
            Ok(Some(request)) => serve(request, shared, relay),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "Xero double: accepting a connection failed"),
        }
    }
}

/// Reads, logs and responds to one request, applying the first matching
/// fault.
fn serve(mut request: tiny_http::Request, shared: &Shared, relay: &Relay) {
    let incoming = read_incoming(&mut request);
    let log_id = shared.lock().log_request(RecordedRequest {
        method: incoming.method.clone(),
        path: incoming.path.clone(),
        query: incoming.query.clone(),
        headers: incoming.headers.clone(),
        body: incoming.body.clone(),
        status: 0,
        tenant_id: None,
    });

    let fault = shared.lock().take_fault(&incoming.method, &incoming.path);
    let mut delay = None;
    let mut drop_connection = false;
    let handled = match fault {
        Some(FaultAction::Status(status)) => Handled {
            reply: maintenance_reply(status),
            tenant_id: incoming.header("xero-tenant-id").map(str::to_string),
        },
        Some(FaultAction::RateLimitMinute { retry_after_secs }) => {
            injected_rate_limit(shared, &incoming, Problem::Minute, retry_after_secs)
        }
        Some(FaultAction::RateLimitDay) => injected_rate_limit(shared, &incoming, Problem::Day, 0),
        other => {
            match other {
                Some(FaultAction::Delay(duration)) => delay = Some(duration),
                Some(FaultAction::DropAfterCommit) => drop_connection = true,
                _ => {}
            }
            route_catching_panics(shared, &incoming, delay)
        }
    };

    let Handled {
        mut reply,
        tenant_id,
    } = handled;
    shared
        .lock()
        .complete_logged_request(log_id, reply.status, tenant_id);

    if drop_connection {
        // The request has been handled and committed. The client now loses
        // the connection before any byte of the response.
        if let Some(address) = request.remote_addr().copied() {
            relay.cut(address);
        }
        return;
    }

    let correlation_id = uuid::Uuid::new_v4().to_string();
    reply
        .headers
        .push(("Xero-Correlation-Id".into(), correlation_id));
    let mut response = tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
    for (name, value) in &reply.headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    if let Err(error) = request.respond(response) {
        tracing::debug!(%error, "Xero double: writing a response failed");
    }
}

fn read_incoming(request: &mut tiny_http::Request) -> Incoming {
    let url = request.url().to_string();
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (url, String::new()),
    };
    let headers = request
        .headers()
        .iter()
        .map(|header| {
            (
                header.field.as_str().as_str().to_ascii_lowercase(),
                header.value.as_str().to_string(),
            )
        })
        .collect();
    let mut body = Vec::new();
    if let Err(error) = request.as_reader().read_to_end(&mut body) {
        tracing::debug!(%error, "Xero double: reading a request body failed");
    }
    Incoming {
        method: request.method().as_str().to_ascii_uppercase(),
        path,
        query,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Routes the request. A panic in a handler becomes a 500, as an unhandled
/// error does in Xero, and the worker thread lives on.
fn route_catching_panics(shared: &Shared, incoming: &Incoming, delay: Option<Duration>) -> Handled {
    let result = panic::catch_unwind(AssertUnwindSafe(|| route(shared, incoming, delay)));
    result.unwrap_or_else(|_| {
        tracing::error!(method = %incoming.method, path = %incoming.path, "Xero double: a handler panicked");
        Reply::text(500, "An error occurred in Xero. Check the API Status page for updates.").into()
    })
}

fn route(shared: &Shared, incoming: &Incoming, delay: Option<Duration>) -> Handled {
    if incoming.path.starts_with(accounting::PREFIX) {
        // The accounting API waits only after a call is admitted, so that a
        // delayed call counts as in flight.
        return accounting::handle(shared, incoming, delay);
    }
    if let Some(delay) = delay {
        thread::sleep(delay);
    }
    identity::handle(shared, incoming)
}

/// Builds the response of Xero's maintenance page: the status and a
/// plain-text body, with nothing done.
fn maintenance_reply(status: u16) -> Reply {
    let text = match status {
        503 => "The Xero API is currently offline for maintenance".to_string(),
        _ => format!("Injected fault: HTTP {status}"),
    };
    Reply::text(status, &text)
}

fn injected_rate_limit(
    shared: &Shared,
    incoming: &Incoming,
    problem: Problem,
    retry_after: u64,
) -> Handled {
    let tenant_id = incoming.header("xero-tenant-id").map(str::to_string);
    let now = Instant::now();
    let mut state = shared.lock();
    let config_minute = state.config.minute_window;
    let app_minute = state
        .app_minute
        .remaining(now, config_minute, limits::APP_MINUTE_LIMIT);
    let (minute_limit, day_limit) = (state.config.minute_limit, state.config.day_limit);
    let tenant = tenant_id.as_deref().and_then(|id| state.tenant_mut(id));
    let (mut minute, mut day, day_left) = match tenant {
        Some(tenant) => (
            tenant
                .limits
                .minute
                .remaining(now, config_minute, minute_limit),
            tenant.limits.day.remaining(now, limits::DAY, day_limit),
            tenant.limits.day.seconds_left(now, limits::DAY),
        ),
        None => (minute_limit, day_limit, limits::DAY.as_secs()),
    };
    let retry_after = match problem {
        Problem::Minute => {
            minute = 0;
            retry_after
        }
        _ => {
            day = 0;
            day_left
        }
    };
    let remaining = Remaining {
        minute,
        day,
        app_minute,
    };
    Handled {
        reply: limits::too_many_requests(problem, Some(retry_after), remaining),
        tenant_id,
    }
}

/// Relays loopback connections to the tiny_http server and keeps each
/// client socket, keyed by the peer address tiny_http reports for the
/// relayed connection.
struct Relay {
    address: SocketAddr,
    links: Arc<Mutex<HashMap<SocketAddr, TcpStream>>>,
    stopping: Arc<AtomicBool>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl Relay {
    fn start(upstream: SocketAddr) -> io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let links: Arc<Mutex<HashMap<SocketAddr, TcpStream>>> = Arc::default();
        let stopping = Arc::new(AtomicBool::new(false));

        let acceptor = {
            let links = Arc::clone(&links);
            let stopping = Arc::clone(&stopping);
            thread::Builder::new()
                .name("xero-double-relay".into())
                .spawn(move || {
                    for client in listener.incoming() {
                        if stopping.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(client) = client else { continue };
                        let links = Arc::clone(&links);
                        thread::spawn(move || relay_connection(client, upstream, &links));
                    }
                })?
        };

        Ok(Relay {
            address,
            links,
            stopping,
            acceptor: Mutex::new(Some(acceptor)),
        })
    }

    /// Shuts down the client socket whose upstream side has `upstream_peer`
    /// as its local address.
    fn cut(&self, upstream_peer: SocketAddr) {
        let link = self
            .links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&upstream_peer);
        if let Some(client) = link {
            let _ = client.shutdown(Shutdown::Both);
        }
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor, which is blocked in accept().
        let _ = TcpStream::connect(self.address);
        let acceptor = self
            .acceptor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(acceptor) = acceptor {
            let _ = acceptor.join();
        }
        let links = std::mem::take(&mut *self.links.lock().unwrap_or_else(PoisonError::into_inner));
        for client in links.values() {
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}

fn relay_connection(
    client: TcpStream,
    upstream: SocketAddr,
    links: &Mutex<HashMap<SocketAddr, TcpStream>>,
) {
    let Ok(upstream) = TcpStream::connect(upstream) else {
        return;
    };
    // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs add tens of
    // milliseconds to small request/response exchanges.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(key), Ok(client_for_links)) = (upstream.local_addr(), client.try_clone()) else {
        return;
    };
    links
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, client_for_links);

    let (Ok(mut client_reader), Ok(mut upstream_writer)) =
        (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let forward = thread::spawn(move || {
        let _ = io::copy(&mut client_reader, &mut upstream_writer);
        let _ = upstream_writer.shutdown(Shutdown::Write);
    });
    let (mut upstream_reader, mut client_writer) = (upstream, client);
    let _ = io::copy(&mut upstream_reader, &mut client_writer);
    let _ = client_writer.shutdown(Shutdown::Both);
    let _ = forward.join();
    let _ = upstream_reader.shutdown(Shutdown::Both);

    links
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&key);
}
