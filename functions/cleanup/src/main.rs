//! The cleanup function: the table's DynamoDB Stream (filtered to tombstoned thread heads)
//! in, the deleted threads' records and attachments out. The store is built once per
//! container and reused.

use aws_lambda_events::event::dynamodb::Event;
use chatkit_cleanup::ThreadCleanup;
use chatkit_dynamodb::DynamoStore;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // Attachment bytes: plug the deployment's attachment store in with
    // `.with_attachment_store(...)`; until then only their metadata is deleted.
    let cleanup = ThreadCleanup::new(DynamoStore::from_env(&sdk)?);
    let cleanup = &cleanup;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move { Ok::<_, Error>(cleanup.handle(event.payload).await) }))
        .await
}
