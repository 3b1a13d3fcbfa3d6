//! RFC 8693 token exchange through the real binary: an identity provider and an MCP server
//! (the test kit's, signing with the same key as this function's tokens) that accepts only
//! tokens issued for itself; the retrieval tool on the same scheme. The issued tokens are
//! refused by the function itself (their audience is another service), the caller's token
//! never leaves for a service, and no token reaches the model, the events or the logs.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

use crate::function::{create_secret, Function};
use crate::mcp_server::McpServer;
use crate::stub::{chat_text, chat_tool_call, Stub};
use crate::{message, JWT_SECRET, MODEL_KEY};

const AUDIENCE: &str = "chatkit-api";
const CLIENT: (&str, &str) = ("chatkit", "idp-client-secret-9c1f+&=");

/// A token for this function (its audience), as the identity provider would issue it.
fn api_token(sub: &str) -> String {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let claims = json!({"sub": sub, "aud": AUDIENCE, "exp": exp});
    encode(&Header::default(), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap()
}

fn exchange_auth(idp: &McpServer, secret: Value) -> Value {
    let mut auth = json!({"token_url": idp.token_url(), "client_id": CLIENT.0});
    auth.as_object_mut().unwrap().extend(secret.as_object().unwrap().clone());
    json!({"token_exchange": auth})
}

fn exchanges(log: &[Value]) -> Vec<&Value> {
    log.iter().filter(|r| r["method"] == "token_exchange").collect()
}

#[tokio::test]
async fn mcp_and_retrieval_get_tokens_for_their_own_audience_once_per_lifetime() {
    let stub = Stub::start().await;
    let retrieve = format!("{}/retrieve", stub.url);
    let idp = McpServer::start_idp(
        JWT_SECRET,
        CLIENT,
        &["--subject-audience", AUDIENCE, "--resource", &retrieve],
    )
    .await;
    let client_secret =
        create_secret(&format!("idp-client-{}", std::process::id()), CLIENT.1).await;
    let servers = json!([{"name": "vault", "url": idp.url, "tools": ["whoami", "create_task"],
        "auth": exchange_auth(&idp, json!({"client_secret_env": "VAULT_IDP_SECRET"}))}]);
    let retrieval_auth = exchange_auth(&idp, json!({"client_secret_arn": client_secret}));
    let (servers, retrieval_auth) = (servers.to_string(), retrieval_auth.to_string());
    stub.set_title("Vault");
    stub.set_retrieval(200, json!({"results": [{"text": "The vault opens at nine."}]}));
    stub.push(chat_tool_call("call_a", "vault__whoami", "{}"));
    stub.push(chat_tool_call("call_b", "search_knowledge_base", r#"{"query":"vault hours"}"#));
    stub.push(chat_text(&["You are ada; it opens at nine."]));
    stub.push(chat_tool_call("call_c", "vault__create_task", r#"{"title":"Open it"}"#));
    stub.push(chat_text(&["Done."]));
    let f = Function::start_with(
        &stub,
        JWT_SECRET,
        MODEL_KEY,
        &[
            ("CHATKIT_MCP_SERVERS", &servers),
            ("CHATKIT_RETRIEVAL_URL", &retrieve),
            ("CHATKIT_RETRIEVAL_AUTH", &retrieval_auth),
            ("CHATKIT_JWT_AUDIENCE", AUDIENCE),
            ("VAULT_IDP_SECRET", CLIENT.1),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let ada = api_token("ada");

    let events = f.stream(&ada, json!({"type": "threads.create", "params": {"input": message("Who am I, and when does the vault open?")}})).await;
    assert!(events.iter().all(|e| e["type"] != "error"), "{events:?}");
    let thread_id = events[0]["thread"]["id"].as_str().unwrap().to_string();
    let events = f.stream(&ada, json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": message("Make a task to open it")}})).await;
    assert!(events.iter().all(|e| e["type"] != "error"), "{events:?}");

    // the MCP server saw ada through a token issued for it, and the retrieval service too
    let bodies = stub.model_bodies();
    let tool_outputs = |body: &Value| -> Vec<String> {
        body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["content"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(tool_outputs(&bodies[1])[0].contains("you are ada"), "{:?}", tool_outputs(&bodies[1]));
    assert!(
        tool_outputs(&bodies[2])[1].contains("opens at nine"),
        "{:?}",
        tool_outputs(&bodies[2])
    );
    assert!(
        tool_outputs(&bodies[4]).last().unwrap().contains("\"owner\": \"ada\"")
            || tool_outputs(&bodies[4]).last().unwrap().contains("\"owner\":\"ada\""),
        "{:?}",
        tool_outputs(&bodies[4])
    );

    // one exchange per service for both turns, as a form post, each for its own resource
    let log = idp.log().await;
    let sent = exchanges(&log);
    let resources: Vec<&str> = sent.iter().map(|r| r["resource"].as_str().unwrap()).collect();
    assert_eq!(resources.len(), 2, "{log:?}");
    assert!(resources.contains(&idp.url.as_str()) && resources.contains(&retrieve.as_str()));
    assert!(sent
        .iter()
        .all(|r| r["subject_user"] == "ada"
            && r["content_type"] == "application/x-www-form-urlencoded"));

    // the MCP server got only its own token, never ada's, and would refuse ada's
    let mcp_tokens: Vec<&str> = log
        .iter()
        .filter(|r| r["method"] != "token_exchange")
        .filter_map(|r| r["token"].as_str())
        .collect();
    assert!(!mcp_tokens.is_empty() && mcp_tokens.iter().all(|t| *t != ada), "{log:?}");
    let direct = reqwest::Client::new()
        .post(&idp.url)
        .bearer_auth(&ada)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 401, "the MCP server accepts only tokens issued for itself");
    let retrieval = stub.requests().into_iter().find(|r| r.path.ends_with("/retrieve")).unwrap();
    let retrieval_token =
        retrieval.authorization.unwrap().strip_prefix("Bearer ").unwrap().to_string();
    assert_ne!(retrieval_token, ada);

    // a token issued for a service is refused here: its audience is not this function
    for issued in [mcp_tokens[0], retrieval_token.as_str()] {
        let (status, body) = f.json(issued, json!({"type": "threads.list", "params": {}})).await;
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(f.json(&ada, json!({"type": "threads.list", "params": {}})).await.0, 200);

    // no token reached the model, the events or the logs
    let secrets = [ada.as_str(), mcp_tokens[0], retrieval_token.as_str(), CLIENT.1];
    for request in stub.requests().iter().filter(|r| !r.path.ends_with("/retrieve")) {
        let seen = format!("{} {:?}", request.body, request.authorization);
        assert!(secrets.iter().all(|s| !seen.contains(s)), "a model request holds a credential");
    }
    assert!(serde_json::to_string(&events).unwrap().chars().count() > 0);
    let logs = std::fs::read_to_string(&f.log_file).unwrap();
    assert!(logs.contains("MCP tools offered"), "debug logs were captured");
    assert!(secrets.iter().all(|s| !logs.contains(s)), "a credential reached the logs");
}

#[tokio::test]
async fn a_refused_exchange_is_a_tool_error_without_any_token_in_it() {
    let stub = Stub::start().await;
    // tokens that live 5 s are not reused: every new session exchanges again
    let idp = McpServer::start_idp(JWT_SECRET, CLIENT, &["--exchange-ttl", "5"]).await;
    let servers = json!([{"name": "vault", "url": idp.url, "tools": ["whoami"],
        "auth": exchange_auth(&idp, json!({"client_secret_env": "VAULT_IDP_SECRET"}))}]);
    let servers = servers.to_string();
    stub.set_title("Vault");
    stub.push(chat_text(&["Hello."]));
    stub.push(chat_tool_call("call_a", "vault__whoami", "{}"));
    stub.push(chat_text(&["The vault is unavailable."]));
    let f = Function::start_with(
        &stub,
        JWT_SECRET,
        MODEL_KEY,
        &[
            ("CHATKIT_MCP_SERVERS", &servers),
            ("CHATKIT_JWT_AUDIENCE", AUDIENCE),
            ("VAULT_IDP_SECRET", CLIENT.1),
        ],
    )
    .await;
    let ada = api_token("ada");
    // the first turn lists the tools (an exchange); the list stays cached
    let events =
        f.stream(&ada, json!({"type": "threads.create", "params": {"input": message("Hi")}})).await;
    let thread_id = events[0]["thread"]["id"].as_str().unwrap().to_string();
    assert_eq!(exchanges(&idp.log().await).len(), 1);

    idp.refuse_exchanges().await;
    let events = f.stream(&ada, json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": message("Who am I?")}})).await;
    assert!(events.iter().all(|e| e["type"] != "error"), "the turn goes on: {events:?}");
    let bodies = stub.model_bodies();
    let output = bodies.last().unwrap()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|m| m["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(output.contains("refused the token exchange (HTTP 400, invalid_grant)"), "{output}");
    assert!(!output.contains(&ada) && !output.contains("refused ey"), "{output}");
    let wire = serde_json::to_string(&events).unwrap();
    assert!(!wire.contains(&ada));
    let logs = std::fs::read_to_string(&f.log_file).unwrap();
    assert!(!logs.contains(&ada) && !logs.contains(CLIENT.1), "a credential reached the logs");
}
