//! The store contract, run against the in-memory store and against the DynamoDB store on
//! DynamoDB Local (run through `make test` or `scripts/with-dynamodb.sh`).

use std::time::Duration;

use chatkit_tests::contract::{self, MemoryHarness};
use chatkit_tests::dynamo::{self, DynamoHarness};

/// One `#[tokio::test]` per case per backend.
macro_rules! contract_cases {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    contract::$case(&MemoryHarness::new()).await;
                }
            )*
        }

        mod dynamodb {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    contract::$case(&DynamoHarness::new(stringify!($case)).await).await;
                }
            )*
        }
    };
}

contract_cases!(
    create_thread_then_load,
    save_thread_updates_existing_threads,
    deleted_threads_stay_deleted,
    cancel_flags_are_per_user_and_turn,
    list_threads_pages,
    list_threads_same_millisecond,
    delete_thread_removes_everything,
    missing_thread_is_not_found,
    invalid_ids_are_rejected,
    save_item_upserts,
    items_round_trip_including_hidden,
    load_thread_items_pages,
    delete_items_removes_only_those,
    feedback_is_saved,
    complete_item_has_one_winner,
    writes_once_per_key,
    attachments_lifecycle,
    other_users_see_and_change_nothing,
);

#[tokio::test]
async fn dynamodb_retention_sets_expires_at() {
    let retention = Duration::from_secs(7 * 86_400);
    let with = DynamoHarness::with_retention("retention", Some(retention)).await;
    let without = DynamoHarness::new("no-retention").await;
    dynamo::retention_sets_expires_at(&with, &without, retention).await;
}

#[tokio::test]
async fn dynamodb_item_writes_keep_the_thread_alive() {
    let short =
        DynamoHarness::with_retention("ttl-refresh", Some(Duration::from_secs(86_400))).await;
    dynamo::item_writes_keep_the_thread_alive(&short, Duration::from_secs(30 * 86_400)).await;
}

#[tokio::test]
async fn dynamodb_request_counts() {
    dynamo::request_counts(&DynamoHarness::new("request-counts").await).await;
}

#[tokio::test]
async fn dynamodb_items_beyond_dynamodb_limits_fit() {
    dynamo::items_beyond_dynamodb_limits_fit(&DynamoHarness::new("beyond-limits").await).await;
}

#[tokio::test]
async fn dynamodb_first_format_records_are_read() {
    dynamo::first_format_records_are_read(&DynamoHarness::new("first-format").await).await;
}
