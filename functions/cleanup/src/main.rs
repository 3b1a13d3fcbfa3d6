//! The cleanup function: the table's DynamoDB Stream (filtered to tombstoned thread heads)
//! in, the deleted threads' records and attachments out. The store is built once per
//! container and reused.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

// one thread: Lambda hands a process one invocation at a time, and a multi-thread runtime
// only adds wake-ups between its workers (measured: docs/costs.md, Start-up and CPU)
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let cleanup = &chatkit_aws::thread_cleanup_from_env().await?;
    let handler = |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(cleanup.handle(event.payload).await)
    };
    lambda_runtime::run(service_fn(handler)).await
}
