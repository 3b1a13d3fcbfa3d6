//! The HS256 secret from Secrets Manager (moto standing in, as `make test` starts it): a
//! rotation keeps tokens of the previous version valid for the grace period and accepts the
//! new version at once; a short secret is refused; a Secrets Manager that never answers is a
//! key failure within the configured time limits.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatkit_aws::{AwsClients, AwsTimeouts, ManagedSecret};
use chatkit_gateway::{AuthError, Authenticator, SecretSource};
use http::HeaderMap;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

const V1: &str = "first-secret-0123456789abcdef0123456789";
const V2: &str = "second-secret-0123456789abcdef012345678";

fn moto() -> Arc<AwsClients> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").unwrap_or_default();
    assert!(!endpoint.is_empty(), "AWS_ENDPOINT_URL_SECRETS_MANAGER is not set: run these tests through `make test` (it starts moto)");
    Arc::new(AwsClients::new())
}

async fn create(aws: &AwsClients, value: &str) -> String {
    let name = format!("jwt-{}", ulid::Ulid::new());
    let out = aws
        .secrets_manager()
        .await
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("moto create_secret");
    out.arn().unwrap().to_string()
}

async fn rotate(aws: &AwsClients, arn: &str, value: &str) {
    aws.secrets_manager()
        .await
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .send()
        .await
        .expect("moto put_secret_value");
}

fn token(secret: &str) -> HeaderMap {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let token = encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "ada", "exp": exp}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    headers
}

fn authenticator(secret: ManagedSecret) -> Authenticator {
    Authenticator::new(Some(Arc::new(secret)), None, vec![Algorithm::HS256])
}

#[tokio::test]
async fn a_rotation_keeps_previous_tokens_valid_and_accepts_new_ones_at_once() {
    let aws = moto();
    let arn = create(&aws, V1).await;
    let secret = ManagedSecret::new(aws.clone(), &arn, Duration::from_secs(300))
        .with_min_len(32)
        .with_previous(Duration::from_secs(3600))
        .with_refetch_interval(Duration::ZERO);
    let auth = authenticator(secret);
    assert_eq!(auth.authenticate(&token(V1)).await.unwrap().user_id, "ada");

    rotate(&aws, &arn, V2).await;
    // the issuer already signs with the new version; the cached one is re-read on the failure
    assert_eq!(
        auth.authenticate(&token(V2)).await.unwrap().user_id,
        "ada",
        "the new version works at once"
    );
    // an issuer that still has the old version keeps working (AWSPREVIOUS)
    assert_eq!(
        auth.authenticate(&token(V1)).await.unwrap().user_id,
        "ada",
        "the previous version stays valid"
    );
    let forged = auth.authenticate(&token("third-secret-never-stored-in-the-manager")).await;
    assert!(matches!(forged, Err(AuthError::Invalid(_))), "{forged:?}");
}

#[tokio::test]
async fn the_previous_version_is_refused_after_its_grace_period() {
    let aws = moto();
    let arn = create(&aws, V1).await;
    rotate(&aws, &arn, V2).await;
    let secret = ManagedSecret::new(aws.clone(), &arn, Duration::from_secs(300))
        .with_min_len(32)
        .with_previous(Duration::from_millis(1));
    let versions = secret.versions().await.unwrap();
    assert_eq!(&*versions.current, V2);
    assert!(versions.previous.is_none(), "past its grace, AWSPREVIOUS is not offered");
    let auth = authenticator(secret);
    assert!(auth.authenticate(&token(V2)).await.is_ok());
    assert!(matches!(auth.authenticate(&token(V1)).await, Err(AuthError::Invalid(_))));

    // without a grace period only AWSCURRENT is read
    let only_current = ManagedSecret::new(aws.clone(), &arn, Duration::from_secs(300));
    assert!(only_current.versions().await.unwrap().previous.is_none());
    let with_grace = ManagedSecret::new(aws.clone(), &arn, Duration::from_secs(300))
        .with_previous(Duration::from_secs(3600));
    assert_eq!(with_grace.versions().await.unwrap().previous.as_deref(), Some(V1));
}

#[tokio::test]
async fn a_short_secret_is_refused_with_a_clear_message() {
    let aws = moto();
    let arn = create(&aws, "only-sixteen-b!!").await;
    let secret = ManagedSecret::new(aws.clone(), &arn, Duration::from_secs(300)).with_min_len(32);
    let err = secret.versions().await.unwrap_err();
    assert!(err.0.contains("16 bytes") && err.0.contains("at least 32"), "{err}");
    match authenticator(secret).authenticate(&token("only-sixteen-b!!")).await {
        Err(AuthError::Keys(e)) => {
            assert!(e.0.contains("at least 32") || e.0.contains("unavailable"), "{e}");
        }
        other => panic!("a short secret must not verify anything: {other:?}"),
    }
}

#[tokio::test]
async fn a_secrets_manager_that_never_answers_is_bounded() {
    let url = format!("http://{}", chatkit_testkit::black_hole().await);
    let timeouts = AwsTimeouts {
        connect: Duration::from_secs(1),
        attempt: Duration::from_millis(300),
        operation: Duration::from_secs(1),
    };
    let aws = Arc::new(AwsClients::with_timeouts(timeouts).with_endpoint_url(url));
    let secret = ManagedSecret::new(
        aws,
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt",
        Duration::from_secs(300),
    );
    let result = tokio::time::timeout(Duration::from_secs(10), secret.versions())
        .await
        .expect("the Secrets Manager call hung");
    assert!(result.is_err());
}
