//! GetAuthorizationToken: the password docker and the OCI front accept.

use axum::response::Response;
use berth_auth::DEFAULT_TOKEN_TTL_MILLIS;
use serde::Deserialize;

use crate::error::EcrError;
use crate::wire::{check_length, check_registry_id, epoch, output, parse_input};
use crate::Call;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    registry_ids: Option<Vec<String>>,
}

pub async fn get_authorization_token(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: Input = parse_input(call.body)?;
    let settings = call.registry.settings();
    let registry_ids = input
        .registry_ids
        .unwrap_or_else(|| vec![settings.registry_id.clone()]);
    check_length("registryIds", registry_ids.len(), 1, 10)?;
    for id in &registry_ids {
        check_registry_id(Some(id), settings)?;
    }
    let now = call.registry.clock().now();
    let identity = call.identity;
    let token = call.state.tokens.issue(
        &identity.access_key_id,
        &identity.principal_arn,
        now,
        DEFAULT_TOKEN_TTL_MILLIS,
    );
    tracing::info!(access_key_id = %identity.access_key_id, "issued authorization token");
    let data: Vec<_> = registry_ids
        .iter()
        .map(|_| {
            serde_json::json!({
                "authorizationToken": token.authorization_token,
                "expiresAt": epoch(token.expires_at),
                "proxyEndpoint": call.state.public_url,
            })
        })
        .collect();
    Ok(output(&serde_json::json!({ "authorizationData": data })))
}
