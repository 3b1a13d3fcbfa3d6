//! MCP end to end through the real binary: the caller's JWT forwarded to a `user_token`
//! server, a service token from Secrets Manager (moto) for a `secret_arn` server, both checked
//! by a real MCP server; neither credential in the model requests, the events or the logs.

use serde_json::json;

use crate::function::{create_secret, Function};
use crate::mcp_server::McpServer;
use crate::stub::{chat_text, chat_tool_call, Stub};
use crate::{message, token, JWT_SECRET, MODEL_KEY};

const SERVICE_TOKEN: &str = "svc-directory-token-5b81";

#[tokio::test]
async fn mcp_tools_with_the_users_token_and_a_service_token_from_secrets_manager() {
    let ada = token("ada");
    let mcp = McpServer::start(false, &[(&ada, "ada"), (SERVICE_TOKEN, "directory-service")]).await;
    let secret_arn =
        create_secret(&format!("mcp-directory-{}", std::process::id()), SERVICE_TOKEN).await;
    let servers = json!([
        {"name": "tasks", "url": mcp.url, "auth": "user_token", "tools": ["create_task", "whoami"]},
        {"name": "directory", "url": mcp.url, "auth": {"secret_arn": secret_arn}, "tools": ["whoami"], "timeout_ms": 10000}
    ]);
    let stub = Stub::start().await;
    stub.set_title("Tasks");
    stub.push(chat_tool_call("call_a", "tasks__create_task", r#"{"title":"Ship it"}"#));
    stub.push(chat_tool_call("call_b", "directory__whoami", "{}"));
    stub.push(chat_text(&["Created task-1 for ada."]));
    let servers = servers.to_string();
    let f = Function::start_with(
        &stub,
        JWT_SECRET,
        MODEL_KEY,
        &[("CHATKIT_MCP_SERVERS", &servers), ("RUST_LOG", "debug")],
    )
    .await;

    let events = f.stream(&ada, json!({"type": "threads.create", "params": {"input": message("Create a task: ship it")}})).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(!types.contains(&"error"), "{events:?}");
    let progress: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "progress_update")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(progress, ["Calling create_task on tasks…", "Calling whoami on directory…"]);
    let workflow = events
        .iter()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "workflow")
        .expect("a workflow");
    assert_eq!(workflow["item"]["workflow"]["tasks"].as_array().unwrap().len(), 2);

    // the model got both results: the task made as ada, the directory answering as the service
    let bodies = stub.model_bodies();
    let tools: Vec<&str> = bodies[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["tasks__create_task", "tasks__whoami", "directory__whoami"]);
    let outputs: Vec<String> = bodies[2]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert!(outputs[0].contains("task-1") && outputs[0].contains("ada"), "{outputs:?}");
    assert!(outputs[1].contains("you are directory-service"), "{outputs:?}");

    // each credential reached the MCP server on its own server's requests ...
    let log = mcp.log().await;
    assert!(log.iter().any(|r| r["token"] == ada.as_str() && r["method"] == "tools/call"));
    assert!(log.iter().any(|r| r["token"] == SERVICE_TOKEN && r["method"] == "tools/call"));
    assert!(
        log.iter().all(|r| r["token"] == ada.as_str() || r["token"] == SERVICE_TOKEN),
        "{log:?}"
    );
    // ... and nowhere else: not the model requests, the events, the stored thread or the logs
    for request in stub.requests() {
        let seen = format!("{} {:?}", request.body, request.authorization);
        assert!(
            !seen.contains(&ada) && !seen.contains(SERVICE_TOKEN),
            "a model request holds a credential"
        );
    }
    let wire = serde_json::to_string(&events).unwrap();
    assert!(!wire.contains(&ada) && !wire.contains(SERVICE_TOKEN));
    let thread_id = events[0]["thread"]["id"].as_str().unwrap();
    let (_, thread) = f
        .json(&ada, json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}))
        .await;
    assert!(thread.to_string().contains("Created task-1 for ada."));
    let logs = std::fs::read_to_string(&f.log_file).unwrap();
    assert!(
        logs.contains("MCP tools offered") || logs.contains("model usage"),
        "debug logs were captured: {logs}"
    );
    assert!(!logs.contains(&ada) && !logs.contains(SERVICE_TOKEN), "a credential reached the logs");
}
