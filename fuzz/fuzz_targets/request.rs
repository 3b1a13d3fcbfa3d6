//! The request parser and the router on any bytes: `ChatKitRequest::from_slice`, then
//! `ChatKitServer::process` on a `MemoryStore` holding a thread of the caller's and one of
//! another user's, with a responder that answers every turn. Nothing may panic; a refusal is
//! a 4xx (or the documented 501 of a feature this server was not given), never a 5xx; no
//! answer holds the other user's thread. In the input, `$A`/`$I` stand for the caller's thread
//! and its first item, `$B`/`$J` for the other user's, and `$W` for a widget in the caller's
//! thread offering actions, so the fuzzer reaches the handlers behind an existing thread and
//! the action check (the seeds in `fuzz/seeds/request` use them; some carry ids past the
//! 128-byte limit and tampered action payloads). The per-container request limits are off,
//! so every input reaches its handler.

#![no_main]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chatkit_protocol::{
    timestamp, AssistantMessageContent, AssistantMessageItem, ChatKitRequest, WidgetItem,
};
use chatkit_server::{
    ChatKitResponse, ChatKitServer, ContainerLimits, EventSink, RequestContext, Responder,
    ServerConfig, StreamError, Turn,
};
use chatkit_store::prelude::*;
use chatkit_store::{MemoryStore, UserId};
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;

/// The agent's settings with `text` as its MCP servers and retrieval auth.
fn check_tool_settings(text: &str) {
    use chatkit_agent::mcp::parse_servers;
    use chatkit_agent::upstream_auth::{parse_auth, UpstreamAuth};
    if let Ok(servers) = parse_servers(text) {
        for (i, server) in servers.iter().enumerate() {
            let name = &server.name;
            assert!(!name.is_empty() && name.len() <= 32 && !name.contains("__"), "{name:?}");
            assert!(servers[..i].iter().all(|s| &s.name != name), "{name:?} twice");
            assert!(server.url.starts_with("http://") || server.url.starts_with("https://"));
        }
    }
    if let Ok(UpstreamAuth::TokenExchange(exchange)) = parse_auth(text) {
        assert!(!exchange.client_id.is_empty() && !exchange.token_url.is_empty());
    }
    let get = |name: &str| match name {
        "CHATKIT_MCP_SERVERS" | "CHATKIT_RETRIEVAL_AUTH" => Some(text.to_string()),
        "CHATKIT_JWT_AUDIENCE" => Some("chatkit".to_string()),
        "IDP_SECRET" => Some("s3cret".to_string()),
        _ => None,
    };
    if let Err(e) = chatkit_agent::AgentConfig::from_lookup(get) {
        assert!(
            e.variable == "CHATKIT_MCP_SERVERS" || e.variable == "CHATKIT_RETRIEVAL_AUTH",
            "{e}"
        );
    }
}

const SECRET: &str = "OTHER-USER-SECRET";

struct Reply;

#[async_trait]
impl Responder for Reply {
    async fn respond(&self, _turn: Turn, sink: EventSink) -> Result<(), StreamError> {
        let item = AssistantMessageItem {
            id: sink.new_id("msg"),
            thread_id: sink.thread_id().into(),
            created_at: timestamp::now(),
            content: vec![AssistantMessageContent::text("ok")],
        };
        sink.done(item).await?;
        Ok(())
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    server: ChatKitServer,
    /// (`$A`, `$I`, `$B`, `$J`) and what they stand for.
    ids: Vec<(&'static str, String)>,
}

/// Runs so many inputs on one store before starting afresh (the store only grows).
const RUNS_PER_WORLD: u32 = 20_000;

fn new_world() -> World {
    {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut config = ServerConfig::default();
        config.container_limits =
            ContainerLimits { requests_per_minute: 0, attachments_per_minute: 0 };
        let server =
            ChatKitServer::new(Arc::new(MemoryStore::new()), Arc::new(Reply)).with_config(config);
        let ids = rt.block_on(async {
            let mut ids = Vec::new();
            for (user, text, thread_token, item_token) in [("ada", "hello", "$A", "$I"), ("bob", SECRET, "$B", "$J")] {
                let ctx = || RequestContext::new(UserId::new(user), "seed");
                let body = format!(r#"{{"type":"threads.create","params":{{"input":{{"content":[{{"type":"input_text","text":"{text}"}}],"attachments":[],"inference_options":{{}}}}}}}}"#);
                if let Ok(ChatKitResponse::Stream(s)) = server.process(body.as_bytes(), ctx()).await {
                    s.collect::<Vec<_>>().await;
                }
                let Ok(ChatKitResponse::Json(list)) = server.process(br#"{"type":"threads.list","params":{}}"#, ctx()).await else { panic!("threads.list") };
                let thread = list.value()["data"][0]["id"].as_str().unwrap().to_string();
                let body = format!(r#"{{"type":"items.list","params":{{"thread_id":"{thread}"}}}}"#);
                let Ok(ChatKitResponse::Json(items)) = server.process(body.as_bytes(), ctx()).await else { panic!("items.list") };
                if user == "ada" {
                    let widget = WidgetItem {
                        id: "msg_01JD0000000000000000000009".into(),
                        thread_id: thread.clone(),
                        created_at: timestamp::now(),
                        widget: serde_json::json!({"type": "Card", "children": [
                            {"type": "Button", "label": "Approve", "onClickAction": {"type": "orders.approve", "payload": {"order_id": "42"}}},
                            {"type": "Form", "onSubmitAction": {"type": "notes.save", "payload": {"note_id": "n1"}}, "children": []}]}),
                        copy_text: None,
                    };
                    server.store().save_item(&UserId::new(user), &thread, &widget.clone().into()).await.unwrap();
                    ids.push(("$W", widget.id));
                }
                ids.push((thread_token, thread));
                ids.push((item_token, items.value()["data"][0]["id"].as_str().unwrap().to_string()));
            }
            ids
        });
        World { rt, server, ids }
    }
}

fuzz_target!(|data: &[u8]| {
    static WORLD: Mutex<Option<(World, u32)>> = Mutex::new(None);
    let mut guard = WORLD.lock().unwrap_or_else(|p| p.into_inner());
    if guard.as_ref().is_none_or(|(_, runs)| *runs >= RUNS_PER_WORLD) {
        *guard = Some((new_world(), 0));
    }
    let (w, runs) = guard.as_mut().unwrap();
    *runs += 1;
    let w = &*w;
    let substituted = std::str::from_utf8(data)
        .ok()
        .filter(|s| s.contains('$'))
        .map(|s| w.ids.iter().fold(s.to_string(), |s, (token, id)| s.replace(token, id)));
    let data = substituted.as_ref().map_or(data, |s| s.as_bytes());
    if data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()) {
        // the fuzzer learns the marker from the checks below: a caller writing it into their
        // own thread is no leak, so such inputs are skipped
        return;
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_tool_settings(text);
    }
    let parsed = ChatKitRequest::from_slice(data).is_ok();
    w.rt.block_on(async {
        match w.server.process(data, RequestContext::new(UserId::new("ada"), "fuzz")).await {
            Ok(ChatKitResponse::Json(v)) => {
                assert!(!v.to_string().contains(SECRET), "another user's data: {v}")
            }
            Ok(ChatKitResponse::Stream(s)) => {
                let events = s.collect::<Vec<_>>().await;
                let text = format!("{events:?}");
                assert!(!text.contains(SECRET), "another user's data in a stream");
            }
            Err(e) => {
                let status = e.status();
                assert!((400..500).contains(&status) || status == 501, "{status}: {e}");
                assert!(
                    parsed || status == 400 || status == 413,
                    "a body that does not parse is a 400 or 413, got {status}"
                );
            }
        }
    });
});
