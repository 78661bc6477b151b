//! Opaque, tamper-proof pagination tokens.
//!
//! A token carries the keyset cursor of the listing it continues and the listing's
//! scope (which operation and repository), followed by an HMAC over both. A token that
//! was altered, or that belongs to another listing, is rejected.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use berth_store::Cursor;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::Registry;

/// The ECR default page size when `maxResults` is absent.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest page ECR allows.
pub const MAX_PAGE_SIZE: usize = 1000;

const TAG_BYTES: usize = 16;

/// A page request as the fronts receive it.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct TokenBody {
    /// The scope: operation and repository.
    s: String,
    /// Keyset position.
    i: i64,
    t: String,
}

impl Registry {
    /// Checks `maxResults` against `1..=max` and returns the page size to use.
    pub(crate) fn page_size(&self, request: &PageRequest, max: usize) -> Result<usize> {
        match request.max_results {
            None => Ok(DEFAULT_PAGE_SIZE.min(max)),
            Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
            Some(n) if n < 1 => Err(Error::InvalidParameter(format!(
                "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value greater than or equal to 1' (got {n})"
            ))),
            Some(n) => Err(Error::InvalidParameter(format!(
                "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to {max}' (got {n})"
            ))),
        }
    }

    fn token_mac(&self, payload: &[u8]) -> [u8; TAG_BYTES] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.page_key).expect("HMAC takes any key length");
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        full[..TAG_BYTES].try_into().expect("tag fits in the MAC")
    }

    /// Encodes a cursor for a listing identified by `scope`.
    pub(crate) fn encode_token(&self, scope: &str, cursor: &Cursor) -> String {
        let body = TokenBody {
            s: scope.to_owned(),
            i: cursor.after_id,
            t: cursor.after_text.clone(),
        };
        let payload = serde_json::to_vec(&body).expect("token body serializes");
        let mut bytes = payload.clone();
        bytes.extend_from_slice(&self.token_mac(&payload));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes a token issued for the listing `scope`.
    pub(crate) fn decode_token(&self, scope: &str, token: &str) -> Result<Cursor> {
        let invalid = || {
            Error::InvalidParameter(
                "Invalid parameter at 'nextToken' failed to satisfy constraint: 'the token is not one \
                 this listing issued'; pass the nextToken of the previous page unchanged"
                    .to_owned(),
            )
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| invalid())?;
        if bytes.len() <= TAG_BYTES {
            return Err(invalid());
        }
        let (payload, tag) = bytes.split_at(bytes.len() - TAG_BYTES);
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.page_key).expect("HMAC takes any key length");
        mac.update(payload);
        mac.verify_truncated_left(tag).map_err(|_| invalid())?;
        let body: TokenBody = serde_json::from_slice(payload).map_err(|_| invalid())?;
        if body.s != scope {
            return Err(invalid());
        }
        Ok(Cursor {
            after_id: body.i,
            after_text: body.t,
        })
    }

    /// Decodes the request's token, if any.
    pub(crate) fn cursor(&self, scope: &str, request: &PageRequest) -> Result<Option<Cursor>> {
        request
            .next_token
            .as_deref()
            .map(|token| self.decode_token(scope, token))
            .transpose()
    }
}
