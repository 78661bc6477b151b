//! Layer operations: the upload API in parts, availability checks and download URLs.

use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use berth_auth::PresignTarget;
use berth_service::{LayerPart, UPLOAD_PART_SIZE};
use berth_types::Digest;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::EcrError;
use crate::wire::{
    check_length, check_registry_id, output, parse_input, parse_input_borrowed, repository_name,
    required,
};
use crate::Call;

/// The largest part, from the model's `LayerPartBlob` shape.
const MAX_PART_BYTES: usize = 20_971_520;
/// How long a download URL stays valid.
const DOWNLOAD_URL_SECONDS: u32 = 3600;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InitiateInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
}

pub async fn initiate(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: InitiateInput = parse_input(call.body)?;
    check_registry_id(input.registry_id.as_deref(), call.registry.settings())?;
    let name = repository_name(input.repository_name)?;
    let upload_id = call.registry.start_upload(&name).await?;
    Ok(output(
        &serde_json::json!({ "uploadId": upload_id, "partSize": UPLOAD_PART_SIZE }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UploadPartInput<'a> {
    registry_id: Option<String>,
    repository_name: Option<String>,
    upload_id: Option<String>,
    part_first_byte: Option<i64>,
    part_last_byte: Option<i64>,
    #[serde(borrow)]
    layer_part_blob: Option<BodyText<'a>>,
}

/// A string borrowed from the request body when it has no escapes, which base64 never
/// needs, so a 20 MiB part is not copied once more before decoding. serde borrows a
/// `Cow` only outside an `Option`, hence the wrapper.
#[derive(Deserialize)]
struct BodyText<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

fn upload_id(value: Option<String>) -> Result<String, EcrError> {
    let id = required("uploadId", value)?;
    let valid = uuid_shaped(&id);
    if !valid {
        return Err(EcrError::invalid_parameter(format!(
            "Invalid parameter at 'uploadId' failed to satisfy constraint: 'must satisfy regular expression \
             '[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}'' (got '{id}')"
        )));
    }
    Ok(id)
}

fn uuid_shaped(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups.iter().zip(lengths).all(|(group, length)| {
            group.len() == length && group.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

fn non_negative(field: &str, value: Option<i64>) -> Result<u64, EcrError> {
    let value = required(field, value)?;
    u64::try_from(value).map_err(|_| {
        EcrError::invalid_parameter(format!(
            "Invalid parameter at '{field}' failed to satisfy constraint: 'Member must have value greater than or equal to 0' (got {value})"
        ))
    })
}

pub async fn upload_part(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: UploadPartInput = parse_input_borrowed(call.body)?;
    let settings = call.registry.settings();
    check_registry_id(input.registry_id.as_deref(), settings)?;
    let name = repository_name(input.repository_name)?;
    let id = upload_id(input.upload_id)?;
    let first = non_negative("partFirstByte", input.part_first_byte)?;
    let last = non_negative("partLastByte", input.part_last_byte)?;
    let blob = STANDARD
        .decode(
            required("layerPartBlob", input.layer_part_blob)?
                .0
                .as_bytes(),
        )
        .map_err(|error| {
            EcrError::serialization(format!("layerPartBlob is not valid base64: {error}"))
        })?;
    check_length("layerPartBlob", blob.len(), 0, MAX_PART_BYTES)?;
    if last < first || last - first + 1 != blob.len() as u64 {
        // lastValidByteReceived reports what the upload holds, so the client can
        // resume from there. The size lookup also reports an unknown upload first.
        let size = call.registry.upload_size(&name, &id).await?;
        let error = berth_service::Error::InvalidLayerPart {
            upload_id: id.clone(),
            name: name.to_string(),
            last_valid_byte: size.saturating_sub(1),
            message: format!(
                "The part covers bytes {first} to {last}, which is {} bytes, but layerPartBlob has {} bytes",
                (last + 1).saturating_sub(first),
                blob.len()
            ),
        };
        return Err(with_registry_id(error.into(), settings));
    }
    let body = Box::pin(futures_util::stream::once(
        async move { Ok(Bytes::from(blob)) },
    ));
    let size = call
        .registry
        .append_upload(&name, &id, Some(LayerPart { first_byte: first }), body)
        .await
        .map_err(|error| with_registry_id(error.into(), settings))?;
    Ok(output(&serde_json::json!({
        "registryId": settings.registry_id,
        "repositoryName": name.as_str(),
        "uploadId": id,
        "lastByteReceived": size.saturating_sub(1),
    })))
}

/// Adds the `registryId` member that the model gives `InvalidLayerPartException`.
fn with_registry_id(mut error: EcrError, settings: &berth_service::Settings) -> EcrError {
    if error.code == "InvalidLayerPartException" {
        error
            .extra
            .insert("registryId".into(), settings.registry_id.clone().into());
    }
    error
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CompleteInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    upload_id: Option<String>,
    layer_digests: Option<Vec<String>>,
}

fn layer_digest(text: &str) -> Result<Digest, EcrError> {
    Digest::parse(text).map_err(|error| {
        EcrError::invalid_parameter(format!(
            "Invalid parameter at 'layerDigests' failed to satisfy constraint: '{error}'"
        ))
    })
}

pub async fn complete(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: CompleteInput = parse_input(call.body)?;
    let settings = call.registry.settings();
    check_registry_id(input.registry_id.as_deref(), settings)?;
    let name = repository_name(input.repository_name)?;
    let id = upload_id(input.upload_id)?;
    let digests = required("layerDigests", input.layer_digests)?;
    check_length("layerDigests", digests.len(), 1, 100)?;
    let digests = digests
        .iter()
        .map(|d| layer_digest(d))
        .collect::<Result<Vec<_>, _>>()?;
    let digest = call
        .registry
        .complete_layer_upload(&name, &id, &digests)
        .await?;
    Ok(output(&serde_json::json!({
        "registryId": settings.registry_id,
        "repositoryName": name.as_str(),
        "uploadId": id,
        "layerDigest": digest.as_str(),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CheckInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    layer_digests: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Layer {
    layer_digest: String,
    layer_availability: &'static str,
    layer_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LayerFailure {
    layer_digest: String,
    failure_code: &'static str,
    failure_reason: String,
}

pub async fn batch_check(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: CheckInput = parse_input(call.body)?;
    check_registry_id(input.registry_id.as_deref(), call.registry.settings())?;
    let name = repository_name(input.repository_name)?;
    let digests = required("layerDigests", input.layer_digests)?;
    check_length("layerDigests", digests.len(), 1, 100)?;
    call.registry.repository(&name).await?;
    let (mut layers, mut failures) = (Vec::new(), Vec::new());
    for text in digests {
        let Ok(digest) = Digest::parse(&text) else {
            let reason = format!("'{text}' is not a valid sha256 digest");
            failures.push(LayerFailure {
                layer_digest: text,
                failure_code: "InvalidLayerDigest",
                failure_reason: reason,
            });
            continue;
        };
        match call.registry.blob(&name, &digest).await {
            Ok(blob) => layers.push(Layer {
                layer_digest: text,
                layer_availability: "AVAILABLE",
                layer_size: blob.size,
                media_type: blob.media_type,
            }),
            Err(berth_service::Error::BlobUnknown { .. }) => failures.push(LayerFailure {
                layer_digest: text,
                failure_code: "MissingLayerDigest",
                failure_reason: "Requested layer not found".into(),
            }),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(output(
        &serde_json::json!({ "layers": layers, "failures": failures }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DownloadInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    layer_digest: Option<String>,
}

pub async fn download_url(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: DownloadInput = parse_input(call.body)?;
    let settings = call.registry.settings();
    check_registry_id(input.registry_id.as_deref(), settings)?;
    let name = repository_name(input.repository_name)?;
    let text = required("layerDigest", input.layer_digest)?;
    let digest = Digest::parse(&text).map_err(|error| {
        EcrError::invalid_parameter(format!(
            "Invalid parameter at 'layerDigest' failed to satisfy constraint: '{error}'"
        ))
    })?;
    call.registry.downloadable_layer(&name, &digest).await?;

    let public_url = call.state.public_url.trim_end_matches('/');
    let host = public_url
        .split_once("://")
        .map_or(public_url, |(_, host)| host);
    let path = format!("/v2/{name}/blobs/{digest}");
    let target = PresignTarget {
        method: "GET",
        host,
        path: &path,
        query: "",
        region: &settings.region,
        service: "ecr",
        expires_secs: DOWNLOAD_URL_SECONDS,
    };
    let now = call.registry.clock().now();
    let query = berth_auth::presign_query(&target, &call.state.url_signing_key, now)
        .map_err(|error| berth_service::Error::internal("signing a download URL", error))?;
    Ok(output(&serde_json::json!({
        "downloadUrl": format!("{public_url}{path}?{query}"),
        "layerDigest": digest.as_str(),
    })))
}
