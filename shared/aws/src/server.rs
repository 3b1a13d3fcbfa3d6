//! The ChatKit core on DynamoDB (and S3 when attachments are on), built on first use.

use std::sync::Arc;

use chatkit_dynamodb::DynamoStore;
use chatkit_gateway::ServerInit;
use chatkit_s3::{AttachmentSettings, S3AttachmentStore};
use chatkit_server::{ChatKitServer, ServerConfig};
use chatkit_settings::catalog::{
    ATTACHMENTS_PER_DAY, CREATE_TABLE, MAX_OUTPUT_TOKENS, MODEL_INPUT_TOKEN_BUDGET,
    PENDING_ATTACHMENTS, TOKENS_PER_DAY, TURNS_IN_FLIGHT, TURNS_PER_MINUTE,
};
use chatkit_settings::{Lookup, SettingError};
use chatkit_store::UsageLimits;
use futures::future::BoxFuture;
use tracing::warn;

use crate::{Resources, ResponderInit};

/// Reads the core's settings now; the returned init builds the stores and the responder on
/// first use (and again after a failure).
pub(crate) fn lazy(
    get: &dyn Lookup,
    resources: Resources,
    make_responder: ResponderInit,
) -> Result<ServerInit, SettingError> {
    let server_config = ServerConfig::from_lookup(get)?;
    // attachments are on when CHATKIT_ATTACHMENTS_BUCKET is set
    let attachment_settings = AttachmentSettings::from_lookup(get)?;
    let max_output: u32 = MAX_OUTPUT_TOKENS.number(get)?;
    let usage_limits = UsageLimits {
        turns_per_minute: TURNS_PER_MINUTE.number(get)?,
        tokens_per_day: TOKENS_PER_DAY.number(get)?,
        // a turn's first round at its worst: the whole input budget and the output cap
        tokens_per_turn: chatkit_store::usage::round_reservation(
            MODEL_INPUT_TOKEN_BUDGET.number(get)?,
            (max_output > 0).then_some(max_output),
        ),
        turns_in_flight: TURNS_IN_FLIGHT.number(get)?,
        attachments_per_day: ATTACHMENTS_PER_DAY.number(get)?,
        pending_attachments: PENDING_ATTACHMENTS.number(get)?,
    };
    if usage_limits.is_off() {
        warn!("every per-user limit (CHATKIT_TURNS_PER_MINUTE, CHATKIT_TOKENS_PER_DAY, CHATKIT_TURNS_IN_FLIGHT, CHATKIT_ATTACHMENTS_PER_DAY, CHATKIT_PENDING_ATTACHMENTS) is 0: nothing limits what one user can make the model do");
    }
    let create_table = CREATE_TABLE.flag(get)?;
    let dynamodb = chatkit_dynamodb::Settings::from_lookup(get)?;
    Ok(Box::new(move || {
        let resources = resources.clone();
        let make_responder = make_responder.clone();
        let server_config = server_config.clone();
        let attachment_settings = attachment_settings.clone();
        let dynamodb = dynamodb.clone();
        Box::pin(async move {
            let sdk = resources.aws.config().await;
            let store = DynamoStore::from_settings(sdk, &dynamodb);
            if create_table {
                // local development: make the table on first use (never set by the SAM template)
                chatkit_dynamodb::create_table(store.client(), store.table_name())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let responder = make_responder(resources.clone()).await?;
            let store = Arc::new(store);
            let mut server = ChatKitServer::new(store.clone(), responder)
                .with_config(server_config)
                .with_usage_limits(store, usage_limits);
            if let Some(settings) = attachment_settings {
                // S3 client from the same lazily loaded AWS config
                server =
                    server.with_attachment_store(Arc::new(S3AttachmentStore::new(sdk, settings)));
            }
            Ok(server)
        }) as BoxFuture<'static, Result<ChatKitServer, String>>
    }))
}
