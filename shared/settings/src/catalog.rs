//! The declarations: every setting, once. Each crate reads its own through these constants;
//! a test fails if a `CHATKIT_*` name appears anywhere else in the code.

use crate::setting::{Group, Kind, Setting};

const fn s(
    name: &'static str,
    group: Group,
    kind: Kind,
    default: &'static str,
    doc: &'static str,
) -> Setting {
    Setting { name, group, kind, default, doc, parameter: None }
}

const fn p(setting: Setting, parameter: &'static str) -> Setting {
    Setting { parameter: Some(parameter), ..setting }
}

const fn n(unit: &'static str, min: u64, max: u64) -> Kind {
    Kind::Number { unit, min, max }
}

pub const JWT_SECRET_ARN: Setting = s("CHATKIT_JWT_SECRET_ARN", Group::Auth, Kind::Text, "", "HS256 secret in Secrets Manager (SAM: the generated secret), at least 32 bytes (a shorter one is refused and logged): cached, refreshed every `CHATKIT_SECRET_REFRESH_SECONDS`, and re-read at once (at most every 30 s) when a token verifies with no cached version, so a rotation never locks users out");
pub const JWT_SECRET: Setting = s(
    "CHATKIT_JWT_SECRET",
    Group::Auth,
    Kind::Secret,
    "",
    "HS256 secret given directly (local use); at least 32 bytes, or the function does not start",
);
pub const JWT_PREVIOUS_GRACE_SECONDS: Setting = s("CHATKIT_JWT_PREVIOUS_GRACE_SECONDS", Group::Auth, n("seconds", 0, 31_536_000), "86400", "after a rotation, tokens signed with the secret's `AWSPREVIOUS` version stay valid until the current version is this old; 0 accepts only `AWSCURRENT`");
pub const JWKS_URL: Setting = p(s("CHATKIT_JWKS_URL", Group::Auth, Kind::Url, "", "issuer JWKS for RS256/ES256. Keys cached by `kid`; fetched outside any lock, one fetch at a time; an unknown `kid` refetches at most once per 30 s and is then answered \"unknown\" for 5 min without a fetch; failed fetches back off 1 s doubling to 60 s (jittered) while cached keys keep working"), "JwksUrl");
pub const JWKS_TIMEOUT_MS: Setting = s(
    "CHATKIT_JWKS_TIMEOUT_MS",
    Group::Auth,
    n("ms", 1, 60_000),
    "3000",
    "total time limit of one JWKS fetch (a slow issuer is a 503, never a hung request)",
);
pub const JWT_ALGORITHMS: Setting = p(s("CHATKIT_JWT_ALGORITHMS", Group::Auth, Kind::List, "", "pinned algorithms (comma-separated: HS256/384/512, RS256/384/512, ES256/384); never taken from the token. Unset: HS256 with a secret, RS256 with a JWKS"), "JwtAlgorithms");
pub const JWT_ISSUER: Setting = p(
    s(
        "CHATKIT_JWT_ISSUER",
        Group::Auth,
        Kind::Text,
        "",
        "required `iss`; must be set with a JWKS (the function refuses to start without it)",
    ),
    "JwtIssuer",
);
pub const JWT_AUDIENCE: Setting = p(
    s(
        "CHATKIT_JWT_AUDIENCE",
        Group::Auth,
        Kind::Text,
        "",
        "required `aud`; must be set with a JWKS",
    ),
    "JwtAudience",
);
pub const TENANT_CLAIM: Setting = p(s("CHATKIT_TENANT_CLAIM", Group::Auth, Kind::Text, "", "organisation isolation: the name of a token claim (e.g. `org_id`, a string or a number) that every token must then carry (401 without it); each organisation's users get their own key space (records keyed by `t:<org>/<sub>`). Dev auth takes the organisation from an `X-Tenant-ID` header"), "TenantClaim");
pub const AUTH_COOKIE: Setting = p(s("CHATKIT_AUTH_COOKIE", Group::Auth, Kind::Text, "", "also read the token from this (httpOnly) cookie (RFC 6265; a request carrying the name twice gets 401; an `Authorization` header always wins)"), "AuthCookieName");
pub const SECRET_REFRESH_SECONDS: Setting = s(
    "CHATKIT_SECRET_REFRESH_SECONDS",
    Group::Auth,
    n("seconds", 0, 86_400),
    "300",
    "how long fetched secrets and JWKS keys are reused",
);
pub const DEV_AUTH: Setting = s(
    "CHATKIT_DEV_AUTH",
    Group::Auth,
    Kind::Flag,
    "0",
    "`1` trusts `X-User-ID` — local development only, logged loudly, never set by the template",
);
pub const USER_HASH_KEY: Setting = s("CHATKIT_USER_HASH_KEY", Group::Auth, Kind::Secret, "", "key of the user hash in logs (`user`: HMAC-SHA256 of the user id, 96 bits hex; at least 16 bytes; SAM: a generated secret). Unset: a random key per container, so hashes differ between containers");
pub const ALLOWED_ORIGINS: Setting = s("CHATKIT_ALLOWED_ORIGINS", Group::Http, Kind::List, "", "CORS origins of the function itself (local HTTP mode, `make dev`); on AWS the Function URL's CORS [AllowedOrigins] applies. A named origin is answered with credentials allowed, `*` without. Unset: no CORS headers");
pub const COOKIE_ORIGINS: Setting = s("CHATKIT_COOKIE_ORIGINS", Group::Http, Kind::List, "", "origins whose requests may authenticate with the `CHATKIT_AUTH_COOKIE` cookie (such a request also needs `Content-Type: application/json`, else 403 JSON; `*` never counts). Unset: the named origins of `CHATKIT_ALLOWED_ORIGINS`");
pub const CONNECT_TIMEOUT_MS: Setting = s(
    "CHATKIT_CONNECT_TIMEOUT_MS",
    Group::Http,
    n("ms", 1, 60_000),
    "5000",
    "HTTP connect timeout (model, tools, JWKS)",
);
pub const IDLE_TIMEOUT_MS: Setting = s("CHATKIT_IDLE_TIMEOUT_MS", Group::Http, n("ms", 1, 600_000), "30000", "longest silence inside a model stream, and the longest wait for any read on an outbound HTTP connection");
pub const MAX_BODY_BYTES: Setting = s(
    "CHATKIT_MAX_BODY_BYTES",
    Group::Limits,
    n("bytes", 1, 104_857_600),
    "4194304",
    "larger request bodies get 413 (Lambda's own limit is 6 MB)",
);
pub const MAX_MESSAGE_BYTES: Setting = s("CHATKIT_MAX_MESSAGE_BYTES", Group::Limits, n("bytes", 1, 104_857_600), "100000", "largest user message (its content, quoted text and options as JSON; also a structured input's answers); larger gets 413");
pub const MAX_TOOL_OUTPUT_BYTES: Setting = s(
    "CHATKIT_MAX_TOOL_OUTPUT_BYTES",
    Group::Limits,
    n("bytes", 1, 104_857_600),
    "1000000",
    "largest client tool output (JSON); larger gets 413",
);
pub const TURN_BUDGET_SECONDS: Setting = s("CHATKIT_TURN_BUDGET_SECONDS", Group::Limits, n("seconds", 0, 86_400), "0", "longest a turn may stream (model rounds, tools, retries together); 0: no limit of its own (on Lambda the invocation's deadline applies anyway)");
pub const DEADLINE_MARGIN_MS: Setting = s("CHATKIT_DEADLINE_MARGIN_MS", Group::Limits, n("ms", 0, 600_000), "5000", "a turn stops this long before the Lambda invocation's deadline, saves what it said and ends with a retryable `error` event");
pub const CANCEL_POLL_MS: Setting = s("CHATKIT_CANCEL_POLL_MS", Group::Limits, n("ms", 0, 600_000), "2000", "how often a running turn reads its `turns.cancel` flag (one eventually consistent GetItem each); 0: only a cancel landing in the same process stops it");
pub const DUPLICATE_WINDOW_SECONDS: Setting = s("CHATKIT_DUPLICATE_WINDOW_SECONDS", Group::Limits, n("seconds", 0, 86_400), "10", "the same message (same thread, same input) sent again within this window is a double submit: stored once, the repeat gets 409; 0 turns it off (an `Idempotency-Key` header still applies)");
pub const TURNS_PER_MINUTE: Setting = p(s("CHATKIT_TURNS_PER_MINUTE", Group::Limits, n("turns", 0, 1_000_000), "20", "most turns (messages, tool outputs, structured inputs, retries, actions, dictations) one user may start per UTC minute; more get 429 JSON (`rate_limited`) with `Retry-After`, before anything is stored or the model is called; counted atomically in the table, so all containers agree; 0 turns it off"), "TurnsPerMinute");
pub const REQUESTS_PER_MINUTE: Setting = s("CHATKIT_REQUESTS_PER_MINUTE", Group::Limits, n("requests", 0, 1_000_000), "300", "most requests that call no model (reads, renames, deletes, feedback, cancels) one user may make per UTC minute to one container; more get 429 with `Retry-After`; counted in the container's memory (no DynamoDB request), so N warm containers allow up to N times this; 0 turns it off");
pub const ATTACHMENTS_PER_MINUTE: Setting = s("CHATKIT_ATTACHMENTS_PER_MINUTE", Group::Limits, n("attachments", 0, 1_000_000), "20", "most `attachments.create` one user may make per UTC minute to one container (each is an upload URL for up to `CHATKIT_ATTACHMENT_MAX_BYTES`); more get 429 with `Retry-After`; counted like `CHATKIT_REQUESTS_PER_MINUTE`; 0 turns it off");
pub const TURNS_IN_FLIGHT: Setting = s("CHATKIT_TURNS_IN_FLIGHT", Group::Limits, n("turns", 0, 1_000), "3", "most streamed turns one user may have running at once (across containers: a slot in the table per turn, freed when it ends or when its invocation would have been killed); more get 429 with `Retry-After`; 0 turns it off");
pub const ATTACHMENTS_PER_DAY: Setting = s("CHATKIT_ATTACHMENTS_PER_DAY", Group::Limits, n("attachments", 0, 1_000_000), "100", "most `attachments.create` one user may make per UTC day (across containers, counted in the table); more get 429 with `Retry-After`; 0 turns it off");
pub const PENDING_ATTACHMENTS: Setting = s("CHATKIT_PENDING_ATTACHMENTS", Group::Limits, n("attachments", 0, 1_000_000), "20", "most attachments made today that no message uses yet (nor were deleted) one user may hold; another `attachments.create` gets 429 until one is sent or deleted; 0 turns it off");
pub const TOKENS_PER_DAY: Setting = p(s("CHATKIT_TOKENS_PER_DAY", Group::Limits, n("tokens", 0, 1_000_000_000_000), "1000000", "most model tokens (input + output) one user may use per UTC day; then 429 until midnight UTC; 0 turns it off (see [security](security.md))"), "TokensPerDay");
pub const OPENAI_API_KEY_SECRET_ARN: Setting = s("OPENAI_API_KEY_SECRET_ARN", Group::Model, Kind::Text, "", "model API key in Secrets Manager (SAM: the key secret), read before each model call from a cache refreshed every `CHATKIT_SECRET_REFRESH_SECONDS`: the template's placeholder (`REPLACE_WITH…`) counts as no key, and a key put in (or rotated) is used within one refresh period");
pub const OPENAI_API_KEY: Setting =
    s("OPENAI_API_KEY", Group::Model, Kind::Secret, "", "model API key given directly (local use)");
pub const OPENAI_BASE_URL: Setting = p(
    s(
        "OPENAI_BASE_URL",
        Group::Model,
        Kind::Url,
        "https://api.openai.com/v1",
        "any OpenAI-compatible API root",
    ),
    "OpenAIBaseUrl",
);
pub const MODEL: Setting = p(
    s("CHATKIT_MODEL", Group::Model, Kind::Text, "gpt-4.1-mini", "model for replies"),
    "ModelName",
);
pub const MODEL_API: Setting = p(
    s(
        "CHATKIT_MODEL_API",
        Group::Model,
        Kind::Choice(&["responses", "chat_completions", "bedrock"]),
        "responses",
        "the model API: `chat_completions` for Ollama, vLLM and gateways; `bedrock` for Amazon Bedrock's Converse stream with the function's role (`CHATKIT_MODEL` is then a model or inference profile id)",
    ),
    "ModelApi",
);
pub const MODELS: Setting = p(s("CHATKIT_MODELS", Group::Model, Kind::List, "", "models the composer may pick (`inference_options.model`) besides `CHATKIT_MODEL`; any other model gets a 400 before anything is stored"), "Models");
pub const TITLE_MODEL: Setting = s(
    "CHATKIT_TITLE_MODEL",
    Group::Model,
    Kind::Text,
    "",
    "model that names threads; unset: `CHATKIT_MODEL`",
);
pub const SYSTEM_PROMPT: Setting = p(
    s(
        "CHATKIT_SYSTEM_PROMPT",
        Group::Model,
        Kind::Text,
        "",
        "system prompt; unset: `CHATKIT_SYSTEM_PROMPT_FILE`, or a short built-in prompt",
    ),
    "SystemPrompt",
);
pub const SYSTEM_PROMPT_FILE: Setting = s(
    "CHATKIT_SYSTEM_PROMPT_FILE",
    Group::Model,
    Kind::Text,
    "",
    "a file holding the system prompt (when `CHATKIT_SYSTEM_PROMPT` is unset)",
);
pub const HISTORY_TOKEN_BUDGET: Setting = s(
    "CHATKIT_HISTORY_TOKEN_BUDGET",
    Group::Model,
    n("tokens", 0, 10_000_000),
    "8000",
    "history sent to the model, estimated as characters / 4, oldest dropped first",
);
pub const MESSAGE_TOKEN_BUDGET: Setting = s("CHATKIT_MESSAGE_TOKEN_BUDGET", Group::Model, n("tokens", 1, 10_000_000), "4000", "most of one user message (and of its quoted text) the model reads, in estimated tokens (bytes / 4); the rest is cut and the cut is marked in the text; the stored message stays whole");
pub const TOOL_OUTPUT_TOKEN_BUDGET: Setting = s("CHATKIT_TOOL_OUTPUT_TOKEN_BUDGET", Group::Model, n("tokens", 1, 10_000_000), "4000", "most of one tool result the model reads (client tools, the retrieval tool, MCP tools), trimmed and marked the same way");
pub const MODEL_INPUT_TOKEN_BUDGET: Setting = s("CHATKIT_MODEL_INPUT_TOKEN_BUDGET", Group::Model, n("tokens", 1, 10_000_000), "32000", "hard cap on each model request (instructions, tool definitions, input), in every tool round: older history goes first, then this turn's tool results shrink, then its messages; a request whose instructions and tools alone exceed it fails with a clear error");
pub const MAX_OUTPUT_TOKENS: Setting = p(s("CHATKIT_MAX_OUTPUT_TOKENS", Group::Model, n("tokens", 0, 4_294_967_295), "4096", "most tokens one model call may write (Responses `max_output_tokens`, Chat Completions `max_tokens`); 0 sends no cap"), "MaxOutputTokens");
pub const FIRST_TOKEN_TIMEOUT_MS: Setting = s(
    "CHATKIT_FIRST_TOKEN_TIMEOUT_MS",
    Group::Model,
    n("ms", 1, 600_000),
    "30000",
    "request sent → first model output",
);
pub const MODEL_MAX_RETRIES: Setting = s(
    "CHATKIT_MODEL_MAX_RETRIES",
    Group::Model,
    n("retries", 0, 10),
    "2",
    "retries of a connection failure or 429/5xx before the first token",
);
pub const MODEL_RETRY_BACKOFF_MS: Setting = s(
    "CHATKIT_MODEL_RETRY_BACKOFF_MS",
    Group::Model,
    n("ms", 1, 60_000),
    "300",
    "the first retry's backoff step, doubled per retry (jittered)",
);
pub const MAX_TOOL_ITERATIONS: Setting = s(
    "CHATKIT_MAX_TOOL_ITERATIONS",
    Group::Tools,
    n("rounds", 0, 100),
    "5",
    "model → tool → model rounds per turn",
);
pub const RETRIEVAL_URL: Setting = p(
    s("CHATKIT_RETRIEVAL_URL", Group::Tools, Kind::Url, "", "enables the built-in retrieval tool"),
    "RetrievalUrl",
);
pub const RETRIEVAL_AUTH: Setting = p(
    s(
        "CHATKIT_RETRIEVAL_AUTH",
        Group::Tools,
        Kind::Text,
        "user_token",
        "how the retrieval tool authenticates: the forms of an MCP server's `auth` (see [credentials for tools](agent.md#credentials-for-tools)); `token_exchange` for a service that is not first-party",
    ),
    "RetrievalAuth",
);
pub const EXAMPLE_ORDERS: Setting = s(
    "CHATKIT_EXAMPLE_ORDERS",
    Group::Tools,
    Kind::Flag,
    "0",
    "`1` adds the worked widget and action example (`examples/orders`: `show_order`, Approve / Reject) to the agent, through `shared/app`",
);
pub const CLIENT_TOOLS: Setting = s(
    "CHATKIT_CLIENT_TOOLS",
    Group::Tools,
    Kind::Json,
    "[]",
    "JSON array of client tools `{name, description, parameters}`",
);
pub const MCP_SERVERS: Setting = p(
    s(
        "CHATKIT_MCP_SERVERS",
        Group::Tools,
        Kind::Json,
        "[]",
        "MCP servers whose tools the agent offers (see [MCP tools](agent.md#mcp-tools))",
    ),
    "McpServers",
);
pub const MCP_TOOLS_TTL_SECONDS: Setting = s("CHATKIT_MCP_TOOLS_TTL_SECONDS", Group::Tools, n("seconds", 0, 86_400), "300", "how long a warm container reuses an MCP server's tool list (per user for `user_token` and `token_exchange` servers)");
pub const ATTACHMENTS_BUCKET: Setting = p(s("CHATKIT_ATTACHMENTS_BUCKET", Group::Attachments, Kind::Text, "", "S3 bucket for attachment bytes (SAM: the created bucket); attachments are on when set (see [attachments](attachments.md))"), "Attachments");
pub const ATTACHMENT_MAX_BYTES: Setting = p(
    s(
        "CHATKIT_ATTACHMENT_MAX_BYTES",
        Group::Attachments,
        n("bytes", 1, 5_368_709_120),
        "10485760",
        "largest attachment; a larger one gets 413 at `attachments.create`",
    ),
    "AttachmentMaxBytes",
);
pub const ATTACHMENT_TYPES: Setting = s("CHATKIT_ATTACHMENT_TYPES", Group::Attachments, Kind::List, "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,text/markdown,text/csv,application/json", "allowlist of media types (`image/*` allows a family); others get 400");
pub const ATTACHMENT_UPLOAD_SECONDS: Setting = s(
    "CHATKIT_ATTACHMENT_UPLOAD_SECONDS",
    Group::Attachments,
    n("seconds", 1, 900),
    "300",
    "lifetime of the presigned upload URL (at most 15 minutes)",
);
pub const ATTACHMENT_URL_SECONDS: Setting = s("CHATKIT_ATTACHMENT_URL_SECONDS", Group::Attachments, n("seconds", 1, 43_200), "3600", "how long presigned preview and model download URLs stay valid, at least, once sent (the same URL is sent for a quarter of that, so browsers cache the images)");
pub const ATTACHMENT_INLINE: Setting = s(
    "CHATKIT_ATTACHMENT_INLINE",
    Group::Attachments,
    Kind::Flag,
    "0",
    "`1` sends images and PDFs to the model as `data:` URLs (for providers that cannot fetch URLs)",
);
pub const ATTACHMENT_TEXT_MAX_BYTES: Setting = s(
    "CHATKIT_ATTACHMENT_TEXT_MAX_BYTES",
    Group::Attachments,
    n("bytes", 1, 104_857_600),
    "32768",
    "most bytes of a text attachment inlined into the model input",
);
pub const AWS_ENDPOINT_URL_S3: Setting = s(
    "AWS_ENDPOINT_URL_S3",
    Group::Attachments,
    Kind::Text,
    "",
    "an S3-compatible endpoint (moto, MinIO); path-style addressing is used when set",
);
pub const TRANSCRIBE_MODEL: Setting = s(
    "CHATKIT_TRANSCRIBE_MODEL",
    Group::Attachments,
    Kind::Text,
    "gpt-4o-mini-transcribe",
    "model of `input.transcribe` (`POST {OPENAI_BASE_URL}/audio/transcriptions`)",
);
pub const TRANSCRIBE_MAX_BYTES: Setting = s("CHATKIT_TRANSCRIBE_MAX_BYTES", Group::Attachments, n("bytes", 1, 104_857_600), "3000000", "largest recording; larger ones get 413 (the base64 body must also fit `CHATKIT_MAX_BODY_BYTES`)");
pub const TABLE_NAME: Setting = s(
    "CHATKIT_TABLE_NAME",
    Group::Storage,
    Kind::Text,
    "chatkit",
    "DynamoDB table (SAM: the created table)",
);
pub const RETENTION_DAYS: Setting = p(s("CHATKIT_RETENTION_DAYS", Group::Storage, n("days", 0, 36_500), "0", "when above 0, every record carries a TTL (`expires_at`) this many days after its last write; every new item also pushes its thread's TTL out, so a thread lives while it is used and its old messages expire on their own; 0: keep forever (SAM: 90)"), "RetentionDays");
pub const AWS_ATTEMPT_TIMEOUT_MS: Setting = s(
    "CHATKIT_AWS_ATTEMPT_TIMEOUT_MS",
    Group::Storage,
    n("ms", 1, 600_000),
    "2000",
    "time limit of one attempt of every AWS call (DynamoDB, S3, Secrets Manager)",
);
pub const AWS_TIMEOUT_MS: Setting = s(
    "CHATKIT_AWS_TIMEOUT_MS",
    Group::Storage,
    n("ms", 1, 600_000),
    "4000",
    "time limit of a whole AWS operation, retries included; shorter than `CHATKIT_DEADLINE_MARGIN_MS` (when that is above 0), so a turn stopped at its deadline can still save what it said",
);
pub const CREATE_TABLE: Setting = s(
    "CHATKIT_CREATE_TABLE",
    Group::Storage,
    Kind::Flag,
    "0",
    "`1` creates the table on first use (local development)",
);
pub const WARMUP: Setting = s("CHATKIT_WARMUP", Group::Operations, Kind::Flag, "1", "warm up as the process starts: AWS config, credentials and clients, one cheap DynamoDB call, the JWT secret / JWKS and the model key; alongside the first request, which waits only for what it shares with it (before serving under provisioned concurrency, where no request waits); steps that fail are logged and retried by the first request; `0` skips it");
pub const WARMUP_TIMEOUT_MS: Setting = s(
    "CHATKIT_WARMUP_TIMEOUT_MS",
    Group::Operations,
    n("ms", 1, 600_000),
    "5000",
    "the longest the warm-up may take",
);
pub const METRICS_NAMESPACE: Setting = p(
    s(
        "CHATKIT_METRICS_NAMESPACE",
        Group::Operations,
        Kind::Text,
        "ChatKit",
        "CloudWatch namespace of the metric lines (Embedded Metric Format, see [operations](operations.md)); `off` writes none",
    ),
    "MetricsNamespace",
);
pub const PORT: Setting = s(
    "PORT",
    Group::Operations,
    n("port", 1, 65_535),
    "8080",
    "local HTTP mode (`POST /chatkit`) when not on Lambda; `--port N` overrides it",
);
pub const BIND: Setting = s(
    "CHATKIT_BIND",
    Group::Operations,
    Kind::Text,
    "127.0.0.1",
    "the address of the local HTTP mode",
);
pub const RUST_LOG: Setting = s(
    "RUST_LOG",
    Group::Operations,
    Kind::Text,
    "info",
    "log filter; logs are JSON lines for CloudWatch",
);

/// Every setting, in the order of `docs/settings.md`.
pub const ALL: &[Setting] = &[
    JWT_SECRET_ARN,
    JWT_SECRET,
    JWT_PREVIOUS_GRACE_SECONDS,
    JWKS_URL,
    JWKS_TIMEOUT_MS,
    JWT_ALGORITHMS,
    JWT_ISSUER,
    JWT_AUDIENCE,
    TENANT_CLAIM,
    AUTH_COOKIE,
    SECRET_REFRESH_SECONDS,
    DEV_AUTH,
    USER_HASH_KEY,
    ALLOWED_ORIGINS,
    COOKIE_ORIGINS,
    CONNECT_TIMEOUT_MS,
    IDLE_TIMEOUT_MS,
    MAX_BODY_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_TOOL_OUTPUT_BYTES,
    TURN_BUDGET_SECONDS,
    DEADLINE_MARGIN_MS,
    CANCEL_POLL_MS,
    DUPLICATE_WINDOW_SECONDS,
    TURNS_PER_MINUTE,
    TOKENS_PER_DAY,
    TURNS_IN_FLIGHT,
    ATTACHMENTS_PER_DAY,
    PENDING_ATTACHMENTS,
    REQUESTS_PER_MINUTE,
    ATTACHMENTS_PER_MINUTE,
    OPENAI_API_KEY_SECRET_ARN,
    OPENAI_API_KEY,
    OPENAI_BASE_URL,
    MODEL,
    MODEL_API,
    MODELS,
    TITLE_MODEL,
    SYSTEM_PROMPT,
    SYSTEM_PROMPT_FILE,
    HISTORY_TOKEN_BUDGET,
    MESSAGE_TOKEN_BUDGET,
    TOOL_OUTPUT_TOKEN_BUDGET,
    MODEL_INPUT_TOKEN_BUDGET,
    MAX_OUTPUT_TOKENS,
    FIRST_TOKEN_TIMEOUT_MS,
    MODEL_MAX_RETRIES,
    MODEL_RETRY_BACKOFF_MS,
    MAX_TOOL_ITERATIONS,
    RETRIEVAL_URL,
    RETRIEVAL_AUTH,
    CLIENT_TOOLS,
    EXAMPLE_ORDERS,
    MCP_SERVERS,
    MCP_TOOLS_TTL_SECONDS,
    ATTACHMENTS_BUCKET,
    ATTACHMENT_MAX_BYTES,
    ATTACHMENT_TYPES,
    ATTACHMENT_UPLOAD_SECONDS,
    ATTACHMENT_URL_SECONDS,
    ATTACHMENT_INLINE,
    ATTACHMENT_TEXT_MAX_BYTES,
    AWS_ENDPOINT_URL_S3,
    TRANSCRIBE_MODEL,
    TRANSCRIBE_MAX_BYTES,
    TABLE_NAME,
    RETENTION_DAYS,
    AWS_ATTEMPT_TIMEOUT_MS,
    AWS_TIMEOUT_MS,
    CREATE_TABLE,
    WARMUP,
    WARMUP_TIMEOUT_MS,
    METRICS_NAMESPACE,
    PORT,
    BIND,
    RUST_LOG,
];
