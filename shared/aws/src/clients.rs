//! AWS clients, created once per container (during the Lambda init phase when warm-up is
//! on, else on first use) and reused by every warm invocation.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use chatkit_settings::catalog::{AWS_ATTEMPT_TIMEOUT_MS, AWS_TIMEOUT_MS, DEADLINE_MARGIN_MS};
use chatkit_settings::{Lookup, SettingError};
use tokio::sync::OnceCell;

/// Time limits of every AWS call (DynamoDB, Secrets Manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsTimeouts {
    /// TCP/TLS connect.
    pub connect: Duration,
    /// One attempt (`CHATKIT_AWS_ATTEMPT_TIMEOUT_MS`, default 2000).
    pub attempt: Duration,
    /// The whole operation, retries included (`CHATKIT_AWS_TIMEOUT_MS`, default 4000).
    pub operation: Duration,
}

impl AwsTimeouts {
    /// `CHATKIT_AWS_ATTEMPT_TIMEOUT_MS` and `CHATKIT_AWS_TIMEOUT_MS`; an operation must end
    /// within `CHATKIT_DEADLINE_MARGIN_MS`, the time a turn stopped at its deadline has to save.
    pub fn from_lookup(get: &dyn Lookup) -> Result<Self, SettingError> {
        let operation = AWS_TIMEOUT_MS.millis(get)?;
        let margin = DEADLINE_MARGIN_MS.millis(get)?;
        if !margin.is_zero() && operation >= margin {
            return Err(AWS_TIMEOUT_MS.error(format!(
                "is {} ms, not shorter than CHATKIT_DEADLINE_MARGIN_MS ({} ms): a turn stopped at its deadline could not save what it said in time",
                operation.as_millis(),
                margin.as_millis()
            )));
        }
        Ok(Self {
            connect: Duration::from_secs(2).min(operation),
            attempt: AWS_ATTEMPT_TIMEOUT_MS.millis(get)?,
            operation,
        })
    }
}

impl Default for AwsTimeouts {
    /// The declared defaults.
    fn default() -> Self {
        Self::from_lookup(&chatkit_settings::defaults).expect("the declared defaults parse")
    }
}

/// The shared AWS configuration and the clients built from it, each made once per container.
#[derive(Default)]
pub struct AwsClients {
    timeouts: AwsTimeouts,
    endpoint_url: Option<String>,
    config: OnceCell<SdkConfig>,
    secrets: OnceCell<aws_sdk_secretsmanager::Client>,
}

impl AwsClients {
    pub fn new() -> Self {
        Self::default()
    }

    /// Clients whose calls are bounded by `timeouts`.
    pub fn with_timeouts(timeouts: AwsTimeouts) -> Self {
        Self { timeouts, ..Self::default() }
    }

    /// Sends every service's calls to `url` (tests, local emulators); by default each
    /// service's endpoint comes from the standard chain (`AWS_ENDPOINT_URL_<SERVICE>`, …).
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// aws-config's standard chain (env, profile, the Lambda role), loaded once, with the
    /// time limits on every call.
    pub async fn config(&self) -> &SdkConfig {
        let t = self.timeouts;
        self.config
            .get_or_init(|| async move {
                let timeouts = TimeoutConfig::builder()
                    .connect_timeout(t.connect)
                    .operation_attempt_timeout(t.attempt)
                    .operation_timeout(t.operation)
                    .build();
                // the SDK's default HTTPS client (rustls on aws-lc), trusting the system roots
                // the process already read for reqwest instead of reading them again
                use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
                let trust = tls::TrustStore::empty()
                    .with_pem_certificate(chatkit_gateway::roots::native_roots_pem());
                let https = aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                    .tls_context(
                        tls::TlsContext::builder()
                            .with_trust_store(trust)
                            .build()
                            .expect("a TLS context"),
                    )
                    .build_https();
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .http_client(https)
                    .timeout_config(timeouts);
                if let Some(url) = &self.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                loader.load().await
            })
            .await
    }

    pub async fn secrets_manager(&self) -> &aws_sdk_secretsmanager::Client {
        let config = self.config().await;
        self.secrets.get_or_init(|| async { aws_sdk_secretsmanager::Client::new(config) }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aws_call_ends_within_the_deadline_margin() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(AwsTimeouts::default().operation, Duration::from_secs(4));
        let err =
            AwsTimeouts::from_lookup(&get(&[("CHATKIT_AWS_TIMEOUT_MS", "5000")])).unwrap_err();
        assert!(err.to_string().contains("CHATKIT_DEADLINE_MARGIN_MS"), "{err}");
        const LONGER_MARGIN: &[(&str, &str)] =
            &[("CHATKIT_AWS_TIMEOUT_MS", "5000"), ("CHATKIT_DEADLINE_MARGIN_MS", "8000")];
        assert!(AwsTimeouts::from_lookup(&get(LONGER_MARGIN)).is_ok());
        const NO_MARGIN: &[(&str, &str)] =
            &[("CHATKIT_AWS_TIMEOUT_MS", "60000"), ("CHATKIT_DEADLINE_MARGIN_MS", "0")];
        assert!(AwsTimeouts::from_lookup(&get(NO_MARGIN)).is_ok());
    }
}
