//! Table creation (tests, local development).

use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use chatkit_store::{StoreError, StoreResult};

use crate::error;
use crate::keys::{EXPIRES_AT, GSI1, GSI1PK, GSI1SK, PK, SK};

fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> StoreResult<T> {
    r.map_err(|e| StoreError::Internal(format!("cannot build CreateTable request: {e}")))
}

fn key_element(name: &str, key_type: KeyType) -> StoreResult<KeySchemaElement> {
    built(KeySchemaElement::builder().attribute_name(name).key_type(key_type).build())
}

fn string_attribute(name: &str) -> StoreResult<AttributeDefinition> {
    built(
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build(),
    )
}

/// Creates the store's table (`pk`/`sk`, GSI `gsi1` on `gsi1pk`/`gsi1sk` projecting all,
/// on-demand billing, a stream of new images for thread cleanup), waits until it is active,
/// and enables TTL on `expires_at`.
/// A table that already exists is left as it is.
pub async fn create_table(client: &Client, table_name: &str) -> StoreResult<()> {
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .key_schema(key_element(GSI1PK, KeyType::Hash)?)
        .key_schema(key_element(GSI1SK, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build();
    let created = client
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(SK, KeyType::Range)?)
        .attribute_definitions(string_attribute(PK)?)
        .attribute_definitions(string_attribute(SK)?)
        .attribute_definitions(string_attribute(GSI1PK)?)
        .attribute_definitions(string_attribute(GSI1SK)?)
        .global_secondary_indexes(built(gsi)?)
        // what thread cleanup consumes (the template's table has the same stream)
        .stream_specification(built(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build(),
        )?)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(CreateTableError::ResourceInUseException(_))
            ) =>
        {
            return Ok(())
        }
        Err(e) => return Err(error::sdk("CreateTable", e)),
    }
    wait_until_active(client, table_name).await?;
    let ttl =
        built(TimeToLiveSpecification::builder().attribute_name(EXPIRES_AT).enabled(true).build())?;
    client
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| error::sdk("UpdateTimeToLive", e))?;
    Ok(())
}

async fn wait_until_active(client: &Client, table_name: &str) -> StoreResult<()> {
    for _ in 0..300 {
        let out = client
            .describe_table()
            .table_name(table_name)
            .send()
            .await
            .map_err(|e| error::sdk("DescribeTable", e))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(StoreError::Unavailable(format!(
        "table {table_name} did not become active within a minute"
    )))
}
