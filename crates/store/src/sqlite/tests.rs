//! Tests of the SQLite store against a real database file.

use berth_types::{Digest, RepositoryName, Tag, Timestamp};

use super::SqliteMetaStore;
use crate::error::MetaError;
use crate::meta::MetaStore;
use crate::model::{Encryption, NewImage, ReferenceKind, Repository, TagFilter, TagMutability};

fn store() -> (tempfile::TempDir, SqliteMetaStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetaStore::open(dir.path().join("meta.db")).unwrap();
    (dir, store)
}

fn repository(name: &str, mutability: TagMutability) -> Repository {
    Repository {
        name: RepositoryName::parse(name).unwrap(),
        created_at: Timestamp(1),
        tag_mutability: mutability,
        scan_on_push: false,
        encryption: Encryption {
            encryption_type: "AES256".into(),
            kms_key: None,
        },
    }
}

fn image(body: &str, layer: &Digest) -> NewImage {
    NewImage {
        digest: Digest::of_bytes(body.as_bytes()),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: None,
        manifest: body.as_bytes().to_vec(),
        image_size: 3,
        references: vec![(layer.clone(), ReferenceKind::Blob)],
        subject: None,
        annotations: None,
        pushed_at: Timestamp(10),
    }
}

#[tokio::test]
async fn put_image_enforces_references_and_tags() {
    let (_dir, store) = store();
    let repo = repository("team/app", TagMutability::Immutable);
    store.create_repository(&repo, &[]).await.unwrap();
    let layer = Digest::of_bytes(b"abc");
    let first = image("{\"a\":1}", &layer);
    let latest = Tag::parse("latest").unwrap();

    let missing = store.put_image(&repo.name, &first, Some(&latest)).await;
    assert!(matches!(missing, Err(MetaError::BlobsNotFound(ref d)) if d == &vec![layer.clone()]));

    store
        .link_blob(&repo.name, &layer, 3, None, Timestamp(5))
        .await
        .unwrap();
    let outcome = store
        .put_image(&repo.name, &first, Some(&latest))
        .await
        .unwrap();
    assert!(outcome.created);
    let again = store.put_image(&repo.name, &first, Some(&latest)).await;
    assert!(matches!(again, Err(MetaError::ImageAlreadyExists { .. })));

    let second = image("{\"a\":2}", &layer);
    let moved = store.put_image(&repo.name, &second, Some(&latest)).await;
    assert!(matches!(moved, Err(MetaError::ImageTagImmutable { .. })));
    assert_eq!(
        store.digest_for_tag(&repo.name, &latest).await.unwrap(),
        Some(first.digest.clone())
    );
    let stored = store
        .manifest_by_tag(&repo.name, &latest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.manifest, b"{\"a\":1}");
}

#[tokio::test]
async fn image_ids_page_each_row_once() {
    let (_dir, store) = store();
    let repo = repository("app", TagMutability::Mutable);
    store.create_repository(&repo, &[]).await.unwrap();
    let layer = Digest::of_bytes(b"abc");
    store
        .link_blob(&repo.name, &layer, 3, None, Timestamp(5))
        .await
        .unwrap();
    let mut expected = Vec::new();
    for i in 0..5 {
        let img = image(&format!("{{\"n\":{i}}}"), &layer);
        for t in ["a", "b"] {
            let tag = Tag::parse(&format!("{t}{i}")).unwrap();
            store.put_image(&repo.name, &img, Some(&tag)).await.ok();
            expected.push((img.digest.clone(), Some(tag)));
        }
    }
    let untagged = image("{\"untagged\":true}", &layer);
    store.put_image(&repo.name, &untagged, None).await.unwrap();
    expected.push((untagged.digest.clone(), None));

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_image_ids(&repo.name, TagFilter::Any, cursor.as_ref(), 3)
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|id| (id.digest, id.tag)));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected);

    let described = store
        .list_images(&repo.name, TagFilter::Untagged, None, 10)
        .await
        .unwrap();
    assert_eq!(described.items.len(), 1);
    assert_eq!(described.items[0].digest, untagged.digest);
}
