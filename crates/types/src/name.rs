//! Repository names, tags, references and registry ids.

use std::fmt;

use crate::digest::Digest;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error(
        "invalid repository name '{0}': use 2 to 256 characters of lowercase letters, digits \
         and the separators '.', '_', '__', '-', with path components separated by '/'"
    )]
    RepositoryName(String),
    #[error(
        "invalid tag '{0}': use 1 to 300 characters of letters, digits, '_', '.' and '-', \
         not starting with '.' or '-'"
    )]
    Tag(String),
    #[error("invalid reference '{0}': expected a tag or a 'sha256:' digest")]
    Reference(String),
    #[error("invalid registry id '{0}': expected 12 digits")]
    RegistryId(String),
}

/// A repository name that matches the ECR model's `RepositoryName` pattern, which is the
/// OCI distribution-spec name grammar:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, 2 to 256
/// characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    pub const MIN_LENGTH: usize = 2;
    pub const MAX_LENGTH: usize = 256;

    pub fn parse(text: &str) -> Result<Self, NameError> {
        let length_ok = (Self::MIN_LENGTH..=Self::MAX_LENGTH).contains(&text.len());
        if length_ok && text.split('/').all(is_path_component) {
            Ok(RepositoryName(text.to_owned()))
        } else {
            Err(NameError::RepositoryName(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks one component: alphanumeric runs joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
    }
    true
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepositoryName({})", self.0)
    }
}

/// An image tag. The ECR model allows 1 to 300 characters; the character set is the OCI
/// tag grammar `[a-zA-Z0-9_][a-zA-Z0-9._-]*` so that every tag written through one API can
/// be read through the other.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub const MAX_LENGTH: usize = 300;

    pub fn parse(text: &str) -> Result<Self, NameError> {
        let bytes = text.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b));
        if first_ok && rest_ok && text.len() <= Self::MAX_LENGTH {
            Ok(Tag(text.to_owned()))
        } else {
            Err(NameError::Tag(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

/// What a pull names: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    /// Parses a digest when the text contains ':' and a tag otherwise, as the OCI API does.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        if text.contains(':') {
            Digest::parse(text)
                .map(Reference::Digest)
                .map_err(|_| NameError::Reference(text.to_owned()))
        } else {
            Tag::parse(text).map(Reference::Tag)
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(tag) => tag.fmt(f),
            Reference::Digest(digest) => digest.fmt(f),
        }
    }
}

/// The 12-digit account id that names a registry.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct RegistryId(String);

impl RegistryId {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(RegistryId(text.to_owned()))
        } else {
            Err(NameError::RegistryId(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegistryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for good in [
            "ab",
            "a/b",
            "team/app-1",
            "a__b",
            "a---b",
            "a.b_c/d",
            "x0/y1/z2",
        ] {
            assert!(RepositoryName::parse(good).is_ok(), "rejected {good:?}");
        }
        let too_long = "a".repeat(257);
        for bad in [
            "a", "A1", "a//b", "/ab", "ab/", "a___b", "a.-b", "-ab", "../ab", "a b", &too_long,
        ] {
            assert!(RepositoryName::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn tags() {
        for good in ["latest", "v1.2.3", "_x", "A-b_c.d"] {
            assert!(Tag::parse(good).is_ok(), "rejected {good:?}");
        }
        let too_long = "a".repeat(301);
        for bad in ["", ".x", "-x", "a/b", "a:b", "a b", &too_long] {
            assert!(Tag::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn references() {
        assert!(matches!(Reference::parse("latest"), Ok(Reference::Tag(_))));
        let digest = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(
            Reference::parse(&digest),
            Ok(Reference::Digest(_))
        ));
        assert!(Reference::parse("sha256:xyz").is_err());
    }
}
