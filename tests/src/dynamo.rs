//! DynamoDB Local helpers for tests.
