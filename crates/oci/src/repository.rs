//! Creating a repository on push, when the server is configured to.

use berth_service::{CreateRepository, Error};
use berth_store::{Encryption, TagMutability};
use berth_types::RepositoryName;

use crate::error::OciError;
use crate::OciState;

/// Creates the repository a push names when it does not exist and `create_on_push` is
/// set. Without that setting a push to a missing repository fails in the service with
/// NAME_UNKNOWN and ECR's repository-not-found text, as ECR does.
pub(crate) async fn ensure_repository(
    state: &OciState,
    name: &RepositoryName,
) -> Result<(), OciError> {
    if !state.create_on_push {
        return Ok(());
    }
    match state.registry.repository(name).await {
        Err(Error::RepositoryNotFound { .. }) => {}
        other => return other.map(drop).map_err(OciError::from),
    }
    tracing::info!(repository = %name, "creating repository on push because create_on_push is set");
    let request = CreateRepository {
        name: name.clone(),
        tag_mutability: TagMutability::Mutable,
        scan_on_push: false,
        encryption: Encryption {
            encryption_type: "AES256".to_owned(),
            kms_key: None,
        },
        tags: Vec::new(),
    };
    match state.registry.create_repository(request).await {
        // Another push created it first.
        Ok(_) | Err(Error::RepositoryAlreadyExists { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}
