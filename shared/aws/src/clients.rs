//! AWS clients, created once per container (during the Lambda init phase when warm-up is
//! on, else on first use) and reused by every warm invocation.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use chatkit_settings::catalog::{AWS_ATTEMPT_TIMEOUT_MS, AWS_TIMEOUT_MS};
use chatkit_settings::{Lookup, SettingError};
use tokio::sync::OnceCell;

/// Time limits of every AWS call (DynamoDB, Secrets Manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsTimeouts {
    /// TCP/TLS connect.
    pub connect: Duration,
    /// One attempt (`CHATKIT_AWS_ATTEMPT_TIMEOUT_MS`, default 3000).
    pub attempt: Duration,
    /// The whole operation, retries included (`CHATKIT_AWS_TIMEOUT_MS`, default 10000).
    pub operation: Duration,
}

impl AwsTimeouts {
    /// `CHATKIT_AWS_ATTEMPT_TIMEOUT_MS` and `CHATKIT_AWS_TIMEOUT_MS`.
    pub fn from_lookup(get: &dyn Lookup) -> Result<Self, SettingError> {
        Ok(Self {
            connect: Duration::from_secs(3),
            attempt: AWS_ATTEMPT_TIMEOUT_MS.millis(get)?,
            operation: AWS_TIMEOUT_MS.millis(get)?,
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
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
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
