//! The HTTP side of the double: an HTTP/1.1 server with one thread per
//! client connection.
//!
//! The double serves connections itself instead of through tiny_http.
//! tiny_http 0.12.0 hands each new connection to a thread pool that decides
//! whether to start a thread from its count of idle threads
//! (`TaskPool::spawn`), and a thread it has just woken stays in that count
//! until it runs. So when several connections arrive at once, one can be
//! queued with no thread to read it, and it waits until another keep-alive
//! connection closes. A client that opens five connections for five
//! concurrent calls then has one call time out. Owning the socket also lets
//! `FaultAction::DropAfterCommit` close a connection before any byte of the
//! response, like a lost Xero response.

use std::collections::HashMap;
use std::io::{self, BufReader};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http1::{self, ReadError};
use super::limits::{self, Problem, Remaining};
use super::state::State;
use super::{accounting, identity, FaultAction, RecordedRequest};

/// The state shared by all connection threads.
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

/// The running server: a thread accepting connections on 127.0.0.1 and one
/// thread per open connection.
pub(crate) struct Running {
    pub address: SocketAddr,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    connections: Arc<Connections>,
}

impl Running {
    pub fn start(shared: Arc<Shared>) -> io::Result<Running> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Connections::default());

        let acceptor = {
            let stopping = Arc::clone(&stopping);
            let connections = Arc::clone(&connections);
            thread::Builder::new()
                .name("xero-double-accept".into())
                .spawn(move || accept_connections(&listener, &shared, &connections, &stopping))?
        };

        Ok(Running {
            address,
            stopping,
            acceptor: Some(acceptor),
            connections,
        })
    }
}

impl Drop for Running {
    /// Stops accepting connections and waits for the open ones to end. A
    /// request being handled still gets its response.
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor, which is blocked in accept().
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.connections.close_all();
    }
}

/// The open client connections, so that stopping the double can end them.
#[derive(Default)]
struct Connections {
    open: Mutex<HashMap<u64, TcpStream>>,
    /// Notified whenever a connection is removed from `open`.
    removed: Condvar,
    next_id: AtomicU64,
}

impl Connections {
    fn open(&self) -> MutexGuard<'_, HashMap<u64, TcpStream>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, stream: &TcpStream) -> io::Result<u64> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.open().insert(id, stream.try_clone()?);
        Ok(id)
    }

    fn remove(&self, id: u64) {
        self.open().remove(&id);
        self.removed.notify_all();
    }

    /// Shuts down the read side of every connection and waits until their
    /// threads have ended. A thread waiting for the next request then reads
    /// end of file, and a thread handling a request writes the response
    /// before it reads end of file.
    fn close_all(&self) {
        let mut open = self.open();
        for stream in open.values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
        while !open.is_empty() {
            open = self
                .removed
                .wait(open)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Removes a connection from `Connections` when its thread ends, even by a
/// panic, so that stopping the double does not wait for it.
struct Registration {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.connections.remove(self.id);
    }
}

fn accept_connections(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    connections: &Arc<Connections>,
    stopping: &AtomicBool,
) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "Xero double: accepting a connection failed");
                continue;
            }
        };
        let id = match connections.add(&stream) {
            Ok(id) => id,
            Err(error) => {
                tracing::warn!(%error, "Xero double: registering a connection failed");
                continue;
            }
        };
        let shared = Arc::clone(shared);
        let registration = Registration {
            connections: Arc::clone(connections),
            id,
        };
        let spawned = thread::Builder::new()
            .name(format!("xero-double-connection-{id}"))
            .spawn(move || {
                let _registration = registration;
                serve_connection(stream, &shared);
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "Xero double: starting a connection thread failed");
        }
    }
}

/// Serves the requests of one connection in order until the client closes
/// it or sends `Connection: close`, a request is malformed or a fault cuts
/// the connection.
fn serve_connection(stream: TcpStream, shared: &Shared) {
    // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs add tens of
    // milliseconds to small request/response exchanges.
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let mut reader = match stream.try_clone() {
        Ok(stream) => BufReader::new(stream),
        Err(error) => {
            tracing::warn!(%error, ?peer, "Xero double: cloning a connection failed");
            return;
        }
    };
    let mut writer = stream;

    loop {
        let request = match http1::read_request(&mut reader, &mut writer) {
            Ok(request) => request,
            Err(ReadError::Closed) => break,
            Err(ReadError::Io(error)) => {
                tracing::debug!(%error, ?peer, "Xero double: reading a request failed");
                break;
            }
            Err(ReadError::Rejected(reply)) => {
                tracing::debug!(
                    status = reply.status,
                    ?peer,
                    "Xero double: rejected a malformed request"
                );
                let _ = http1::write_reply(&mut writer, &reply, "", false);
                break;
            }
        };

        let method = request.incoming.method.clone();
        let Some(reply) = serve(request.incoming, shared) else {
            // The request has been handled and committed. The client now
            // loses the connection before any byte of the response.
            break;
        };
        if let Err(error) = http1::write_reply(&mut writer, &reply, &method, request.keep_alive) {
            tracing::debug!(%error, ?peer, "Xero double: writing a response failed");
            break;
        }
        if !request.keep_alive {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// Logs and handles one request, applying the first matching fault.
/// Returns the response, or `None` when a fault cuts the connection.
fn serve(incoming: Incoming, shared: &Shared) -> Option<Reply> {
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
        return None;
    }
    let correlation_id = uuid::Uuid::new_v4().to_string();
    reply
        .headers
        .push(("Xero-Correlation-Id".into(), correlation_id));
    Some(reply)
}

/// Routes the request. A panic in a handler becomes a 500, as an unhandled
/// error does in Xero, and the connection thread lives on.
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
