//! Cookie auth through the real binary: a request whose token comes from the cookie needs an
//! allowed Origin and `Content-Type: application/json`, else 403 JSON and nothing happens;
//! CORS never pairs `*` with credentials.

use serde_json::{json, Value};

use crate::function::Function;
use crate::stub::{chat_text, Stub};
use crate::{message, token, JWT_SECRET, MODEL_KEY};

const APP: &str = "http://app.test";

async fn send(
    f: &Function,
    cookie: Option<&str>,
    origin: Option<&str>,
    content_type: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = f.client.post(&f.url).body(body.to_string());
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("theme=dark; chatkit_token={cookie}"));
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn thread_count(f: &Function, user: &str) -> usize {
    let (status, list) = f.json(&token(user), json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(status, 200);
    list["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn cookie_requests_need_an_allowed_origin_and_json() {
    let stub = Stub::start().await;
    stub.set_title("Via cookie");
    stub.push(chat_text(&["Hi", " there"]));
    let f = Function::start_with(
        &stub,
        JWT_SECRET,
        MODEL_KEY,
        &[("CHATKIT_AUTH_COOKIE", "chatkit_token")],
    )
    .await;
    let ada = token("ada");
    let create = json!({"type": "threads.create", "params": {"input": message("from a form")}});

    // each refusal is a 403 JSON with a reason, and writes nothing
    let refusals = [
        (
            "cross-site text/plain POST",
            Some("http://evil.test"),
            Some("text/plain;charset=UTF-8"),
            "origin \"http://evil.test\" may not use cookie authentication",
        ),
        (
            "cross-site form post",
            Some("http://evil.test"),
            Some("application/x-www-form-urlencoded"),
            "may not use cookie authentication",
        ),
        (
            "cross-site JSON",
            Some("http://evil.test"),
            Some("application/json"),
            "may not use cookie authentication",
        ),
        (
            "allowed origin, text/plain",
            Some(APP),
            Some("text/plain"),
            "Content-Type: application/json",
        ),
        ("allowed origin, no content type", Some(APP), None, "Content-Type: application/json"),
        ("no Origin", None, Some("application/json"), "must carry an Origin header"),
    ];
    for (case, origin, content_type, reason) in refusals {
        let (status, body) = send(&f, Some(&ada), origin, content_type, &create).await;
        assert_eq!(status, 403, "{case}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{case}");
        assert!(body["error"]["message"].as_str().unwrap().contains(reason), "{case}: {body}");
        assert!(body["error"]["request_id"].is_string(), "{case}");
    }
    assert_eq!(thread_count(&f, "ada").await, 0, "no refused request created a thread");

    // the app's own JSON request with the cookie goes through, and streams
    let (status, body) = send(&f, Some(&ada), Some(APP), Some("application/json"), &create).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.as_str().unwrap().contains("\"thread.created\""));
    assert_eq!(thread_count(&f, "ada").await, 1);

    // a bearer token needs neither (a foreign page cannot read it), and wins over the cookie
    let list = json!({"type": "threads.list", "params": {}});
    let response = f
        .client
        .post(&f.url)
        .bearer_auth(&ada)
        .header("origin", "http://evil.test")
        .header("content-type", "text/plain")
        .header("cookie", "chatkit_token=garbage")
        .body(list.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // no credentials at all is still 401, not 403
    assert_eq!(send(&f, None, Some("http://evil.test"), Some("text/plain"), &list).await.0, 401);
}

#[tokio::test]
async fn a_wildcard_origin_lends_no_cookie_and_no_credentials() {
    let stub = Stub::start().await;
    let f = Function::start_with(
        &stub,
        JWT_SECRET,
        MODEL_KEY,
        &[("CHATKIT_AUTH_COOKIE", "chatkit_token"), ("CHATKIT_ALLOWED_ORIGINS", "*")],
    )
    .await;
    let list = json!({"type": "threads.list", "params": {}});
    let (status, body) =
        send(&f, Some(&token("ada")), Some(APP), Some("application/json"), &list).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("CHATKIT_COOKIE_ORIGINS"),
        "{body}"
    );

    let response = f
        .client
        .post(&f.url)
        .bearer_auth(token("ada"))
        .header("origin", APP)
        .header("content-type", "application/json")
        .body(list.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(response.headers().get("access-control-allow-credentials").is_none());
    let preflight = f
        .client
        .request(reqwest::Method::OPTIONS, &f.url)
        .header("origin", APP)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type, x-anything")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(preflight.headers().get("access-control-allow-credentials").is_none());
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        chatkit_gateway::ALLOWED_HEADERS
    );
}
