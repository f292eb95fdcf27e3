//! The demo's fixed values in the sandbox world (`mcp-worker-lab demo`, `mcp-worker-lab run`): ids and
//! secrets that docs' examples and the tests can name. Sandbox values, never real credentials.

/// The demo workspace's fixed id.
pub const DEMO_WORKSPACE: uuid::Uuid = uuid::Uuid::from_u128(0xde70);
/// The demo Slack webhook's fixed id and signing secret (a sandbox value, documented in the
/// docs/WEBHOOKS.md so that its curl example runs as written against the demo).
pub const DEMO_SLACK_WEBHOOK: uuid::Uuid = uuid::Uuid::from_u128(0xde71);
pub const DEMO_SLACK_SECRET: &str = "demo-slack-signing-secret";
/// The demo's bearer token for the `/integrations/*` endpoints (a sandbox value).
pub const DEMO_API_TOKEN: &str = "demo-api-token";
