//! Service tests on real stores (SQLite and the filesystem) in a temporary directory.

use std::sync::Arc;
use std::time::Duration;

use berth_store::{ByteStream, Encryption, FsBlobStore, SqliteMetaStore, TagFilter, TagMutability};
use berth_types::{Digest, ManualClock, Reference, RepositoryName, Tag, Timestamp};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::{CreateRepository, Error, PutImage, PutMode, Registry, Settings};

const GRACE: Duration = Duration::from_secs(60);

async fn registry(dir: &std::path::Path, clock: ManualClock) -> Arc<Registry> {
    let meta = SqliteMetaStore::open(dir.join("meta.db")).unwrap();
    let blobs = FsBlobStore::open(dir.join("blobs")).await.unwrap();
    let settings = Settings {
        registry_id: "123456789012".into(),
        region: "us-east-1".into(),
        registry_host: "127.0.0.1:5000".into(),
    };
    Arc::new(
        Registry::new(Arc::new(meta), Arc::new(blobs), Arc::new(clock), settings)
            .await
            .unwrap(),
    )
}

async fn create(registry: &Registry, name: &str) -> RepositoryName {
    let name = RepositoryName::parse(name).unwrap();
    let request = CreateRepository {
        name: name.clone(),
        tag_mutability: TagMutability::Mutable,
        scan_on_push: false,
        encryption: Encryption {
            encryption_type: "AES256".into(),
            kms_key: None,
        },
        tags: vec![],
    };
    registry.create_repository(request).await.unwrap();
    name
}

fn body(bytes: Vec<u8>) -> ByteStream {
    Box::pin(futures_util::stream::once(
        async move { Ok(Bytes::from(bytes)) },
    ))
}

async fn upload(registry: &Registry, name: &RepositoryName, bytes: &[u8]) -> Result<Digest, Error> {
    let digest = Digest::of_bytes(bytes);
    let id = registry.start_upload(name).await?;
    registry
        .finish_blob_upload(name, &id, &digest, Some(body(bytes.to_vec())))
        .await?;
    Ok(digest)
}

fn manifest(config: &Digest, config_size: usize, layers: &[(Digest, usize)]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|(digest, size)| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": layers,
    }))
    .unwrap()
}

/// Pushes an image whose layers are `layers`, retrying from the uploads when garbage
/// collection took a blob between upload and manifest, as a client would. `pause` is a
/// client's delay between the last upload and the manifest.
async fn push(registry: &Registry, name: &RepositoryName, tag: &str, layers: &[Vec<u8>]) -> Digest {
    push_with_pause(registry, name, tag, layers, Duration::ZERO).await
}

async fn push_with_pause(
    registry: &Registry,
    name: &RepositoryName,
    tag: &str,
    layers: &[Vec<u8>],
    pause: Duration,
) -> Digest {
    let config = format!("{{\"tag\":\"{tag}\"}}").into_bytes();
    for attempt in 0.. {
        assert!(
            attempt < 200,
            "push of {tag} kept losing its blobs to garbage collection"
        );
        let config_digest = upload(registry, name, &config).await.unwrap();
        let mut described = Vec::new();
        for layer in layers {
            described.push((upload(registry, name, layer).await.unwrap(), layer.len()));
        }
        if attempt == 0 {
            tokio::time::sleep(pause).await;
        }
        let request = PutImage {
            repository: name.clone(),
            manifest: manifest(&config_digest, config.len(), &described),
            media_type: None,
            tag: Some(Tag::parse(tag).unwrap()),
            expected_digest: None,
            mode: PutMode::Oci,
        };
        match registry.put_image(request).await {
            Ok(result) => return result.digest,
            Err(Error::LayersNotFound { .. }) => continue,
            Err(error) => panic!("push of {tag} failed: {error}"),
        }
    }
    unreachable!("the loop returns or panics")
}

/// Reads every blob an image references and checks its digest.
async fn assert_pullable(registry: &Registry, name: &RepositoryName, digest: &Digest) {
    let stored = registry
        .manifest(name, &Reference::Digest(digest.clone()))
        .await
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&stored.manifest).unwrap();
    let config = std::iter::once(&parsed["config"]);
    for descriptor in config.chain(parsed["layers"].as_array().unwrap()) {
        let blob = Digest::parse(descriptor["digest"].as_str().unwrap()).unwrap();
        let reader = registry.open_blob(name, &blob, None).await.unwrap();
        let bytes: Vec<u8> = reader
            .into_stream()
            .map(|chunk| chunk.unwrap().to_vec())
            .concat()
            .await;
        assert_eq!(
            Digest::of_bytes(&bytes),
            blob,
            "blob of image {digest} in {name} is corrupt"
        );
    }
}

#[tokio::test]
async fn gc_deletes_only_unreferenced_blobs_after_grace() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp(1_000_000));
    let registry = registry(dir.path(), clock.clone()).await;
    let name = create(&registry, "app").await;
    let kept = push(
        &registry,
        &name,
        "kept",
        &[b"shared".to_vec(), b"only-kept".to_vec()],
    )
    .await;
    let gone = push(
        &registry,
        &name,
        "gone",
        &[b"shared".to_vec(), b"only-gone".to_vec()],
    )
    .await;
    let stray = upload(&registry, &name, b"uploaded but never referenced")
        .await
        .unwrap();
    registry.delete_image(&name, &gone).await.unwrap();

    let early = registry.collect_garbage(GRACE).await.unwrap();
    assert_eq!(
        early.blobs_deleted, 0,
        "nothing is older than the grace period yet"
    );

    clock.advance_millis(GRACE.as_millis() as i64 + 1);
    let report = registry.collect_garbage(GRACE).await.unwrap();
    // The deleted image's config and its own layer, and the stray upload.
    assert_eq!(report.blobs_deleted, 3);
    assert_eq!(
        registry
            .blob_store()
            .stat(&Digest::of_bytes(b"only-gone"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(registry.blob_store().stat(&stray).await.unwrap(), None);
    assert!(registry
        .blob_store()
        .stat(&Digest::of_bytes(b"shared"))
        .await
        .unwrap()
        .is_some());
    assert_pullable(&registry, &name, &kept).await;
}

#[tokio::test]
async fn gc_index_keeps_children_alive() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp(1_000_000));
    let registry = registry(dir.path(), clock.clone()).await;
    let name = create(&registry, "multi").await;
    let child = push(&registry, &name, "child", &[b"child layer".to_vec()]).await;
    let child_size = registry
        .manifest(&name, &Reference::Digest(child.clone()))
        .await
        .unwrap()
        .manifest
        .len();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": child, "size": child_size}],
    }))
    .unwrap();
    let put = PutImage {
        repository: name.clone(),
        manifest: index,
        media_type: None,
        tag: Some(Tag::parse("multi").unwrap()),
        expected_digest: None,
        mode: PutMode::Ecr,
    };
    registry.put_image(put).await.unwrap();
    registry
        .untag_image(&name, &Tag::parse("child").unwrap())
        .await
        .unwrap();

    let deleted = registry.delete_image(&name, &child).await;
    assert!(matches!(
        deleted,
        Err(Error::ImageReferencedByManifestList { .. })
    ));
    clock.advance_millis(GRACE.as_millis() as i64 + 1);
    registry.collect_garbage(GRACE).await.unwrap();
    assert_pullable(&registry, &name, &child).await;
}

/// Pushers, deleters and the garbage collector run at once on shared layers while the
/// clock jumps past the grace period. Afterwards every surviving image pulls completely
/// and no unreferenced blob remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_stress_with_concurrent_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp(1_000_000));
    let registry = registry(dir.path(), clock.clone()).await;
    let names = [
        create(&registry, "stress/a").await,
        create(&registry, "stress/b").await,
    ];
    let shared: Vec<Vec<u8>> = (0..4)
        .map(|i| format!("shared layer {i}").repeat(100).into_bytes())
        .collect();

    let mut pushers = Vec::new();
    for worker in 0..4 {
        let (registry, name, shared) =
            (registry.clone(), names[worker % 2].clone(), shared.clone());
        pushers.push(tokio::spawn(async move {
            let mut pushed = Vec::new();
            for round in 0..15 {
                let own = format!("worker {worker} round {round}").into_bytes();
                let layers = vec![
                    shared[round % 4].clone(),
                    shared[(round + worker) % 4].clone(),
                    own,
                ];
                let tag = format!("w{worker}-r{round}");
                let pause = Duration::from_millis(if round % 2 == 0 { 0 } else { 15 });
                let digest = push_with_pause(&registry, &name, &tag, &layers, pause).await;
                if round % 3 == 0 {
                    registry.delete_image(&name, &digest).await.unwrap();
                } else {
                    pushed.push((name.clone(), digest));
                }
            }
            pushed
        }));
    }
    // The clock jumps a third of the grace period per round, so blobs that a pausing
    // client uploaded often expire before its manifest arrives.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (registry, clock, stop) = (registry.clone(), clock.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rounds = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                clock.advance_millis(GRACE.as_millis() as i64 / 3);
                registry.collect_garbage(GRACE).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                rounds += 1;
            }
            rounds
        })
    };

    let mut survivors = Vec::new();
    for pusher in pushers {
        survivors.extend(pusher.await.unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let rounds = collector.await.unwrap();
    assert!(
        rounds > 5,
        "the collector ran only {rounds} rounds beside the pushes"
    );
    for (name, digest) in &survivors {
        assert_pullable(&registry, name, digest).await;
    }

    clock.advance_millis(GRACE.as_millis() as i64 + 1);
    registry.collect_garbage(GRACE).await.unwrap();
    let mut referenced = std::collections::HashSet::new();
    for name in &names {
        let (images, _) = registry
            .describe_images(name, TagFilter::Any, &Default::default())
            .await
            .unwrap();
        assert_eq!(
            images.len(),
            survivors.iter().filter(|(n, _)| n == name).count()
        );
        for image in images {
            let stored = registry
                .manifest(name, &Reference::Digest(image.digest.clone()))
                .await
                .unwrap();
            let parsed: serde_json::Value = serde_json::from_slice(&stored.manifest).unwrap();
            referenced.insert(parsed["config"]["digest"].as_str().unwrap().to_owned());
            for layer in parsed["layers"].as_array().unwrap() {
                referenced.insert(layer["digest"].as_str().unwrap().to_owned());
            }
        }
    }
    let on_disk = blob_files(&dir.path().join("blobs/blobs/sha256"));
    assert_eq!(
        on_disk, referenced,
        "the blobs on disk are exactly the referenced ones"
    );
}

fn blob_files(root: &std::path::Path) -> std::collections::HashSet<String> {
    let mut found = std::collections::HashSet::new();
    for prefix in std::fs::read_dir(root).unwrap() {
        for file in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
            found.insert(format!(
                "sha256:{}",
                file.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    found
}
