//! Who is calling: a JWT from `Authorization: Bearer …` or the configured cookie, verified
//! with pinned algorithms, `exp`/`nbf` (60 s leeway), `iss`/`aud` when configured, and `sub`
//! as the user id. `CHATKIT_DEV_AUTH` trusts `X-User-ID` instead — local development only.

use std::sync::Arc;

use http::HeaderMap;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::keys::{Jwks, KeyError, SecretSource};

/// Why a request is not authenticated. Every variant is answered 401, except `Keys` (503).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer <JWT>`")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("verification keys unavailable: {0}")]
    Keys(#[from] KeyError),
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The token's `sub` (or the dev header): keys every stored record.
    pub user_id: String,
    /// The raw token, for tools that call APIs on the user's behalf.
    pub token: Option<Arc<str>>,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
}

/// Verifies callers.
pub struct Authenticator {
    pub(crate) secret: Option<Arc<dyn SecretSource>>,
    pub(crate) jwks: Option<Jwks>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) cookie_name: Option<String>,
    pub(crate) dev_auth: bool,
}

/// Leeway for `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

impl Authenticator {
    /// An authenticator from its parts; see [`crate::AuthConfig`] for the env form.
    pub fn new(secret: Option<Arc<dyn SecretSource>>, jwks: Option<Jwks>, algorithms: Vec<Algorithm>) -> Self {
        Self { secret, jwks, algorithms, issuer: None, audience: None, cookie_name: None, dev_auth: false }
    }

    pub fn with_issuer(mut self, issuer: Option<String>) -> Self {
        self.issuer = issuer;
        self
    }

    pub fn with_audience(mut self, audience: Option<String>) -> Self {
        self.audience = audience;
        self
    }

    pub fn with_cookie(mut self, name: Option<String>) -> Self {
        self.cookie_name = name;
        self
    }

    /// Trust `X-User-ID` (local development only; logged loudly at start-up).
    pub fn with_dev_auth(mut self, enabled: bool) -> Self {
        self.dev_auth = enabled;
        self
    }

    fn token<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        if let Some(value) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            let (scheme, token) = value.trim().split_once(' ')?;
            return scheme.eq_ignore_ascii_case("bearer").then_some(token.trim());
        }
        let name = self.cookie_name.as_deref()?;
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim())
    }

    /// Verifies the request's credentials.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, AuthError> {
        if self.dev_auth {
            if let Some(user) = headers.get("x-user-id").and_then(|v| v.to_str().ok()).filter(|v| !v.trim().is_empty()) {
                return Ok(Identity { user_id: user.trim().to_string(), token: None });
            }
        }
        let token = self.token(headers).filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
        let user_id = self.verify(token).await?;
        Ok(Identity { user_id, token: Some(token.into()) })
    }

    /// Verifies one JWT and returns its `sub`.
    pub async fn verify(&self, token: &str) -> Result<String, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Invalid(format!("malformed token: {e}")))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let key: Arc<DecodingKey> = if is_hmac(header.alg) {
            let source = self.secret.as_ref().ok_or_else(|| AuthError::Invalid("HMAC tokens are not accepted".into()))?;
            Arc::new(DecodingKey::from_secret(source.secret().await?.as_bytes()))
        } else {
            let jwks = self.jwks.as_ref().ok_or_else(|| AuthError::Invalid("no JWKS configured".into()))?;
            let kid = header.kid.as_deref().ok_or_else(|| AuthError::Invalid("token has no `kid`".into()))?;
            jwks.key(kid).await?.ok_or_else(|| AuthError::Invalid(format!("unknown key id {kid:?}")))?
        };
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &self.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let data = decode::<Claims>(token, &key, &validation).map_err(|e| AuthError::Invalid(e.to_string()))?;
        data.claims
            .sub
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| AuthError::Invalid("token has no `sub`".into()))
    }
}
