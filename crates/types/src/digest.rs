//! Content digests in the OCI form `algorithm:hex`.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

/// Hash algorithms berth can verify. Only sha256 is accepted for content, as in ECR; the
/// OCI spec's sha512 is parsed so it can be rejected with a precise message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    Sha256,
}

/// A validated `sha256:<64 lowercase hex>` content digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("invalid digest '{0}': expected 'sha256:' followed by 64 lowercase hex characters")]
    Malformed(String),
    #[error("unsupported digest algorithm in '{0}': only sha256 is supported")]
    UnsupportedAlgorithm(String),
}

impl Digest {
    /// Parses a digest, accepting only sha256 with 64 lowercase hex characters.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let Some((algorithm, hex)) = text.split_once(':') else {
            return Err(DigestError::Malformed(text.to_owned()));
        };
        let algorithm_ok = !algorithm.is_empty()
            && algorithm
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
        if !algorithm_ok || hex.is_empty() {
            return Err(DigestError::Malformed(text.to_owned()));
        }
        if algorithm != "sha256" {
            return Err(DigestError::UnsupportedAlgorithm(text.to_owned()));
        }
        let hex_ok = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(DigestError::Malformed(text.to_owned()));
        }
        Ok(Digest(text.to_owned()))
    }

    /// Computes the sha256 digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Digest::from_sha256(sha2::Sha256::digest(bytes).into())
    }

    fn from_sha256(hash: [u8; 32]) -> Self {
        Digest(format!("sha256:{}", hex::encode(hash)))
    }

    pub fn algorithm(&self) -> DigestAlgorithm {
        DigestAlgorithm::Sha256
    }

    /// The hex part after `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An incremental sha256 that also counts the bytes it has seen.
#[derive(Clone, Default)]
pub struct Sha256Hasher {
    hasher: sha2::Sha256,
    length: u64,
}

impl Sha256Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.length += bytes.len() as u64;
    }

    pub fn length(&self) -> u64 {
        self.length
    }

    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_of_empty_input() {
        assert_eq!(Digest::of_bytes(b"").as_str(), EMPTY);
        assert_eq!(Sha256Hasher::new().finish().as_str(), EMPTY);
    }

    #[test]
    fn parse_rejects_bad_forms() {
        for bad in [
            "",
            "sha256:",
            "sha256",
            "sha256:abc",
            &EMPTY.to_uppercase(),
            "sha256:zz",
        ] {
            assert!(Digest::parse(bad).is_err(), "accepted {bad:?}");
        }
        let sha512 = format!("sha512:{}", "a".repeat(128));
        assert_eq!(
            Digest::parse(&sha512),
            Err(DigestError::UnsupportedAlgorithm(sha512.clone()))
        );
        assert_eq!(Digest::parse(EMPTY).unwrap().hex().len(), 64);
    }

    #[test]
    fn hasher_counts_bytes() {
        let mut hasher = Sha256Hasher::new();
        hasher.update(b"hello ");
        hasher.update(b"world");
        assert_eq!(hasher.length(), 11);
        assert_eq!(hasher.finish(), Digest::of_bytes(b"hello world"));
    }
}
