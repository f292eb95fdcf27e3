//! `[mcp]`: the MCP server on the public listener (`POST /mcp`): which hosts and origins it
//! answers, how large a result may be, each token's rate, and the identity provider whose JWTs
//! it takes beside its own tokens. Read once at start.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[mcp]`.
#[derive(Clone, Deserialize, Serialize, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Serve `POST /mcp` on the public listener.
    pub enabled: bool,
    /// `Host` values (`name` or `name:port`) the server answers; others are refused (403).
    /// Empty: loopback (`localhost`, `127.0.0.1`, `::1`) and the host of
    /// `webhooks.public_base`.
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`https://app.example.com`, `http://localhost:*`) allowed to call; a
    /// request whose `Origin` is none of them is refused (403). Requests without `Origin`
    /// (every non-browser client) pass. Empty: the origin of `webhooks.public_base` only.
    pub allowed_origins: Vec<String>,
    /// The most characters a tool's result carries: fewer whole items and a cursor, never a
    /// cut item (a long text is read in pages by `get_item`).
    pub max_result_chars: usize,
    /// Calls each token (or JWT subject) may make per minute on average, and at once.
    pub calls_per_minute: u32,
    pub burst: u32,
    /// The canonical URL of the server (`https://mcp.example.com/mcp`): the audience JWTs must
    /// carry and the resource of the protected-resource metadata. Empty:
    /// `webhooks.public_base` + `/mcp`.
    pub resource_url: String,
    /// The identity provider whose JWTs are taken (its `iss`); empty: only `mcpt_` tokens.
    pub jwt_issuer: String,
    /// Its signing keys: a JWKS file (read at start; wins) or URL (fetched, cached, fetched
    /// again for an unknown key id at most once per `jwks_refetch_interval`).
    pub jwks_file: String,
    pub jwks_url: String,
    #[serde(with = "humantime_serde")]
    pub jwks_refetch_interval: Duration,
    /// The claim that names the caller's workspace (a UUID).
    pub jwt_workspace_claim: String,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            enabled: true,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_result_chars: 20_000,
            calls_per_minute: 600,
            burst: 60,
            resource_url: String::new(),
            jwt_issuer: String::new(),
            jwks_file: String::new(),
            jwks_url: String::new(),
            jwks_refetch_interval: Duration::from_secs(60),
            jwt_workspace_claim: "workspace_id".into(),
        }
    }
}

impl McpConfig {
    /// Each key's own check (`(key, what is wrong)`).
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((format!("mcp.{k}"), m.to_string()));
        if self.max_result_chars < 1_000 {
            return bad("max_result_chars", "must be at least 1000");
        }
        if self.calls_per_minute == 0 || self.burst == 0 {
            return bad(
                "calls_per_minute",
                "calls_per_minute and burst must be above 0",
            );
        }
        if !self.jwt_issuer.is_empty() && self.jwks_file.is_empty() && self.jwks_url.is_empty() {
            return bad("jwks_file", "jwt_issuer needs jwks_file or jwks_url");
        }
        if !self.jwt_issuer.is_empty() && self.jwt_workspace_claim.trim().is_empty() {
            return bad("jwt_workspace_claim", "must name a claim");
        }
        for o in &self.allowed_origins {
            if !(o.starts_with("http://") || o.starts_with("https://") || o == "null") {
                return bad(
                    "allowed_origins",
                    &format!("`{o}` is not an origin (scheme://host[:port])"),
                );
            }
        }
        Ok(())
    }

    /// The `Host` values answered (see `allowed_hosts`).
    pub fn hosts(&self, public_base: &str) -> Vec<String> {
        if !self.allowed_hosts.is_empty() {
            return self.allowed_hosts.clone();
        }
        let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        if let Some(h) = url::Url::parse(public_base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
        {
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        hosts
    }

    /// The origins allowed (see `allowed_origins`).
    pub fn origins(&self, public_base: &str) -> Vec<String> {
        if !self.allowed_origins.is_empty() {
            return self.allowed_origins.clone();
        }
        url::Url::parse(public_base)
            .ok()
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null")
            .into_iter()
            .collect()
    }

    /// The canonical URL of the server (see `resource_url`).
    pub fn resource(&self, public_base: &str) -> String {
        if !self.resource_url.is_empty() {
            return self.resource_url.clone();
        }
        format!("{}/mcp", public_base.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_origins_and_resource_follow_the_public_base_unless_set() {
        let c = McpConfig::default();
        let base = "https://hooks.example.com:8443/base";
        assert_eq!(
            c.hosts(base),
            vec!["localhost", "127.0.0.1", "::1", "hooks.example.com"]
        );
        assert_eq!(c.origins(base), vec!["https://hooks.example.com:8443"]);
        assert_eq!(c.resource(base), "https://hooks.example.com:8443/base/mcp");
        let set = McpConfig {
            allowed_hosts: vec!["mcp.example.com".into()],
            allowed_origins: vec!["https://app.example.com".into()],
            resource_url: "https://mcp.example.com/mcp".into(),
            ..McpConfig::default()
        };
        assert_eq!(set.hosts(base), vec!["mcp.example.com"]);
        assert_eq!(set.origins(base), vec!["https://app.example.com"]);
        assert_eq!(set.resource(base), "https://mcp.example.com/mcp");
    }

    #[test]
    fn checks_name_the_key() {
        let c = McpConfig {
            jwt_issuer: "https://idp.example.com/".into(),
            ..McpConfig::default()
        };
        assert_eq!(c.check().unwrap_err().0, "mcp.jwks_file");
        let c = McpConfig {
            allowed_origins: vec!["app.example.com".into()],
            ..McpConfig::default()
        };
        assert_eq!(c.check().unwrap_err().0, "mcp.allowed_origins");
    }
}
