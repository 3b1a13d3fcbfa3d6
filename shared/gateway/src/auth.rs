//! Who is calling: a JWT from `Authorization: Bearer …` or, when configured and no
//! `Authorization` header is sent, from a cookie; verified with pinned algorithms, `exp`/`nbf`
//! (60 s leeway), `iss`/`aud` (required with a JWKS), and `sub` as the user id.
//! `CHATKIT_DEV_AUTH` trusts `X-User-ID` instead — local development only.

use std::sync::Arc;

use http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::jwks::Jwks;
use crate::secrets::{KeyError, SecretSource, SecretVersions};

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
#[derive(Clone)]
pub struct Identity {
    /// The token's `sub` (or the dev header).
    pub user_id: String,
    /// The organisation (the `CHATKIT_TENANT_CLAIM` claim), when tenancy is on.
    pub tenant: Option<String>,
    /// The raw token, for tools that call APIs on the user's behalf. Never printed.
    pub token: Option<Arc<str>>,
}

impl Identity {
    /// What keys every stored record of this caller: the `sub`, or with a tenant
    /// `t:<tenant>/<sub>` (`%` and `/` of the tenant percent-encoded, so no tenant and `sub`
    /// pair can spell another's).
    pub fn store_user(&self) -> String {
        match &self.tenant {
            None => self.user_id.clone(),
            Some(tenant) => {
                format!("t:{}/{}", tenant.replace('%', "%25").replace('/', "%2F"), self.user_id)
            }
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("user_id", &self.user_id)
            .field("tenant", &self.tenant)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
}

/// The value of claim `name` in a token whose signature was already verified: a non-empty
/// string, or a number.
fn claim(token: &str, name: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes).ok()?;
    match claims.get(name)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
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
    pub(crate) tenant_claim: Option<String>,
}

/// Leeway for `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// The value of cookie `name` in the request's `Cookie` header fields, parsed as RFC 6265
/// §4.2 and §5.4 describe: `;`-separated `name=value` pairs, names compared exactly, a value
/// in double quotes unquoted. `Err` when the name appears more than once: a sibling subdomain
/// can plant a cookie with the same name, and which one comes first is not ours to guess.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AuthError> {
    let mut found = None;
    let pairs = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'));
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else { continue };
        if key.trim_matches([' ', '\t']) != name {
            continue;
        }
        if found.is_some() {
            return Err(AuthError::Invalid(format!("the `{name}` cookie is sent more than once")));
        }
        let value = value.trim_matches([' ', '\t']);
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(unquoted) => unquoted,
            None => value,
        };
        found = Some(value);
    }
    Ok(found)
}

impl Authenticator {
    /// An authenticator from its parts; see [`crate::AuthConfig`] for the env form.
    pub fn new(
        secret: Option<Arc<dyn SecretSource>>,
        jwks: Option<Jwks>,
        algorithms: Vec<Algorithm>,
    ) -> Self {
        Self {
            secret,
            jwks,
            algorithms,
            issuer: None,
            audience: None,
            cookie_name: None,
            dev_auth: false,
            tenant_claim: None,
        }
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

    /// Puts each organisation's users in their own key space: the token must carry this claim
    /// (e.g. `org_id`, a non-empty string or a number) and its value scopes every record.
    pub fn with_tenant_claim(mut self, claim: Option<String>) -> Self {
        self.tenant_claim = claim;
        self
    }

    /// Trust `X-User-ID` (local development only; logged loudly at start-up).
    pub fn with_dev_auth(mut self, enabled: bool) -> Self {
        self.dev_auth = enabled;
        self
    }

    /// Fetches the verification keys now (warm-up): the HS256 secret (with its previous
    /// version) and the JWKS, whichever are configured.
    pub async fn warm_up(&self) -> Result<(), KeyError> {
        let secret = async {
            match &self.secret {
                Some(source) => source.versions().await.map(drop),
                None => Ok(()),
            }
        };
        let jwks = async {
            match &self.jwks {
                Some(jwks) => jwks.warm_up().await,
                None => Ok(()),
            }
        };
        let (secret, jwks) = tokio::join!(secret, jwks);
        secret.and(jwks)
    }

    /// The token: the `Authorization` header when there is one (it wins over any cookie),
    /// else the configured cookie.
    fn token<'a>(&self, headers: &'a HeaderMap) -> Result<&'a str, AuthError> {
        if let Some(value) = headers.get(http::header::AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| AuthError::Invalid("the Authorization header is not ASCII".into()))?;
            return match value.trim().split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    Ok(token.trim())
                }
                _ => Err(AuthError::Invalid(
                    "the Authorization header must be `Bearer <JWT>`".into(),
                )),
            };
        }
        match &self.cookie_name {
            Some(name) => {
                cookie(headers, name)?.filter(|t| !t.is_empty()).ok_or(AuthError::Missing)
            }
            None => Err(AuthError::Missing),
        }
    }

    /// Verifies the request's credentials.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, AuthError> {
        if self.dev_auth {
            if let Some(user) = headers
                .get("x-user-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.trim().is_empty())
            {
                let tenant = match &self.tenant_claim {
                    None => None,
                    Some(_) => Some(
                        headers
                            .get("x-tenant-id")
                            .and_then(|v| v.to_str().ok())
                            .map(str::trim)
                            .filter(|v| !v.is_empty())
                            .ok_or_else(|| {
                                AuthError::Invalid(
                                    "dev auth with tenancy needs an X-Tenant-ID header".into(),
                                )
                            })?
                            .to_string(),
                    ),
                };
                return Ok(Identity { user_id: user.trim().to_string(), tenant, token: None });
            }
        }
        let token = self.token(headers)?;
        let user_id = self.verify(token).await?;
        let tenant = match &self.tenant_claim {
            None => None,
            Some(name) => Some(
                claim(token, name)
                    .ok_or_else(|| AuthError::Invalid(format!("token has no `{name}` claim")))?,
            ),
        };
        Ok(Identity { user_id, tenant, token: Some(token.into()) })
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
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
        validation
    }

    /// Decodes with the current secret, then (on a bad signature) with the previous one.
    fn decode_hmac(
        &self,
        token: &str,
        validation: &Validation,
        versions: &SecretVersions,
    ) -> Result<Claims, jsonwebtoken::errors::Error> {
        let result = decode::<Claims>(
            token,
            &DecodingKey::from_secret(versions.current.as_bytes()),
            validation,
        );
        match (&result, &versions.previous) {
            (Err(e), Some(previous)) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                decode::<Claims>(token, &DecodingKey::from_secret(previous.as_bytes()), validation)
                    .map(|d| d.claims)
            }
            _ => result.map(|d| d.claims),
        }
    }

    /// Verifies one JWT and returns its `sub`.
    pub async fn verify(&self, token: &str) -> Result<String, AuthError> {
        let header = decode_header(token)
            .map_err(|e| AuthError::Invalid(format!("malformed token: {e}")))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let validation = self.validation(header.alg);
        let invalid = |e: jsonwebtoken::errors::Error| AuthError::Invalid(e.to_string());
        let claims = if is_hmac(header.alg) {
            let source = self
                .secret
                .as_ref()
                .ok_or_else(|| AuthError::Invalid("HMAC tokens are not accepted".into()))?;
            match self.decode_hmac(token, &validation, &source.versions().await?) {
                // the issuer may already sign with a newer secret than the cached one
                Err(e)
                    if matches!(e.kind(), ErrorKind::InvalidSignature)
                        && source.refresh_after_failure().await =>
                {
                    self.decode_hmac(token, &validation, &source.versions().await?)
                        .map_err(invalid)?
                }
                other => other.map_err(invalid)?,
            }
        } else {
            let jwks = self
                .jwks
                .as_ref()
                .ok_or_else(|| AuthError::Invalid("no JWKS configured".into()))?;
            if self.issuer.is_none() || self.audience.is_none() {
                return Err(AuthError::Keys(KeyError(
                    "JWKS verification needs an issuer and an audience (CHATKIT_JWT_ISSUER, CHATKIT_JWT_AUDIENCE)".into(),
                )));
            }
            let kid = header
                .kid
                .as_deref()
                .ok_or_else(|| AuthError::Invalid("token has no `kid`".into()))?;
            let key = jwks
                .key(kid)
                .await?
                .ok_or_else(|| AuthError::Invalid(format!("unknown key id {kid:?}")))?;
            decode::<Claims>(token, &key, &validation).map_err(invalid)?.claims
        };
        claims
            .sub
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| AuthError::Invalid("token has no `sub`".into()))
    }
}
