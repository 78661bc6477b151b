//! Manifest parsing: which kind a manifest is and what content it references.
//!
//! The bytes are never rewritten: berth stores what the client sent and its digest is
//! the sha256 of those bytes. Parsing only extracts the references to check and the
//! facts to report.

use berth_types::Digest;
use serde::Deserialize;

use crate::error::{Error, Result};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The largest manifest accepted, from the ECR model's `ImageManifest` shape.
pub const MAX_MANIFEST_BYTES: usize = 4_194_304;

/// A content descriptor as manifests write it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: Option<String>,
    size: Option<i64>,
    #[serde(default)]
    urls: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A checked descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// Foreign layers (with `urls`, or a `foreign` media type) live outside the registry
    /// and are exempt from the existence check, as in distribution.
    pub foreign: bool,
}

/// The kind of a manifest and the content it references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image manifest with its config and layers.
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    /// A manifest list or image index with its child manifests.
    Index { manifests: Vec<Descriptor> },
}

/// A parsed manifest.
#[derive(Clone, Debug)]
pub struct ParsedManifest {
    pub media_type: String,
    pub kind: ManifestKind,
    /// `artifactType`, or for an image manifest without one, the config media type.
    pub artifact_type: Option<String>,
    pub config_media_type: Option<String>,
    pub subject: Option<Digest>,
    /// The annotations object as JSON text, for the referrers API.
    pub annotations: Option<String>,
}

impl ParsedManifest {
    /// Sum of the layer sizes, the size ECR reports for an image manifest.
    pub fn layer_size_total(&self) -> u64 {
        match &self.kind {
            ManifestKind::Image { layers, .. } => layers.iter().map(|layer| layer.size).sum(),
            ManifestKind::Index { .. } => 0,
        }
    }
}

/// Parses manifest bytes. `declared` is the media type the client gave (the ECR
/// `imageManifestMediaType` parameter or the OCI `Content-Type`), if any.
pub fn parse(bytes: &[u8], declared: Option<&str>) -> Result<ParsedManifest> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(Error::ManifestInvalid(format!(
            "the manifest is {} bytes; the maximum is {MAX_MANIFEST_BYTES}",
            bytes.len()
        )));
    }
    let raw: RawManifest = serde_json::from_slice(bytes).map_err(|error| {
        Error::ManifestInvalid(format!("the manifest is not valid JSON: {error}"))
    })?;
    let media_type = media_type_of(&raw, declared)?;
    if media_type == DOCKER_SCHEMA1 || media_type == DOCKER_SCHEMA1_SIGNED {
        // TODO: accept Docker schema 1, whose digest covers the payload without its JWS
        // signatures; until then clients must push schema 2 or OCI manifests.
        return Err(Error::Unsupported(format!(
            "manifest media type '{media_type}' (Docker schema 1) is not supported; push a Docker schema 2 or OCI manifest"
        )));
    }
    if raw.schema_version != Some(2) {
        return Err(Error::ManifestInvalid(format!(
            "the manifest has schemaVersion {}, expected 2",
            raw.schema_version
                .map_or("missing".to_owned(), |v| v.to_string())
        )));
    }
    let kind = kind_of(&raw, &media_type)?;
    let config_media_type = match &kind {
        ManifestKind::Image { config, .. } => Some(config.media_type.clone()),
        ManifestKind::Index { .. } => None,
    };
    let subject = raw
        .subject
        .as_ref()
        .map(|s| descriptor(s, "subject"))
        .transpose()?
        .map(|d| d.digest);
    let artifact_type = raw.artifact_type.clone().or_else(|| match &kind {
        ManifestKind::Image { .. } => config_media_type.clone(),
        ManifestKind::Index { .. } => None,
    });
    let annotations = raw
        .annotations
        .as_ref()
        .map(|map| serde_json::Value::Object(map.clone()).to_string());
    Ok(ParsedManifest {
        media_type,
        kind,
        artifact_type,
        config_media_type,
        subject,
        annotations,
    })
}

fn media_type_of(raw: &RawManifest, declared: Option<&str>) -> Result<String> {
    let declared = declared.map(str::trim).filter(|t| !t.is_empty());
    match (declared, raw.media_type.as_deref()) {
        (Some(declared), Some(inner)) if declared != inner => Err(Error::ManifestInvalid(format!(
            "the declared media type '{declared}' does not match the manifest's mediaType '{inner}'"
        ))),
        (_, Some(inner)) => Ok(inner.to_owned()),
        (Some(declared), None) => Ok(declared.to_owned()),
        (None, None) => infer_media_type(raw),
    }
}

/// OCI manifests may leave out `mediaType`; the shape tells which kind they are.
fn infer_media_type(raw: &RawManifest) -> Result<String> {
    match (&raw.config, &raw.manifests) {
        (Some(_), None) => Ok(OCI_MANIFEST.to_owned()),
        (None, Some(_)) => Ok(OCI_INDEX.to_owned()),
        _ => Err(Error::InvalidParameter(
            "image manifest mediatype not provided in manifest or parameter; set imageManifestMediaType \
             or the manifest's mediaType field"
                .to_owned(),
        )),
    }
}

fn kind_of(raw: &RawManifest, media_type: &str) -> Result<ManifestKind> {
    let is_index = media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST;
    if is_index {
        let children = raw.manifests.as_ref().ok_or_else(|| {
            Error::ManifestInvalid(format!(
                "a manifest of type '{media_type}' needs a 'manifests' array"
            ))
        })?;
        let manifests = children
            .iter()
            .enumerate()
            .map(|(i, child)| descriptor(child, &format!("manifests[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        return Ok(ManifestKind::Index { manifests });
    }
    let config = raw.config.as_ref().ok_or_else(|| {
        Error::ManifestInvalid(format!(
            "a manifest of type '{media_type}' needs a 'config' descriptor"
        ))
    })?;
    let config = descriptor(config, "config")?;
    let layers = raw
        .layers
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, layer)| descriptor(layer, &format!("layers[{i}]")))
        .collect::<Result<Vec<_>>>()?;
    if media_type == DOCKER_MANIFEST && layers.is_empty() {
        return Err(Error::ManifestInvalid(
            "a Docker schema 2 manifest needs at least one layer".to_owned(),
        ));
    }
    Ok(ManifestKind::Image { config, layers })
}

fn descriptor(raw: &RawDescriptor, field: &str) -> Result<Descriptor> {
    let media_type = raw
        .media_type
        .clone()
        .ok_or_else(|| Error::ManifestInvalid(format!("{field} has no mediaType")))?;
    let digest_text = raw
        .digest
        .as_deref()
        .ok_or_else(|| Error::ManifestInvalid(format!("{field} has no digest")))?;
    let digest = Digest::parse(digest_text).map_err(|error| {
        Error::ManifestInvalid(format!("{field} has an invalid digest: {error}"))
    })?;
    let size = raw
        .size
        .ok_or_else(|| Error::ManifestInvalid(format!("{field} has no size")))?;
    let size = u64::try_from(size)
        .map_err(|_| Error::ManifestInvalid(format!("{field} has a negative size {size}")))?;
    let foreign = !raw.urls.is_empty() || media_type.contains(".foreign.");
    Ok(Descriptor {
        media_type,
        digest,
        size,
        foreign,
    })
}

/// Media types that change when an image manifest moves between the Docker schema 2 and
/// OCI formats, as (Docker, OCI) pairs.
const CONVERTED_TYPES: &[(&str, &str)] = &[
    (DOCKER_MANIFEST, OCI_MANIFEST),
    (
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.oci.image.config.v1+json",
    ),
    (
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    ),
];

/// Converts an image manifest between Docker schema 2 and OCI by rewriting its media
/// types, or returns `None` when `to` is neither of the two or the manifest is not an
/// image manifest. The result is a new manifest with its own digest; indexes and
/// Docker schema 1 are never converted.
pub fn convert(bytes: &[u8], from: &str, to: &str) -> Option<Vec<u8>> {
    let to_oci = from == DOCKER_MANIFEST && to == OCI_MANIFEST;
    let to_docker = from == OCI_MANIFEST && to == DOCKER_MANIFEST;
    if !to_oci && !to_docker {
        return None;
    }
    let map = |media_type: &str| -> Option<&'static str> {
        CONVERTED_TYPES
            .iter()
            .find_map(|(docker, oci)| match to_oci {
                true if *docker == media_type => Some(*oci),
                false if *oci == media_type => Some(*docker),
                _ => None,
            })
    };
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value["mediaType"] = serde_json::Value::String(to.to_owned());
    rewrite_media_type(value.get_mut("config"), &map);
    if let Some(layers) = value
        .get_mut("layers")
        .and_then(|layers| layers.as_array_mut())
    {
        for layer in layers {
            rewrite_media_type(Some(layer), &map);
        }
    }
    serde_json::to_vec(&value).ok()
}

fn rewrite_media_type(
    descriptor: Option<&mut serde_json::Value>,
    map: &dyn Fn(&str) -> Option<&'static str>,
) {
    let Some(descriptor) = descriptor else { return };
    let current = descriptor
        .get("mediaType")
        .and_then(|t| t.as_str())
        .and_then(map);
    if let Some(converted) = current {
        descriptor["mediaType"] = serde_json::Value::String(converted.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> String {
        format!("sha256:{}", hex::encode([n; 32]))
    }

    #[test]
    fn docker_manifest_references() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
               "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{}","size":7}},
               "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{}","size":30}},
                         {{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{}","size":12}}]}}"#,
            digest(1),
            digest(2),
            digest(3)
        );
        let parsed = parse(body.as_bytes(), None).unwrap();
        assert_eq!(parsed.media_type, DOCKER_MANIFEST);
        assert_eq!(parsed.layer_size_total(), 42);
        assert_eq!(
            parsed.artifact_type.as_deref(),
            Some("application/vnd.docker.container.image.v1+json")
        );
        let ManifestKind::Image { config, layers } = parsed.kind else {
            panic!("not an image")
        };
        assert_eq!(config.digest.as_str(), digest(1));
        assert_eq!(layers.len(), 2);
    }

    #[test]
    fn index_without_media_type_is_inferred() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":5}}]}}"#,
            digest(4)
        );
        let parsed = parse(body.as_bytes(), None).unwrap();
        assert_eq!(parsed.media_type, OCI_INDEX);
        assert!(
            matches!(parsed.kind, ManifestKind::Index { ref manifests } if manifests.len() == 1)
        );
    }

    #[test]
    fn rejects_bad_manifests() {
        let cases = [
            ("not json", None),
            (
                r#"{"schemaVersion":1,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
                None,
            ),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
                None,
            ),
            (r#"{"schemaVersion":2}"#, None),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
                Some(OCI_MANIFEST),
            ),
        ];
        for (body, declared) in cases {
            assert!(parse(body.as_bytes(), declared).is_err(), "accepted {body}");
        }
        let bad_digest = r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:1","size":1},"layers":[]}"#;
        let error = parse(bad_digest.as_bytes(), None).unwrap_err().to_string();
        assert!(error.contains("config has an invalid digest"), "{error}");
    }
}
