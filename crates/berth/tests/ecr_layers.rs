//! The ECR layer API through `aws-sdk-ecr` against the real server: uploads in parts
//! and their errors, BatchCheckLayerAvailability and GetDownloadUrlForLayer.

mod common;

use aws_sdk_ecr::operation::complete_layer_upload::CompleteLayerUploadError;
use aws_sdk_ecr::operation::get_download_url_for_layer::GetDownloadUrlForLayerError;
use aws_sdk_ecr::operation::upload_layer_part::UploadLayerPartError;
use aws_sdk_ecr::primitives::Blob;
use aws_sdk_ecr::types::{LayerAvailability, LayerFailureCode};
use aws_sdk_ecr::Client;
use common::{
    create_repository, error_code, error_status, http_get, push_image, random_bytes, sha256_digest,
    upload_layer, Format, Server,
};

const MIB: usize = 1024 * 1024;

async fn initiate(client: &Client, repository: &str) -> String {
    let output = client
        .initiate_layer_upload()
        .repository_name(repository)
        .send()
        .await
        .expect("initiate upload");
    output.upload_id().expect("uploadId").to_owned()
}

async fn upload_part(
    client: &Client,
    repository: &str,
    upload_id: &str,
    first: usize,
    bytes: &[u8],
) -> Result<i64, aws_sdk_ecr::error::SdkError<UploadLayerPartError>> {
    let output = client
        .upload_layer_part()
        .repository_name(repository)
        .upload_id(upload_id)
        .part_first_byte(first as i64)
        .part_last_byte((first + bytes.len()) as i64 - 1)
        .layer_part_blob(Blob::new(bytes))
        .send()
        .await?;
    Ok(output.last_byte_received().expect("lastByteReceived"))
}

async fn complete(
    client: &Client,
    repository: &str,
    upload_id: &str,
    digest: &str,
) -> Result<String, aws_sdk_ecr::error::SdkError<CompleteLayerUploadError>> {
    let output = client
        .complete_layer_upload()
        .repository_name(repository)
        .upload_id(upload_id)
        .layer_digests(digest)
        .send()
        .await?;
    Ok(output.layer_digest().expect("layerDigest").to_owned())
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

#[tokio::test]
async fn layer_upload_in_one_part() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "layers").await;

    let initiated = client
        .initiate_layer_upload()
        .repository_name("layers")
        .send()
        .await
        .expect("initiate upload");
    let upload_id = initiated.upload_id().expect("uploadId");
    assert!(is_uuid(upload_id), "{upload_id}");
    assert_eq!(initiated.part_size(), Some(10 * MIB as i64));

    let bytes = random_bytes(300_001);
    let digest = sha256_digest(&bytes);
    let uploaded = client
        .upload_layer_part()
        .repository_name("layers")
        .upload_id(upload_id)
        .part_first_byte(0)
        .part_last_byte(300_000)
        .layer_part_blob(Blob::new(bytes.clone()))
        .send()
        .await
        .expect("upload part");
    assert_eq!(uploaded.last_byte_received(), Some(300_000));
    assert_eq!(uploaded.upload_id(), Some(upload_id));
    assert_eq!(uploaded.repository_name(), Some("layers"));

    let completed = client
        .complete_layer_upload()
        .repository_name("layers")
        .upload_id(upload_id)
        .layer_digests(&digest)
        .send()
        .await
        .expect("complete upload");
    assert_eq!(completed.layer_digest(), Some(digest.as_str()));
    assert_eq!(completed.upload_id(), Some(upload_id));
    assert_eq!(completed.repository_name(), Some("layers"));
    assert_eq!(completed.registry_id(), Some(common::REGISTRY_ID));

    let checked = client
        .batch_check_layer_availability()
        .repository_name("layers")
        .layer_digests(&digest)
        .send()
        .await
        .expect("check layer");
    assert!(checked.failures().is_empty(), "{:?}", checked.failures());
    let layer = &checked.layers()[0];
    assert_eq!(layer.layer_digest(), Some(digest.as_str()));
    assert_eq!(
        layer.layer_availability(),
        Some(&LayerAvailability::Available)
    );
    assert_eq!(layer.layer_size(), Some(300_001));
}

#[tokio::test]
async fn layer_upload_in_two_parts() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "parts").await;
    let bytes = random_bytes(5 * MIB + 4321);
    let upload_id = initiate(&client, "parts").await;

    let last = upload_part(&client, "parts", &upload_id, 0, &bytes[..5 * MIB])
        .await
        .expect("part 1");
    assert_eq!(last, 5 * MIB as i64 - 1);
    let last = upload_part(&client, "parts", &upload_id, 5 * MIB, &bytes[5 * MIB..])
        .await
        .expect("part 2");
    assert_eq!(last, bytes.len() as i64 - 1);
    let digest = complete(&client, "parts", &upload_id, &sha256_digest(&bytes))
        .await
        .expect("complete upload");
    assert_eq!(digest, sha256_digest(&bytes));

    let checked = client
        .batch_check_layer_availability()
        .repository_name("parts")
        .layer_digests(&digest)
        .send()
        .await
        .expect("check layer");
    assert_eq!(checked.layers()[0].layer_size(), Some(bytes.len() as i64));
}

#[tokio::test]
async fn non_contiguous_part_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "gaps").await;
    // The first part has the 5 MiB minimum, so the upload can complete afterwards.
    let bytes = random_bytes(5 * MIB + 300);
    let upload_id = initiate(&client, "gaps").await;
    upload_part(&client, "gaps", &upload_id, 0, &bytes[..5 * MIB])
        .await
        .expect("part 1");

    // A gap, an overlap and a restart all leave the upload at 5 MiB.
    for first in [5 * MIB + 100, 5 * MIB - 50, 0] {
        let error = upload_part(
            &client,
            "gaps",
            &upload_id,
            first,
            &bytes[first..first + 100],
        )
        .await
        .expect_err("a part that does not start where the upload ends");
        assert_eq!(error_status(&error), 400, "part at {first}");
        let UploadLayerPartError::InvalidLayerPartException(part) = error.into_service_error()
        else {
            panic!("part at {first}: not InvalidLayerPartException");
        };
        assert_eq!(
            part.last_valid_byte_received(),
            Some(5 * MIB as i64 - 1),
            "part at {first}"
        );
        assert_eq!(part.upload_id(), Some(upload_id.as_str()));
        assert_eq!(part.repository_name(), Some("gaps"));
        assert_eq!(part.registry_id(), Some(common::REGISTRY_ID));
    }

    // A part whose byte range does not match its length, wherever it starts.
    for first in [5 * MIB, 0, 100] {
        let error = client
            .upload_layer_part()
            .repository_name("gaps")
            .upload_id(&upload_id)
            .part_first_byte(first as i64)
            .part_last_byte(first as i64 + 150)
            .layer_part_blob(Blob::new(&bytes[first..first + 100]))
            .send()
            .await
            .expect_err("range and length disagree");
        let UploadLayerPartError::InvalidLayerPartException(part) = error.into_service_error()
        else {
            panic!("range at {first}: not InvalidLayerPartException");
        };
        assert_eq!(
            part.last_valid_byte_received(),
            Some(5 * MIB as i64 - 1),
            "range at {first}"
        );
        assert_eq!(part.registry_id(), Some(common::REGISTRY_ID));
    }

    // The upload continues where it stopped.
    upload_part(&client, "gaps", &upload_id, 5 * MIB, &bytes[5 * MIB..])
        .await
        .expect("part 2");
    let digest = complete(&client, "gaps", &upload_id, &sha256_digest(&bytes))
        .await
        .expect("complete");
    assert_eq!(digest, sha256_digest(&bytes));
}

#[tokio::test]
async fn unknown_upload_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "up-a").await;
    create_repository(&client, "up-b").await;
    let bytes = random_bytes(64);
    let unknown = "0b7e3a52-5f4e-4f3c-9a41-7d2b8c6e1f00";

    let error = upload_part(&client, "up-a", unknown, 0, &bytes)
        .await
        .expect_err("unknown id");
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        UploadLayerPartError::UploadNotFoundException(_)
    ));
    let error = complete(&client, "up-a", unknown, &sha256_digest(&bytes))
        .await
        .expect_err("unknown id");
    assert!(matches!(
        error.into_service_error(),
        CompleteLayerUploadError::UploadNotFoundException(_)
    ));

    // An upload belongs to the repository that started it.
    let upload_id = initiate(&client, "up-a").await;
    let error = upload_part(&client, "up-b", &upload_id, 0, &bytes)
        .await
        .expect_err("other repository");
    assert_eq!(error_code(&error), "UploadNotFoundException");

    // A completed upload is gone.
    upload_part(&client, "up-a", &upload_id, 0, &bytes)
        .await
        .expect("part");
    complete(&client, "up-a", &upload_id, &sha256_digest(&bytes))
        .await
        .expect("complete");
    let error = upload_part(&client, "up-a", &upload_id, 64, &bytes)
        .await
        .expect_err("completed upload");
    assert_eq!(error_code(&error), "UploadNotFoundException");
    let error = complete(&client, "up-a", &upload_id, &sha256_digest(&bytes))
        .await
        .expect_err("completed upload");
    assert_eq!(error_code(&error), "UploadNotFoundException");

    let error = upload_part(&client, "up-a", "not-a-uuid", 0, &bytes)
        .await
        .expect_err("malformed id");
    assert_eq!(error_code(&error), "InvalidParameterException");
}

#[tokio::test]
async fn empty_upload_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "empty").await;
    let upload_id = initiate(&client, "empty").await;

    let error = complete(&client, "empty", &upload_id, &sha256_digest(b""))
        .await
        .expect_err("no parts");
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        CompleteLayerUploadError::EmptyUploadException(_)
    ));
}

#[tokio::test]
async fn small_non_final_part_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "small").await;
    let bytes = random_bytes(MIB + 1024);
    let upload_id = initiate(&client, "small").await;
    upload_part(&client, "small", &upload_id, 0, &bytes[..MIB])
        .await
        .expect("part 1");
    upload_part(&client, "small", &upload_id, MIB, &bytes[MIB..])
        .await
        .expect("part 2");

    let error = complete(&client, "small", &upload_id, &sha256_digest(&bytes))
        .await
        .expect_err("a 1 MiB first part");
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        CompleteLayerUploadError::LayerPartTooSmallException(_)
    ));
    let checked = client
        .batch_check_layer_availability()
        .repository_name("small")
        .layer_digests(sha256_digest(&bytes))
        .send()
        .await
        .expect("check layer");
    assert!(checked.layers().is_empty(), "{:?}", checked.layers());
}

#[tokio::test]
async fn wrong_layer_digest_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "wrong").await;
    let bytes = random_bytes(4096);
    let other = sha256_digest(&random_bytes(4096));
    let upload_id = initiate(&client, "wrong").await;
    upload_part(&client, "wrong", &upload_id, 0, &bytes)
        .await
        .expect("part");

    let error = complete(&client, "wrong", &upload_id, &other)
        .await
        .expect_err("wrong digest");
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        CompleteLayerUploadError::InvalidLayerException(_)
    ));
    let checked = client
        .batch_check_layer_availability()
        .repository_name("wrong")
        .layer_digests(&other)
        .layer_digests(sha256_digest(&bytes))
        .send()
        .await
        .expect("check layers");
    assert!(checked.layers().is_empty(), "{:?}", checked.layers());
    assert_eq!(checked.failures().len(), 2);
}

#[tokio::test]
async fn duplicate_layer_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "dup").await;
    let bytes = random_bytes(2048);
    upload_layer(&client, "dup", &bytes).await;

    let upload_id = initiate(&client, "dup").await;
    upload_part(&client, "dup", &upload_id, 0, &bytes)
        .await
        .expect("part");
    let error = complete(&client, "dup", &upload_id, &sha256_digest(&bytes))
        .await
        .expect_err("the layer exists");
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        CompleteLayerUploadError::LayerAlreadyExistsException(_)
    ));

    // The same bytes in another repository are a new layer there.
    create_repository(&client, "dup-2").await;
    upload_layer(&client, "dup-2", &bytes).await;
}

#[tokio::test]
async fn batch_check_reports_each_digest() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "check").await;
    let present = upload_layer(&client, "check", &random_bytes(777)).await;
    let missing = sha256_digest(&random_bytes(16));
    let malformed = ["sha256:xyz", "nonsense", "sha256:abc"];

    let mut request = client
        .batch_check_layer_availability()
        .repository_name("check")
        .layer_digests(&present.digest)
        .layer_digests(&missing);
    for digest in malformed {
        request = request.layer_digests(digest);
    }
    let checked = request.send().await.expect("check layers");

    assert_eq!(checked.layers().len(), 1);
    let layer = &checked.layers()[0];
    assert_eq!(layer.layer_digest(), Some(present.digest.as_str()));
    assert_eq!(
        layer.layer_availability(),
        Some(&LayerAvailability::Available)
    );
    assert_eq!(layer.layer_size(), Some(777));

    let failures = checked.failures();
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert_eq!(failures[0].layer_digest(), Some(missing.as_str()));
    assert_eq!(
        failures[0].failure_code(),
        Some(&LayerFailureCode::MissingLayerDigest)
    );
    for (failure, digest) in failures[1..].iter().zip(malformed) {
        assert_eq!(failure.layer_digest(), Some(digest));
        assert_eq!(
            failure.failure_code(),
            Some(&LayerFailureCode::InvalidLayerDigest),
            "{digest}"
        );
        assert!(failure.failure_reason().is_some_and(|r| !r.is_empty()));
    }

    let error = client
        .batch_check_layer_availability()
        .repository_name("no-such-repo")
        .layer_digests(&present.digest)
        .send()
        .await
        .expect_err("unknown repository");
    assert_eq!(error_code(&error), "RepositoryNotFoundException");
}

#[tokio::test]
async fn download_url_serves_layer_bytes() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "dl/app").await;
    // The first layer is larger than partSize, so upload_layer sends it in two parts.
    let image = push_image(
        &client,
        "dl/app",
        Format::Docker,
        Some("v1"),
        &[10 * MIB + 5, 1],
    )
    .await;

    for blob in image.layers.iter().chain([&image.config]) {
        let output = client
            .get_download_url_for_layer()
            .repository_name("dl/app")
            .layer_digest(&blob.digest)
            .send()
            .await
            .expect("download URL");
        assert_eq!(output.layer_digest(), Some(blob.digest.as_str()));
        let url = output.download_url().expect("downloadUrl");
        let prefix = format!("{}/v2/dl/app/blobs/{}", server.endpoint(), blob.digest);
        assert!(url.starts_with(&prefix), "{url}");

        let (status, body) = http_get(url).await;
        assert_eq!(status, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
        assert_eq!(body.len(), blob.bytes.len());
        assert!(
            body == blob.bytes,
            "the downloaded bytes of {} differ",
            blob.digest
        );
    }

    // The URL is signed: changing its signature makes it useless.
    let output = client
        .get_download_url_for_layer()
        .repository_name("dl/app")
        .layer_digest(&image.layers[0].digest)
        .send()
        .await
        .expect("download URL");
    let url = output.download_url().unwrap();
    let forged = match url.strip_suffix('0') {
        Some(stem) => format!("{stem}1"),
        None => format!("{}0", &url[..url.len() - 1]),
    };
    let (status, _) = http_get(&forged).await;
    assert!(
        status == 401 || status == 403,
        "a forged signature got {status}"
    );
}

#[tokio::test]
async fn download_url_requires_referenced_layer() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "dl").await;
    let unreferenced = upload_layer(&client, "dl", &random_bytes(512)).await;

    let error = client
        .get_download_url_for_layer()
        .repository_name("dl")
        .layer_digest(&unreferenced.digest)
        .send()
        .await
        .expect_err("an unreferenced layer");
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        GetDownloadUrlForLayerError::LayerInaccessibleException(_)
    ));

    let error = client
        .get_download_url_for_layer()
        .repository_name("dl")
        .layer_digest(sha256_digest(b"never uploaded"))
        .send()
        .await
        .expect_err("an unknown layer");
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        GetDownloadUrlForLayerError::LayersNotFoundException(_)
    ));

    // Once an image references the layer, it can be downloaded.
    let image = push_image(&client, "dl", Format::Oci, None, &[]).await;
    let manifest = common::image_manifest(
        Format::Oci,
        common::OCI_CONFIG,
        &image.config,
        std::slice::from_ref(&unreferenced),
    );
    common::put_manifest(&client, "dl", &manifest, Some("uses-it")).await;
    let output = client
        .get_download_url_for_layer()
        .repository_name("dl")
        .layer_digest(&unreferenced.digest)
        .send()
        .await
        .expect("download URL of a referenced layer");
    assert_eq!(output.layer_digest(), Some(unreferenced.digest.as_str()));
}
