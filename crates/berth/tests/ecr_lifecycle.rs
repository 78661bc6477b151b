//! Lifecycle policies through the AWS SDK for Rust against a running server: storing
//! and validating a policy, a preview awaited with the SDK waiter, and a run that
//! expires images, checked through the image listings.

mod common;

use std::time::Duration;

use aws_sdk_ecr::client::Waiters;
use aws_sdk_ecr::types::{ImageIdentifier, LifecyclePolicyPreviewStatus, TagStatus};
use common::{create_repository, error_code, push_image, Format, Server};

/// Keeps the two newest images tagged `v*` and expires untagged images after 30 days.
const POLICY: &str = r#"{"rules":[
  {"rulePriority":1,"description":"keep the two newest releases","selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}},
  {"rulePriority":2,"description":"drop old untagged images","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":30},"action":{"type":"expire"}}
]}"#;

#[tokio::test]
async fn lifecycle_policy_preview_and_run() {
    let server = Server::start();
    let client = server.client();
    let repository = "lifecycle/app";
    create_repository(&client, repository).await;
    let mut images = Vec::new();
    for version in 1..=4 {
        let tag = format!("v{version}");
        images.push(push_image(&client, repository, Format::Oci, Some(&tag), &[512]).await);
        // Push times are kept in milliseconds; distinct times make "newest" exact.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let untagged = push_image(&client, repository, Format::Oci, None, &[256]).await;

    let put = client
        .put_lifecycle_policy()
        .repository_name(repository)
        .lifecycle_policy_text(POLICY)
        .send()
        .await
        .unwrap();
    assert_eq!(put.lifecycle_policy_text(), Some(POLICY));
    let stored = client
        .get_lifecycle_policy()
        .repository_name(repository)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.lifecycle_policy_text(), Some(POLICY));
    assert_eq!(
        stored.last_evaluated_at().map(|t| t.secs()),
        Some(0),
        "never evaluated reads as the epoch"
    );

    let started = client
        .start_lifecycle_policy_preview()
        .repository_name(repository)
        .send()
        .await
        .unwrap();
    assert_eq!(
        started.status(),
        Some(&LifecyclePolicyPreviewStatus::InProgress)
    );
    assert_eq!(started.lifecycle_policy_text(), Some(POLICY));
    client
        .wait_until_lifecycle_policy_preview_complete()
        .repository_name(repository)
        .wait(Duration::from_secs(60))
        .await
        .expect("the preview completes");

    let preview = client
        .get_lifecycle_policy_preview()
        .repository_name(repository)
        .send()
        .await
        .unwrap();
    assert_eq!(
        preview.status(),
        Some(&LifecyclePolicyPreviewStatus::Complete)
    );
    assert_eq!(
        preview
            .summary()
            .and_then(|s| s.expiring_image_total_count()),
        Some(2)
    );
    let expiring: Vec<(String, Vec<String>, Option<i32>)> = preview
        .preview_results()
        .iter()
        .map(|r| {
            (
                r.image_digest().unwrap().to_owned(),
                r.image_tags().to_vec(),
                r.applied_rule_priority(),
            )
        })
        .collect();
    assert_eq!(
        expiring,
        vec![
            (images[0].digest.clone(), vec!["v1".to_owned()], Some(1)),
            (images[1].digest.clone(), vec!["v2".to_owned()], Some(1)),
        ]
    );
    for result in preview.preview_results() {
        assert_eq!(
            result.action().and_then(|a| a.r#type()).map(|t| t.as_str()),
            Some("EXPIRE")
        );
    }
    let tagged_only = client
        .get_lifecycle_policy_preview()
        .repository_name(repository)
        .filter(
            aws_sdk_ecr::types::LifecyclePolicyPreviewFilter::builder()
                .tag_status(TagStatus::Untagged)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        tagged_only.preview_results().is_empty(),
        "no untagged image expires"
    );

    let (status, body) = common::post_admin(&server, "/admin/lifecycle/run").await;
    assert_eq!(status, 200, "admin run failed: {body}");
    assert_eq!(body["imagesExpired"], 2);

    let listed = client
        .list_images()
        .repository_name(repository)
        .send()
        .await
        .unwrap();
    let mut remaining: Vec<(String, Option<String>)> = listed
        .image_ids()
        .iter()
        .map(|id| {
            (
                id.image_digest().unwrap().to_owned(),
                id.image_tag().map(str::to_owned),
            )
        })
        .collect();
    remaining.sort();
    let mut expected = vec![
        (images[2].digest.clone(), Some("v3".to_owned())),
        (images[3].digest.clone(), Some("v4".to_owned())),
        (untagged.digest.clone(), None),
    ];
    expected.sort();
    assert_eq!(remaining, expected);
    let expired = client
        .describe_images()
        .repository_name(repository)
        .image_ids(ImageIdentifier::builder().image_tag("v1").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&expired), "ImageNotFoundException");
    let evaluated = client
        .get_lifecycle_policy()
        .repository_name(repository)
        .send()
        .await
        .unwrap();
    assert!(
        evaluated.last_evaluated_at().unwrap().secs() > 0,
        "the run records its time"
    );
}

#[tokio::test]
async fn lifecycle_policy_errors() {
    let server = Server::start();
    let client = server.client();
    let repository = "lifecycle/errors";
    create_repository(&client, repository).await;

    let missing = client
        .get_lifecycle_policy()
        .repository_name(repository)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&missing), "LifecyclePolicyNotFoundException");
    let no_preview = client
        .get_lifecycle_policy_preview()
        .repository_name(repository)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error_code(&no_preview),
        "LifecyclePolicyPreviewNotFoundException"
    );
    let nothing_to_preview = client
        .start_lifecycle_policy_preview()
        .repository_name(repository)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error_code(&nothing_to_preview),
        "LifecyclePolicyNotFoundException"
    );
    let unknown_repository = client
        .get_lifecycle_policy()
        .repository_name("lifecycle/none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error_code(&unknown_repository),
        "RepositoryNotFoundException"
    );

    let any_not_last = r#"{"rules":[
      {"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}},
      {"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}
    ]}"#;
    let invalid = client
        .put_lifecycle_policy()
        .repository_name(repository)
        .lifecycle_policy_text(any_not_last)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&invalid), "InvalidParameterException");
    let message = common::error_message(&invalid);
    assert!(message.contains("'LifecyclePolicyText'"), "{message}");
    assert!(
        message.contains("rulePriority 1"),
        "the message names the rule: {message}"
    );
    let too_short = client
        .put_lifecycle_policy()
        .repository_name(repository)
        .lifecycle_policy_text("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&too_short), "InvalidParameterException");

    client
        .put_lifecycle_policy()
        .repository_name(repository)
        .lifecycle_policy_text(POLICY)
        .send()
        .await
        .unwrap();
    let deleted = client
        .delete_lifecycle_policy()
        .repository_name(repository)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.lifecycle_policy_text(), Some(POLICY));
    let gone = client
        .delete_lifecycle_policy()
        .repository_name(repository)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&gone), "LifecyclePolicyNotFoundException");
}
