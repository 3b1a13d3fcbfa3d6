//! AWS clients, created on first use and reused by every warm invocation.

use aws_config::SdkConfig;
use tokio::sync::OnceCell;

/// The shared AWS configuration and the clients built from it, each made once per container.
#[derive(Default)]
pub struct AwsClients {
    config: OnceCell<SdkConfig>,
    secrets: OnceCell<aws_sdk_secretsmanager::Client>,
}

impl AwsClients {
    pub fn new() -> Self {
        Self::default()
    }

    /// aws-config's standard chain (env, profile, the Lambda role), loaded once.
    pub async fn config(&self) -> &SdkConfig {
        self.config.get_or_init(|| aws_config::load_defaults(aws_config::BehaviorVersion::latest())).await
    }

    pub async fn secrets_manager(&self) -> &aws_sdk_secretsmanager::Client {
        let config = self.config().await;
        self.secrets.get_or_init(|| async { aws_sdk_secretsmanager::Client::new(config) }).await
    }
}
