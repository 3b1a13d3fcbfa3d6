//! How the agent authenticates to the services it calls for the user: MCP servers
//! (`CHATKIT_MCP_SERVERS`' `auth`) and the retrieval service (`CHATKIT_RETRIEVAL_AUTH`).
//!
//! Credentials travel only in the `Authorization` header of those requests: never in the
//! model input, the instructions, tool arguments, stored items, error texts or logs.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chatkit_server::RequestContext;
use serde::{Deserialize, Deserializer};

use crate::token_exchange::{ClientSecret, TokenExchange, TokenExchanger};

/// Reads secrets by ARN (MCP service tokens, token-exchange client secrets); the function
/// wires Secrets Manager in.
#[async_trait]
pub trait ServiceTokens: Send + Sync + 'static {
    /// The secret's value (cached by the implementation).
    async fn token(&self, secret_arn: &str) -> Result<Arc<str>, String>;
}

/// One upstream's credential.
#[derive(Clone, PartialEq, Eq)]
pub enum UpstreamAuth {
    /// `"token_exchange"` object: a token issued for that service alone, obtained by RFC 8693
    /// token exchange of the caller's token (recommended for anything not first-party).
    TokenExchange(Arc<TokenExchange>),
    /// `"user_token"`: the caller's verified bearer token (the JWT that authenticated the
    /// ChatKit request). Only for first-party services that accept this function's audience:
    /// whoever runs the service can replay the token here until it expires.
    UserToken,
    /// `{"secret_arn": …}`: a service token read from Secrets Manager.
    SecretArn(String),
    /// `"none"`.
    None,
}

impl UpstreamAuth {
    /// Whether what the service answers may depend on who asks (its answers are cached per
    /// user then).
    pub fn is_per_user(&self) -> bool {
        matches!(self, UpstreamAuth::UserToken | UpstreamAuth::TokenExchange(_))
    }

    /// The environment variables its secrets come from (checked at start).
    pub fn secret_env(&self) -> Option<&str> {
        match self {
            UpstreamAuth::TokenExchange(exchange) => match &exchange.client_secret {
                ClientSecret::Env(name) => Some(name),
                ClientSecret::Arn(_) => None,
            },
            _ => None,
        }
    }
}

impl std::fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamAuth::TokenExchange(exchange) => write!(f, "token_exchange({exchange:?})"),
            UpstreamAuth::UserToken => f.write_str("user_token"),
            UpstreamAuth::SecretArn(arn) => write!(f, "secret_arn({arn})"),
            UpstreamAuth::None => f.write_str("none"),
        }
    }
}

/// What `auth` accepts, for error messages.
pub const AUTH_FORMS: &str = r#"`auth` must be "user_token", "none", {"secret_arn": "<arn>"} or {"token_exchange": {"token_url", "client_id", "client_secret_arn" or "client_secret_env", "resource"?, "scope"?}}"#;

impl<'de> Deserialize<'de> for UpstreamAuth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Name(String),
            Secret { secret_arn: String },
            Exchange { token_exchange: serde_json::Value },
        }
        match Wire::deserialize(deserializer) {
            Ok(Wire::Name(name)) if name == "user_token" => Ok(UpstreamAuth::UserToken),
            Ok(Wire::Name(name)) if name == "none" => Ok(UpstreamAuth::None),
            Ok(Wire::Secret { secret_arn }) if !secret_arn.trim().is_empty() => {
                Ok(UpstreamAuth::SecretArn(secret_arn.trim().to_string()))
            }
            Ok(Wire::Exchange { token_exchange }) => TokenExchange::from_json(token_exchange)
                .map(|exchange| UpstreamAuth::TokenExchange(Arc::new(exchange)))
                .map_err(|e| serde::de::Error::custom(format!("`token_exchange`: {e}"))),
            _ => Err(serde::de::Error::custom(AUTH_FORMS)),
        }
    }
}

/// Parses `CHATKIT_RETRIEVAL_AUTH` (the same forms as an MCP server's `auth`).
pub fn parse_auth(json: &str) -> Result<UpstreamAuth, String> {
    let trimmed = json.trim();
    // a bare name is accepted without JSON quotes
    let value = if trimmed.starts_with(['{', '"']) {
        serde_json::from_str(trimmed).map_err(|e| e.to_string())?
    } else {
        serde_json::Value::String(trimmed.to_string())
    };
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// The container's credentials: secrets by ARN and exchanged tokens (cached per user).
/// Build it once per process.
pub struct Credentials {
    exchanger: TokenExchanger,
    secrets: RwLock<Option<Arc<dyn ServiceTokens>>>,
}

impl Credentials {
    pub fn new(http: reqwest::Client) -> Self {
        Self { exchanger: TokenExchanger::new(http), secrets: RwLock::new(None) }
    }

    /// Where secrets named by ARN are read.
    pub fn set_secret_reader(&self, secrets: Arc<dyn ServiceTokens>) {
        *self.secrets.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(secrets);
    }

    async fn secret(&self, arn: &str) -> Result<Arc<str>, String> {
        let reader = self.secrets.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        match reader {
            Some(reader) => reader.token(arn).await,
            None => Err("no secret reader is configured".into()),
        }
    }

    /// The `Authorization` bearer value for a service at `url` authenticated by `auth`, on
    /// behalf of the caller in `context`; `None` when it takes none. Errors name what is
    /// missing, never a credential.
    pub async fn bearer(
        &self,
        auth: &UpstreamAuth,
        url: &str,
        context: &RequestContext,
    ) -> Result<Option<Arc<str>>, String> {
        match auth {
            UpstreamAuth::None => Ok(None),
            UpstreamAuth::UserToken => match &context.access_token {
                Some(token) => Ok(Some(token.clone())),
                None => Err(
                    "it needs the caller's bearer token, and this request carries none (dev auth?)"
                        .into(),
                ),
            },
            UpstreamAuth::SecretArn(arn) => self
                .secret(arn)
                .await
                .map(Some)
                .map_err(|e| format!("its service token is unavailable: {e}")),
            UpstreamAuth::TokenExchange(exchange) => {
                let Some(subject) = &context.access_token else {
                    return Err("its token exchange needs the caller's bearer token, and this request carries none (dev auth?)".into());
                };
                let client_secret = match &exchange.client_secret {
                    ClientSecret::Arn(arn) => self.secret(arn).await.map_err(|e| {
                        format!("its token exchange client secret is unavailable: {e}")
                    })?,
                    ClientSecret::Env(name) => chatkit_settings::env(name)
                        .filter(|v| !v.is_empty())
                        .map(Arc::from)
                        .ok_or_else(|| {
                            format!("its token exchange client secret `{name}` is not set")
                        })?,
                };
                self.exchanger
                    .token(exchange, url, context.user.as_str(), subject, &client_secret)
                    .await
                    .map(Some)
            }
        }
    }

    /// Token exchanges sent so far (for tests and metrics).
    pub fn exchanges(&self) -> u64 {
        self.exchanger.exchanges()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_and_mistakes_are_named() {
        assert_eq!(parse_auth("user_token").unwrap(), UpstreamAuth::UserToken);
        assert_eq!(parse_auth(r#""none""#).unwrap(), UpstreamAuth::None);
        assert_eq!(
            parse_auth(r#"{"secret_arn": "arn:x"}"#).unwrap(),
            UpstreamAuth::SecretArn("arn:x".into())
        );
        let UpstreamAuth::TokenExchange(exchange) = parse_auth(
            r#"{"token_exchange": {"token_url": "https://idp.test/token", "client_id": "chatkit", "client_secret_env": "IDP_SECRET"}}"#,
        )
        .unwrap() else {
            panic!("token exchange")
        };
        assert_eq!(exchange.client_secret, ClientSecret::Env("IDP_SECRET".into()));
        for (json, needle) in [
            ("bearer", "must be"),
            (r#"{"secret_arn": " "}"#, "must be"),
            (r#"{"token_exchange": {"client_id": "c", "client_secret_env": "S"}}"#, "token_url"),
            (
                r#"{"token_exchange": {"token_url": "https://i/t", "client_id": "c"}}"#,
                "client_secret_arn",
            ),
        ] {
            let err = parse_auth(json).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }
}
