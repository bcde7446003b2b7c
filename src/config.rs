//! Configuration: the one place that resolves command-line flag, environment,
//! config file and default, in that order, and where every file lives.
//!
//! Secrets never come from here: tokens and API keys live in the token store.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::error::{io_error, Error, Result};

pub const DEFAULT_REDIRECT_URI: &str = "http://localhost:8910/callback";
pub const DEFAULT_SCOPES: &str = "offline_access accounting.invoices accounting.contacts accounting.settings.read accounting.payments.read";
pub const DEFAULT_AUTHORIZE_URL: &str = "https://login.xero.com/identity/connect/authorize";
pub const DEFAULT_TOKEN_URL: &str = "https://identity.xero.com/connect/token";
pub const DEFAULT_REVOKE_URL: &str = "https://identity.xero.com/connect/revocation";
pub const DEFAULT_API_URL: &str = "https://api.xero.com";
pub const DEFAULT_PRODUCTIVE_API_URL: &str = "https://api.productive.io/api/v2";

/// The config file as written by the user. Unknown keys are rejected so a
/// typo is reported instead of silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub xero: XeroSection,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub productive: Option<ProductiveSection>,
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileSection>,
    #[serde(default)]
    pub mapping: Mapping,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XeroSection {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scopes: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub revoke_url: Option<String>,
    pub api_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    pub token_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductiveSection {
    pub api_url: Option<String>,
    pub organization_id: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSection {
    pub tenant_id: Option<String>,
    pub tenant_name: Option<String>,
}

/// Mapping of Productive data to Xero data (`[mapping]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// `AUTHORISED` or `DRAFT`.
    #[serde(default = "default_invoice_status")]
    pub invoice_status: String,
    /// Xero account code for lines whose service type has no entry in `accounts`.
    pub default_account_code: Option<String>,
    /// `Exclusive` or `Inclusive`: whether export unit prices exclude tax.
    #[serde(default = "default_line_amount_types")]
    pub line_amount_types: String,
    /// Days after the issue date used as the due date when the export has none.
    pub due_days: Option<u32>,
    /// Source of Xero's Reference: `subject`, `po_number`, `number` or `none`.
    #[serde(default = "default_reference")]
    pub reference: String,
    /// Xero BrandingThemeID put on every invoice and credit note.
    pub branding_theme_id: Option<String>,
    /// Client field matched against Xero's ContactNumber: `client_code`, `client_id` or `none`.
    #[serde(default = "default_contact_number")]
    pub contact_number: String,
    /// Productive service type name to Xero account code.
    #[serde(default)]
    pub accounts: BTreeMap<String, String>,
    /// Productive tax rate (percent like `"25"`, or the tax rate name) to Xero TaxType.
    #[serde(default)]
    pub tax_types: BTreeMap<String, String>,
    /// Header name in the user's CSV export to the standard column name.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
}

fn default_invoice_status() -> String {
    "AUTHORISED".into()
}
fn default_line_amount_types() -> String {
    "Exclusive".into()
}
fn default_reference() -> String {
    "subject".into()
}
fn default_contact_number() -> String {
    "none".into()
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            invoice_status: default_invoice_status(),
            default_account_code: None,
            line_amount_types: default_line_amount_types(),
            due_days: None,
            reference: default_reference(),
            branding_theme_id: None,
            contact_number: default_contact_number(),
            accounts: BTreeMap::new(),
            tax_types: BTreeMap::new(),
            columns: BTreeMap::new(),
        }
    }
}

impl Mapping {
    /// Looks up the Xero TaxType for a line: by tax rate name first, then by
    /// percent compared as a number (`"25"` matches `25.00`).
    pub fn tax_type_for(&self, name: Option<&str>, percent: rust_decimal::Decimal) -> Option<&str> {
        if let Some(name) = name {
            if let Some(found) = self.tax_types.get(name.trim()) {
                return Some(found);
            }
        }
        self.tax_types.iter().find_map(|(key, value)| {
            let parsed: rust_decimal::Decimal = key.trim().trim_end_matches('%').parse().ok()?;
            (parsed.normalize() == percent.normalize()).then_some(value.as_str())
        })
    }

    /// Looks up the Xero account code for a service type, falling back to the default.
    pub fn account_for(&self, service_type: Option<&str>) -> Option<&str> {
        service_type
            .and_then(|name| self.accounts.get(name.trim()))
            .or(self.default_account_code.as_ref())
            .map(String::as_str)
    }

    fn check(&self, path: &Path) -> Result<()> {
        let file = path.display();
        if !matches!(self.invoice_status.as_str(), "AUTHORISED" | "DRAFT") {
            return Err(Error::config(format!(
                "{file}: mapping.invoice_status is \"{}\"; set it to \"AUTHORISED\" or \"DRAFT\"",
                self.invoice_status
            )));
        }
        if !matches!(self.line_amount_types.as_str(), "Exclusive" | "Inclusive") {
            return Err(Error::config(format!(
                "{file}: mapping.line_amount_types is \"{}\"; set it to \"Exclusive\" or \"Inclusive\"",
                self.line_amount_types
            )));
        }
        if !matches!(
            self.reference.as_str(),
            "subject" | "po_number" | "number" | "none"
        ) {
            return Err(Error::config(format!(
                "{file}: mapping.reference is \"{}\"; set it to \"subject\", \"po_number\", \"number\" or \"none\"",
                self.reference
            )));
        }
        if !matches!(
            self.contact_number.as_str(),
            "client_code" | "client_id" | "none"
        ) {
            return Err(Error::config(format!(
                "{file}: mapping.contact_number is \"{}\"; set it to \"client_code\", \"client_id\" or \"none\"",
                self.contact_number
            )));
        }
        Ok(())
    }
}

/// Token store that keeps the secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStoreKind {
    Keyring,
    File,
}

impl TokenStoreKind {
    pub fn name(self) -> &'static str {
        match self {
            TokenStoreKind::Keyring => "keyring",
            TokenStoreKind::File => "file",
        }
    }
}

/// Values given on the command line that override environment and file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub profile: Option<String>,
    /// Stands for `XEROSYNC_HOME` (library callers and tests).
    pub home: Option<PathBuf>,
}

/// Xero endpoints after validation.
#[derive(Debug, Clone)]
pub struct XeroEndpoints {
    pub authorize_url: Url,
    pub token_url: Url,
    pub revoke_url: Url,
    pub api_url: Url,
}

/// Everything a command needs to know, resolved once.
#[derive(Debug)]
pub struct Settings {
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub profile: String,
    pub client_id: Option<String>,
    pub redirect_uri: Url,
    pub scopes: String,
    pub endpoints: XeroEndpoints,
    pub token_store: TokenStoreKind,
    pub productive: Option<ProductiveSettings>,
    pub profile_section: ProfileSection,
    /// Profiles that have a `[profiles.NAME]` section in the config file.
    pub known_profiles: Vec<String>,
    pub mapping: Mapping,
}

#[derive(Debug, Clone)]
pub struct ProductiveSettings {
    pub api_url: Url,
    pub organization_id: String,
}

impl Settings {
    /// Resolves settings: command-line flag, then environment, then config
    /// file, then default. A missing config file is fine; a broken one is not.
    pub fn load(overrides: &Overrides) -> Result<Settings> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());

        let home = overrides
            .home
            .clone()
            .or_else(|| env("XEROSYNC_HOME").map(PathBuf::from));
        let config_path = match (&overrides.config, env("XEROSYNC_CONFIG"), &home) {
            (Some(path), _, _) => path.clone(),
            (None, Some(path), _) => PathBuf::from(path),
            (None, None, Some(home)) => home.join("config.toml"),
            (None, None, None) => dirs::config_dir()
                .ok_or_else(|| Error::config("cannot find the user's config folder; set XEROSYNC_HOME to a folder xerosync may use"))?
                .join("xerosync")
                .join("config.toml"),
        };
        let data_dir = match &home {
            Some(home) => home.clone(),
            None => dirs::data_dir()
                .ok_or_else(|| Error::config("cannot find the user's data folder; set XEROSYNC_HOME to a folder xerosync may use"))?
                .join("xerosync"),
        };

        let explicit = overrides.config.is_some() || env("XEROSYNC_CONFIG").is_some();
        if explicit && !config_path.exists() {
            return Err(Error::config(format!(
                "config file {} (from --config or XEROSYNC_CONFIG) does not exist; check the path, or leave the option out to use the default",
                config_path.display()
            )));
        }
        let file = read_config_file(&config_path)?;
        let path = config_path.display().to_string();

        let profile = overrides
            .profile
            .clone()
            .or_else(|| env("XEROSYNC_PROFILE"))
            .unwrap_or_else(|| "default".into());
        check_profile_name(&profile)?;

        let client_id = env("XERO_CLIENT_ID")
            .or(file.xero.client_id.clone())
            .filter(|id| !id.trim().is_empty());
        let redirect_uri = parse_endpoint(
            &path,
            "xero.redirect_uri",
            file.xero
                .redirect_uri
                .as_deref()
                .unwrap_or(DEFAULT_REDIRECT_URI),
        )?;
        if redirect_uri.scheme() != "http" || !is_loopback_url(&redirect_uri) {
            return Err(Error::config(format!(
                "{path}: xero.redirect_uri \"{redirect_uri}\" must be a loopback http address such as {DEFAULT_REDIRECT_URI}, because xerosync catches the redirect on this machine"
            )));
        }
        if redirect_uri.port().is_none() {
            return Err(Error::config(format!(
                "{path}: xero.redirect_uri \"{redirect_uri}\" has no port; write the port registered with Xero, such as {DEFAULT_REDIRECT_URI}"
            )));
        }
        let scopes = file
            .xero
            .scopes
            .clone()
            .unwrap_or_else(|| DEFAULT_SCOPES.into());
        let endpoints = XeroEndpoints {
            authorize_url: parse_endpoint(
                &path,
                "xero.authorize_url",
                file.xero
                    .authorize_url
                    .as_deref()
                    .unwrap_or(DEFAULT_AUTHORIZE_URL),
            )?,
            token_url: parse_endpoint(
                &path,
                "xero.token_url",
                file.xero.token_url.as_deref().unwrap_or(DEFAULT_TOKEN_URL),
            )?,
            revoke_url: parse_endpoint(
                &path,
                "xero.revoke_url",
                file.xero
                    .revoke_url
                    .as_deref()
                    .unwrap_or(DEFAULT_REVOKE_URL),
            )?,
            api_url: parse_endpoint(
                &path,
                "xero.api_url",
                file.xero.api_url.as_deref().unwrap_or(DEFAULT_API_URL),
            )?,
        };

        let token_store = match env("XEROSYNC_TOKEN_STORE").or(file.auth.token_store.clone()).as_deref() {
            None | Some("keyring") => TokenStoreKind::Keyring,
            Some("file") => TokenStoreKind::File,
            Some(other) => {
                return Err(Error::config(format!(
                    "token store \"{other}\" (from XEROSYNC_TOKEN_STORE or auth.token_store in {path}) is unknown; use \"keyring\" or \"file\""
                )))
            }
        };

        let productive = match &file.productive {
            None => None,
            Some(section) => {
                let api_url = parse_endpoint(
                    &path,
                    "productive.api_url",
                    section
                        .api_url
                        .as_deref()
                        .unwrap_or(DEFAULT_PRODUCTIVE_API_URL),
                )?;
                let organization_id = section.organization_id.clone().filter(|id| !id.trim().is_empty()).ok_or_else(|| {
                    Error::config(format!("{path}: productive.organization_id is missing; copy it from Productive's Settings → API integrations"))
                })?;
                Some(ProductiveSettings {
                    api_url,
                    organization_id,
                })
            }
        };

        file.mapping.check(&config_path)?;
        let profile_section = file.profiles.get(&profile).cloned().unwrap_or_default();
        let known_profiles = file.profiles.keys().cloned().collect();

        Ok(Settings {
            config_path,
            data_dir,
            profile,
            client_id,
            redirect_uri,
            scopes,
            endpoints,
            token_store,
            productive,
            profile_section,
            known_profiles,
            mapping: file.mapping,
        })
    }

    /// Returns the folder of this profile's token file, sync state and locks.
    pub fn profile_dir(&self) -> PathBuf {
        self.data_dir.join("profiles").join(&self.profile)
    }

    /// Returns the client id, or a config error that names where to set it.
    pub fn require_client_id(&self) -> Result<&str> {
        self.client_id.as_deref().ok_or_else(|| {
            Error::config(format!(
                "no Xero client id is set; put client_id under [xero] in {} or set XERO_CLIENT_ID (the README explains how to register a Xero app)",
                self.config_path.display()
            ))
        })
    }

    /// Returns the selected tenant, or fails with exit 77 asking the user to pick one.
    pub fn require_tenant(&self) -> Result<(String, String)> {
        match (&self.profile_section.tenant_id, &self.profile_section.tenant_name) {
            (Some(id), name) => Ok((id.clone(), name.clone().unwrap_or_else(|| id.clone()))),
            (None, _) if !self.known_profiles.contains(&self.profile) && self.profile != "default" => Err(Error::not_connected(format!(
                "profile \"{}\" is not in {} (known profiles: {}); check the spelling, or set it up with `xerosync connect --profile {}`",
                self.profile,
                self.config_path.display(),
                if self.known_profiles.is_empty() { "none".to_string() } else { self.known_profiles.join(", ") },
                self.profile
            ))),
            (None, _) => Err(Error::not_connected(format!(
                "profile \"{}\" has no Xero organisation selected; run `xerosync tenants --select NAME{}`",
                self.profile,
                self.profile_flag()
            ))),
        }
    }

    /// ` --profile NAME` for messages, empty for the default profile.
    pub fn profile_flag(&self) -> String {
        if self.profile == "default" {
            String::new()
        } else {
            format!(" --profile {}", self.profile)
        }
    }
}

fn read_config_file(path: &Path) -> Result<ConfigFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(err) => {
            return Err(io_error("cannot read config file", path, err)
                .with_kind(crate::error::Kind::Config))
        }
    };
    toml::from_str(&text).map_err(|err| {
        Error::config(format!(
            "config file {} is invalid: {}",
            path.display(),
            err.to_string().trim_end()
        ))
    })
}

fn check_profile_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Error::config(format!(
            "profile name \"{name}\" is invalid; use letters, digits, '-' and '_' only (at most 64)"
        )))
    }
}

/// Parses an endpoint URL: https anywhere, plain http only on a loopback host.
fn parse_endpoint(file: &str, key: &str, value: &str) -> Result<Url> {
    let url = Url::parse(value).map_err(|err| {
        Error::config(format!(
            "{file}: {key} \"{value}\" is not a valid URL ({err})"
        ))
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback_url(&url) => Ok(url),
        "http" => Err(Error::config(format!(
            "{file}: {key} \"{value}\" uses plain http on a host that is not this machine; use https (plain http is accepted only for 127.0.0.1, localhost and [::1])"
        ))),
        other => Err(Error::config(format!("{file}: {key} \"{value}\" has scheme \"{other}\"; use https"))),
    }
}

pub fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Stores the selected tenant of `profile` in the config file, keeping the
/// user's comments and layout, and replacing the file atomically.
pub fn save_tenant(
    config_path: &Path,
    profile: &str,
    tenant_id: &str,
    tenant_name: &str,
) -> Result<()> {
    let text = match std::fs::read_to_string(config_path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(io_error("cannot read config file", config_path, err)),
    };
    let mut document: toml_edit::DocumentMut = text.parse().map_err(|err| {
        Error::config(format!(
            "config file {} is invalid: {err}",
            config_path.display()
        ))
    })?;

    let profiles = document.entry("profiles").or_insert_with(|| {
        let mut table = toml_edit::Table::new();
        table.set_implicit(true);
        toml_edit::Item::Table(table)
    });
    let profiles = profiles.as_table_mut().ok_or_else(|| {
        Error::config(format!(
            "{}: `profiles` must be a table",
            config_path.display()
        ))
    })?;
    let entry = profiles
        .entry(profile)
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    let table = entry.as_table_mut().ok_or_else(|| {
        Error::config(format!(
            "{}: `profiles.{profile}` must be a table",
            config_path.display()
        ))
    })?;
    table["tenant_id"] = toml_edit::value(tenant_id);
    table["tenant_name"] = toml_edit::value(tenant_name);

    crate::fsutil::write_atomic(config_path, document.to_string().as_bytes(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_endpoint_allowed_on_loopback_only() {
        assert!(parse_endpoint("c.toml", "xero.api_url", "http://127.0.0.1:9000").is_ok());
        assert!(parse_endpoint("c.toml", "xero.api_url", "http://localhost:9000").is_ok());
        assert!(parse_endpoint("c.toml", "xero.api_url", "http://[::1]:9000").is_ok());
        let err = parse_endpoint("c.toml", "xero.api_url", "http://api.example:9000").unwrap_err();
        assert_eq!(err.exit_code(), 78);
        assert!(err.message.contains("xero.api_url"), "{}", err.message);
    }

    #[test]
    fn unknown_key_named_in_error() {
        let err = toml::from_str::<ConfigFile>("[xero]\nclient_idd = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("client_idd"), "{err}");
    }

    #[test]
    fn tax_type_matches_percent_as_number() {
        let mut mapping = Mapping::default();
        mapping.tax_types.insert("25".into(), "OUTPUT2".into());
        mapping
            .tax_types
            .insert("Export 0%".into(), "ZERORATEDOUTPUT".into());
        assert_eq!(
            mapping.tax_type_for(Some("PDV 25%"), "25.00".parse().unwrap()),
            Some("OUTPUT2")
        );
        assert_eq!(
            mapping.tax_type_for(Some("Export 0%"), "0".parse().unwrap()),
            Some("ZERORATEDOUTPUT")
        );
        assert_eq!(mapping.tax_type_for(None, "13".parse().unwrap()), None);
    }
}
