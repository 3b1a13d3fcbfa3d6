//! DynamoDB Streams records as the Lambda event a stream event source mapping delivers.

use super::*;

/// A DynamoDB Streams attribute value as the JSON Lambda delivers.
fn lambda_value(value: &aws_sdk_dynamodbstreams::types::AttributeValue) -> serde_json::Value {
    use aws_sdk_dynamodbstreams::types::AttributeValue as A;
    use base64::Engine;
    use serde_json::json;
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match value {
        A::S(s) => json!({"S": s}),
        A::N(n) => json!({"N": n}),
        A::B(b) => json!({"B": b64(b)}),
        A::Ss(v) => json!({"SS": v}),
        A::Ns(v) => json!({"NS": v}),
        A::Bs(v) => json!({"BS": v.iter().map(b64).collect::<Vec<_>>()}),
        A::Bool(b) => json!({"BOOL": b}),
        A::Null(n) => json!({"NULL": n}),
        A::L(l) => json!({"L": l.iter().map(lambda_value).collect::<Vec<_>>()}),
        A::M(m) => json!({"M": lambda_image(m)}),
        other => panic!("unexpected attribute value {other:?}"),
    }
}

fn lambda_image(
    image: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> serde_json::Value {
    serde_json::Value::Object(image.iter().map(|(k, v)| (k.clone(), lambda_value(v))).collect())
}

/// A stream record as Lambda delivers it to a DynamoDB event source.
pub(super) fn lambda_record(
    record: &aws_sdk_dynamodbstreams::types::Record,
    arn: &str,
) -> serde_json::Value {
    let change = record.dynamodb().expect("a stream record");
    let empty = HashMap::new();
    serde_json::json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(aws_sdk_dynamodbstreams::types::OperationType::as_str).unwrap_or_default(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": arn,
        "dynamodb": {
            "ApproximateCreationDateTime": change.approximate_creation_date_time().map(aws_sdk_dynamodb::primitives::DateTime::secs).unwrap_or_default(),
            "Keys": lambda_image(change.keys().unwrap_or(&empty)),
            "NewImage": lambda_image(change.new_image().unwrap_or(&empty)),
            "SequenceNumber": change.sequence_number(),
            "SizeBytes": change.size_bytes().unwrap_or_default(),
            "StreamViewType": "NEW_IMAGE",
        },
    })
}
