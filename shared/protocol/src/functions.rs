//! Which Lambda function serves each request type: the one operation → function map. The
//! binaries refuse what is not theirs with it, the web kit routes by its generated copy
//! (`web/src/routes.ts`, checked by a test), and the template check and `docs/functions.md`
//! are checked against it.

use std::fmt;

use crate::requests::Operation;

/// A Lambda function that serves ChatKit requests (the table's stream consumer, `cleanup`,
/// serves none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// The streaming operations, plus those that need the model or the integrator's action
    /// handlers: the agent, its tools and the model key.
    Turns,
    /// JSON reads and writes of threads, items and attachments: no model access.
    Threads,
}

/// Every request type and the function that serves it, turns first, each in protocol order.
pub const OPERATION_FUNCTIONS: &[(&str, Function)] = &[
    ("threads.create", Function::Turns),
    ("threads.add_user_message", Function::Turns),
    ("threads.add_client_tool_output", Function::Turns),
    ("threads.retry_after_item", Function::Turns),
    ("threads.custom_action", Function::Turns),
    ("threads.add_structured_input", Function::Turns),
    ("turns.cancel", Function::Turns),
    ("threads.sync_custom_action", Function::Turns),
    ("input.transcribe", Function::Turns),
    ("threads.get_by_id", Function::Threads),
    ("threads.list", Function::Threads),
    ("threads.update", Function::Threads),
    ("threads.delete", Function::Threads),
    ("items.list", Function::Threads),
    ("items.feedback", Function::Threads),
    ("attachments.create", Function::Threads),
    ("attachments.delete", Function::Threads),
];

impl Function {
    /// Every function that serves requests.
    pub const ALL: [Function; 2] = [Function::Turns, Function::Threads];

    /// The function's name: its binary (`functions/<name>`), its key in `ChatKitRoutes`.
    pub fn name(self) -> &'static str {
        match self {
            Function::Turns => "turns",
            Function::Threads => "threads",
        }
    }

    /// The function that serves request `type`, if it is one.
    pub fn serving(request_type: &str) -> Option<Function> {
        OPERATION_FUNCTIONS.iter().find(|(t, _)| *t == request_type).map(|(_, f)| *f)
    }

    /// Whether any of its operations answers with an SSE stream (its Function URL then needs
    /// `InvokeMode: RESPONSE_STREAM`; otherwise `BUFFERED`).
    pub fn streams(self) -> bool {
        self.operations().any(|t| crate::requests::is_streaming_type(t) == Some(true))
    }

    /// The request types this function serves.
    pub fn operations(self) -> impl Iterator<Item = &'static str> {
        OPERATION_FUNCTIONS.iter().filter(move |(_, f)| *f == self).map(|(t, _)| *t)
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Operation {
    /// The function that serves this operation.
    pub fn function(&self) -> Function {
        Function::serving(self.type_name()).expect("OPERATION_FUNCTIONS names every operation")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::{EXTENSION_TYPES, REQUEST_TYPES};

    #[test]
    fn every_request_type_is_served_by_exactly_one_function() {
        let types: Vec<&str> = REQUEST_TYPES.iter().chain(EXTENSION_TYPES).copied().collect();
        for t in &types {
            let count = OPERATION_FUNCTIONS.iter().filter(|(name, _)| name == t).count();
            assert_eq!(count, 1, "`{t}` is in OPERATION_FUNCTIONS {count} times");
        }
        assert_eq!(OPERATION_FUNCTIONS.len(), types.len(), "the map names a type that is not one");
    }

    #[test]
    fn streaming_operations_are_served_by_turns() {
        for (name, function) in OPERATION_FUNCTIONS {
            if crate::requests::is_streaming_type(name) == Some(true) {
                assert_eq!(*function, Function::Turns, "{name} streams");
            }
        }
        assert_eq!(Function::serving("threads.list"), Some(Function::Threads));
        assert_eq!(Function::serving("threads.nope"), None);
        assert_eq!(
            Function::Threads.operations().count() + Function::Turns.operations().count(),
            17
        );
    }
}
