//! The local sync state of one profile and organisation: which Productive
//! documents were pushed (and their Xero ids), remembered contacts, the
//! payments watermark and the payments already recorded in Productive.
//!
//! The state is written atomically after every step that changes Xero or
//! Productive, so a kill at any moment loses at most the step in flight. The
//! next run recognises that step: by invoice number in Xero, and by
//! `external_id` in Productive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{io_error, Error, Result};
use crate::fsutil::write_atomic;

const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushedDocument {
    pub number: String,
    /// `invoice` or `credit_note`.
    pub kind: String,
    pub xero_id: String,
    pub pushed_at: DateTime<Utc>,
    pub currency: String,
    pub total: Decimal,
    /// Xero status seen by the last payments run (`None` until then).
    #[serde(default)]
    pub last_status: Option<String>,
    /// Xero's figures and payments as the last payments run saw them, so a
    /// document fetched again (the watermark overlaps) is only reported
    /// when something about it changed.
    #[serde(default)]
    pub last_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedPayment {
    pub xero_invoice_id: String,
    pub productive_invoice_id: String,
    pub productive_payment_id: String,
    pub amount: Decimal,
    pub date: NaiveDate,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncState {
    pub version: u32,
    pub tenant_id: String,
    /// Productive client id → Xero ContactID.
    #[serde(default)]
    pub contacts: BTreeMap<String, String>,
    /// Productive document id → what was pushed.
    #[serde(default)]
    pub documents: BTreeMap<String, PushedDocument>,
    /// Highest `UpdatedDateUTC` seen by the last successful payments run.
    #[serde(default)]
    pub payments_watermark: Option<DateTime<Utc>>,
    /// Xero PaymentID → the Productive payment that records it.
    #[serde(default)]
    pub recorded_payments: BTreeMap<String, RecordedPayment>,
    #[serde(default)]
    pub last_invoices_sync: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_payments_sync: Option<DateTime<Utc>>,
}

impl SyncState {
    pub fn new(tenant_id: &str) -> Self {
        SyncState {
            version: STATE_VERSION,
            tenant_id: tenant_id.to_string(),
            contacts: BTreeMap::new(),
            documents: BTreeMap::new(),
            payments_watermark: None,
            recorded_payments: BTreeMap::new(),
            last_invoices_sync: None,
            last_payments_sync: None,
        }
    }

    /// Returns the state file of an organisation. There is one per tenant, so
    /// selecting another organisation never mixes their records.
    pub fn path(profile_dir: &Path, tenant_id: &str) -> PathBuf {
        let safe: String = tenant_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        profile_dir.join(format!("state-{safe}.json"))
    }

    pub fn load(profile_dir: &Path, tenant_id: &str) -> Result<SyncState> {
        let path = Self::path(profile_dir, tenant_id);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let state: SyncState = serde_json::from_str(&text).map_err(|err| {
                    Error::failed(format!(
                        "sync state {} is damaged ({err}); restore it from a backup, or move it away to start over \
                         (invoices already in Xero are still recognised by number)",
                        path.display()
                    ))
                })?;
                if state.version > STATE_VERSION {
                    return Err(Error::failed(format!(
                        "sync state {} was written by a newer xerosync (format {}); upgrade xerosync",
                        path.display(),
                        state.version
                    )));
                }
                Ok(state)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(SyncState::new(tenant_id)),
            Err(err) => Err(io_error("cannot read sync state", &path, err)),
        }
    }

    pub fn save(&self, profile_dir: &Path) -> Result<()> {
        let path = Self::path(profile_dir, &self.tenant_id);
        let text = serde_json::to_string_pretty(self).expect("sync state always serializes");
        write_atomic(&path, text.as_bytes(), Some(0o600))
    }
}
