//! Subcommands that are more than a call into the library: each file owns its arguments and
//! what it prints.

pub mod enqueue;
pub mod keys;
pub mod mcp;
pub mod notify;
pub mod tokens;
pub mod webhooks;
