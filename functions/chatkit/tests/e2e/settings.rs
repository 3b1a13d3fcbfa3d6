//! A setting that does not parse stops the binary at start, with a message naming it: the
//! agent's settings (the model, MCP servers) included, not only the gateway's.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// Starts the binary with `env` and waits for it to stop: its exit code and stderr.
async fn start_with(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chatkit"));
    command.args(["--port", "0"]).env("CHATKIT_DEV_AUTH", "1").env("CHATKIT_WARMUP", "0");
    command.envs(env.iter().copied()).stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("a bad setting stops the start instead of serving")
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn a_malformed_setting_stops_the_start_naming_it() {
    let cases: [&[(&str, &str)]; 5] = [
        &[("CHATKIT_MCP_SERVERS", "[{\"name\": \"x\"")],
        &[("CHATKIT_MODEL_API", "grpc")],
        &[("CHATKIT_MODEL_MAX_RETRIES", "11")],
        &[("CHATKIT_CANCEL_POLL_MS", "soon")],
        &[("CHATKIT_ATTACHMENTS_BUCKET", "b"), ("CHATKIT_ATTACHMENT_TYPES", "png")],
    ];
    for env in cases {
        let (name, value) = env[env.len() - 1];
        let (code, stderr) = start_with(env).await;
        assert_ne!(code, Some(0), "{name}={value} must stop the start");
        assert!(stderr.contains(name), "{name}={value}: the message names it: {stderr}");
    }
}
