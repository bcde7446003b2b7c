//! Everything the double remembers, behind one mutex: grants and tokens,
//! tenant connections, each tenant's books and limits, injected faults and
//! the request log.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::books::Books;
use super::limits::{TenantLimits, Window};
use super::{Consent, DoubleConfig, Fault, RecordedRequest, TenantSeed};

pub(crate) struct State {
    pub config: DoubleConfig,
    pub consent: Consent,
    /// Added to the wall clock for every timestamp the double writes into data.
    pub clock_offset: chrono::Duration,
    pub auth: AuthState,
    pub connections: Vec<Connection>,
    pub tenants: Vec<Tenant>,
    pub faults: Vec<Fault>,
    pub requests: Vec<LoggedRequest>,
    pub next_request_id: u64,
    pub pkce_failures: usize,
    /// Calls of the whole app across tenants (`X-AppMinLimit-Remaining`).
    pub app_minute: Window,
}

pub(crate) struct LoggedRequest {
    pub id: u64,
    pub request: RecordedRequest,
}

pub(crate) struct Tenant {
    pub seed: TenantSeed,
    pub limits: TenantLimits,
    pub books: Books,
}

/// Owner of a connection. Users connect through the PKCE consent, while a
/// custom connection is set up once in Xero and used with client
/// credentials.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ConnectionOwner {
    User,
    CustomConnection,
}

pub(crate) struct Connection {
    pub id: String,
    pub tenant_id: String,
    pub auth_event_id: String,
    pub owner: ConnectionOwner,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

#[derive(Default)]
pub(crate) struct AuthState {
    pub codes: HashMap<String, AuthCode>,
    pub grants: HashMap<String, Grant>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
}

pub(crate) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scopes: Vec<String>,
    pub auth_event_id: String,
    pub issued: Instant,
    pub used: bool,
}

pub(crate) struct Grant {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub owner: ConnectionOwner,
    pub revoked: bool,
}

pub(crate) struct AccessToken {
    pub grant_id: String,
    pub expires: Instant,
    pub expires_wall: DateTime<Utc>,
}

pub(crate) struct RefreshToken {
    pub grant_id: String,
    /// When this token was first exchanged for a new one. It stays usable for
    /// `refresh_grace` after that.
    pub rotated: Option<Instant>,
    pub last_used: Instant,
    pub revoked: bool,
}

impl State {
    pub fn new(config: DoubleConfig) -> State {
        let tenants = config
            .tenants
            .iter()
            .map(|seed| Tenant {
                seed: seed.clone(),
                limits: TenantLimits::default(),
                books: Books::seeded(),
            })
            .collect();
        let mut state = State {
            consent: config.consent.clone(),
            config,
            clock_offset: chrono::Duration::zero(),
            auth: AuthState::default(),
            connections: Vec::new(),
            tenants,
            faults: Vec::new(),
            requests: Vec::new(),
            next_request_id: 0,
            pkce_failures: 0,
            app_minute: Window::default(),
        };
        // A custom connection is authorised in Xero before the app ever requests
        // a token, so its connection exists from the start.
        if let Some((_, _, tenant_id)) = state.config.custom_connection.clone() {
            let auth_event_id = uuid::Uuid::new_v4().to_string();
            state.connect_tenant(
                &tenant_id,
                &auth_event_id,
                ConnectionOwner::CustomConnection,
            );
        }
        state
    }

    /// Returns the double's current time for data timestamps such as
    /// `UpdatedDateUTC`.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    pub fn tenant(&self, tenant_id: &str) -> Option<&Tenant> {
        self.tenants
            .iter()
            .find(|tenant| tenant.seed.tenant_id == tenant_id)
    }

    pub fn tenant_mut(&mut self, tenant_id: &str) -> Option<&mut Tenant> {
        self.tenants
            .iter_mut()
            .find(|tenant| tenant.seed.tenant_id == tenant_id)
    }

    /// Creates the connection of `owner` to a tenant, or refreshes its
    /// `updatedDateUtc` and `authEventId` when it already exists, as a
    /// repeated Xero consent does.
    pub fn connect_tenant(&mut self, tenant_id: &str, auth_event_id: &str, owner: ConnectionOwner) {
        let now = Utc::now();
        let existing = self
            .connections
            .iter_mut()
            .find(|connection| connection.tenant_id == tenant_id && connection.owner == owner);
        match existing {
            Some(connection) => {
                connection.updated = now;
                connection.auth_event_id = auth_event_id.to_string();
            }
            None => self.connections.push(Connection {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: tenant_id.to_string(),
                auth_event_id: auth_event_id.to_string(),
                owner,
                created: now,
                updated: now,
            }),
        }
    }

    pub fn is_connected(&self, tenant_id: &str, owner: ConnectionOwner) -> bool {
        self.connections
            .iter()
            .any(|connection| connection.tenant_id == tenant_id && connection.owner == owner)
    }

    /// Appends a request to the log and returns its id so that the status can
    /// be filled in once the response is known.
    pub fn log_request(&mut self, request: RecordedRequest) -> u64 {
        self.next_request_id += 1;
        let id = self.next_request_id;
        self.requests.push(LoggedRequest { id, request });
        id
    }

    pub fn complete_logged_request(&mut self, id: u64, status: u16, tenant_id: Option<String>) {
        if let Some(logged) = self
            .requests
            .iter_mut()
            .rev()
            .find(|logged| logged.id == id)
        {
            logged.request.status = status;
            logged.request.tenant_id = tenant_id;
        }
    }

    /// Takes one use of the first injected fault that matches the request.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<super::FaultAction> {
        let index = self.faults.iter().position(|fault| {
            let method_matches = fault
                .method
                .as_deref()
                .is_none_or(|expected| expected.eq_ignore_ascii_case(method));
            method_matches && path.starts_with(&fault.path_prefix)
        })?;
        let fault = &mut self.faults[index];
        let action = fault.action.clone();
        fault.times = fault.times.saturating_sub(1);
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(action)
    }
}
