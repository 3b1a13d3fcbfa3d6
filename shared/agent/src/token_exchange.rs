//! RFC 8693 token exchange with RFC 8707 resource indicators: the caller's token is traded
//! at the identity provider for one issued for a single service (its audience), so a service
//! never holds a token that this function, or any other service, would accept.
//!
//! - A form `POST` to `token_url`, the client authenticated with HTTP Basic (RFC 6749 §2.3.1:
//!   id and secret form-encoded first).
//! - The issued token is cached per user and service until shortly before it expires: one
//!   exchange per user per token lifetime, not one per turn.
//! - Errors carry the provider's status and OAuth error code only: never a token, never the
//!   provider's free text.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::form_urlencoded;

/// `grant_type` of a token exchange.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `subject_token_type`: the caller's token is an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Longest wait for the identity provider.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most a token endpoint's answer may be.
const MAX_ANSWER_BYTES: usize = 64 << 10;
/// The longest issued token accepted.
const MAX_TOKEN_BYTES: usize = 16 << 10;
/// How long a token without `expires_in` is reused.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// The longest any issued token is reused.
const MAX_LIFETIME: Duration = Duration::from_secs(3600);
/// Most cached tokens (per user and service).
const MAX_CACHED: usize = 4096;

/// Where the client secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSecret {
    /// A Secrets Manager secret (the function's role must be allowed to read it).
    Arn(String),
    /// An environment variable, for local work.
    Env(String),
}

/// One service's token exchange settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenExchange {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// The RFC 8707 resource indicator; `None`: the service's URL.
    pub resource: Option<String>,
    pub scope: Option<String>,
}

impl TokenExchange {
    /// From the `token_exchange` object of an `auth` setting.
    pub fn from_json(value: serde_json::Value) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            token_url: String,
            client_id: String,
            client_secret_arn: Option<String>,
            client_secret_env: Option<String>,
            resource: Option<String>,
            scope: Option<String>,
        }
        let wire: Wire = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let non_empty =
            |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let client_secret =
            match (non_empty(wire.client_secret_arn), non_empty(wire.client_secret_env)) {
                (Some(arn), None) => ClientSecret::Arn(arn),
                (None, Some(env)) => ClientSecret::Env(env),
                _ => {
                    return Err(
                        "give exactly one of `client_secret_arn` and `client_secret_env`".into()
                    )
                }
            };
        if wire.client_id.trim().is_empty() {
            return Err("`client_id` must not be empty".into());
        }
        url::Url::parse(&wire.token_url).map_err(|e| format!("`token_url`: {e}"))?;
        Ok(Self {
            token_url: wire.token_url,
            client_id: wire.client_id.trim().to_string(),
            client_secret,
            resource: non_empty(wire.resource),
            scope: non_empty(wire.scope),
        })
    }
}

/// The token endpoint's answer (RFC 8693 §2.2.1).
#[derive(Deserialize)]
struct Issued {
    access_token: String,
    token_type: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The OAuth error answer (RFC 6749 §5.2).
#[derive(Deserialize)]
struct OauthError {
    error: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    token_url: String,
    client_id: String,
    resource: String,
    scope: Option<String>,
    user: String,
}

/// Exchanges tokens and caches the issued ones. One per process.
pub struct TokenExchanger {
    http: reqwest::Client,
    cache: Mutex<HashMap<CacheKey, (Instant, Arc<str>)>>,
    sent: AtomicU64,
}

impl TokenExchanger {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http, cache: Mutex::new(HashMap::new()), sent: AtomicU64::new(0) }
    }

    /// Exchanges sent so far.
    pub fn exchanges(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// A token for the service at `service_url`, issued to `user` (the verified id) in
    /// exchange for `subject` (their bearer token): cached, or exchanged now.
    pub async fn token(
        &self,
        exchange: &TokenExchange,
        service_url: &str,
        user: &str,
        subject: &str,
        client_secret: &str,
    ) -> Result<Arc<str>, String> {
        let key = CacheKey {
            token_url: exchange.token_url.clone(),
            client_id: exchange.client_id.clone(),
            resource: exchange.resource.clone().unwrap_or_else(|| service_url.to_string()),
            scope: exchange.scope.clone(),
            user: user.to_string(),
        };
        if let Some(token) = self.cached(&key) {
            return Ok(token);
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        let (token, lifetime) =
            self.exchange(exchange, &key.resource, subject, client_secret).await?;
        if !lifetime.is_zero() {
            self.remember(key, Instant::now() + lifetime, token.clone());
        }
        Ok(token)
    }

    fn cached(&self, key: &CacheKey) -> Option<Arc<str>> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(key).filter(|(until, _)| Instant::now() < *until).map(|(_, t)| t.clone())
    }

    fn remember(&self, key: CacheKey, until: Instant, token: Arc<str>) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= MAX_CACHED {
            let now = Instant::now();
            cache.retain(|_, (until, _)| now < *until);
        }
        if cache.len() >= MAX_CACHED {
            if let Some(first) =
                cache.iter().min_by_key(|(_, (until, _))| *until).map(|(k, _)| k.clone())
            {
                cache.remove(&first);
            }
        }
        cache.insert(key, (until, token));
    }

    /// One exchange: the issued token and how long to reuse it.
    async fn exchange(
        &self,
        exchange: &TokenExchange,
        resource: &str,
        subject: &str,
        client_secret: &str,
    ) -> Result<(Arc<str>, Duration), String> {
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", GRANT_TYPE)
                .append_pair("subject_token", subject)
                .append_pair("subject_token_type", ACCESS_TOKEN_TYPE)
                .append_pair("resource", resource);
            if let Some(scope) = &exchange.scope {
                form.append_pair("scope", scope);
            }
            form.finish()
        };
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let response = self
            .http
            .post(&exchange.token_url)
            .timeout(TIMEOUT)
            .basic_auth(encode(&exchange.client_id), Some(encode(client_secret)))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| format!("the token exchange failed: {}", e.without_url()))?;
        let status = response.status();
        let body = crate::capped::body(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| format!("the token exchange's answer: {}", without_url(e)))?;
        if !status.is_success() {
            let code =
                serde_json::from_slice::<OauthError>(&body).ok().map(|e| e.error).filter(|code| {
                    code.len() <= 64 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                });
            return Err(match code {
                Some(code) => format!(
                    "the identity provider refused the token exchange (HTTP {}, {code})",
                    status.as_u16()
                ),
                None => format!(
                    "the identity provider refused the token exchange (HTTP {})",
                    status.as_u16()
                ),
            });
        }
        let issued: Issued = serde_json::from_slice(&body)
            .map_err(|_| "the identity provider's answer is not a token response".to_string())?;
        let usable = !issued.access_token.is_empty()
            && issued.access_token.len() <= MAX_TOKEN_BYTES
            && issued.access_token.bytes().all(|b| b.is_ascii_graphic());
        let kind = issued.token_type.to_ascii_lowercase();
        if !usable || !(kind == "bearer" || kind == "n_a") {
            return Err("the identity provider's answer has no usable bearer token".into());
        }
        Ok((Arc::from(issued.access_token), reuse_for(issued.expires_in)))
    }
}

fn without_url(error: crate::capped::ReadError) -> String {
    match error {
        crate::capped::ReadError::Transport(e) => e.without_url().to_string(),
        other => other.to_string(),
    }
}

/// How long a token that expires in `expires_in` seconds is reused: until a tenth of its
/// lifetime (at least 10 s, at most 60 s) before it expires; zero when that leaves nothing.
pub fn reuse_for(expires_in: Option<u64>) -> Duration {
    let Some(seconds) = expires_in else { return DEFAULT_LIFETIME };
    let lifetime = Duration::from_secs(seconds);
    let margin = (lifetime / 10).clamp(Duration::from_secs(10), Duration::from_secs(60));
    lifetime.saturating_sub(margin).min(MAX_LIFETIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_reused_until_shortly_before_they_expire() {
        assert_eq!(reuse_for(Some(3600)), Duration::from_secs(3540));
        assert_eq!(reuse_for(Some(300)), Duration::from_secs(270));
        assert_eq!(reuse_for(Some(60)), Duration::from_secs(50));
        assert_eq!(reuse_for(Some(5)), Duration::ZERO);
        assert_eq!(reuse_for(Some(86_400)), MAX_LIFETIME);
        assert_eq!(reuse_for(None), DEFAULT_LIFETIME);
    }

    #[test]
    fn settings_need_one_client_secret_and_a_token_url() {
        let ok = TokenExchange::from_json(serde_json::json!({
            "token_url": "https://idp.test/token", "client_id": " chatkit ",
            "client_secret_arn": "arn:s", "resource": "", "scope": "tasks.read"
        }))
        .unwrap();
        assert_eq!(ok.client_id, "chatkit");
        assert_eq!(ok.client_secret, ClientSecret::Arn("arn:s".into()));
        assert_eq!((ok.resource, ok.scope.as_deref()), (None, Some("tasks.read")));
        for bad in [
            serde_json::json!({"token_url": "https://i/t", "client_id": "c", "client_secret_arn": "a", "client_secret_env": "E"}),
            serde_json::json!({"token_url": "not a url", "client_id": "c", "client_secret_env": "E"}),
            serde_json::json!({"token_url": "https://i/t", "client_id": " ", "client_secret_env": "E"}),
            serde_json::json!({"token_url": "https://i/t", "client_id": "c", "client_secret_env": "E", "audience": "x"}),
        ] {
            assert!(TokenExchange::from_json(bad.clone()).is_err(), "{bad}");
        }
    }
}
