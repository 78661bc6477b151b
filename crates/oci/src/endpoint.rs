//! Parsing a request's method and path into the endpoint it names.
//!
//! Repository names contain slashes, so the path under `/v2/` is split from the right: the
//! last one to three segments name the endpoint (`manifests/<reference>`,
//! `blobs/<digest>`, `blobs/uploads/`, `blobs/uploads/<id>`, `tags/list`,
//! `referrers/<digest>`) and everything before them is the name. The name, digests and
//! tags are validated here, once, so handlers receive parsed values.

use berth_types::{Digest, NameError, Reference, RepositoryName};
use http::{Method, StatusCode};

use crate::error::{ApiError, Code, OciError};

/// One operation of the distribution API, with its parsed path parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Base,
    Catalog,
    ListTags {
        name: RepositoryName,
    },
    GetManifest {
        name: RepositoryName,
        reference: Reference,
        head: bool,
    },
    PutManifest {
        name: RepositoryName,
        reference: Reference,
    },
    DeleteManifest {
        name: RepositoryName,
        reference: Reference,
    },
    GetBlob {
        name: RepositoryName,
        digest: Digest,
        head: bool,
    },
    DeleteBlob {
        name: RepositoryName,
        digest: Digest,
    },
    StartUpload {
        name: RepositoryName,
    },
    UploadStatus {
        name: RepositoryName,
        id: String,
    },
    PatchUpload {
        name: RepositoryName,
        id: String,
    },
    FinishUpload {
        name: RepositoryName,
        id: String,
    },
    CancelUpload {
        name: RepositoryName,
        id: String,
    },
    Referrers {
        name: RepositoryName,
        digest: Digest,
    },
}

/// The resource a path names, before the method picks the operation.
enum Resource<'p> {
    Base,
    Catalog,
    Tags(&'p str),
    Manifest(&'p str, &'p str),
    Blob(&'p str, &'p str),
    Uploads(&'p str),
    Upload(&'p str, &'p str),
    Referrers(&'p str, &'p str),
}

impl Endpoint {
    /// Parses a request path (still percent-encoded, starting with `/v2/`) and method.
    pub(crate) fn parse(method: &Method, path: &str) -> Result<Endpoint, OciError> {
        let resource = path
            .strip_prefix("/v2/")
            .and_then(resource_of)
            .ok_or_else(|| not_found(path))?;
        let head = method == Method::HEAD;
        let get = head || method == Method::GET;
        let endpoint = match resource {
            Resource::Base if get => Endpoint::Base,
            Resource::Catalog if get => Endpoint::Catalog,
            Resource::Tags(name) if get => Endpoint::ListTags {
                name: name_of(name)?,
            },
            Resource::Manifest(name, reference) => {
                let name = name_of(name)?;
                let reference = if method == Method::PUT {
                    reference_of(reference)?
                } else {
                    // No manifest can be named by an invalid reference, so reading or
                    // deleting one finds nothing: 404, as the spec requires.
                    reference_of(reference).map_err(|error| unknown_manifest(reference, error))?
                };
                manifest_endpoint(method, name, reference)?
            }
            Resource::Blob(name, digest) => {
                blob_endpoint(method, name_of(name)?, digest_of(digest)?)?
            }
            Resource::Uploads(name) if method == Method::POST => Endpoint::StartUpload {
                name: name_of(name)?,
            },
            Resource::Upload(name, id) => upload_endpoint(method, name_of(name)?, id.to_owned())?,
            Resource::Referrers(name, digest) if get => Endpoint::Referrers {
                name: name_of(name)?,
                digest: digest_of(digest)?,
            },
            Resource::Uploads(_) => return Err(method_not_allowed(method, "POST")),
            _ => return Err(method_not_allowed(method, "GET, HEAD")),
        };
        Ok(endpoint)
    }

    /// Returns true for the endpoints that accept a SigV4 presigned URL in place of an
    /// `Authorization` header: blob downloads, whose URLs ECR's GetDownloadUrlForLayer
    /// hands out.
    pub(crate) fn allows_presigned_url(&self) -> bool {
        matches!(self, Endpoint::GetBlob { .. })
    }

    /// Returns the ECR IAM action that authorizes this endpoint, or `None` for the version
    /// check, which only needs a valid login. Pushes and pulls map to the actions that
    /// ECR's policy examples grant for docker.
    pub(crate) fn action(&self) -> Option<&'static str> {
        let action = match self {
            Endpoint::Base => return None,
            Endpoint::Catalog => "ecr:DescribeRepositories",
            Endpoint::ListTags { .. } | Endpoint::Referrers { .. } => "ecr:ListImages",
            Endpoint::GetManifest { .. } => "ecr:BatchGetImage",
            Endpoint::PutManifest { .. } => "ecr:PutImage",
            Endpoint::DeleteManifest { .. } | Endpoint::DeleteBlob { .. } => "ecr:BatchDeleteImage",
            Endpoint::GetBlob { head: true, .. } => "ecr:BatchCheckLayerAvailability",
            Endpoint::GetBlob { head: false, .. } => "ecr:GetDownloadUrlForLayer",
            Endpoint::StartUpload { .. } => "ecr:InitiateLayerUpload",
            Endpoint::UploadStatus { .. }
            | Endpoint::PatchUpload { .. }
            | Endpoint::CancelUpload { .. } => "ecr:UploadLayerPart",
            Endpoint::FinishUpload { .. } => "ecr:CompleteLayerUpload",
        };
        Some(action)
    }
}

/// Splits the path after `/v2/` into a resource, or `None` when it names no endpoint.
fn resource_of(rest: &str) -> Option<Resource<'_>> {
    if rest.is_empty() {
        return Some(Resource::Base);
    }
    if rest == "_catalog" {
        return Some(Resource::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Resource::Tags(name));
    }
    let uploads = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"));
    if let Some(name) = uploads {
        return Some(Resource::Uploads(name));
    }
    let (head, last) = rest.rsplit_once('/')?;
    if last.is_empty() {
        return None;
    }
    if let Some(name) = head.strip_suffix("/blobs/uploads") {
        return Some(Resource::Upload(name, last));
    }
    let (name, kind) = head.rsplit_once('/')?;
    match kind {
        "manifests" => Some(Resource::Manifest(name, last)),
        "blobs" => Some(Resource::Blob(name, last)),
        "referrers" => Some(Resource::Referrers(name, last)),
        _ => None,
    }
}

fn manifest_endpoint(
    method: &Method,
    name: RepositoryName,
    reference: Reference,
) -> Result<Endpoint, OciError> {
    match *method {
        Method::GET | Method::HEAD => Ok(Endpoint::GetManifest {
            name,
            reference,
            head: method == Method::HEAD,
        }),
        Method::PUT => Ok(Endpoint::PutManifest { name, reference }),
        Method::DELETE => Ok(Endpoint::DeleteManifest { name, reference }),
        _ => Err(method_not_allowed(method, "GET, HEAD, PUT, DELETE")),
    }
}

fn blob_endpoint(
    method: &Method,
    name: RepositoryName,
    digest: Digest,
) -> Result<Endpoint, OciError> {
    match *method {
        Method::GET | Method::HEAD => Ok(Endpoint::GetBlob {
            name,
            digest,
            head: method == Method::HEAD,
        }),
        Method::DELETE => Ok(Endpoint::DeleteBlob { name, digest }),
        _ => Err(method_not_allowed(method, "GET, HEAD, DELETE")),
    }
}

fn upload_endpoint(
    method: &Method,
    name: RepositoryName,
    id: String,
) -> Result<Endpoint, OciError> {
    match *method {
        Method::GET => Ok(Endpoint::UploadStatus { name, id }),
        Method::PATCH => Ok(Endpoint::PatchUpload { name, id }),
        Method::PUT => Ok(Endpoint::FinishUpload { name, id }),
        Method::DELETE => Ok(Endpoint::CancelUpload { name, id }),
        _ => Err(method_not_allowed(method, "GET, PATCH, PUT, DELETE")),
    }
}

/// Parses a repository name given in a path or query parameter.
pub(crate) fn name_of(text: &str) -> Result<RepositoryName, OciError> {
    RepositoryName::parse(text).map_err(|error| {
        let detail = serde_json::json!({ "name": text });
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::NameInvalid,
            error.to_string(),
        )
        .with_detail(detail)
        .into()
    })
}

/// Parses a digest given in a path or query parameter.
pub(crate) fn digest_of(text: &str) -> Result<Digest, OciError> {
    Digest::parse(text).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::DigestInvalid,
            error.to_string(),
        )
        .into()
    })
}

fn reference_of(text: &str) -> Result<Reference, OciError> {
    Reference::parse(text).map_err(|error| {
        let code = match error {
            NameError::Tag(_) => Code::TagInvalid,
            _ => Code::DigestInvalid,
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, error.to_string()).into()
    })
}

fn unknown_manifest(reference: &str, error: OciError) -> OciError {
    let reason = error.into_api_error(None).message().to_owned();
    let message = format!("no manifest has the reference '{reference}': {reason}");
    ApiError::new(StatusCode::NOT_FOUND, Code::ManifestUnknown, message).into()
}

fn not_found(path: &str) -> OciError {
    let message = format!("no distribution API endpoint matches the path '{path}'");
    ApiError::new(StatusCode::NOT_FOUND, Code::Unsupported, message).into()
}

fn method_not_allowed(method: &Method, allowed: &'static str) -> OciError {
    let message = format!("method {method} is not allowed here; use {allowed}");
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, Code::Unsupported, message)
        .with_header(http::header::ALLOW, allowed)
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parse(method: Method, path: &str) -> Result<Endpoint, OciError> {
        Endpoint::parse(&method, path)
    }

    fn name(text: &str) -> RepositoryName {
        RepositoryName::parse(text).unwrap()
    }

    #[test]
    fn names_with_slashes_split_from_the_right() {
        let cases = [
            (
                Method::GET,
                "/v2/a/b/c/tags/list".to_owned(),
                Endpoint::ListTags {
                    name: name("a/b/c"),
                },
            ),
            (
                Method::POST,
                "/v2/team/app/blobs/uploads/".to_owned(),
                Endpoint::StartUpload {
                    name: name("team/app"),
                },
            ),
            (
                Method::POST,
                "/v2/team/app/blobs/uploads".to_owned(),
                Endpoint::StartUpload {
                    name: name("team/app"),
                },
            ),
            (
                Method::PATCH,
                "/v2/xy/blobs/uploads/1234-ab".to_owned(),
                Endpoint::PatchUpload {
                    name: name("xy"),
                    id: "1234-ab".into(),
                },
            ),
            (
                Method::HEAD,
                format!("/v2/x/manifests/blobs/{DIGEST}"),
                Endpoint::GetBlob {
                    name: name("x/manifests"),
                    digest: Digest::parse(DIGEST).unwrap(),
                    head: true,
                },
            ),
            (
                Method::GET,
                format!("/v2/ab/referrers/{DIGEST}"),
                Endpoint::Referrers {
                    name: name("ab"),
                    digest: Digest::parse(DIGEST).unwrap(),
                },
            ),
            (Method::GET, "/v2/".to_owned(), Endpoint::Base),
            (Method::GET, "/v2/_catalog".to_owned(), Endpoint::Catalog),
        ];
        for (method, path, expected) in cases {
            let parsed = parse(method.clone(), &path);
            assert_eq!(parsed.ok(), Some(expected), "{method} {path}");
        }
    }

    #[test]
    fn upload_id_after_a_name_ending_in_blobs() {
        let parsed = parse(Method::GET, "/v2/x/blobs/blobs/uploads/abc").unwrap();
        assert_eq!(
            parsed,
            Endpoint::UploadStatus {
                name: name("x/blobs"),
                id: "abc".into()
            }
        );
    }

    #[test]
    fn manifest_methods() {
        let path = "/v2/app/manifests/latest";
        assert!(matches!(
            parse(Method::GET, path),
            Ok(Endpoint::GetManifest { head: false, .. })
        ));
        assert!(matches!(
            parse(Method::HEAD, path),
            Ok(Endpoint::GetManifest { head: true, .. })
        ));
        assert!(matches!(
            parse(Method::PUT, path),
            Ok(Endpoint::PutManifest { .. })
        ));
        assert!(matches!(
            parse(Method::DELETE, path),
            Ok(Endpoint::DeleteManifest { .. })
        ));
        let rejected = parse(Method::POST, path).unwrap_err().into_api_error(None);
        assert_eq!(rejected.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn invalid_values_get_their_codes() {
        let cases = [
            ("/v2/../etc/manifests/latest", Code::NameInvalid),
            ("/v2/App/manifests/latest", Code::NameInvalid),
            ("/v2/a//b/manifests/latest", Code::NameInvalid),
            ("/v2/ab/manifests/.hidden", Code::ManifestUnknown),
            ("/v2/ab/manifests/sha256:xyz", Code::ManifestUnknown),
            ("/v2/ab/blobs/latest", Code::DigestInvalid),
            ("/v2/ab/nothing/here", Code::Unsupported),
            ("/v2/ab/manifests/", Code::Unsupported),
        ];
        for (path, code) in cases {
            let error = parse(Method::GET, path).unwrap_err().into_api_error(None);
            assert_eq!(error.code(), code, "{path}");
        }
        // A push names the reference it writes, so a bad one is the client's error.
        let pushes = [
            ("/v2/ab/manifests/.hidden", Code::TagInvalid),
            ("/v2/ab/manifests/sha256:xyz", Code::DigestInvalid),
        ];
        for (path, code) in pushes {
            let error = parse(Method::PUT, path).unwrap_err().into_api_error(None);
            assert_eq!(error.code(), code, "{path}");
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{path}");
        }
        let head = parse(Method::HEAD, "/v2/ab/manifests/.hidden").unwrap_err();
        assert_eq!(head.into_api_error(None).status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn actions_follow_the_ecr_push_and_pull_lists() {
        let blob = format!("/v2/app/blobs/{DIGEST}");
        let cases = [
            (
                Method::GET,
                blob.as_str(),
                Some("ecr:GetDownloadUrlForLayer"),
            ),
            (
                Method::HEAD,
                blob.as_str(),
                Some("ecr:BatchCheckLayerAvailability"),
            ),
            (Method::PUT, "/v2/app/manifests/v1", Some("ecr:PutImage")),
            (
                Method::PUT,
                "/v2/app/blobs/uploads/id",
                Some("ecr:CompleteLayerUpload"),
            ),
            (Method::GET, "/v2/app/tags/list", Some("ecr:ListImages")),
            (
                Method::GET,
                "/v2/_catalog",
                Some("ecr:DescribeRepositories"),
            ),
            (Method::GET, "/v2/", None),
        ];
        for (method, path, action) in cases {
            assert_eq!(parse(method, path).unwrap().action(), action, "{path}");
        }
    }
}
