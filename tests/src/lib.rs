//! Shared test harness: the store contract suite and DynamoDB Local helpers.

pub mod contract;
pub mod dynamo;
pub mod faults;
pub mod scripted;
pub mod server;
