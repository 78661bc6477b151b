//! Image operations through `aws-sdk-ecr` against the real server: PutImage in the
//! four manifest formats and its errors, BatchGetImage, BatchDeleteImage,
//! DescribeImages and ListImages with filters and paging.

mod common;

use std::collections::BTreeSet;

use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_sdk_ecr::operation::put_image::PutImageError;
use aws_sdk_ecr::types::{
    DescribeImagesFilter, ImageFailureCode, ImageIdentifier, ImageTagMutability, ListImagesFilter,
    TagStatus,
};
use aws_sdk_ecr::Client;
use common::{
    create_repository, error_code, error_message, error_status, image_manifest, index_manifest,
    push_image, put_manifest, random_bytes, sha256_digest, upload_layer, variant_manifest, Format,
    Image, Server, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG, OCI_INDEX, OCI_LAYER,
    OCI_MANIFEST, REGISTRY_ID,
};

fn by_tag(tag: &str) -> ImageIdentifier {
    ImageIdentifier::builder().image_tag(tag).build()
}

fn by_digest(digest: &str) -> ImageIdentifier {
    ImageIdentifier::builder().image_digest(digest).build()
}

fn by_both(digest: &str, tag: &str) -> ImageIdentifier {
    ImageIdentifier::builder()
        .image_digest(digest)
        .image_tag(tag)
        .build()
}

/// (digest, tag) pairs as ListImages returns them.
type ImageIdPair = (String, Option<String>);

fn pair(id: &ImageIdentifier) -> ImageIdPair {
    (
        id.image_digest().expect("imageDigest").to_owned(),
        id.image_tag().map(str::to_owned),
    )
}

async fn list_pairs(
    client: &Client,
    repository: &str,
    status: TagStatus,
    page_size: i32,
) -> Vec<ImageIdPair> {
    client
        .list_images()
        .repository_name(repository)
        .filter(ListImagesFilter::builder().tag_status(status).build())
        .into_paginator()
        .page_size(page_size)
        .items()
        .send()
        .try_collect()
        .await
        .expect("page through images")
        .iter()
        .map(pair)
        .collect()
}

async fn put_error(
    client: &Client,
    repository: &str,
    manifest: &str,
    tag: Option<&str>,
) -> aws_sdk_ecr::error::SdkError<PutImageError> {
    client
        .put_image()
        .repository_name(repository)
        .image_manifest(manifest)
        .set_image_tag(tag.map(str::to_owned))
        .send()
        .await
        .expect_err("PutImage fails")
}

async fn image_tags(client: &Client, repository: &str, digest: &str) -> BTreeSet<String> {
    let output = client
        .describe_images()
        .repository_name(repository)
        .image_ids(by_digest(digest))
        .send()
        .await
        .expect("describe image");
    output.image_details()[0]
        .image_tags()
        .iter()
        .cloned()
        .collect()
}

#[tokio::test]
async fn put_image_accepts_four_formats() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "formats").await;
    let docker_amd = push_image(
        &client,
        "formats",
        Format::Docker,
        Some("docker"),
        &[1000, 2000],
    )
    .await;
    let docker_arm = push_image(&client, "formats", Format::Docker, None, &[1500]).await;
    let oci_amd = push_image(&client, "formats", Format::Oci, Some("oci"), &[3000]).await;
    let oci_arm = push_image(&client, "formats", Format::Oci, None, &[10, 20, 30]).await;
    let list = index_manifest(Format::Docker, &[&docker_amd, &docker_arm]);
    let list_digest = put_manifest(&client, "formats", &list, Some("list")).await;
    let index = index_manifest(Format::Oci, &[&oci_amd, &oci_arm]);
    let index_digest = put_manifest(&client, "formats", &index, Some("index")).await;

    let expected = [
        (
            "docker",
            &docker_amd.manifest,
            &docker_amd.digest,
            DOCKER_MANIFEST,
        ),
        ("oci", &oci_amd.manifest, &oci_amd.digest, OCI_MANIFEST),
        ("list", &list, &list_digest, DOCKER_MANIFEST_LIST),
        ("index", &index, &index_digest, OCI_INDEX),
    ];
    let output = client
        .batch_get_image()
        .repository_name("formats")
        .image_ids(by_tag("docker"))
        .image_ids(by_tag("oci"))
        .image_ids(by_tag("list"))
        .image_ids(by_tag("index"))
        .send()
        .await
        .expect("get images by tag");
    assert!(output.failures().is_empty(), "{:?}", output.failures());
    assert_eq!(output.images().len(), 4);
    for (image, (tag, manifest, digest, media_type)) in output.images().iter().zip(expected) {
        assert_eq!(image.registry_id(), Some(REGISTRY_ID), "{tag}");
        assert_eq!(image.repository_name(), Some("formats"), "{tag}");
        let id = image.image_id().expect("imageId");
        assert_eq!(id.image_tag(), Some(tag));
        assert_eq!(id.image_digest(), Some(digest.as_str()), "{tag}");
        assert_eq!(*digest, sha256_digest(manifest.as_bytes()), "{tag}");
        assert_eq!(image.image_manifest(), Some(manifest.as_str()), "{tag}");
        assert_eq!(image.image_manifest_media_type(), Some(media_type), "{tag}");
    }

    let output = client
        .batch_get_image()
        .repository_name("formats")
        .image_ids(by_digest(&index_digest))
        .image_ids(by_digest(&docker_arm.digest))
        .send()
        .await
        .expect("get images by digest");
    assert_eq!(output.images().len(), 2);
    assert_eq!(output.images()[0].image_manifest(), Some(index.as_str()));
    assert_eq!(output.images()[0].image_id().unwrap().image_tag(), None);
    assert_eq!(
        output.images()[1].image_manifest(),
        Some(docker_arm.manifest.as_str())
    );
    assert_eq!(
        output.images()[1].image_manifest_media_type(),
        Some(DOCKER_MANIFEST)
    );
}

#[tokio::test]
async fn media_type_taken_from_parameter() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "typed").await;
    let config = upload_layer(
        &client,
        "typed",
        br#"{"architecture":"arm64","os":"linux"}"#,
    )
    .await;
    let layer = upload_layer(&client, "typed", &random_bytes(5000)).await;
    // An OCI manifest may leave out mediaType, so the parameter supplies it.
    let manifest = format!(
        "{{\"schemaVersion\":2,\"config\":{{\"mediaType\":\"{OCI_CONFIG}\",\"digest\":\"{}\",\"size\":{}}},\
         \"layers\":[{{\"mediaType\":\"{OCI_LAYER}\",\"digest\":\"{}\",\"size\":{}}}]}}",
        config.digest, config.size, layer.digest, layer.size
    );

    let output = client
        .put_image()
        .repository_name("typed")
        .image_manifest(&manifest)
        .image_manifest_media_type(OCI_MANIFEST)
        .image_tag("v1")
        .send()
        .await
        .expect("put image");
    let image = output.image().expect("image");
    assert_eq!(image.image_manifest_media_type(), Some(OCI_MANIFEST));
    assert_eq!(image.image_manifest(), Some(manifest.as_str()));
    let digest = sha256_digest(manifest.as_bytes());
    assert_eq!(
        image.image_id().unwrap().image_digest(),
        Some(digest.as_str())
    );

    let described = client
        .describe_images()
        .repository_name("typed")
        .image_ids(by_tag("v1"))
        .send()
        .await
        .expect("describe image");
    let detail = &described.image_details()[0];
    assert_eq!(detail.image_manifest_media_type(), Some(OCI_MANIFEST));
    assert_eq!(detail.image_size_in_bytes(), Some(5000));
}

#[tokio::test]
async fn same_manifest_and_tag_twice_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "again").await;
    let image = push_image(&client, "again", Format::Docker, Some("v1"), &[100]).await;

    let error = put_error(&client, "again", &image.manifest, Some("v1")).await;
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        PutImageError::ImageAlreadyExistsException(_)
    ));

    // The same manifest under a new tag adds the tag to the image.
    let digest = put_manifest(&client, "again", &image.manifest, Some("v2")).await;
    assert_eq!(digest, image.digest);
    let tags = image_tags(&client, "again", &image.digest).await;
    assert_eq!(tags, BTreeSet::from(["v1".to_owned(), "v2".to_owned()]));
    let listed = list_pairs(&client, "again", TagStatus::Any, 100).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
}

#[tokio::test]
async fn immutable_tag_cannot_move() {
    let server = Server::start();
    let client = server.client();
    client
        .create_repository()
        .repository_name("frozen")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .send()
        .await
        .expect("create repository");
    let first = push_image(&client, "frozen", Format::Oci, Some("release"), &[100]).await;
    let second = push_image(&client, "frozen", Format::Oci, None, &[200]).await;

    let error = put_error(&client, "frozen", &second.manifest, Some("release")).await;
    assert_eq!(error_status(&error), 400);
    assert!(
        error_message(&error).contains("release"),
        "{}",
        error_message(&error)
    );
    assert!(matches!(
        error.into_service_error(),
        PutImageError::ImageTagAlreadyExistsException(_)
    ));
    // The same manifest and tag again is ImageAlreadyExists in an immutable repository too.
    let error = put_error(&client, "frozen", &first.manifest, Some("release")).await;
    assert_eq!(error_code(&error), "ImageAlreadyExistsException");

    let output = client
        .batch_get_image()
        .repository_name("frozen")
        .image_ids(by_tag("release"))
        .send()
        .await
        .expect("get image");
    assert_eq!(
        output.images()[0].image_manifest(),
        Some(first.manifest.as_str())
    );

    // In a mutable repository the tag moves and the old image stays, untagged.
    create_repository(&client, "fluid").await;
    let old = push_image(&client, "fluid", Format::Oci, Some("latest"), &[100]).await;
    let new = push_image(&client, "fluid", Format::Oci, None, &[200]).await;
    put_manifest(&client, "fluid", &new.manifest, Some("latest")).await;
    let tagged = list_pairs(&client, "fluid", TagStatus::Tagged, 100).await;
    assert_eq!(
        tagged,
        vec![(new.digest.clone(), Some("latest".to_owned()))]
    );
    let untagged = list_pairs(&client, "fluid", TagStatus::Untagged, 100).await;
    assert_eq!(untagged, vec![(old.digest.clone(), None)]);
}

#[tokio::test]
async fn manifest_with_missing_layer_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "holes").await;
    let image = push_image(&client, "holes", Format::Docker, None, &[100]).await;
    let absent = common::UploadedBlob {
        digest: sha256_digest(b"not uploaded"),
        size: 12,
        bytes: Vec::new(),
    };

    let missing_layer = image_manifest(
        Format::Docker,
        common::DOCKER_CONFIG,
        &image.config,
        &[image.layers[0].clone(), absent.clone()],
    );
    let error = put_error(&client, "holes", &missing_layer, Some("v1")).await;
    assert_eq!(error_status(&error), 400);
    assert!(
        error_message(&error).contains(&absent.digest),
        "{}",
        error_message(&error)
    );
    assert!(matches!(
        error.into_service_error(),
        PutImageError::LayersNotFoundException(_)
    ));

    let missing_config = image_manifest(
        Format::Docker,
        common::DOCKER_CONFIG,
        &absent,
        &image.layers,
    );
    let error = put_error(&client, "holes", &missing_config, Some("v1")).await;
    assert_eq!(error_code(&error), "LayersNotFoundException");

    // A layer uploaded to another repository does not count.
    create_repository(&client, "other").await;
    let error = put_error(&client, "other", &image.manifest, Some("v1")).await;
    assert_eq!(error_code(&error), "LayersNotFoundException");

    let listed = list_pairs(&client, "holes", TagStatus::Tagged, 100).await;
    assert!(listed.is_empty(), "{listed:?}");
}

#[tokio::test]
async fn index_with_missing_child_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "multi").await;
    let present = push_image(&client, "multi", Format::Oci, None, &[100]).await;
    let mut absent = present.clone();
    absent.digest = sha256_digest(b"a manifest that was never put");

    for format in [Format::Oci, Format::Docker] {
        let index = index_manifest(format, &[&present, &absent]);
        let error = put_error(&client, "multi", &index, Some("multi")).await;
        assert_eq!(error_status(&error), 400, "{format:?}");
        assert!(
            matches!(
                error.into_service_error(),
                PutImageError::ReferencedImagesNotFoundException(_)
            ),
            "{format:?}"
        );
    }
    let index = index_manifest(Format::Oci, &[&present]);
    put_manifest(&client, "multi", &index, Some("multi")).await;
}

#[tokio::test]
async fn digest_mismatch_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "sums").await;
    let image = push_image(&client, "sums", Format::Oci, None, &[100]).await;
    let variant = variant_manifest(&image, "checked");

    let error = client
        .put_image()
        .repository_name("sums")
        .image_manifest(&variant)
        .image_digest(&image.digest)
        .image_tag("v1")
        .send()
        .await
        .expect_err("the digest of another manifest");
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        PutImageError::ImageDigestDoesNotMatchException(_)
    ));

    let digest = sha256_digest(variant.as_bytes());
    let output = client
        .put_image()
        .repository_name("sums")
        .image_manifest(&variant)
        .image_digest(&digest)
        .image_tag("v1")
        .send()
        .await
        .expect("the matching digest");
    assert_eq!(
        output.image().unwrap().image_id().unwrap().image_digest(),
        Some(digest.as_str())
    );
}

#[tokio::test]
async fn invalid_manifest_json_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "junk").await;

    for manifest in ["not json {", "{\"schemaVersion\": 2,", "[1, 2"] {
        let error = put_error(&client, "junk", manifest, Some("v1")).await;
        assert_eq!(error_status(&error), 400, "{manifest}");
        assert!(
            error_message(&error).contains("Invalid JSON syntax"),
            "{}",
            error_message(&error)
        );
        assert!(
            matches!(
                error.into_service_error(),
                PutImageError::InvalidParameterException(_)
            ),
            "{manifest}"
        );
    }
}

#[tokio::test]
async fn trailing_newline_is_a_new_image() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "bytes").await;
    let image = push_image(&client, "bytes", Format::Docker, Some("plain"), &[100]).await;
    let with_newline = format!("{}\n", image.manifest);
    let with_crlf = format!("{}\r\n", image.manifest);

    let newline_digest = put_manifest(&client, "bytes", &with_newline, Some("newline")).await;
    let crlf_digest = put_manifest(&client, "bytes", &with_crlf, Some("crlf")).await;
    let digests = BTreeSet::from([
        image.digest.clone(),
        newline_digest.clone(),
        crlf_digest.clone(),
    ]);
    assert_eq!(digests.len(), 3);

    let output = client
        .batch_get_image()
        .repository_name("bytes")
        .image_ids(by_tag("plain"))
        .image_ids(by_tag("newline"))
        .image_ids(by_tag("crlf"))
        .send()
        .await
        .expect("get images");
    let manifests: Vec<_> = output
        .images()
        .iter()
        .map(|i| i.image_manifest().unwrap())
        .collect();
    assert_eq!(
        manifests,
        vec![image.manifest.as_str(), &with_newline, &with_crlf]
    );
}

#[tokio::test]
async fn batch_get_image_reports_failures() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "get").await;
    let first = push_image(&client, "get", Format::Docker, Some("one"), &[100]).await;
    let second = push_image(&client, "get", Format::Docker, Some("two"), &[100]).await;
    let unknown = sha256_digest(b"unknown");

    let output = client
        .batch_get_image()
        .repository_name("get")
        .image_ids(by_both(&first.digest, "one"))
        .image_ids(by_tag("missing"))
        .image_ids(by_digest(&unknown))
        .image_ids(by_both(&first.digest, "two"))
        .image_ids(by_digest(&second.digest))
        .send()
        .await
        .expect("batch get");
    let images = output.images();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0].image_id().unwrap().image_tag(), Some("one"));
    assert_eq!(images[0].image_manifest(), Some(first.manifest.as_str()));
    assert_eq!(
        images[1].image_id().unwrap().image_digest(),
        Some(second.digest.as_str())
    );
    assert_eq!(images[1].image_manifest(), Some(second.manifest.as_str()));

    let failures = output.failures();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert_eq!(failures[0].image_id().unwrap().image_tag(), Some("missing"));
    assert_eq!(
        failures[0].failure_code(),
        Some(&ImageFailureCode::ImageNotFound)
    );
    assert_eq!(
        failures[1].image_id().unwrap().image_digest(),
        Some(unknown.as_str())
    );
    assert_eq!(
        failures[1].failure_code(),
        Some(&ImageFailureCode::ImageNotFound)
    );
    assert_eq!(failures[2].image_id().unwrap().image_tag(), Some("two"));
    assert_eq!(
        failures[2].failure_code(),
        Some(&ImageFailureCode::ImageTagDoesNotMatchDigest)
    );
    for failure in failures {
        assert!(failure.failure_reason().is_some_and(|r| !r.is_empty()));
    }

    let error = client
        .batch_get_image()
        .repository_name("no-such-repo")
        .image_ids(by_tag("one"))
        .send()
        .await
        .expect_err("unknown repository");
    assert_eq!(error_code(&error), "RepositoryNotFoundException");
}

#[tokio::test]
async fn batch_get_image_converts_to_accepted_type() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "convert").await;
    let image = push_image(&client, "convert", Format::Docker, Some("v1"), &[100, 200]).await;

    let output = client
        .batch_get_image()
        .repository_name("convert")
        .image_ids(by_tag("v1"))
        .accepted_media_types(OCI_MANIFEST)
        .send()
        .await
        .expect("get as OCI");
    let converted = &output.images()[0];
    assert_eq!(converted.image_manifest_media_type(), Some(OCI_MANIFEST));
    let text = converted.image_manifest().expect("imageManifest");
    assert_eq!(
        converted.image_id().unwrap().image_digest(),
        Some(sha256_digest(text.as_bytes()).as_str())
    );
    let json: serde_json::Value = serde_json::from_str(text).expect("JSON");
    assert_eq!(json["mediaType"], OCI_MANIFEST);
    assert_eq!(json["config"]["mediaType"], OCI_CONFIG);
    assert_eq!(json["config"]["digest"], image.config.digest.as_str());
    assert_eq!(json["layers"][1]["mediaType"], OCI_LAYER);
    assert_eq!(json["layers"][1]["digest"], image.layers[1].digest.as_str());

    // When the stored type is accepted, the stored bytes come back.
    let output = client
        .batch_get_image()
        .repository_name("convert")
        .image_ids(by_tag("v1"))
        .accepted_media_types(OCI_MANIFEST)
        .accepted_media_types(DOCKER_MANIFEST)
        .send()
        .await
        .expect("get as stored");
    assert_eq!(
        output.images()[0].image_manifest(),
        Some(image.manifest.as_str())
    );
    assert_eq!(
        output.images()[0].image_id().unwrap().image_digest(),
        Some(image.digest.as_str())
    );
}

#[tokio::test]
async fn batch_delete_by_tag_keeps_tagged_image() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "untag").await;
    let image = push_image(&client, "untag", Format::Docker, Some("a"), &[100]).await;
    put_manifest(&client, "untag", &image.manifest, Some("b")).await;

    let output = client
        .batch_delete_image()
        .repository_name("untag")
        .image_ids(by_tag("a"))
        .send()
        .await
        .expect("delete tag a");
    assert!(output.failures().is_empty(), "{:?}", output.failures());
    let removed: Vec<_> = output.image_ids().iter().map(pair).collect();
    assert_eq!(removed, vec![(image.digest.clone(), Some("a".to_owned()))]);
    assert_eq!(
        image_tags(&client, "untag", &image.digest).await,
        BTreeSet::from(["b".to_owned()])
    );

    let output = client
        .batch_delete_image()
        .repository_name("untag")
        .image_ids(by_tag("b"))
        .send()
        .await
        .expect("delete tag b");
    let removed: Vec<_> = output.image_ids().iter().map(pair).collect();
    assert_eq!(removed, vec![(image.digest.clone(), Some("b".to_owned()))]);

    // Without its last tag the image is gone.
    let error = client
        .describe_images()
        .repository_name("untag")
        .image_ids(by_digest(&image.digest))
        .send()
        .await
        .expect_err("the image is deleted");
    assert!(matches!(
        error.into_service_error(),
        DescribeImagesError::ImageNotFoundException(_)
    ));
    assert!(list_pairs(&client, "untag", TagStatus::Any, 100)
        .await
        .is_empty());

    let output = client
        .batch_delete_image()
        .repository_name("untag")
        .image_ids(by_tag("b"))
        .send()
        .await
        .expect("delete a missing tag");
    assert!(output.image_ids().is_empty());
    assert_eq!(
        output.failures()[0].failure_code(),
        Some(&ImageFailureCode::ImageNotFound)
    );
}

#[tokio::test]
async fn batch_delete_by_digest_echoes_tags() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "purge").await;
    let tagged = push_image(&client, "purge", Format::Oci, Some("x"), &[100]).await;
    put_manifest(&client, "purge", &tagged.manifest, Some("y")).await;
    let untagged = push_image(&client, "purge", Format::Oci, None, &[100]).await;
    let child = push_image(&client, "purge", Format::Oci, None, &[100]).await;
    put_manifest(
        &client,
        "purge",
        &index_manifest(Format::Oci, &[&child]),
        Some("idx"),
    )
    .await;
    let other = push_image(&client, "purge", Format::Oci, Some("other"), &[100]).await;
    let unknown = sha256_digest(b"unknown");

    let output = client
        .batch_delete_image()
        .repository_name("purge")
        .image_ids(by_digest(&tagged.digest))
        .image_ids(by_digest(&untagged.digest))
        .image_ids(by_digest(&unknown))
        .image_ids(by_both(&tagged.digest, "other"))
        .image_ids(ImageIdentifier::builder().build())
        .image_ids(by_digest(&child.digest))
        .image_ids(by_digest("sha256:nothex"))
        .send()
        .await
        .expect("batch delete");
    let removed: BTreeSet<_> = output.image_ids().iter().map(pair).collect();
    let expected = BTreeSet::from([
        (tagged.digest.clone(), Some("x".to_owned())),
        (tagged.digest.clone(), Some("y".to_owned())),
        (untagged.digest.clone(), None),
    ]);
    assert_eq!(removed, expected);
    assert_eq!(output.image_ids().len(), 3);

    let codes: Vec<_> = output
        .failures()
        .iter()
        .map(|f| f.failure_code().cloned().expect("failureCode"))
        .collect();
    assert_eq!(
        codes,
        vec![
            ImageFailureCode::ImageNotFound,
            ImageFailureCode::ImageTagDoesNotMatchDigest,
            ImageFailureCode::MissingDigestAndTag,
            ImageFailureCode::ImageReferencedByManifestList,
            ImageFailureCode::InvalidImageDigest,
        ]
    );
    assert_eq!(
        output.failures()[0].image_id().unwrap().image_digest(),
        Some(unknown.as_str())
    );

    let left: BTreeSet<_> = list_pairs(&client, "purge", TagStatus::Any, 100)
        .await
        .into_iter()
        .collect();
    let index_digest = sha256_digest(index_manifest(Format::Oci, &[&child]).as_bytes());
    let expected = BTreeSet::from([
        (child.digest.clone(), None),
        (index_digest, Some("idx".to_owned())),
        (other.digest.clone(), Some("other".to_owned())),
    ]);
    assert_eq!(left, expected);
}

#[tokio::test]
async fn describe_images_reports_sizes_and_types() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "details").await;
    let small = push_image(
        &client,
        "details",
        Format::Docker,
        Some("small"),
        &[1000, 2345],
    )
    .await;
    let large = push_image(
        &client,
        "details",
        Format::Docker,
        None,
        &[10_000, 20_000, 7],
    )
    .await;
    let list = index_manifest(Format::Docker, &[&small, &large]);
    let list_digest = put_manifest(&client, "details", &list, Some("list")).await;
    put_manifest(&client, "details", &list, Some("list-2")).await;

    // An OCI artifact: its config media type is the artifact type.
    let artifact_type = "application/vnd.example.chart.config.v1+json";
    let config = upload_layer(&client, "details", b"{}").await;
    let payload = upload_layer(&client, "details", &random_bytes(4321)).await;
    let artifact = image_manifest(Format::Oci, artifact_type, &config, &[payload]);
    let artifact_digest = put_manifest(&client, "details", &artifact, Some("chart")).await;

    let output = client
        .describe_images()
        .repository_name("details")
        .image_ids(by_tag("small"))
        .image_ids(by_digest(&large.digest))
        .image_ids(by_tag("list"))
        .image_ids(by_digest(&artifact_digest))
        .send()
        .await
        .expect("describe images");
    let details = output.image_details();
    assert_eq!(details.len(), 4);
    for detail in details {
        assert_eq!(detail.registry_id(), Some(REGISTRY_ID));
        assert_eq!(detail.repository_name(), Some("details"));
        assert!(detail.image_pushed_at().is_some());
    }

    assert_eq!(details[0].image_digest(), Some(small.digest.as_str()));
    assert_eq!(details[0].image_size_in_bytes(), Some(small.layer_total()));
    assert_eq!(details[0].image_size_in_bytes(), Some(3345));
    assert_eq!(details[0].image_tags(), &["small".to_owned()]);
    assert_eq!(
        details[0].image_manifest_media_type(),
        Some(DOCKER_MANIFEST)
    );
    assert_eq!(
        details[0].artifact_media_type(),
        Some(common::DOCKER_CONFIG)
    );

    assert_eq!(details[1].image_digest(), Some(large.digest.as_str()));
    assert_eq!(details[1].image_size_in_bytes(), Some(30_007));
    assert!(details[1].image_tags().is_empty());

    assert_eq!(details[2].image_digest(), Some(list_digest.as_str()));
    assert_eq!(details[2].image_size_in_bytes(), Some(large.layer_total()));
    let tags: BTreeSet<_> = details[2].image_tags().iter().cloned().collect();
    assert_eq!(
        tags,
        BTreeSet::from(["list".to_owned(), "list-2".to_owned()])
    );
    assert_eq!(
        details[2].image_manifest_media_type(),
        Some(DOCKER_MANIFEST_LIST)
    );

    assert_eq!(details[3].image_size_in_bytes(), Some(4321));
    assert_eq!(details[3].image_manifest_media_type(), Some(OCI_MANIFEST));
    assert_eq!(details[3].artifact_media_type(), Some(artifact_type));

    for id in [by_tag("nope"), by_digest(&sha256_digest(b"nope"))] {
        let error = client
            .describe_images()
            .repository_name("details")
            .image_ids(by_tag("small"))
            .image_ids(id)
            .send()
            .await
            .expect_err("an unknown image");
        assert_eq!(error_status(&error), 400);
        assert!(matches!(
            error.into_service_error(),
            DescribeImagesError::ImageNotFoundException(_)
        ));
    }

    // Without ids, every image is described once, with the TAGGED and UNTAGGED filters too.
    let all: Vec<_> = client
        .describe_images()
        .repository_name("details")
        .into_paginator()
        .page_size(2)
        .items()
        .send()
        .try_collect()
        .await
        .expect("describe all");
    assert_eq!(all.len(), 4);
    for (status, expected) in [(TagStatus::Tagged, 3), (TagStatus::Untagged, 1)] {
        let page = client
            .describe_images()
            .repository_name("details")
            .filter(
                DescribeImagesFilter::builder()
                    .tag_status(status.clone())
                    .build(),
            )
            .send()
            .await
            .expect("describe filtered");
        assert_eq!(page.image_details().len(), expected, "{status:?}");
    }
}

#[tokio::test]
async fn list_images_filters_by_tag_status() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "filters").await;
    let two_tags = push_image(&client, "filters", Format::Docker, Some("a"), &[100]).await;
    put_manifest(&client, "filters", &two_tags.manifest, Some("b")).await;
    let one_tag = push_image(&client, "filters", Format::Oci, Some("c"), &[100]).await;
    let untagged_1 = push_image(&client, "filters", Format::Oci, None, &[100]).await;
    let untagged_2 = push_image(&client, "filters", Format::Docker, None, &[100]).await;

    let tagged = BTreeSet::from([
        (two_tags.digest.clone(), Some("a".to_owned())),
        (two_tags.digest.clone(), Some("b".to_owned())),
        (one_tag.digest.clone(), Some("c".to_owned())),
    ]);
    let untagged = BTreeSet::from([
        (untagged_1.digest.clone(), None),
        (untagged_2.digest.clone(), None),
    ]);
    let any: BTreeSet<_> = tagged.union(&untagged).cloned().collect();

    for (status, expected) in [
        (TagStatus::Tagged, &tagged),
        (TagStatus::Untagged, &untagged),
        (TagStatus::Any, &any),
    ] {
        let listed = list_pairs(&client, "filters", status.clone(), 2).await;
        let unique: BTreeSet<_> = listed.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            listed.len(),
            "{status:?}: duplicates in {listed:?}"
        );
        assert_eq!(&unique, expected, "{status:?}");
    }

    let unfiltered = client
        .list_images()
        .repository_name("filters")
        .send()
        .await
        .expect("list");
    assert_eq!(unfiltered.image_ids().len(), 5);
    assert_eq!(unfiltered.next_token(), None);
}

/// Puts `count` distinct images over the blobs of `base`, each with one tag.
async fn put_variants(
    client: &Client,
    repository: &str,
    base: &Image,
    prefix: &str,
    count: usize,
) -> Vec<ImageIdPair> {
    let mut ids = Vec::new();
    for i in 0..count {
        let note = format!("{prefix}-{i:03}");
        let digest = put_manifest(
            client,
            repository,
            &variant_manifest(base, &note),
            Some(&note),
        )
        .await;
        ids.push((digest, Some(note)));
    }
    ids
}

#[tokio::test]
async fn image_listings_page_each_once() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "many").await;
    let base = push_image(&client, "many", Format::Oci, None, &[100]).await;
    let mut expected: BTreeSet<_> = put_variants(&client, "many", &base, "v", 40)
        .await
        .into_iter()
        .collect();
    // Second tags on some images and the untagged base give rows of every shape.
    for (digest, tag) in expected.clone().iter().take(5) {
        let second = format!("{}-also", tag.as_ref().unwrap());
        let manifest = client
            .batch_get_image()
            .repository_name("many")
            .image_ids(by_digest(digest))
            .send()
            .await
            .expect("get image")
            .images()[0]
            .image_manifest()
            .unwrap()
            .to_owned();
        put_manifest(&client, "many", &manifest, Some(&second)).await;
        expected.insert((digest.clone(), Some(second)));
    }
    expected.insert((base.digest.clone(), None));
    assert_eq!(expected.len(), 46);

    for page_size in [1, 7, 46, 1000] {
        let listed = list_pairs(&client, "many", TagStatus::Any, page_size).await;
        assert_eq!(listed.len(), expected.len(), "page size {page_size}");
        let unique: BTreeSet<_> = listed.into_iter().collect();
        assert_eq!(unique, expected, "page size {page_size}");
    }

    let digests: BTreeSet<_> = expected.iter().map(|(digest, _)| digest.clone()).collect();
    for page_size in [1, 6, 41] {
        let described: Vec<_> = client
            .describe_images()
            .repository_name("many")
            .into_paginator()
            .page_size(page_size)
            .items()
            .send()
            .try_collect()
            .await
            .expect("describe all");
        let seen: Vec<_> = described
            .iter()
            .map(|d| d.image_digest().unwrap().to_owned())
            .collect();
        assert_eq!(seen.len(), 41, "page size {page_size}");
        assert_eq!(
            seen.into_iter().collect::<BTreeSet<_>>(),
            digests,
            "page size {page_size}"
        );
    }
}

#[tokio::test]
async fn image_listing_survives_inserts() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "moving").await;
    let base = push_image(&client, "moving", Format::Oci, Some("base"), &[100]).await;
    let mut existing: BTreeSet<_> = put_variants(&client, "moving", &base, "old", 24)
        .await
        .into_iter()
        .collect();
    existing.insert((base.digest.clone(), Some("base".to_owned())));

    let mut stream = client
        .list_images()
        .repository_name("moving")
        .into_paginator()
        .page_size(5)
        .items()
        .send();
    let mut seen = Vec::new();
    let mut added = BTreeSet::new();
    while let Some(id) = stream.try_next().await.expect("next image id") {
        seen.push(pair(&id));
        if seen.len() == 7 {
            added.extend(put_variants(&client, "moving", &base, "new", 6).await);
            // A new tag on an image already listed is a new row before the cursor.
            put_manifest(&client, "moving", &base.manifest, Some("base-2")).await;
            added.insert((base.digest.clone(), Some("base-2".to_owned())));
        }
    }

    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "duplicates in {seen:?}");
    for id in &existing {
        assert!(unique.contains(id), "{id:?} was skipped");
    }
    for id in &unique {
        assert!(
            existing.contains(id) || added.contains(id),
            "unexpected {id:?}"
        );
    }
    // Images put after the listing started sort after every cursor, so they appear.
    for id in added
        .iter()
        .filter(|(_, tag)| tag.as_deref() != Some("base-2"))
    {
        assert!(unique.contains(id), "new image {id:?} was skipped");
    }
}

#[tokio::test]
async fn index_with_wrong_child_size_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "multi/sizes").await;
    let child = push_image(&client, "multi/sizes", Format::Oci, None, &[100]).await;
    let index = index_manifest(Format::Oci, &[&child]);
    let declared = format!("\"size\": {}", child.manifest.len());
    assert!(index.contains(&declared), "{index}");
    let wrong = index.replace(&declared, "\"size\": 1");

    let error = client
        .put_image()
        .repository_name("multi/sizes")
        .image_manifest(wrong)
        .image_tag("all")
        .send()
        .await
        .expect_err("a child descriptor with the wrong size");
    assert_eq!(error_code(&error), "InvalidParameterException");
    let message = error_message(&error);
    assert!(message.contains("manifests[0]"), "{message}");
    assert!(
        message.contains(&child.manifest.len().to_string()),
        "{message}"
    );
}
