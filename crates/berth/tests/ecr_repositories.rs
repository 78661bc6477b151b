//! Repository operations through `aws-sdk-ecr` against the real server: create,
//! describe, delete, settings, resource tags, validation and paging.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_ecr::operation::create_repository::CreateRepositoryError;
use aws_sdk_ecr::operation::delete_repository::DeleteRepositoryError;
use aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesError;
use aws_sdk_ecr::operation::tag_resource::TagResourceError;
use aws_sdk_ecr::operation::RequestId;
use aws_sdk_ecr::types::{
    EncryptionType, ImageIdentifier, ImageScanningConfiguration, ImageTagMutability, Tag,
};
use aws_sdk_ecr::Client;
use common::{
    create_repository, error_code, error_message, error_status, push_image, Format, Server,
    REGISTRY_ID,
};

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value are set")
}

fn arn(name: &str) -> String {
    format!("arn:aws:ecr:us-east-1:{REGISTRY_ID}:repository/{name}")
}

async fn list_tags(client: &Client, name: &str) -> BTreeMap<String, String> {
    let output = client
        .list_tags_for_resource()
        .resource_arn(arn(name))
        .send()
        .await
        .expect("list tags");
    output
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

async fn describe_all_names(client: &Client, page_size: i32) -> Vec<String> {
    client
        .describe_repositories()
        .into_paginator()
        .page_size(page_size)
        .items()
        .send()
        .try_collect()
        .await
        .expect("page through repositories")
        .iter()
        .map(|r| r.repository_name().expect("repositoryName").to_owned())
        .collect()
}

#[tokio::test]
async fn create_describe_delete_round_trip() {
    let server = Server::start();
    let client = server.client();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();

    let created = client
        .create_repository()
        .repository_name("team/app")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .tags(tag("team", "platform"))
        .send()
        .await
        .expect("create repository");
    assert!(created.request_id().is_some_and(|id| !id.is_empty()));
    let repository = created.repository().expect("repository");
    assert_eq!(repository.repository_name(), Some("team/app"));
    assert_eq!(repository.registry_id(), Some(REGISTRY_ID));
    assert_eq!(repository.repository_arn(), Some(arn("team/app").as_str()));
    let uri = format!("{}/team/app", server.address);
    assert_eq!(repository.repository_uri(), Some(uri.as_str()));
    assert_eq!(
        repository.image_tag_mutability(),
        Some(&ImageTagMutability::Immutable)
    );
    let scanning = repository
        .image_scanning_configuration()
        .expect("scanning configuration");
    assert!(scanning.scan_on_push());
    let encryption = repository
        .encryption_configuration()
        .expect("encryption configuration");
    assert_eq!(encryption.encryption_type(), &EncryptionType::Aes256);
    let created_at = repository.created_at().expect("createdAt").as_secs_f64();
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        created_at >= before - 1.0 && created_at <= after + 1.0,
        "createdAt {created_at}"
    );

    let described = client
        .describe_repositories()
        .repository_names("team/app")
        .send()
        .await
        .expect("describe repository");
    assert_eq!(described.repositories(), std::slice::from_ref(repository));
    assert_eq!(described.next_token(), None);
    assert_eq!(
        list_tags(&client, "team/app").await,
        BTreeMap::from([("team".into(), "platform".into())])
    );

    let deleted = client
        .delete_repository()
        .repository_name("team/app")
        .send()
        .await
        .expect("delete repository");
    assert_eq!(deleted.repository(), Some(repository));

    let error = client
        .describe_repositories()
        .repository_names("team/app")
        .send()
        .await
        .expect_err("the repository is gone");
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        DescribeRepositoriesError::RepositoryNotFoundException(_)
    ));
}

#[tokio::test]
async fn create_rejects_existing_name() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "dup").await;

    let error = client
        .create_repository()
        .repository_name("dup")
        .send()
        .await
        .expect_err("second create fails");
    assert_eq!(error_status(&error), 400);
    assert_eq!(error_code(&error), "RepositoryAlreadyExistsException");
    assert!(
        error_message(&error).contains("'dup'"),
        "{}",
        error_message(&error)
    );
    assert!(matches!(
        error.into_service_error(),
        CreateRepositoryError::RepositoryAlreadyExistsException(_)
    ));
}

#[tokio::test]
async fn unknown_repository_raises_not_found() {
    let server = Server::start();
    let client = server.client();
    let name = "no/such-repo";
    let expected = "RepositoryNotFoundException";

    let error = client
        .delete_repository()
        .repository_name(name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "DeleteRepository");
    let message = error_message(&error);
    assert!(
        message.contains("'no/such-repo'") && message.contains(REGISTRY_ID),
        "{message}"
    );
    let error = client
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "DescribeRepositories");
    let error = client
        .list_tags_for_resource()
        .resource_arn(arn(name))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "ListTagsForResource");
    let error = client
        .tag_resource()
        .resource_arn(arn(name))
        .tags(tag("k", "v"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "TagResource");
    let error = client
        .untag_resource()
        .resource_arn(arn(name))
        .tag_keys("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "UntagResource");
    let error = client
        .put_image_tag_mutability()
        .repository_name(name)
        .image_tag_mutability(ImageTagMutability::Mutable)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "PutImageTagMutability");
    let error = client
        .put_image_scanning_configuration()
        .repository_name(name)
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error_code(&error),
        expected,
        "PutImageScanningConfiguration"
    );
    let error = client
        .list_images()
        .repository_name(name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "ListImages");
    let error = client
        .describe_images()
        .repository_name(name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "DescribeImages");
    let error = client
        .initiate_layer_upload()
        .repository_name(name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "InitiateLayerUpload");

    let upload_id = "0b7e3a52-5f4e-4f3c-9a41-7d2b8c6e1f00";
    let digest = common::sha256_digest(b"layer");
    let error = client
        .upload_layer_part()
        .repository_name(name)
        .upload_id(upload_id)
        .part_first_byte(0)
        .part_last_byte(4)
        .layer_part_blob(aws_sdk_ecr::primitives::Blob::new("layer"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "UploadLayerPart");
    let error = client
        .complete_layer_upload()
        .repository_name(name)
        .upload_id(upload_id)
        .layer_digests(&digest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "CompleteLayerUpload");
    let error = client
        .batch_check_layer_availability()
        .repository_name(name)
        .layer_digests(&digest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "BatchCheckLayerAvailability");
    let error = client
        .get_download_url_for_layer()
        .repository_name(name)
        .layer_digest(&digest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "GetDownloadUrlForLayer");
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let error = client
        .put_image()
        .repository_name(name)
        .image_manifest(manifest)
        .image_tag("v1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "PutImage");
    let id = ImageIdentifier::builder().image_tag("v1").build();
    let error = client
        .batch_get_image()
        .repository_name(name)
        .image_ids(id.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "BatchGetImage");
    let error = client
        .batch_delete_image()
        .repository_name(name)
        .image_ids(id.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "BatchDeleteImage");
    let error = client
        .describe_images()
        .repository_name(name)
        .image_ids(id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), expected, "DescribeImages with imageIds");
}

#[tokio::test]
async fn invalid_repository_names_rejected() {
    let server = Server::start();
    let client = server.client();
    let too_long = "a".repeat(257);
    let invalid = [
        "a",
        "Upper",
        "-leading",
        "trailing-",
        "double//slash",
        "/rooted",
        "dot.",
        "spa ce",
        too_long.as_str(),
    ];
    for name in invalid {
        let error = client
            .create_repository()
            .repository_name(name)
            .send()
            .await
            .expect_err(name);
        assert_eq!(error_status(&error), 400, "{name}");
        assert_eq!(error_code(&error), "InvalidParameterException", "{name}");
        assert!(
            error_message(&error).contains("repositoryName"),
            "{name}: {}",
            error_message(&error)
        );
    }
    let valid = ["ab", "a.b-c_d/e", "a__b", "a---b/c", &"b".repeat(256)];
    for name in valid {
        create_repository(&client, name).await;
    }
    let mut expected: Vec<String> = valid.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(describe_all_names(&client, 100).await, expected);
}

#[tokio::test]
async fn delete_with_images_requires_force() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "busy").await;
    push_image(&client, "busy", Format::Docker, Some("v1"), &[1024]).await;

    let error = client
        .delete_repository()
        .repository_name("busy")
        .send()
        .await
        .expect_err("delete without force");
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        DeleteRepositoryError::RepositoryNotEmptyException(_)
    ));
    let images = client
        .list_images()
        .repository_name("busy")
        .send()
        .await
        .expect("list images");
    assert_eq!(images.image_ids().len(), 1);

    let deleted = client
        .delete_repository()
        .repository_name("busy")
        .force(true)
        .send()
        .await
        .expect("forced delete");
    assert_eq!(
        deleted.repository().and_then(|r| r.repository_name()),
        Some("busy")
    );
    let error = client
        .list_images()
        .repository_name("busy")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), "RepositoryNotFoundException");

    // A repository created again under the name starts empty.
    create_repository(&client, "busy").await;
    let images = client
        .list_images()
        .repository_name("busy")
        .send()
        .await
        .expect("list images");
    assert!(images.image_ids().is_empty(), "{:?}", images.image_ids());
}

#[tokio::test]
async fn max_results_out_of_range_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "paged").await;

    for max in [0, 1001, -5] {
        let error = client
            .describe_repositories()
            .max_results(max)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            error_code(&error),
            "InvalidParameterException",
            "DescribeRepositories {max}"
        );
        assert!(
            error_message(&error).contains("maxResults"),
            "{}",
            error_message(&error)
        );
        let error = client
            .list_images()
            .repository_name("paged")
            .max_results(max)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            error_code(&error),
            "InvalidParameterException",
            "ListImages {max}"
        );
        let error = client
            .describe_images()
            .repository_name("paged")
            .max_results(max)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            error_code(&error),
            "InvalidParameterException",
            "DescribeImages {max}"
        );
    }
    for max in [1, 1000] {
        client
            .describe_repositories()
            .max_results(max)
            .send()
            .await
            .unwrap_or_else(|error| panic!("maxResults {max}: {error:?}"));
    }

    // Paging members cannot be combined with a list of names or image ids.
    let error = client
        .describe_repositories()
        .repository_names("paged")
        .max_results(10)
        .send()
        .await
        .expect_err("repositoryNames with maxResults");
    assert_eq!(error_code(&error), "InvalidParameterException");
    let error = client
        .describe_images()
        .repository_name("paged")
        .image_ids(ImageIdentifier::builder().image_tag("v1").build())
        .max_results(10)
        .send()
        .await
        .expect_err("imageIds with maxResults");
    assert_eq!(error_code(&error), "InvalidParameterException");
}

#[tokio::test]
async fn forged_next_token_rejected() {
    let server = Server::start();
    let client = server.client();
    for i in 0..3 {
        create_repository(&client, &format!("tok/r{i}")).await;
    }
    let first = client
        .describe_repositories()
        .max_results(1)
        .send()
        .await
        .expect("first page");
    let token = first.next_token().expect("a next token").to_owned();

    // The genuine token continues the listing.
    let second = client
        .describe_repositories()
        .max_results(1)
        .next_token(&token)
        .send()
        .await
        .expect("second page");
    assert_eq!(second.repositories()[0].repository_name(), Some("tok/r1"));

    let mut tampered = token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    // The third token is a well-formed cursor without a valid MAC.
    for forged in [
        "garbage",
        "eyJzIjoiRGVzY3JpYmVSZXBvc2l0b3JpZXMiLCJpIjowLCJ0IjoieiJ9",
        &tampered,
    ] {
        let error = client
            .describe_repositories()
            .next_token(forged)
            .send()
            .await
            .expect_err(forged);
        assert_eq!(error_status(&error), 400, "{forged}");
        assert_eq!(error_code(&error), "InvalidParameterException", "{forged}");
    }

    // A token from one listing does not continue another.
    let error = client
        .list_images()
        .repository_name("tok/r0")
        .next_token(&token)
        .send()
        .await
        .expect_err("a DescribeRepositories token in ListImages");
    assert_eq!(error_code(&error), "InvalidParameterException");
}

#[tokio::test]
async fn unknown_registry_id_rejected() {
    let server = Server::start();
    let client = server.client();

    for registry_id in ["999999999999", "12345", "abcdefghijkl"] {
        let error = client
            .create_repository()
            .registry_id(registry_id)
            .repository_name("reg")
            .send()
            .await
            .expect_err(registry_id);
        assert_eq!(error_status(&error), 400);
        assert_eq!(
            error_code(&error),
            "InvalidParameterException",
            "{registry_id}"
        );
        let error = client
            .describe_repositories()
            .registry_id(registry_id)
            .send()
            .await
            .expect_err(registry_id);
        assert_eq!(
            error_code(&error),
            "InvalidParameterException",
            "{registry_id}"
        );
    }
    let error = client
        .describe_repositories()
        .repository_names("reg")
        .send()
        .await
        .expect_err("no create succeeded");
    assert_eq!(error_code(&error), "RepositoryNotFoundException");

    client
        .create_repository()
        .registry_id(REGISTRY_ID)
        .repository_name("reg")
        .send()
        .await
        .expect("create with this registry's id");
}

#[tokio::test]
async fn describe_repositories_pages_each_once() {
    let server = Server::start();
    let client = server.client();
    let mut expected = Vec::new();
    for i in 0..23 {
        let name = format!("page/r-{i:03}");
        create_repository(&client, &name).await;
        expected.push(name);
    }

    for page_size in [1, 5, 7, 23, 100] {
        let names = describe_all_names(&client, page_size).await;
        assert_eq!(names, expected, "page size {page_size}");
    }

    // The first page of a short listing has no token.
    let all = client
        .describe_repositories()
        .send()
        .await
        .expect("default page");
    assert_eq!(all.repositories().len(), 23);
    assert_eq!(all.next_token(), None);
}

#[tokio::test]
async fn describe_repositories_paging_survives_inserts() {
    let server = Server::start();
    let client = server.client();
    let mut existing = BTreeSet::new();
    for i in 0..20 {
        let name = format!("grow/r-{:03}", i * 10);
        create_repository(&client, &name).await;
        existing.insert(name);
    }

    let mut stream = client
        .describe_repositories()
        .into_paginator()
        .page_size(4)
        .items()
        .send();
    let mut seen = Vec::new();
    let mut added = BTreeSet::new();
    while let Some(repository) = stream.try_next().await.expect("next repository") {
        seen.push(
            repository
                .repository_name()
                .expect("repositoryName")
                .to_owned(),
        );
        if seen.len() == 6 {
            // New names sort before, between and after the pages already returned.
            for name in [
                "grow/a-new",
                "grow/r-005",
                "grow/r-075",
                "grow/r-155",
                "grow/z-new",
            ] {
                create_repository(&client, name).await;
                added.insert(name.to_owned());
            }
        }
    }

    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "duplicates in {seen:?}");
    for name in &existing {
        assert!(unique.contains(name), "{name} was skipped: {seen:?}");
    }
    for name in &unique {
        assert!(
            existing.contains(name) || added.contains(name),
            "unexpected {name}"
        );
    }
    // A name after every cursor is picked up; a name before the first is not.
    assert!(unique.contains("grow/z-new"));
    assert!(!unique.contains("grow/a-new"));
}

#[tokio::test]
async fn resource_tags_add_list_remove() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "tagged").await;
    assert!(list_tags(&client, "tagged").await.is_empty());

    client
        .tag_resource()
        .resource_arn(arn("tagged"))
        .tags(tag("env", "dev"))
        .tags(tag("owner", "alice"))
        .send()
        .await
        .expect("tag resource");
    client
        .tag_resource()
        .resource_arn(arn("tagged"))
        .tags(tag("env", "prod"))
        .tags(tag("empty", ""))
        .send()
        .await
        .expect("overwrite a tag");
    let expected = BTreeMap::from([
        ("empty".to_owned(), String::new()),
        ("env".to_owned(), "prod".to_owned()),
        ("owner".to_owned(), "alice".to_owned()),
    ]);
    assert_eq!(list_tags(&client, "tagged").await, expected);

    client
        .untag_resource()
        .resource_arn(arn("tagged"))
        .tag_keys("env")
        .tag_keys("absent")
        .send()
        .await
        .expect("untag resource");
    let expected = BTreeMap::from([
        ("empty".to_owned(), String::new()),
        ("owner".to_owned(), "alice".to_owned()),
    ]);
    assert_eq!(list_tags(&client, "tagged").await, expected);

    let error = client
        .list_tags_for_resource()
        .resource_arn("arn:aws:ecr:us-east-1:000000000000:repository/tagged")
        .send()
        .await
        .expect_err("an ARN of another account");
    assert_eq!(error_code(&error), "InvalidParameterException");
}

#[tokio::test]
async fn invalid_tag_parameters_rejected() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "tags").await;
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    let cases = [
        ("aws:reserved", "x"),
        ("", "x"),
        (long_key.as_str(), "x"),
        ("key", long_value.as_str()),
    ];
    for (key, value) in cases {
        let error = client
            .tag_resource()
            .resource_arn(arn("tags"))
            .tags(tag(key, value))
            .send()
            .await
            .expect_err(key);
        assert_eq!(error_status(&error), 400, "{key}");
        assert!(
            matches!(
                error.into_service_error(),
                TagResourceError::InvalidTagParameterException(_)
            ),
            "TagResource {key:?}"
        );
        let error = client
            .create_repository()
            .repository_name("tags2")
            .tags(tag(key, value))
            .send()
            .await
            .expect_err(key);
        assert_eq!(
            error_code(&error),
            "InvalidTagParameterException",
            "CreateRepository {key:?}"
        );
    }
    assert!(list_tags(&client, "tags").await.is_empty());
    let error = client
        .describe_repositories()
        .repository_names("tags2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), "RepositoryNotFoundException");
}

#[tokio::test]
async fn more_than_fifty_tags_rejected() {
    let server = Server::start();
    let client = server.client();
    let tags = |count: usize| -> Vec<Tag> {
        (0..count)
            .map(|i| tag(&format!("key-{i:02}"), "v"))
            .collect()
    };

    let error = client
        .create_repository()
        .repository_name("many")
        .set_tags(Some(tags(51)))
        .send()
        .await
        .expect_err("51 tags");
    assert_eq!(error_status(&error), 400);
    assert!(matches!(
        error.into_service_error(),
        CreateRepositoryError::TooManyTagsException(_)
    ));

    client
        .create_repository()
        .repository_name("many")
        .set_tags(Some(tags(50)))
        .send()
        .await
        .expect("50 tags");
    assert_eq!(list_tags(&client, "many").await.len(), 50);

    let error = client
        .tag_resource()
        .resource_arn(arn("many"))
        .tags(tag("key-50", "v"))
        .send()
        .await
        .expect_err("a 51st tag");
    assert!(matches!(
        error.into_service_error(),
        TagResourceError::TooManyTagsException(_)
    ));
    // Overwriting an existing key keeps the count at 50.
    client
        .tag_resource()
        .resource_arn(arn("many"))
        .tags(tag("key-07", "changed"))
        .send()
        .await
        .expect("overwrite at the limit");
    let listed = list_tags(&client, "many").await;
    assert_eq!(listed.len(), 50);
    assert_eq!(listed["key-07"], "changed");
}

#[tokio::test]
async fn tag_mutability_and_scanning_updates() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "settings").await;

    let output = client
        .put_image_tag_mutability()
        .repository_name("settings")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .send()
        .await
        .expect("put tag mutability");
    assert_eq!(output.registry_id(), Some(REGISTRY_ID));
    assert_eq!(output.repository_name(), Some("settings"));
    assert_eq!(
        output.image_tag_mutability(),
        Some(&ImageTagMutability::Immutable)
    );

    let output = client
        .put_image_scanning_configuration()
        .repository_name("settings")
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .send()
        .await
        .expect("put scanning configuration");
    assert_eq!(output.repository_name(), Some("settings"));
    assert!(output
        .image_scanning_configuration()
        .expect("configuration")
        .scan_on_push());

    let described = client
        .describe_repositories()
        .repository_names("settings")
        .send()
        .await
        .expect("describe");
    let repository = &described.repositories()[0];
    assert_eq!(
        repository.image_tag_mutability(),
        Some(&ImageTagMutability::Immutable)
    );
    assert!(repository
        .image_scanning_configuration()
        .unwrap()
        .scan_on_push());

    let error = client
        .put_image_tag_mutability()
        .repository_name("settings")
        .image_tag_mutability(ImageTagMutability::from("SOMETIMES"))
        .send()
        .await
        .expect_err("an unknown mutability");
    assert_eq!(error_code(&error), "InvalidParameterException");
    let described = client
        .describe_repositories()
        .repository_names("settings")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        described.repositories()[0].image_tag_mutability(),
        Some(&ImageTagMutability::Immutable)
    );
}
