//! Access keys: the configured identities that may sign requests, and the admin key that
//! berth creates on first start.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::secret_file::{self, ALPHANUMERIC, UPPER_ALPHANUMERIC};

/// File name of the admin key in the data directory.
pub const ADMIN_CREDENTIALS_FILE: &str = "admin-credentials.json";

/// IAM user name in the admin principal ARN, `arn:aws:iam::<registry id>:user/berth-admin`.
pub const ADMIN_USER_NAME: &str = "berth-admin";

/// Prefix of generated access key ids, in the place where AWS puts `AKIA`.
const KEY_ID_PREFIX: &str = "BKIA";
const KEY_ID_LEN: usize = 20;
const SECRET_LEN: usize = 40;

/// An access key id, its secret, and the IAM principal it authenticates as.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// Access key id, as sent in the SigV4 credential scope.
    pub id: String,
    /// Secret access key. Never printed by `Debug`.
    pub secret: String,
    /// Principal ARN that policies see, such as `arn:aws:iam::123456789012:user/alice`.
    pub principal_arn: String,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("principal_arn", &self.principal_arn)
            .finish()
    }
}

/// The access keys that may sign requests, looked up by key id.
#[derive(Clone, Default)]
pub struct Credentials {
    keys: HashMap<String, AccessKey>,
}

impl Credentials {
    /// Builds the store. A key whose id repeats an earlier one replaces it.
    pub fn new(keys: Vec<AccessKey>) -> Self {
        let keys = keys.into_iter().map(|key| (key.id.clone(), key)).collect();
        Credentials { keys }
    }

    /// Returns the key with this access key id, if configured.
    pub fn get(&self, id: &str) -> Option<&AccessKey> {
        self.keys.get(id)
    }

    /// Returns true when no key is configured, so `Strict` checks reject every request.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Returns the number of configured keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("Credentials")
            .field("key_ids", &ids)
            .finish()
    }
}

/// Contents of `admin-credentials.json`. The principal is not stored: it is derived from
/// the registry id on every load, so changing the registry id moves the admin with it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AdminKeyFile {
    access_key_id: String,
    secret_access_key: String,
}

/// Loads the admin key from `<data_dir>/admin-credentials.json`, or creates that file with a
/// new random key when it does not exist.
///
/// Returns the key and whether it was created now, so the caller can tell the operator
/// where to find it. The new file is written atomically with mode 0600. The principal is
/// `arn:aws:iam::<registry_id>:user/berth-admin`. Two processes that create the file at the
/// same moment may each return a different key, and the one renamed last is kept.
pub fn load_or_create_admin_key(
    data_dir: &Path,
    registry_id: &str,
) -> io::Result<(AccessKey, bool)> {
    let path = data_dir.join(ADMIN_CREDENTIALS_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            secret_file::warn_if_readable_by_others(&path);
            Ok((parse_admin_key_file(&path, &bytes, registry_id)?, false))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            Ok((create_admin_key_file(&path, registry_id)?, true))
        }
        Err(err) => Err(err),
    }
}

fn admin_principal_arn(registry_id: &str) -> String {
    format!("arn:aws:iam::{registry_id}:user/{ADMIN_USER_NAME}")
}

fn parse_admin_key_file(path: &Path, bytes: &[u8], registry_id: &str) -> io::Result<AccessKey> {
    let file: AdminKeyFile = serde_json::from_slice(bytes)
        .map_err(|err| invalid_admin_key_file(path, &err.to_string()))?;
    if file.access_key_id.is_empty() || file.secret_access_key.is_empty() {
        let reason = "accessKeyId and secretAccessKey must not be empty";
        return Err(invalid_admin_key_file(path, reason));
    }
    Ok(AccessKey {
        id: file.access_key_id,
        secret: file.secret_access_key,
        principal_arn: admin_principal_arn(registry_id),
    })
}

fn invalid_admin_key_file(path: &Path, reason: &str) -> io::Error {
    let message = format!(
        "invalid admin credentials file {}: {reason}. Fix the file, or delete it to \
         generate a new key",
        path.display()
    );
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn create_admin_key_file(path: &Path, registry_id: &str) -> io::Result<AccessKey> {
    let file = AdminKeyFile {
        access_key_id: generate_key_id(),
        secret_access_key: secret_file::random_string(ALPHANUMERIC, SECRET_LEN),
    };
    let mut json = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
    json.push(b'\n');
    secret_file::write_atomically(path, &json)?;
    Ok(AccessKey {
        id: file.access_key_id,
        secret: file.secret_access_key,
        principal_arn: admin_principal_arn(registry_id),
    })
}

fn generate_key_id() -> String {
    let random_len = KEY_ID_LEN - KEY_ID_PREFIX.len();
    KEY_ID_PREFIX.to_owned() + &secret_file::random_string(UPPER_ALPHANUMERIC, random_len)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io;

    use super::{
        load_or_create_admin_key, AccessKey, Credentials, ADMIN_CREDENTIALS_FILE,
        UPPER_ALPHANUMERIC,
    };
    use crate::secret_file::tests::TempDir;

    fn key(id: &str, secret: &str) -> AccessKey {
        AccessKey {
            id: id.to_owned(),
            secret: secret.to_owned(),
            principal_arn: format!("arn:aws:iam::123456789012:user/{id}"),
        }
    }

    #[test]
    fn credentials_look_up_by_id() {
        let credentials = Credentials::new(vec![key("AKID1", "s1"), key("AKID2", "s2")]);
        assert_eq!(credentials.get("AKID2").unwrap().secret, "s2");
        assert!(credentials.get("AKID3").is_none());
        assert_eq!(credentials.len(), 2);
        assert!(!credentials.is_empty());
        assert!(Credentials::new(Vec::new()).is_empty());
    }

    #[test]
    fn credentials_later_duplicate_wins() {
        let credentials = Credentials::new(vec![key("AKID1", "old"), key("AKID1", "new")]);
        assert_eq!(credentials.get("AKID1").unwrap().secret, "new");
        assert_eq!(credentials.len(), 1);
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let access_key = key("AKID1", "topsecretvalue");
        let key_debug = format!("{access_key:?}");
        assert!(!key_debug.contains("topsecretvalue"), "{key_debug}");
        assert!(key_debug.contains("AKID1"), "{key_debug}");
        let store_debug = format!("{:?}", Credentials::new(vec![access_key]));
        assert!(!store_debug.contains("topsecretvalue"), "{store_debug}");
        assert_eq!(store_debug, r#"Credentials { key_ids: ["AKID1"] }"#);
    }

    #[test]
    fn admin_key_is_created_then_reloaded() {
        let dir = TempDir::new();
        let (created, was_created) = load_or_create_admin_key(&dir.0, "123456789012").unwrap();
        assert!(was_created);
        assert_eq!(created.id.len(), 20);
        assert!(created.id.starts_with("BKIA"), "{}", created.id);
        assert!(created.id.bytes().all(|b| UPPER_ALPHANUMERIC.contains(&b)));
        assert_eq!(created.secret.len(), 40);
        assert!(created.secret.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(
            created.principal_arn,
            "arn:aws:iam::123456789012:user/berth-admin"
        );

        let (reloaded, was_created) = load_or_create_admin_key(&dir.0, "123456789012").unwrap();
        assert!(!was_created);
        assert_eq!(reloaded, created);
    }

    #[cfg(unix)]
    #[test]
    fn admin_key_file_is_owner_only() {
        let dir = TempDir::new();
        load_or_create_admin_key(&dir.0, "123456789012").unwrap();
        let mode = crate::secret_file::tests::mode_of(&dir.0.join(ADMIN_CREDENTIALS_FILE));
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn admin_key_file_format_is_stable() {
        let dir = TempDir::new();
        let json = r#"{"accessKeyId": "BKIAEXAMPLE000000001", "secretAccessKey": "abc"}"#;
        fs::write(dir.0.join(ADMIN_CREDENTIALS_FILE), json).unwrap();
        let (key, was_created) = load_or_create_admin_key(&dir.0, "210987654321").unwrap();
        assert!(!was_created);
        assert_eq!(key.id, "BKIAEXAMPLE000000001");
        assert_eq!(key.secret, "abc");
        assert_eq!(
            key.principal_arn,
            "arn:aws:iam::210987654321:user/berth-admin"
        );
    }

    #[test]
    fn admin_key_invalid_file_rejected() {
        let dir = TempDir::new();
        let path = dir.0.join(ADMIN_CREDENTIALS_FILE);
        fs::write(&path, r#"{"accessKeyId": "", "secretAccessKey": "abc"}"#).unwrap();
        let err = load_or_create_admin_key(&dir.0, "123456789012").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("must not be empty"), "{err}");
        assert!(err.to_string().contains("delete it"), "{err}");
        assert!(!err.to_string().contains("abc"), "{err}");
    }
}
