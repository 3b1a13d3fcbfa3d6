//! DynamoDB Local helpers: a harness with its own table per test, a table scan as the
//! snapshot, and the cases only the DynamoDB store has (TTL, request counts).
//!
//! The endpoint comes from `AWS_ENDPOINT_URL_DYNAMODB`, which `scripts/with-dynamodb.sh`
//! (and so `make test`) sets; without it these tests fail, they never pass silently.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chatkit_dynamodb::{create_table, DynamoStore};
use chatkit_protocol::{FeedbackKind, Order, ThreadMetadata};
use chatkit_store::ids::new_id;
use chatkit_store::prelude::*;
use chatkit_store::{PageRequest, Store};

use crate::contract::*;

mod cases;
mod stream_event;

pub use cases::*;
use stream_event::lambda_record;

/// Env var with the DynamoDB Local endpoint.
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_DYNAMODB";

/// A [`DynamoStore`] on a fresh table of DynamoDB Local.
pub struct DynamoHarness {
    store: DynamoStore,
    /// A client without the request counter, for scans.
    raw: Client,
    table: String,
    sdk: aws_config::SdkConfig,
}

impl DynamoHarness {
    /// A store on a new table named after `case`, without retention.
    pub async fn new(case: &str) -> Self {
        Self::with_retention(case, None).await
    }

    /// A store on a new table named after `case`, with the given retention.
    pub async fn with_retention(case: &str, retention: Option<Duration>) -> Self {
        let endpoint = std::env::var(ENDPOINT_ENV).unwrap_or_default();
        assert!(
            !endpoint.is_empty(),
            "{ENDPOINT_ENV} is not set: the DynamoDB store tests need DynamoDB Local. Run them with \
             `make test`, or `scripts/with-dynamodb.sh cargo test -p chatkit-tests --test store_contract`."
        );
        // The SDK takes the endpoint from the environment, as the Lambda functions do.
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let table = format!("contract-{case}-{}", new_id("t").to_lowercase()).replace('_', "-");
        let raw = Client::new(&sdk);
        create_table(&raw, &table).await.expect("create_table on DynamoDB Local");
        create_table(&raw, &table).await.expect("create_table is idempotent");
        let store = DynamoStore::new(&sdk, &table).with_retention(retention);
        Self { store, raw, table, sdk }
    }

    pub fn dynamo(&self) -> &DynamoStore {
        &self.store
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The table's stream as Lambda would deliver it: every record from the start, in order,
    /// as a DynamoDB event (the JSON a stream event source mapping sends).
    pub async fn stream_event(&self) -> aws_lambda_events::event::dynamodb::Event {
        use aws_sdk_dynamodbstreams::types::ShardIteratorType;
        let described =
            self.raw.describe_table().table_name(&self.table).send().await.expect("describe table");
        let arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .expect("the table has a stream")
            .to_string();
        let endpoint = std::env::var(ENDPOINT_ENV).unwrap_or_default();
        let conf = aws_sdk_dynamodbstreams::config::Builder::from(&self.sdk)
            .endpoint_url(endpoint)
            .build();
        let streams = aws_sdk_dynamodbstreams::Client::from_conf(conf);
        let stream =
            streams.describe_stream().stream_arn(&arn).send().await.expect("describe stream");
        let shards = stream.stream_description().map(|d| d.shards().to_vec()).unwrap_or_default();
        let mut records = Vec::new();
        for shard in shards {
            let Some(shard_id) = shard.shard_id() else { continue };
            let mut iterator = streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard_id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("shard iterator")
                .shard_iterator;
            while let Some(it) = iterator {
                let out =
                    streams.get_records().shard_iterator(it).send().await.expect("get records");
                if out.records().is_empty() {
                    break;
                }
                records.extend(out.records().iter().map(|r| lambda_record(r, &arn)));
                iterator = out.next_shard_iterator;
            }
        }
        serde_json::from_value(serde_json::json!({ "Records": records }))
            .expect("a Lambda DynamoDB event")
    }

    /// Runs thread cleanup on the whole stream so far, as `functions/cleanup` would (records
    /// cleaned up before are simply cleaned up again: it is idempotent). Panics if cleanup
    /// reports a failure.
    pub async fn run_cleanup(&self) -> chatkit_cleanup::ThreadCleanup {
        let cleanup = chatkit_cleanup::ThreadCleanup::new(self.store.clone());
        let response = cleanup.handle(self.stream_event().await).await;
        assert!(response.batch_item_failures.is_empty(), "cleanup failed: {response:?}");
        cleanup
    }

    /// Every record of the table (a full Scan, not counted).
    pub async fn scan(&self) -> Vec<HashMap<String, AttributeValue>> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .raw
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            records.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return records;
            }
        }
    }
}

/// A stable text form of an attribute value (map keys sorted).
fn render(value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(s) => format!("{s:?}"),
        AttributeValue::N(n) => n.clone(),
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::Null(_) => "null".to_string(),
        AttributeValue::L(list) => {
            format!("[{}]", list.iter().map(render).collect::<Vec<_>>().join(", "))
        }
        AttributeValue::M(map) => render_map(map),
        other => format!("{other:?}"),
    }
}

fn render_map(map: &HashMap<String, AttributeValue>) -> String {
    let sorted: BTreeMap<&String, String> = map.iter().map(|(k, v)| (k, render(v))).collect();
    let fields: Vec<String> = sorted.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", fields.join(", "))
}

#[async_trait]
impl StoreHarness for DynamoHarness {
    fn store(&self) -> &dyn Store {
        &self.store
    }

    /// Thread cleanup over the table's stream.
    async fn settle(&self) {
        self.run_cleanup().await;
    }

    /// The table scan, one record per line, sorted.
    async fn snapshot(&self) -> String {
        let mut lines: Vec<String> = self.scan().await.iter().map(render_map).collect();
        lines.sort();
        lines.join("\n")
    }
}
