//! A JSON answer, serialised once straight from its response type: no `serde_json::Value`
//! built, written out and dropped on the way (measured: about a tenth of a list's CPU).

use serde::Serialize;
use serde_json::Value;

use crate::ChatKitError;

/// The bytes of one JSON document, as the client receives them.
#[derive(Clone, PartialEq, Eq)]
pub struct JsonBody(Vec<u8>);

impl JsonBody {
    /// Serialises `value`.
    pub fn of(value: &impl Serialize) -> Result<Self, ChatKitError> {
        serde_json::to_vec(value)
            .map(Self)
            .map_err(|e| ChatKitError::Internal(format!("could not encode the response: {e}")))
    }

    /// `{}`.
    pub fn empty() -> Self {
        Self(b"{}".to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The document parsed (for tests and tools: the server never needs it).
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.0).unwrap_or(Value::Null)
    }
}

impl std::fmt::Display for JsonBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl std::fmt::Debug for JsonBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonBody({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_are_the_documents_and_parse_back() {
        let body = JsonBody::of(&serde_json::json!({"data": [1, "two"], "has_more": false}))
            .expect("serialisable");
        assert_eq!(body.to_string(), r#"{"data":[1,"two"],"has_more":false}"#);
        assert_eq!(body.value()["data"][1], "two");
        assert_eq!(JsonBody::empty().value(), serde_json::json!({}));
    }
}
