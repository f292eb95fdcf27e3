//! mcp-testkit: what the tests and the benchmarks share. A throwaway database per test on the
//! real PostgreSQL named by `DATABASE_URL` (`db`), the daemon binary as a child process — the
//! one launcher (`daemon`) — a minimal HTTP client for its endpoints (`http`), and per-area
//! fixtures: in-process workers (`worker`), integrations (`integrations`), webhooks
//! (`webhooks`). Never a dependency of the daemon's library.

pub mod cluster;
pub mod daemon;
pub mod db;
pub mod http;
pub mod integrations;
pub mod pooler;
pub mod webhooks;
pub mod worker;

pub use daemon::{Daemon, Launcher};
pub use db::{admin_url, TestDb};
pub use http::{free_port, http_get, parse_metrics};
