//! The composer's `inference_options` through the router: a model from the allowlist (400
//! for any other, with nothing stored), a forced tool, and @-mention tags.

use chatkit_agent::ModelApi;
use chatkit_protocol::ThreadStreamEvent;
use serde_json::{json, Value};

use crate::*;

fn with_options(text: &str, options: Value) -> Value {
    json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": options}}})
}

#[tokio::test]
async fn the_composer_picks_a_model_from_the_allowlist_and_others_get_a_400() {
    let h = Harness::with(ModelApi::Responses, |c| {
        c.models = vec!["big-model".into(), "small-model".into()];
    })
    .await;
    h.stub.push(responses_text(&["from big"]));
    let (thread_id, _) = h.create_with(with_options("hi", json!({"model": "big-model"}))).await;
    assert_eq!(h.stub.model_bodies()[0]["model"], "big-model");

    // the default model when none is picked
    h.stub.push(responses_text(&["from default"]));
    h.stream(add_message_body(&thread_id, "again")).await;
    assert_eq!(h.stub.model_bodies()[1]["model"], "test-model");

    // not on the list: 400 before anything is stored or the model is called
    let before = h.items(&thread_id).await.len();
    let body = json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input":
        {"content": [{"type": "input_text", "text": "expensive"}], "attachments": [], "inference_options": {"model": "gpt-5-pro"}}}});
    let err = h
        .server
        .process(&serde_json::to_vec(&body).unwrap(), Harness::context())
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    let wire = err.to_body("r");
    assert_eq!(wire["error"]["field"], "params.input.inference_options.model");
    assert!(
        wire["error"]["message"].as_str().unwrap().contains("test-model, big-model, small-model"),
        "{wire}"
    );
    let err = h
        .server
        .process(
            &serde_json::to_vec(&with_options("new", json!({"model": "gpt-5-pro"}))).unwrap(),
            Harness::context(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(h.items(&thread_id).await.len(), before);
    assert_eq!(h.stub.model_bodies().len(), 2);
    let threads = h.json(json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(
        threads["data"].as_array().unwrap().len(),
        1,
        "no thread was created by the refused request"
    );
}

#[tokio::test]
async fn tool_choice_forces_the_tool_in_the_first_round_only() {
    for api in [ModelApi::Responses, ModelApi::ChatCompletions] {
        let stub = Stub::start().await;
        let mut config = stub_config(&stub, api);
        config.retrieval_url = Some(format!("{}/retrieve", stub.url));
        let h = Harness::with_responder(
            stub,
            std::sync::Arc::new(chatkit_agent::Agent::new(config, reqwest::Client::new())),
        );
        h.stub.set_retrieval(200, json!({"results": []}));
        match api {
            ModelApi::Responses => {
                h.stub.push(Reply::Stream(
                    [
                        responses_start(),
                        vec![
                            responses_tool_call("c1", "search_knowledge_base", r#"{"query":"q"}"#),
                            responses_completed(),
                        ],
                    ]
                    .concat(),
                ));
                h.stub.push(responses_text(&["nothing found"]));
            }
            ModelApi::ChatCompletions => {
                h.stub.push(chat_tool_call("c1", "search_knowledge_base", r#"{"query":"q"}"#));
                h.stub.push(chat_text(&["nothing found"]));
            }
            ModelApi::Bedrock => unreachable!("these tests run the OpenAI-compatible stub"),
        }
        h.create_with(with_options(
            "look it up",
            json!({"tool_choice": {"id": "search_knowledge_base"}}),
        ))
        .await;
        let bodies = h.stub.model_bodies();
        let forced = match api {
            ModelApi::Responses => json!({"type": "function", "name": "search_knowledge_base"}),
            ModelApi::ChatCompletions => {
                json!({"type": "function", "function": {"name": "search_knowledge_base"}})
            }
            ModelApi::Bedrock => unreachable!("these tests run the OpenAI-compatible stub"),
        };
        assert_eq!(bodies[0]["tool_choice"], forced, "{api:?}");
        assert!(bodies[1].get("tool_choice").is_none(), "{api:?}: only the first round is forced");
    }
}

#[tokio::test]
async fn an_unknown_tool_choice_lets_the_model_decide() {
    let h = Harness::new(ModelApi::Responses).await;
    h.stub.push(responses_text(&["ok"]));
    let (_, events) =
        h.create_with(with_options("hi", json!({"tool_choice": {"id": "no_such_tool"}}))).await;
    assert!(!events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })));
    assert!(h.stub.model_bodies()[0].get("tool_choice").is_none());
}

#[tokio::test]
async fn tags_reach_the_model_with_their_data() {
    let h = Harness::new(ModelApi::Responses).await;
    h.stub.push(responses_text(&["Ada is on it."]));
    let body = json!({"type": "threads.create", "params": {"input": {"content": [
        {"type": "input_text", "text": "ask "},
        {"type": "input_tag", "id": "u-ada", "text": "Ada", "data": {"email": "ada@example.test", "team": "billing"}},
        {"type": "input_text", "text": " about it"}
    ], "attachments": [], "inference_options": {}}}});
    h.create_with(body).await;
    let input = responses_input(&h.stub.model_bodies()[0]);
    assert_eq!(input[0], ("user".into(), "ask @Ada about it".into()));
    assert!(input[1].1.starts_with("# User-provided context for @-mentions"), "{input:?}");
    assert!(
        input[1].1.contains(r#"- @Ada: {"email":"ada@example.test","team":"billing"}"#),
        "{input:?}"
    );
}
