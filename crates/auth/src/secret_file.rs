//! Small secret files in the data directory: created whole or not at all, owner-only.
//!
//! A file is written to a temporary name that is created with mode 0600 (so no other user
//! can open it at any point), synced, and renamed into place. A crash leaves either no
//! file or the complete one, plus at worst a stray temporary file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand::rngs::OsRng;
use rand::{Rng, RngCore};

/// Upper-case letters and digits, the alphabet of AWS access key ids.
pub(crate) const UPPER_ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Letters and digits, for secrets that must survive shells and config files unquoted.
pub(crate) const ALPHANUMERIC: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Returns `len` characters drawn uniformly from `alphabet` by the operating system's CSPRNG.
pub(crate) fn random_string(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[OsRng.gen_range(0..alphabet.len())]))
        .collect()
}

/// Returns `N` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// Writes `contents` to `path` atomically with mode 0600, creating the parent directory.
///
/// An existing file at `path` is replaced. Two processes that create the same file at the
/// same moment each succeed, and the file ends up holding the contents of the later one.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path)?;
    fs::create_dir_all(dir)?;
    let temp_path = temporary_path(path);
    let written =
        write_new_private_file(&temp_path, contents).and_then(|()| fs::rename(&temp_path, path));
    if let Err(err) = written {
        // Best effort: the temporary file contains the secret, so do not leave it behind.
        let _ = fs::remove_file(&temp_path);
        return Err(err);
    }
    sync_dir(dir)
}

/// Logs a warning when users other than the owner may read `path`.
pub(crate) fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;

        let Ok(metadata) = fs::metadata(path) else {
            return;
        };
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "secret file is readable by other users, run chmod 600 on it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn parent_dir(path: &Path) -> io::Result<&Path> {
    path.parent().ok_or_else(|| {
        let message = format!(
            "secret file path {} has no parent directory",
            path.display()
        );
        io::Error::new(io::ErrorKind::InvalidInput, message)
    })
}

fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let suffix = random_string(ALPHANUMERIC, 12);
    path.with_file_name(format!(".{name}.tmp-{suffix}"))
}

fn write_new_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = open_new_private(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(unix)]
fn open_new_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;

    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

// NOTE: outside Unix the file gets the platform's default permissions.
#[cfg(not(unix))]
fn open_new_private(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Syncs the directory so that the rename itself survives a crash.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use super::{random_string, write_atomically, ALPHANUMERIC};

    /// A directory under the system temp dir that is removed when dropped.
    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        pub(crate) fn new() -> Self {
            let name = format!("berth-auth-test-{}", random_string(ALPHANUMERIC, 16));
            let path = std::env::temp_dir().join(name);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[cfg(unix)]
    pub(crate) fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;

        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn random_string_uses_only_the_alphabet() {
        let text = random_string(b"AB", 64);
        assert_eq!(text.len(), 64);
        assert!(text.bytes().all(|b| b == b'A' || b == b'B'), "{text}");
        assert!(text.contains('A'), "{text}");
        assert!(text.contains('B'), "{text}");
    }

    #[test]
    fn write_atomically_replaces_and_leaves_no_temp_file() {
        let dir = TempDir::new();
        let path = dir.0.join("nested").join("secret");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let entries = fs::read_dir(dir.0.join("nested")).unwrap().count();
        assert_eq!(entries, 1);
    }

    #[cfg(unix)]
    #[test]
    fn write_atomically_creates_owner_only_file() {
        let dir = TempDir::new();
        let path = dir.0.join("secret");
        write_atomically(&path, b"x").unwrap();
        assert_eq!(mode_of(&path), 0o600);
    }
}
