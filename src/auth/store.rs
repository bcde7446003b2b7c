//! Token stores: the OS keyring (default) and a 0600 file for headless servers.
//!
//! A store keeps one JSON document per key. Keys are `xero:<profile>` for
//! the Xero token set and `productive:<profile>` for the Productive API token.
//! Windows Credential Manager stores at most 2,560 bytes per entry, less than
//! a Xero token set, so keyring documents are split into chunks that fit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use crate::config::TokenStoreKind;
use crate::error::{io_error, Error, Result};
use crate::fsutil::write_atomic;

/// Keyring service name under which every entry is stored.
pub const KEYRING_SERVICE: &str = "xerosync";

/// A keyring call that takes longer than this is abandoned: a Secret Service
/// with a locked collection can wait forever for an unlock prompt.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(5);

/// Chunk size in bytes. Windows Credential Manager allows 2,560 bytes per
/// entry and may store the text as UTF-16, so chunks stay under half of that.
const CHUNK_BYTES: usize = 1200;

/// Storage for secrets: one document per key, loaded, saved and deleted whole.
pub trait TokenStore: Send + Sync {
    fn kind_name(&self) -> &'static str;
    fn load(&self, key: &str) -> Result<Option<String>>;
    fn save(&self, key: &str, document: &str) -> Result<()>;
    fn delete(&self, key: &str) -> Result<()>;
}

/// Opens the store the settings chose. Never falls back from keyring to file.
pub fn open_store(kind: TokenStoreKind, profile_dir: PathBuf) -> Box<dyn TokenStore> {
    match kind {
        TokenStoreKind::Keyring => Box::new(ChunkedStore::new(KeyringBackend)),
        TokenStoreKind::File => Box::new(FileStore { dir: profile_dir }),
    }
}

/// The `file` store: one JSON object of key → document in `token.json`,
/// mode 0600, replaced atomically.
pub struct FileStore {
    pub dir: PathBuf,
}

impl FileStore {
    fn path(&self) -> PathBuf {
        self.dir.join("token.json")
    }

    fn read_all(&self) -> Result<BTreeMap<String, String>> {
        let path = self.path();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|err| {
                Error::not_connected(format!(
                    "token file {} is damaged ({err}); delete it and run `xerosync connect` again",
                    path.display()
                ))
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(err) => Err(io_error("cannot read token file", &path, err)),
        }
    }

    fn write_all(&self, entries: &BTreeMap<String, String>) -> Result<()> {
        let path = self.path();
        if entries.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    Err(io_error("cannot delete token file", &path, err))
                }
                _ => Ok(()),
            };
        }
        let text =
            serde_json::to_string_pretty(entries).expect("a map of strings always serializes");
        write_atomic(&path, text.as_bytes(), Some(0o600))
    }
}

impl TokenStore for FileStore {
    fn kind_name(&self) -> &'static str {
        "file"
    }

    fn load(&self, key: &str) -> Result<Option<String>> {
        Ok(self.read_all()?.remove(key))
    }

    fn save(&self, key: &str, document: &str) -> Result<()> {
        let mut entries = self.read_all()?;
        entries.insert(key.to_string(), document.to_string());
        self.write_all(&entries)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let mut entries = self.read_all()?;
        if entries.remove(key).is_some() {
            self.write_all(&entries)?;
        }
        Ok(())
    }
}

/// One entry of a secret store with a size limit per entry.
pub trait SecretBackend: Send + Sync + 'static {
    fn get(&self, entry: &str) -> Result<Option<String>>;
    fn set(&self, entry: &str, value: &str) -> Result<()>;
    fn remove(&self, entry: &str) -> Result<()>;
}

/// Splits documents into chunks of at most [`CHUNK_BYTES`]. The head entry
/// contains `chunks:G:N`, and entries `KEY#G.1`..`KEY#G.N` contain the parts
/// of generation G. A document that fits is stored whole in the head entry.
///
/// A save writes the parts of a new generation first and the head last, then
/// removes the old parts. A crash before the head is written leaves the old
/// head and the old parts, a consistent (older) document.
pub struct ChunkedStore<B: SecretBackend> {
    backend: B,
}

impl<B: SecretBackend> ChunkedStore<B> {
    pub fn new(backend: B) -> Self {
        ChunkedStore { backend }
    }

    /// Parses a head entry into (generation, part count).
    fn parse_head(head: &str) -> Option<(u64, usize)> {
        let rest = head.strip_prefix("chunks:")?;
        let (generation, count) = rest.split_once(':')?;
        Some((generation.parse().ok()?, count.parse().ok()?))
    }

    fn part_name(key: &str, generation: u64, index: usize) -> String {
        format!("{key}#{generation}.{index}")
    }

    fn remove_parts(&self, key: &str, head: Option<(u64, usize)>) -> Result<()> {
        if let Some((generation, count)) = head {
            for index in 1..=count {
                self.backend
                    .remove(&Self::part_name(key, generation, index))?;
            }
        }
        Ok(())
    }
}

impl<B: SecretBackend> TokenStore for ChunkedStore<B> {
    fn kind_name(&self) -> &'static str {
        "keyring"
    }

    fn load(&self, key: &str) -> Result<Option<String>> {
        let Some(head) = self.backend.get(key)? else {
            return Ok(None);
        };
        let Some((generation, count)) = Self::parse_head(&head) else {
            return Ok(Some(head));
        };

        let mut document = String::new();
        for index in 1..=count {
            let part = self.backend.get(&Self::part_name(key, generation, index))?.ok_or_else(|| {
                Error::not_connected(format!(
                    "the keyring entry {KEYRING_SERVICE}/{key} is incomplete (part {index} of {count} is missing); run `xerosync connect` again"
                ))
            })?;
            document.push_str(&part);
        }
        Ok(Some(document))
    }

    fn save(&self, key: &str, document: &str) -> Result<()> {
        let old = self.backend.get(key)?.as_deref().and_then(Self::parse_head);

        let parts = split_utf8(document, CHUNK_BYTES);
        if parts.len() <= 1 {
            self.backend.set(key, document)?;
        } else {
            let generation = old.map(|(generation, _)| generation + 1).unwrap_or(1);
            for (index, part) in parts.iter().enumerate() {
                self.backend
                    .set(&Self::part_name(key, generation, index + 1), part)?;
            }
            self.backend
                .set(key, &format!("chunks:{generation}:{}", parts.len()))?;
        }
        self.remove_parts(key, old)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let head = self.backend.get(key)?.as_deref().and_then(Self::parse_head);
        self.backend.remove(key)?;
        self.remove_parts(key, head)
    }
}

/// Splits `text` into pieces of at most `max_bytes`, never inside a character.
fn split_utf8(text: &str, max_bytes: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > max_bytes {
        let mut cut = max_bytes;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts.push(rest);
    parts
}

/// The OS keyring through the `keyring` crate: macOS Keychain, Windows
/// Credential Manager, or the Secret Service on Linux and the BSDs.
pub struct KeyringBackend;

impl KeyringBackend {
    /// Runs one keyring call on its own thread and gives up after
    /// [`KEYRING_TIMEOUT`], because a Secret Service without a session bus or
    /// with a locked collection can block indefinitely.
    fn call<T: Send + 'static>(
        entry: &str,
        operation: impl FnOnce(keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<T> {
        let name = entry.to_string();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let result = keyring::Entry::new(KEYRING_SERVICE, &name).and_then(operation);
            let _ = sender.send(result);
        });
        match receiver.recv_timeout(KEYRING_TIMEOUT) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(keyring_unavailable(&err.to_string())),
            Err(_) => Err(keyring_unavailable(&format!(
                "no answer within {} s (is the keyring locked, or is there no D-Bus session?)",
                KEYRING_TIMEOUT.as_secs()
            ))),
        }
    }
}

fn keyring_unavailable(detail: &str) -> Error {
    Error::config(format!(
        "the OS keyring is not available: {detail}. On a server without a keyring set XEROSYNC_TOKEN_STORE=file \
         (or token_store = \"file\" under [auth]) to keep tokens in a file readable only by you, then run `xerosync connect` again"
    ))
}

impl SecretBackend for KeyringBackend {
    fn get(&self, entry: &str) -> Result<Option<String>> {
        Self::call(entry, |entry| match entry.get_password() {
            Ok(value) => Ok(Some(value)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(err),
        })
    }

    fn set(&self, entry: &str, value: &str) -> Result<()> {
        let value = value.to_string();
        Self::call(entry, move |entry| entry.set_password(&value))
    }

    fn remove(&self, entry: &str) -> Result<()> {
        Self::call(entry, |entry| match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(err),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An in-memory backend that rejects entries over Windows Credential
    /// Manager's 2,560-byte limit, counting UTF-16 bytes as Windows stores them.
    #[derive(Default)]
    struct LimitedBackend {
        entries: Mutex<BTreeMap<String, String>>,
    }

    impl SecretBackend for LimitedBackend {
        fn get(&self, entry: &str) -> Result<Option<String>> {
            Ok(self.entries.lock().unwrap().get(entry).cloned())
        }

        fn set(&self, entry: &str, value: &str) -> Result<()> {
            let utf16_bytes = value.encode_utf16().count() * 2;
            if utf16_bytes > 2560 {
                return Err(Error::failed(format!(
                    "entry {entry} has {utf16_bytes} bytes, over 2560"
                )));
            }
            self.entries
                .lock()
                .unwrap()
                .insert(entry.into(), value.into());
            Ok(())
        }

        fn remove(&self, entry: &str) -> Result<()> {
            self.entries.lock().unwrap().remove(entry);
            Ok(())
        }
    }

    fn token_set_sized(bytes: usize) -> String {
        let filler: String = "é-x".chars().cycle().take(bytes).collect();
        format!("{{\"access_token\":\"{filler}\"}}")
    }

    #[test]
    fn chunked_store_round_trips_large_document() {
        let store = ChunkedStore::new(LimitedBackend::default());
        let document = token_set_sized(5000);

        store.save("xero:default", &document).unwrap();

        assert_eq!(
            store.load("xero:default").unwrap().as_deref(),
            Some(document.as_str())
        );
        let entries = store.backend.entries.lock().unwrap().len();
        assert!(entries > 2, "expected several chunks, got {entries}");
    }

    #[test]
    fn chunked_store_shrinks_and_deletes_cleanly() {
        let store = ChunkedStore::new(LimitedBackend::default());
        store.save("xero:default", &token_set_sized(5000)).unwrap();

        store.save("xero:default", "{\"small\":1}").unwrap();
        assert_eq!(
            store.load("xero:default").unwrap().as_deref(),
            Some("{\"small\":1}")
        );
        assert_eq!(store.backend.entries.lock().unwrap().len(), 1);

        store.delete("xero:default").unwrap();
        assert!(store.backend.entries.lock().unwrap().is_empty());
        assert_eq!(store.load("xero:default").unwrap(), None);
    }

    #[test]
    fn file_store_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore {
            dir: dir.path().to_path_buf(),
        };

        store.save("xero:default", "{\"a\":1}").unwrap();
        store.save("productive:default", "{\"b\":2}").unwrap();

        assert_eq!(
            store.load("xero:default").unwrap().as_deref(),
            Some("{\"a\":1}")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("token.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        store.delete("xero:default").unwrap();
        store.delete("productive:default").unwrap();
        assert!(!dir.path().join("token.json").exists());
    }

    /// A backend whose writes fail after a number of successful ones, to
    /// stand for a process that dies in the middle of a save.
    struct FailingAfter {
        inner: LimitedBackend,
        writes_left: Mutex<usize>,
    }

    impl SecretBackend for FailingAfter {
        fn get(&self, entry: &str) -> Result<Option<String>> {
            self.inner.get(entry)
        }

        fn set(&self, entry: &str, value: &str) -> Result<()> {
            let mut left = self.writes_left.lock().unwrap();
            if *left == 0 {
                return Err(Error::failed("the process died"));
            }
            *left -= 1;
            self.inner.set(entry, value)
        }

        fn remove(&self, entry: &str) -> Result<()> {
            self.inner.remove(entry)
        }
    }

    #[test]
    fn interrupted_save_keeps_old_document() {
        let store = ChunkedStore::new(FailingAfter {
            inner: LimitedBackend::default(),
            writes_left: Mutex::new(usize::MAX),
        });
        let old = token_set_sized(5000);
        store.save("xero:default", &old).unwrap();

        *store.backend.writes_left.lock().unwrap() = 2;
        assert!(store.save("xero:default", &token_set_sized(4000)).is_err());

        assert_eq!(
            store.load("xero:default").unwrap().as_deref(),
            Some(old.as_str())
        );
    }

    #[test]
    fn split_never_cuts_a_character() {
        let parts = split_utf8("ééééé", 3);
        assert!(parts.iter().all(|p| p.len() <= 3));
        assert_eq!(parts.concat(), "ééééé");
    }
}
