//! Atomic file replacement and per-profile locks.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{io_error, Error, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder and
/// a rename, so a reader finds, and a crash leaves, either the old or the new content.
/// `mode` sets Unix permissions on the new file before any byte is written.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|err| io_error("cannot create folder", dir, err))?;

    let mut temp = tempfile::Builder::new()
        .prefix(".xerosync-")
        .tempfile_in(dir)
        .map_err(|err| io_error("cannot create a temporary file in", dir, err))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = mode.unwrap_or(0o644);
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|err| io_error("cannot set permissions on", temp.path(), err))?;
    }
    #[cfg(not(unix))]
    let _ = mode;

    temp.write_all(bytes)
        .map_err(|err| io_error("cannot write", temp.path(), err))?;
    temp.as_file()
        .sync_all()
        .map_err(|err| io_error("cannot write", temp.path(), err))?;
    temp.persist(path)
        .map_err(|err| io_error("cannot replace", path, err.error))?;
    Ok(())
}

/// An exclusive advisory lock on a file, released on drop (or when the
/// process dies, because the operating system drops it with the descriptor).
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Takes the lock, waiting at most `wait`. `what` names the lock in the
    /// error for a user ("another `xerosync sync payments` run").
    pub fn acquire(path: &Path, wait: Duration, what: &str) -> Result<FileLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|err| io_error("cannot create folder", dir, err))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|err| io_error("cannot open lock file", path, err))?;

        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::temporary(format!(
                        "{what} still holds the lock {} after {} s; let it finish and run again",
                        path.display(),
                        wait.as_secs()
                    )))
                }
                Err(std::fs::TryLockError::Error(err)) => {
                    return Err(io_error("cannot lock", path, err))
                }
            }
        }
    }
}
