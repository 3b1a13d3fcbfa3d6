//! Both TLS clients trust the system roots read once per process: reqwest (model, tools,
//! JWKS) and the AWS SDK. A local TLS server whose certificate chains to a test root, and
//! `SSL_CERT_FILE` naming that root as the system store: each client completes a handshake,
//! and the store was read once. (The test root and server certificate in `tests/tls/` are
//! valid for 100 years and trusted nowhere else.)

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/ca.pem");
const CERT: &[u8] = include_bytes!("tls/server.pem");
const KEY: &[u8] = include_bytes!("tls/server.key");

/// Serves every connection one HTTP answer: a DynamoDB `ListTables` result as JSON.
async fn serve() -> u16 {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(CERT).collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = vec![0u8; 16 * 1024];
                let _ = tls.read(&mut request).await;
                let body = r#"{"TableNames":["tls-ok"]}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn reqwest_and_the_aws_sdk_trust_the_system_roots_read_once() {
    // the system store, as rustls-native-certs reads it, is the test root alone (this test
    // binary's only test: nothing read the roots before)
    std::env::set_var("SSL_CERT_FILE", CA);
    std::env::remove_var("SSL_CERT_DIR");
    let port = serve().await;

    let dev = |name: &str| (name == "CHATKIT_DEV_AUTH").then(|| "1".to_string());
    let config = chatkit_gateway::GatewayConfig::from_lookup(&dev).unwrap();
    let http = chatkit_gateway::http_client(&config);
    let answer = http.get(format!("https://localhost:{port}/")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("tls-ok"));

    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "not-a-secret");
    std::env::set_var("AWS_REGION", "eu-west-1");
    let aws = chatkit_aws::AwsClients::new().with_endpoint_url(format!("https://localhost:{port}"));
    let dynamodb = aws_sdk_dynamodb::Client::new(aws.config().await);
    let tables = dynamodb.list_tables().send().await.expect("a TLS handshake with the test root");
    assert_eq!(tables.table_names(), ["tls-ok"]);

    // one read of the store for both clients
    let roots = chatkit_gateway::roots::native_roots();
    assert_eq!(roots.len(), 1, "the test root, read once");
}
