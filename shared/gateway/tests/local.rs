//! Local mode cuts off a client that is slow to send its request: headers, then body.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatkit_gateway::local::{bind, ReadTimeouts};
use chatkit_gateway::{Authenticator, Cors, Gateway};
use chatkit_server::{ChatKitServer, EventSink, Responder, StreamError, Turn};
use chatkit_store::MemoryStore;
use jsonwebtoken::Algorithm;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Silent;

#[async_trait]
impl Responder for Silent {
    async fn respond(&self, _turn: Turn, _events: EventSink) -> Result<(), StreamError> {
        Ok(())
    }
}

async fn serve() -> std::net::SocketAddr {
    let server = ChatKitServer::new(Arc::new(MemoryStore::new()), Arc::new(Silent));
    let auth = Authenticator::new(None, None, vec![Algorithm::HS256]).with_dev_auth(true);
    let gateway = Arc::new(Gateway::new(server, auth, Cors::default(), 1 << 20));
    let timeouts =
        ReadTimeouts { headers: Duration::from_millis(300), body: Duration::from_millis(300) };
    let (addr, serving) = bind(gateway, "127.0.0.1:0".parse().unwrap(), timeouts).await.unwrap();
    tokio::spawn(serving);
    addr
}

/// Everything the server sends until it closes the connection (bounded, so a server that
/// never closes fails the test instead of hanging it).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn headers_that_never_finish_are_cut_off() {
    let addr = serve().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"POST /chatkit HTTP/1.1\r\nhost: x\r\nx-user-id: ada\r\n").await.unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408() {
    let addr = serve().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST /chatkit HTTP/1.1\r\nhost: x\r\nx-user-id: ada\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(br#"{"type":"#).await.unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test]
async fn a_prompt_request_is_served() {
    let addr = serve().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = r#"{"type":"threads.list","params":{}}"#;
    let request = format!(
        "POST /chatkit HTTP/1.1\r\nhost: x\r\nx-user-id: ada\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
