//! The cleanup function: the table's DynamoDB Stream (filtered to tombstoned thread heads)
//! in, the deleted threads' records and attachments out. The store is built once per
//! container and reused.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use chatkit_cleanup::ThreadCleanup;
use chatkit_dynamodb::DynamoStore;
use chatkit_s3::{AttachmentSettings, S3AttachmentStore};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // attachment bytes: the same S3 store as the chatkit function, when attachments are on
    // (CHATKIT_ATTACHMENTS_BUCKET); without it only their metadata is deleted
    let mut cleanup = ThreadCleanup::new(DynamoStore::from_env(&sdk)?);
    if let Some(settings) = AttachmentSettings::from_env()? {
        cleanup = cleanup.with_attachment_store(Arc::new(S3AttachmentStore::new(&sdk, settings)));
    }
    let cleanup = &cleanup;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(cleanup.handle(event.payload).await)
    }))
    .await
}
