//! Server-wide behaviour through `aws-sdk-ecr` against the real binary: authorization
//! tokens, signature checks, operations berth does not implement, and state that
//! survives a restart on the same data directory.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_ecr::primitives::Blob;
use aws_sdk_ecr::types::{
    ImageIdentifier, ImageTagMutability, LayerAvailability, SubjectIdentifier, Tag,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{
    create_repository, error_code, error_message, error_status, push_image, random_bytes,
    sha256_digest, upload_layer, Format, Server, ACCESS_KEY_ID, REGISTRY_ID, SECRET_ACCESS_KEY,
};

const MIB: usize = 1024 * 1024;

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn authorization_token_holds_aws_password() {
    let server = Server::start();
    let client = server.client();

    let output = client
        .get_authorization_token()
        .send()
        .await
        .expect("get token");
    let data = output.authorization_data();
    assert_eq!(data.len(), 1);
    let token = data[0].authorization_token().expect("authorizationToken");
    let decoded = STANDARD.decode(token).expect("the token is base64");
    let decoded = String::from_utf8(decoded).expect("the token is UTF-8");
    let password = decoded
        .strip_prefix("AWS:")
        .expect("the token starts with 'AWS:'");
    assert!(!password.is_empty());
    // aws-cli splits the decoded token at ':' and expects exactly two parts.
    assert!(!password.contains(':'), "{password}");
    assert!(!token.chars().any(char::is_whitespace));

    let expires_at = data[0].expires_at().expect("expiresAt").as_secs_f64();
    let twelve_hours = 12.0 * 3600.0;
    let remaining = expires_at - now_secs();
    assert!(
        (remaining - twelve_hours).abs() < 300.0,
        "expires in {remaining} s"
    );
    assert_eq!(data[0].proxy_endpoint(), Some(server.endpoint().as_str()));

    // registryIds is deprecated but still in the model, and each id gets one entry.
    #[allow(deprecated)]
    let output = client
        .get_authorization_token()
        .registry_ids(REGISTRY_ID)
        .registry_ids(REGISTRY_ID)
        .send()
        .await
        .expect("get token for two ids");
    assert_eq!(output.authorization_data().len(), 2);

    #[allow(deprecated)]
    let error = client
        .get_authorization_token()
        .registry_ids("210987654321")
        .send()
        .await
        .expect_err("another registry");
    assert_eq!(error_code(&error), "InvalidParameterException");
}

#[tokio::test]
async fn wrong_secret_fails_signature_check() {
    let server = Server::start();
    let client = server.client_with(ACCESS_KEY_ID, "not-the-secret");

    let error = client
        .describe_repositories()
        .send()
        .await
        .expect_err("a bad signature");
    assert_eq!(error_status(&error), 400);
    assert_eq!(error_code(&error), "InvalidSignatureException");
    let headers = error.raw_response().unwrap().headers();
    assert_eq!(
        headers.get("x-amzn-ErrorType"),
        Some("InvalidSignatureException")
    );
    assert!(headers
        .get("x-amzn-RequestId")
        .is_some_and(|id| !id.is_empty()));

    // Nothing is done on behalf of a failed signature.
    let error = client
        .create_repository()
        .repository_name("sneaky")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&error), "InvalidSignatureException");
    let error = server
        .client()
        .describe_repositories()
        .repository_names("sneaky")
        .send()
        .await
        .expect_err("no repository was created");
    assert_eq!(error_code(&error), "RepositoryNotFoundException");
}

#[tokio::test]
async fn unknown_access_key_unrecognized() {
    let server = Server::start();
    let client = server.client_with("AKIDNOTCONFIGURED000", SECRET_ACCESS_KEY);

    let error = client
        .get_authorization_token()
        .send()
        .await
        .expect_err("an unknown key");
    assert_eq!(error_status(&error), 400);
    assert_eq!(error_code(&error), "UnrecognizedClientException");
    let error = client
        .list_images()
        .repository_name("any")
        .send()
        .await
        .expect_err("an unknown key");
    assert_eq!(error_code(&error), "UnrecognizedClientException");
}

#[tokio::test]
async fn unimplemented_operation_names_itself() {
    let server = Server::start();
    let client = server.client();

    let error = client
        .describe_pull_through_cache_rules()
        .send()
        .await
        .expect_err("pull-through cache rules are not implemented");
    assert_eq!(error_status(&error), 400);
    assert_eq!(error_code(&error), "UnsupportedOperationException");
    let message = error_message(&error);
    assert!(
        message.contains("DescribePullThroughCacheRules"),
        "{message}"
    );

    // Operations that newer ECR models added are part of the API too, and get the
    // same answer.
    let error = client
        .list_image_referrers()
        .repository_name("any")
        .subject_id(
            SubjectIdentifier::builder()
                .image_digest(sha256_digest(b"subject"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect_err("not implemented by berth");
    assert_eq!(error_status(&error), 400);
    assert_eq!(error_code(&error), "UnsupportedOperationException");
    let message = error_message(&error);
    assert!(message.contains("ListImageReferrers"), "{message}");
}

#[tokio::test]
async fn state_survives_restart() {
    let server = Server::start();
    let client = server.client();
    let created = client
        .create_repository()
        .repository_name("keep/app")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .tags(Tag::builder().key("team").value("infra").build().unwrap())
        .send()
        .await
        .expect("create repository");
    let repository = created.repository().unwrap().clone();
    create_repository(&client, "keep/b").await;
    create_repository(&client, "keep/c").await;
    let image = push_image(
        &client,
        "keep/app",
        Format::Docker,
        Some("v1"),
        &[20_000, 300],
    )
    .await;
    let loose = upload_layer(&client, "keep/app", &random_bytes(999)).await;
    let first_page = client
        .describe_repositories()
        .max_results(1)
        .send()
        .await
        .expect("first page");
    let token = first_page.next_token().expect("next token").to_owned();

    // An upload in progress: the first part before the restart, the rest after it.
    let pending = random_bytes(5 * MIB + 10);
    let upload = client
        .initiate_layer_upload()
        .repository_name("keep/app")
        .send()
        .await
        .expect("initiate upload");
    let upload_id = upload.upload_id().unwrap().to_owned();
    client
        .upload_layer_part()
        .repository_name("keep/app")
        .upload_id(&upload_id)
        .part_first_byte(0)
        .part_last_byte(5 * MIB as i64 - 1)
        .layer_part_blob(Blob::new(&pending[..5 * MIB]))
        .send()
        .await
        .expect("upload part 1");

    let data_dir = server.stop();
    let server = Server::start_in(data_dir.path());
    let client = server.client();

    let described = client
        .describe_repositories()
        .repository_names("keep/app")
        .send()
        .await
        .expect("describe after restart");
    let mut expected = repository.clone();
    // The repository URI names the new server's port.
    expected.repository_uri = Some(format!("{}/keep/app", server.address));
    assert_eq!(described.repositories(), &[expected]);
    let tags = client
        .list_tags_for_resource()
        .resource_arn(repository.repository_arn().unwrap())
        .send()
        .await
        .expect("list tags");
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].key(), "team");
    assert_eq!(tags.tags()[0].value(), "infra");

    let got = client
        .batch_get_image()
        .repository_name("keep/app")
        .image_ids(ImageIdentifier::builder().image_tag("v1").build())
        .send()
        .await
        .expect("get image");
    assert_eq!(
        got.images()[0].image_manifest(),
        Some(image.manifest.as_str())
    );
    assert_eq!(
        got.images()[0].image_id().unwrap().image_digest(),
        Some(image.digest.as_str())
    );
    let details = client
        .describe_images()
        .repository_name("keep/app")
        .send()
        .await
        .expect("describe images");
    assert_eq!(details.image_details().len(), 1);
    assert_eq!(
        details.image_details()[0].image_size_in_bytes(),
        Some(20_300)
    );

    // The immutable setting still holds.
    let error = client
        .put_image()
        .repository_name("keep/app")
        .image_manifest(&image.manifest)
        .image_tag("v1")
        .send()
        .await
        .expect_err("the same image and tag");
    assert_eq!(error_code(&error), "ImageAlreadyExistsException");

    let checked = client
        .batch_check_layer_availability()
        .repository_name("keep/app")
        .layer_digests(&loose.digest)
        .layer_digests(&image.layers[0].digest)
        .send()
        .await
        .expect("check layers");
    assert_eq!(checked.layers().len(), 2);
    for layer in checked.layers() {
        assert_eq!(
            layer.layer_availability(),
            Some(&LayerAvailability::Available)
        );
    }

    let url = client
        .get_download_url_for_layer()
        .repository_name("keep/app")
        .layer_digest(&image.layers[0].digest)
        .send()
        .await
        .expect("download URL after the restart");
    let (status, body) = common::http_get(url.download_url().expect("downloadUrl")).await;
    assert_eq!(status, 200);
    assert!(
        body == image.layers[0].bytes,
        "the downloaded layer differs"
    );

    // A page token issued before the restart continues the listing.
    let second_page = client
        .describe_repositories()
        .max_results(1)
        .next_token(&token)
        .send()
        .await
        .expect("second page with the old token");
    assert_eq!(
        second_page.repositories()[0].repository_name(),
        Some("keep/b")
    );

    let last = client
        .upload_layer_part()
        .repository_name("keep/app")
        .upload_id(&upload_id)
        .part_first_byte(5 * MIB as i64)
        .part_last_byte(pending.len() as i64 - 1)
        .layer_part_blob(Blob::new(&pending[5 * MIB..]))
        .send()
        .await
        .expect("upload part 2 after the restart");
    assert_eq!(last.last_byte_received(), Some(pending.len() as i64 - 1));
    let completed = client
        .complete_layer_upload()
        .repository_name("keep/app")
        .upload_id(&upload_id)
        .layer_digests(sha256_digest(&pending))
        .send()
        .await
        .expect("complete the upload");
    assert_eq!(
        completed.layer_digest(),
        Some(sha256_digest(&pending).as_str())
    );
}

#[tokio::test]
async fn repeated_failed_logins_are_logged_within_a_budget() {
    let server = Server::start();
    let client = server.client_with(ACCESS_KEY_ID, "not-the-secret");
    for _ in 0..30 {
        let error = client
            .describe_repositories()
            .send()
            .await
            .expect_err("a wrong secret fails");
        assert_eq!(error_code(&error), "InvalidSignatureException");
    }
    let log = server.log_text();
    let logged = log
        .lines()
        .filter(|line| line.contains("ECR call failed authentication"))
        .count();
    assert_eq!(logged, 20, "{log}");
}
