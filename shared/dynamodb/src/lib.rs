//! The ChatKit [`Store`](chatkit_store::Store) on one DynamoDB table.
//!
//! Every key is derived from the [`UserId`](chatkit_store::UserId) and validated ids (see
//! the `keys` module for the layout), so a user can only ever reach their own records.
//! A thread lives in its own partition with two copies of its metadata around its items,
//! which lets one Query return a page of items together with the thread, in either order.
//!
//! Build one with [`DynamoStore::from_env`] (or [`DynamoStore::new`]); create the table with
//! [`create_table`]. Every request attempt is counted ([`Store::request_count`](chatkit_store::Store::request_count)).

mod batch;
mod config;
mod counter;
mod error;
mod keys;
mod purge;
mod records;
mod store;
mod table;
mod threads;
mod usage;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;

pub use config::Settings;
pub use purge::{is_thread_tombstone, PurgePlan, PK_ATTRIBUTE, SK_ATTRIBUTE, TOMBSTONE_ATTRIBUTE};
pub use records::MAX_PAYLOAD_BYTES;
pub use table::create_table;

/// The DynamoDB store. Cheap to clone (the SDK client and counter are shared).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Option<Duration>,
    requests: Arc<counter::Requests>,
}

impl DynamoStore {
    /// A store on `table`, with a client built from `sdk_config` plus the request counter.
    pub fn new(sdk_config: &SdkConfig, table: impl Into<String>) -> Self {
        Self::from_conf(aws_sdk_dynamodb::Config::from(sdk_config), table)
    }

    /// A store on `table`, with a client built from `conf` plus the request counter. Stalled
    /// stream protection is off: DynamoDB answers are small and whole, the attempt timeout
    /// already bounds a stalled one, and its per-request interceptors cost CPU on every call.
    pub fn from_conf(conf: aws_sdk_dynamodb::Config, table: impl Into<String>) -> Self {
        let requests = Arc::new(counter::Requests::default());
        let conf = conf
            .to_builder()
            .stalled_stream_protection(
                aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
            )
            .interceptor(counter::RequestCounter::new(requests.clone()))
            .build();
        Self { client: Client::from_conf(conf), table: table.into(), retention: None, requests }
    }

    /// A store configured from the environment: table `CHATKIT_TABLE_NAME` (default
    /// `chatkit`), retention `CHATKIT_RETENTION_DAYS` (0: none).
    pub fn from_env(sdk_config: &SdkConfig) -> Result<Self, chatkit_settings::SettingError> {
        Ok(Self::from_settings(sdk_config, &Settings::from_env()?))
    }

    /// A store on the table and with the retention of `settings`.
    pub fn from_settings(sdk_config: &SdkConfig, settings: &Settings) -> Self {
        Self::new(sdk_config, settings.table_name.clone()).with_retention(settings.retention)
    }

    /// Sets how long records live: every record written then carries `expires_at`
    /// (epoch seconds) for DynamoDB's TTL. `None` keeps records forever.
    pub fn with_retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention.filter(|r| !r.is_zero());
        self
    }

    /// The SDK client (with the request counter attached).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table this store uses.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// The configured retention.
    pub fn retention(&self) -> Option<Duration> {
        self.retention
    }

    /// `expires_at` for a record written now, when a retention is set.
    fn expires_at(&self) -> Option<u64> {
        let retention = self.retention?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Some((now + retention).as_secs())
    }

    fn requests_made(&self) -> u64 {
        self.requests.count.load(Ordering::Relaxed)
    }

    /// Microseconds all request attempts took so far (their durations added up).
    pub fn request_micros(&self) -> u64 {
        self.requests.micros.load(Ordering::Relaxed)
    }
}
