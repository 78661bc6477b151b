//! Builds the stores, the registry and both API fronts, then serves them on one port
//! until a shutdown signal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_auth::{AccessKey, Credentials, TokenSigner};
use berth_ecr::{EcrState, SignatureCheck};
use berth_oci::OciState;
use berth_service::{Registry, RequestId, Settings};
use berth_store::{FsBlobStore, SqliteMetaStore};
use berth_types::SystemClock;
use http::{HeaderValue, Method, StatusCode, Uri};
use tracing::Instrument;

use crate::admin::{self, AdminState};
use crate::config::Config;
use crate::connections;
use crate::jobs;
use crate::request_body;

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    prepare_data_dir(&config.data_dir)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let bound = listener.local_addr()?;
    let public_url = config.public_url(bound);

    let meta = SqliteMetaStore::open(config.data_dir.join("metadata.db"))
        .context("failed to open the metadata store")?;
    let blobs = FsBlobStore::open(config.data_dir.join("blobs"))
        .await
        .context("failed to open the blob store")?;
    let settings = Settings {
        registry_id: config.registry_id.clone(),
        region: config.region.clone(),
        registry_host: public_url
            .split_once("://")
            .map_or(public_url.as_str(), |(_, host)| host)
            .to_owned(),
    };
    let registry = Registry::new(
        Arc::new(meta),
        Arc::new(blobs),
        Arc::new(SystemClock),
        settings,
    )
    .await
    .context("failed to start the registry")?;
    let registry = Arc::new(registry);

    let credentials = load_credentials(&config)?;
    let url_signing_key = download_url_key(&registry).await?;
    let tokens = Arc::new(
        TokenSigner::load_or_create(&config.data_dir).context("failed to load the token key")?,
    );
    if config.accept_any_signature {
        tracing::warn!("accept_any_signature is on: any well-formed SigV4 signature is accepted; use this for local testing only");
    }
    let oci = OciState {
        registry: registry.clone(),
        tokens: tokens.clone(),
        credentials: Arc::new(Credentials::new(vec![url_signing_key.clone()])),
        access_keys: (!config.accept_any_signature).then(|| credentials.clone()),
        create_on_push: config.create_on_push,
    };
    let ecr = Arc::new(EcrState {
        registry: registry.clone(),
        credentials: credentials.clone(),
        tokens,
        signature_check: if config.accept_any_signature {
            SignatureCheck::AcceptAnyKey
        } else {
            SignatureCheck::Strict
        },
        url_signing_key,
        public_url: public_url.clone(),
    });

    let admin = Arc::new(AdminState {
        registry: registry.clone(),
        credentials: credentials.clone(),
        gc_grace: Duration::from_secs(config.gc_grace_secs),
    });
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(berth_ecr::router(ecr))
        .merge(berth_oci::router(oci))
        .merge(admin::router(admin))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            Duration::from_secs(config.body_idle_timeout_secs),
            request_body::guard_request_body,
        ))
        .layer(middleware::from_fn(request_context));

    let jobs = jobs::spawn_all(&registry, &config);
    tracing::info!(address = %bound, public_url = %public_url, data_dir = %config.data_dir.display(), "berth listening");
    connections::serve_until_stopped(
        listener,
        app,
        Duration::from_secs(config.shutdown_timeout_secs),
    )
    .await?;
    for job in jobs {
        job.abort();
    }
    tracing::info!("berth stopped");
    Ok(())
}

/// Builds the key store from the configuration. With no key configured, berth uses an
/// admin key that it creates in the data directory on first start.
fn load_credentials(config: &Config) -> anyhow::Result<Arc<Credentials>> {
    let keys: Vec<AccessKey> = config
        .access_keys
        .iter()
        .map(|key| AccessKey {
            id: key.id.clone(),
            secret: key.secret.clone(),
            principal_arn: key
                .principal_arn
                .clone()
                .unwrap_or_else(|| format!("arn:aws:iam::{}:user/{}", config.registry_id, key.id)),
        })
        .collect();
    if !keys.is_empty() {
        tracing::info!(count = keys.len(), "using the configured access keys");
        return Ok(Arc::new(Credentials::new(keys)));
    }
    let (admin, created) =
        berth_auth::load_or_create_admin_key(&config.data_dir, &config.registry_id)
            .context("failed to load the admin access key")?;
    let path = config.data_dir.join(berth_auth::ADMIN_CREDENTIALS_FILE);
    let message = if created {
        "created the admin access key"
    } else {
        "using the admin access key"
    };
    tracing::info!(path = %path.display(), access_key_id = %admin.id, "{message}; its secret is in the file");
    Ok(Arc::new(Credentials::new(vec![admin])))
}

/// The key that signs GetDownloadUrlForLayer URLs. It is berth's own, derived from a
/// secret in the metadata store so every node shares it, and it is accepted only on
/// those URLs, never on the ECR API.
async fn download_url_key(registry: &Registry) -> anyhow::Result<AccessKey> {
    let secret = registry
        .meta()
        .secret("download-url-key")
        .await
        .context("failed to read the download URL key")?;
    let settings = registry.settings();
    Ok(AccessKey {
        id: "BERTHDOWNLOADURLS000".to_owned(),
        secret: secret.iter().map(|byte| format!("{byte:02x}")).collect(),
        principal_arn: format!(
            "arn:aws:iam::{}:role/berth-download-urls",
            settings.registry_id
        ),
    })
}

/// Returns a 404 with a body that names the path, for paths that neither API serves.
async fn not_found(uri: Uri) -> Response {
    let message = format!(
        "berth serves no resource at '{}': the ECR API takes POST /, the OCI API lives under /v2/",
        uri.path()
    );
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

/// Returns a 405 with a body that names the method and path.
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let message = format!("the method {method} is not allowed on '{}'", uri.path());
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

/// Gives each request an id, a tracing span and an `x-amzn-RequestId` header, and logs
/// its completion.
async fn request_context(mut request: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let _entered = span.enter();
    tracing::debug!(
        status,
        duration_ms = started.elapsed().as_millis() as u64,
        "request finished"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

/// Creates the data directory and makes it private to the user berth runs as, since it
/// contains secrets: the admin key, the token key and the keys in the metadata database.
fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create the data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(
                || {
                    format!(
                        "failed to make the data directory {} private",
                        dir.display()
                    )
                },
            )?;
            tracing::info!(data_dir = %dir.display(), old_mode = format!("{mode:o}"), "made the data directory private (mode 700)");
        }
    }
    Ok(())
}

/// Waits for SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown signal received");
}
