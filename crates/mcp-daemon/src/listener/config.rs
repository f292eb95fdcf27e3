//! `[http]`: the two listeners (the public one for the platforms' webhooks, the probes and
//! `/metrics`; the management one for the gateway and operators), their limits and the
//! gateway's token; and the check that the process may open as many files as they allow.
//! Never prints the token: `Secret` redacts it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use mcp_platforms::secret::Secret;

/// Files kept aside beyond the listeners and the database pool: the readiness probe's
/// connection, the platforms' HTTP clients, key files, the runtime's own descriptors.
pub const FILE_MARGIN: u64 = 256;

#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The public listener: `POST /webhooks/*`, `/healthz`, `/readyz`, `/metrics`.
    /// `run --listen` overrides it.
    pub listen: String,
    /// The management listener: `/integrations/*`, `/notifications/*`,
    /// `/notion/verification-token`. Loopback by default; `run --admin-listen` overrides it.
    pub admin_listen: String,
    /// The gateway's bearer token: it may act for every workspace. Empty: only workspace
    /// tokens (`mcp-worker tokens create`) are accepted.
    pub api_token: Secret,
    /// A connection must send a request's headers within this (and an idle keep-alive
    /// connection is closed after it); closed without an answer otherwise.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// A whole request, body and handler included, must be done within this; 408 otherwise.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Open connections on the public listener; more are answered 503 and closed at once.
    pub max_connections: usize,
    /// Open connections on the management listener; likewise.
    pub admin_max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:9464".into(),
            admin_listen: "127.0.0.1:9465".into(),
            api_token: Secret::default(),
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 512,
            admin_max_connections: 64,
        }
    }
}

/// What one listener is held to.
#[derive(Clone, Debug)]
pub struct Limits {
    /// `public` or `admin`: the `listener` label of its metrics.
    pub name: &'static str,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
}

impl HttpConfig {
    pub fn public(&self) -> Limits {
        Limits {
            name: "public",
            max_connections: self.max_connections,
            header_timeout: self.header_timeout,
            request_timeout: self.request_timeout,
        }
    }

    pub fn admin(&self) -> Limits {
        Limits {
            name: "admin",
            max_connections: self.admin_max_connections,
            header_timeout: self.header_timeout,
            request_timeout: self.request_timeout,
        }
    }

    /// Checks the section; an error names the key at fault. Run again after `--listen` or
    /// `--admin-listen` changed an address.
    pub fn check(&self) -> Result<(), (String, String)> {
        let invalid = |key: &str, message: String| Err((key.to_string(), message));
        let listen = match self.listen.parse::<std::net::SocketAddr>() {
            Ok(a) => a,
            Err(e) => return invalid("http.listen", e.to_string()),
        };
        let admin = match self.admin_listen.parse::<std::net::SocketAddr>() {
            Ok(a) => a,
            Err(e) => return invalid("http.admin_listen", e.to_string()),
        };
        if listen == admin && listen.port() != 0 {
            return invalid(
                "http.admin_listen",
                format!(
                    "must differ from http.listen ({listen}): the management API is not served \
                     beside the public webhook intake"
                ),
            );
        }
        for (key, d) in [
            ("http.header_timeout", self.header_timeout),
            ("http.request_timeout", self.request_timeout),
        ] {
            if d.is_zero() {
                return invalid(key, "must be longer than zero".into());
            }
        }
        for (key, n) in [
            ("http.max_connections", self.max_connections),
            ("http.admin_max_connections", self.admin_max_connections),
        ] {
            if n == 0 {
                return invalid(key, "must be at least 1".into());
            }
            if n > 1_000_000 {
                return invalid(key, "must be at most 1000000".into());
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "the process may open {limit} files (RLIMIT_NOFILE), fewer than the {needed} that \
     http.max_connections ({public}) + http.admin_max_connections ({admin}) + \
     database.max_connections ({pool}) + {FILE_MARGIN} for everything else need: lower them, \
     or raise the limit (LimitNOFILE= in the systemd unit, ulimit -n)"
)]
pub struct FileLimitError {
    pub limit: u64,
    pub needed: u64,
    pub public: usize,
    pub admin: usize,
    pub pool: u32,
}

/// Makes sure the process may open the files its listeners and pool may hold: raises the soft
/// RLIMIT_NOFILE towards the hard limit when it is lower (as Go's runtime does), and refuses
/// when even the hard limit is too low. Returns the soft limit in force.
pub fn ensure_file_limit(http: &HttpConfig, pool: u32) -> Result<u64, FileLimitError> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let needed = http.max_connections as u64
        + http.admin_max_connections as u64
        + u64::from(pool)
        + FILE_MARGIN;
    let refuse = |limit| FileLimitError {
        limit,
        needed,
        public: http.max_connections,
        admin: http.admin_max_connections,
        pool,
    };
    let mut rlimit = getrlimit(Resource::Nofile);
    // None is unlimited.
    let soft = rlimit.current.unwrap_or(u64::MAX);
    if soft >= needed {
        return Ok(soft);
    }
    let hard = rlimit.maximum.unwrap_or(u64::MAX);
    if hard < needed {
        return Err(refuse(hard));
    }
    rlimit.current = Some(hard.min(needed.max(65_536)));
    match setrlimit(Resource::Nofile, rlimit) {
        Ok(()) => Ok(rlimit.current.unwrap_or(needed)),
        Err(_) => Err(refuse(soft)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_management_listener_must_not_be_the_public_one() {
        let mut c = HttpConfig {
            admin_listen: "127.0.0.1:9464".into(),
            ..HttpConfig::default()
        };
        let (key, message) = c.check().expect_err("same address");
        assert_eq!(key, "http.admin_listen");
        assert!(message.contains("must differ"), "{message}");
        c.admin_listen = "127.0.0.1:9465".into();
        assert!(c.check().is_ok());
        // Port 0 picks two different ports.
        c.listen = "127.0.0.1:0".into();
        c.admin_listen = "127.0.0.1:0".into();
        assert!(c.check().is_ok());
    }

    #[test]
    fn limits_must_be_positive() {
        for edit in [
            |c: &mut HttpConfig| c.header_timeout = Duration::ZERO,
            |c: &mut HttpConfig| c.request_timeout = Duration::ZERO,
            |c: &mut HttpConfig| c.max_connections = 0,
            |c: &mut HttpConfig| c.admin_max_connections = 0,
        ] {
            let mut c = HttpConfig::default();
            edit(&mut c);
            let (key, _) = c.check().expect_err("refused");
            assert!(key.starts_with("http."), "{key}");
        }
    }

    #[test]
    fn a_file_limit_below_the_listeners_and_pool_names_their_keys() {
        let http = HttpConfig {
            max_connections: usize::MAX / 4,
            ..HttpConfig::default()
        };
        let e = ensure_file_limit(&http, 10).expect_err("no process may open that many");
        let text = e.to_string();
        for key in [
            "http.max_connections",
            "http.admin_max_connections",
            "database.max_connections",
        ] {
            assert!(text.contains(key), "{text}");
        }
        assert!(ensure_file_limit(&HttpConfig::default(), 10).is_ok());
    }
}
