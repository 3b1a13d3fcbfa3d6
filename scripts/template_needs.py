"""What the ChatKit functions' code calls, as (IAM action, resource scope) pairs: the
declarations scripts/check-template.py holds the template's IAM and environment against.
Each entry names the code it comes from; change it with that code.
"""

# ---- What the code calls, as (IAM action, resource scope) pairs ------------------------------

def _model_part(i):
    return {"Select": [i, {"Split": [".", {"Ref": "ModelName"}]}]}


# ModelApi bedrock: the configured model only. BedrockModelArns when set; else derived from
# ModelName: a foundation model id -> its ARN in this region; an inference profile id (a
# geography prefix, BEDROCK_GEOGRAPHIES) -> the profile's ARN in this account and region and the
# model's (the id without the prefix) in every region the profile routes to.
BEDROCK_MODELS = {"If": ["HasBedrockModelArns", {"Ref": "BedrockModelArns"}, {"If": ["BedrockInferenceProfile", [
    {"Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/${ModelName}"},
    {"Sub": ["arn:${AWS::Partition}:bedrock:*::foundation-model/${Model}",
             {"Model": {"Join": [".", [_model_part(1), _model_part(2)]]}}]},
], {"Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${ModelName}"}]}]}
BEDROCK_GEOGRAPHIES = ["us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"]
# The conditions the model's grants and environment hang on, as the template must define them.
MODEL_CONDITIONS = {
    "UseBedrock": {"Equals": [{"Ref": "ModelApi"}, "bedrock"]},
    "HasBedrockModelArns": {"Not": [{"Equals": [{"Join": [",", {"Ref": "BedrockModelArns"}]}, ""]}]},
    "BedrockInferenceProfile": {"Or": [{"Equals": [_model_part(0), g]} for g in BEDROCK_GEOGRAPHIES]},
}
MODEL_APIS = ["responses", "chat_completions", "bedrock"]

# The resources a grant may name, as the template writes them. Anything else (`*`, a table or
# bucket wildcard, another index, any other model) is wider than any ChatKit call.
SCOPES = {
    "table": {"GetAtt": ["ChatTable", "Arn"]},
    "index gsi1": {"Sub": "${ChatTable.Arn}/index/gsi1"},
    "attachment objects": {"Sub": "${AttachmentsBucket.Arn}/attachments/*"},
    "attachment uploads": {"Sub": "${AttachmentsBucket.Arn}/uploads/*"},
    "JWT secret": {"Ref": "JwtSecret"},
    "model key secret": {"Ref": "OpenAIApiKeySecret"},
    "MCP token secrets": {"Ref": "McpSecretArns"},
    "table stream": {"Sub": "${ChatTable.Arn}/stream/*"},
    "dead-letter queue": {"GetAtt": ["CleanupDeadLetterQueue", "Arn"]},
    "Bedrock model": BEDROCK_MODELS,
}

# Grants on these scopes exist only under this condition (`!If [condition, policy, NoValue]`,
# or the reverse for a false one): the bucket only when attachments are on, the HS256 secret
# only without a JWKS, MCP secrets only when named, the model key only without Bedrock and the
# Bedrock model only with it.
SCOPE_CONDITIONS = {
    "attachment objects": ("AttachmentsOn", True),
    "attachment uploads": ("AttachmentsOn", True),
    "JWT secret": ("HasJwks", False),
    "MCP token secrets": ("HasMcpSecrets", True),
    "model key secret": ("UseBedrock", False),
    "Bedrock model": ("UseBedrock", True),
}


def db(*actions, scope="table"):
    return {(f"dynamodb:{a}", scope) for a in actions}


def s3(*actions, scope="attachment objects"):
    return {(f"s3:{a}", scope) for a in actions}


def uploads(*actions):
    return s3(*actions, scope="attachment uploads")


def secret(scope):
    return {("secretsmanager:GetSecretValue", scope)}


# What each call the handlers make needs. Transactions have no IAM action of their own: a
# TransactWriteItems needs the action of each item (Put -> PutItem, Update -> UpdateItem,
# ConditionCheck -> ConditionCheckItem), a TransactGetItems GetItem.
CALLS = {
    # the store: shared/dynamodb/src (store.rs, threads.rs, usage.rs, batch.rs)
    "ping": db("GetItem"),  # Backend::ping, the warm-up's GetItem (gateway/warm_up.rs)
    "load_thread": db("GetItem"),  # threads.rs thread(): GetItem of the head
    "load_thread_items": db("Query", "GetItem"),  # Query of the partition; GetItem of the head for a cursor page
    "list_threads": db("Query", scope="index gsi1"),  # threads.rs threads(): Query of gsi1
    "create_thread": db("PutItem"),  # one transaction of Puts
    "create_thread_once": db("PutItem"),  # the same plus the idempotency claim (a conditional Put)
    "save_thread": db("PutItem"),  # a transaction of conditional Puts
    "delete_thread": db("UpdateItem"),  # a transaction of tombstone Updates; cleanup does the rest
    "load_item": db("GetItem"),  # TransactGetItems of the head and the item
    # thread_alive_actions: a ConditionCheck (retention off) or TTL Updates (on), then the Put
    "save_item": db("ConditionCheckItem", "UpdateItem", "PutItem"),
    "save_item_once": db("ConditionCheckItem", "UpdateItem", "PutItem"),  # plus the claim Put
    "complete_item": db("ConditionCheckItem", "UpdateItem", "PutItem"),  # conditional Put
    "delete_items": db("BatchWriteItem"),  # batch.rs batch_delete
    "release_key": db("DeleteItem"),
    "request_cancel": db("PutItem"),
    "is_cancelled": db("GetItem"),
    "save_attachment": db("PutItem"),
    "load_attachment": db("GetItem"),
    "delete_attachment": db("DeleteItem"),  # conditional DeleteItem
    # a transaction: ConditionCheck of the thread, an Update per item; GetItem when none named
    "save_feedback": db("ConditionCheckItem", "UpdateItem", "GetItem"),
    # usage.rs admit_turn: GetItem (token limit only), UpdateItem (turn limit only), or a
    # transaction of both (Update + ConditionCheck); add_tokens: UpdateItem
    "admit_turn": db("GetItem", "UpdateItem", "ConditionCheckItem"),
    "add_tokens": db("UpdateItem"),
    # attachment bytes: shared/s3/src/lib.rs (a presigned URL works only if the role that
    # signed it may make the call; HeadObject needs GetObject; DeleteObjects DeleteObject;
    # CopyObject GetObject on the source and PutObject on the target). Upload URLs write
    # uploads/ only; the checked copy in attachments/ is what is served.
    "s3.presign_upload": uploads("PutObject"),
    "s3.presign_download": s3("GetObject"),
    "s3.check_upload": uploads("GetObject") | s3("PutObject"),
    "s3.read": s3("GetObject"),
    "s3.delete_attachment": s3("DeleteObject") | uploads("DeleteObject"),
    "s3.delete_attachments": s3("DeleteObject") | uploads("DeleteObject"),
    # shared/aws/src/agent.rs: the model key (read when the agent is built, then before each
    # model call), or with CHATKIT_MODEL_API=bedrock ConverseStream (its IAM action is
    # InvokeModelWithResponseStream) with the function's role; MCP service tokens (when a turn
    # calls a tool of an MCP server)
    "model": secret("model key secret") | {("bedrock:InvokeModelWithResponseStream", "Bedrock model")},
    "mcp": secret("MCP token secrets"),
    # shared/aws/src/lib.rs: the HS256 secret the gateway verifies tokens with
    "jwt": secret("JWT secret"),
}

# What every function serving requests calls, whatever the operation.
FUNCTION_CALLS = {"ping": "the warm-up", "jwt": "token verification (HS256)"}

# A streamed turn (handlers/pipeline.rs): admitted by the usage limits (server lib.rs,
# usage.rs), the pipeline's writes (pipeline.rs State::handle: save_item, save_thread,
# delete_items for removed items; cancel.rs polls is_cancelled), its tokens counted
# (add_tokens), the agent (the model, MCP tools) with the history's attachments
# (agent/attachments.rs: read, or a presigned GET for the model).
TURN = ["admit_turn", "save_item", "save_thread", "delete_items", "is_cancelled", "add_tokens",
        "model", "mcp", "s3.read", "s3.presign_download"]
# a new user message (handlers/turns.rs user_message): its attachments checked (HeadObject of
# pending uploads, CopyObject to the served key), linked to the thread, presented with fresh
# preview URLs
MESSAGE = ["load_attachment", "s3.check_upload", "save_attachment", "s3.presign_download"]

# Operation -> the calls its handler (shared/server/src/handlers) makes.
OPERATIONS = {
    "threads.create": TURN + MESSAGE + ["create_thread", "create_thread_once"],
    # load_recent; the message saved (with its key); on a failed read it is undone
    # (delete_items) and its key released
    "threads.add_user_message": TURN + MESSAGE + ["load_thread_items", "save_item", "save_item_once", "release_key"],
    # the pending call completed, older pending calls removed
    "threads.add_client_tool_output": TURN + ["load_thread_items", "complete_item"],
    # older pages read, newer items removed
    "threads.retry_after_item": TURN + ["load_thread_items"],
    "threads.custom_action": TURN + ["load_thread_items", "load_item"],
    "threads.add_structured_input": TURN + ["load_thread_items", "load_item", "complete_item"],
    "turns.cancel": ["request_cancel"],  # a cancel flag for the turn's container
    # the integrator's handler (or the responder's sync_action); an updated widget is saved
    "threads.sync_custom_action": ["load_thread", "load_item", "save_item"],
    "input.transcribe": ["admit_turn", "model"],  # the model's transcription endpoint
    "threads.get_by_id": ["load_thread_items", "s3.presign_download"],  # image previews
    "threads.list": ["list_threads"],
    "threads.update": ["load_thread", "save_thread"],
    # DynamoStore purges later (purges_deleted_threads_later): the tombstone only; bytes and
    # records go in CleanupFunction
    "threads.delete": ["delete_thread"],
    "items.list": ["load_thread_items", "s3.presign_download"],
    "items.feedback": ["save_feedback"],  # the threads function's responder does nothing with it
    # a presigned PUT for the upload, a presigned GET preview for an image
    "attachments.create": ["save_attachment", "s3.presign_upload", "s3.presign_download"],
    "attachments.delete": ["load_attachment", "s3.delete_attachment", "delete_attachment"],
}

# Request types answered with an SSE stream (shared/protocol/src/requests.rs): their function's
# Function URL must stream.
STREAMING = {
    "threads.create", "threads.add_user_message", "threads.add_client_tool_output",
    "threads.add_structured_input", "threads.retry_after_item", "threads.custom_action",
}

# Thread cleanup (shared/cleanup, shared/dynamodb/src/purge.rs): plan_purge Queries the
# partition, thread_attachments BatchGetItems the attachment records, finish_purge
# BatchWriteItems them and the records and DeleteItems the head; the bytes go with one
# DeleteObjects per 1000. Its event source mapping reads the stream with the function's role
# and sends records that keep failing to the dead-letter queue.
CLEANUP_NEEDS = {
    "plan_purge": db("Query"),
    "thread_attachments": db("BatchGetItem"),
    "finish_purge": db("BatchWriteItem", "DeleteItem"),
    "s3.delete_attachments": CALLS["s3.delete_attachments"],
    "stream mapping": db("DescribeStream", "GetRecords", "GetShardIterator", "ListStreams", scope="table stream"),
    "on-failure destination": {("sqs:SendMessage", "dead-letter queue")},
}

# Environment: what every serving function reads (storage, auth, attachments), what only the
# agent's function reads, and what no deployed function may have.
SERVING_ENV = {
    "CHATKIT_TABLE_NAME", "CHATKIT_RETENTION_DAYS", "CHATKIT_ATTACHMENTS_BUCKET",
    "CHATKIT_ATTACHMENT_MAX_BYTES", "CHATKIT_JWT_SECRET_ARN", "CHATKIT_JWKS_URL",
    "CHATKIT_JWT_ISSUER", "CHATKIT_JWT_AUDIENCE", "CHATKIT_JWT_ALGORITHMS", "CHATKIT_AUTH_COOKIE",
    "CHATKIT_COOKIE_ORIGINS", "CHATKIT_TENANT_CLAIM", "CHATKIT_USER_HASH_KEY",
}
AGENT_ENV = {
    "CHATKIT_MODEL", "CHATKIT_MODEL_API", "CHATKIT_MODELS", "OPENAI_BASE_URL",
    "OPENAI_API_KEY_SECRET_ARN", "CHATKIT_SYSTEM_PROMPT", "CHATKIT_RETRIEVAL_URL",
    "CHATKIT_MCP_SERVERS", "CHATKIT_TURNS_PER_MINUTE", "CHATKIT_TOKENS_PER_DAY",
    "CHATKIT_MAX_OUTPUT_TOKENS",
}
DEV_ONLY_ENV = {
    "CHATKIT_DEV_AUTH": "trusts X-User-ID: local development only",
    "CHATKIT_CREATE_TABLE": "creates the table: local development only",
    "OPENAI_API_KEY": "the model key belongs in Secrets Manager, not in the environment",
    "CHATKIT_JWT_SECRET": "the HS256 secret belongs in Secrets Manager (CHATKIT_JWT_SECRET_ARN)",
}

NO_VALUE = {"Ref": "AWS::NoValue"}
BUCKET_ENV = {"If": ["AttachmentsOn", {"Ref": "AttachmentsBucket"}, NO_VALUE]}
# the agent's function is told of the key secret only when it may read it (not with Bedrock)
MODEL_KEY_ENV = {"If": ["UseBedrock", NO_VALUE, SCOPES["model key secret"]]}

# ---- Operations (docs/operations.md) -----------------------------------------------------------

# Every function: an alarm on each of these AWS/Lambda metrics (FunctionName dimension), and
# one on its p99 Duration within this share of its Timeout.
FUNCTION_ALARMS = ("Errors", "Throttles")
DURATION_ALARM_SHARE = (0.8, 0.9)
# Every alarm notifies this topic, firing and recovering.
ALARM_TOPIC = {"Ref": "AlarmTopic"}
# Totals the rate alarms read, published by metric filters on the functions' metric lines
# (shared/gateway/src/request_log.rs: Errors 0|1 per answered request; shared/agent/src/agent/
# turn_stats.rs: ModelErrors 0|1 per turn that called the model): metric -> (filter pattern,
# value, whose log groups: "serving" = every function of the map, "agent" = those running the
# agent).
TOTALS = {
    "Http5xx": ("{ $.Errors >= 0 }", "$.Errors", "serving"),
    "TurnModelErrors": ("{ $.ModelErrors >= 0 }", "$.ModelErrors", "agent"),
}
