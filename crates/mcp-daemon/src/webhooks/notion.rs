//! Notion's subscription verification. Creating a webhook subscription makes Notion post one
//! unsigned request to the app-level URL whose body is `{"verification_token": "secret_…"}`
//! (https://developers.notion.com/reference/webhooks, "Verifying the subscription"); a person
//! pastes that token into Notion to activate the subscription, and Notion signs every later
//! delivery with it (`X-Notion-Signature`). This module recognises exactly that body, keeps the
//! first token sealed (`mcp.notion_verification`, migration 0013) until an operator resets it
//! (the URL is public: a stranger's later verification body must not replace the secret that
//! verifies Notion's deliveries), gives it to the operator
//! (CLI, bearer-protected HTTP) and to the intake as Notion's signing secret when
//! `[platforms.notion] signing_secret` is not configured (the configured secret wins).
//! It must never store anything else of the unsigned request, accept any other unsigned body,
//! or put the token into a log line, metric, error or answer of the intake.

use mcp_queue::pg::{self, Db};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::vault::{Binding, Vault};
use mcp_platforms::secret::Secret;

use super::WebhookError;

/// The vault field the token is bound to (record `RECORD`); key rotation relies on it.
pub const TOKEN_FIELD: &str = "notion_verification_token";
/// The binding record: the table's one row id.
pub const RECORD: &str = "1";
/// The longest token accepted (Notion's are about 50 characters).
pub const MAX_TOKEN_LEN: usize = 256;
/// The longest verification body looked at.
const MAX_BODY: usize = 1024;
/// How long the intake reuses the token it read (another daemon's newer one is seen after).
const CACHE_TTL: Duration = Duration::from_secs(5);

/// The token of a verification request: the body is a JSON object whose only key is
/// `verification_token`, a string of 1 to `MAX_TOKEN_LEN` visible ASCII characters. `None` for
/// anything else.
pub fn verification_token(body: &[u8]) -> Option<Secret> {
    if body.len() > MAX_BODY {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).ok()?;
    if map.len() != 1 {
        return None;
    }
    let token = map.get("verification_token")?.as_str()?;
    let sane = !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| b.is_ascii_graphic());
    sane.then(|| Secret::new(token))
}

/// Stores `token` sealed when none is stored; `false` (nothing written) when one is.
pub async fn store(pool: &Db, vault: &Vault, token: &Secret) -> Result<bool, WebhookError> {
    let (key_id, ct) = vault.seal(token.expose(), binding())?;
    let done = pg::query(
        "INSERT INTO mcp.notion_verification (id, token_ct, key_id, received_at) \
         VALUES (1, $1, $2, now()) ON CONFLICT (id) DO NOTHING",
    )
    .bind(ct)
    .bind(key_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets the stored token, so that the next verification request's is kept (a subscription
/// made again). Returns whether one was stored.
pub async fn reset(pool: &Db) -> Result<bool, WebhookError> {
    let done = pg::query("DELETE FROM mcp.notion_verification WHERE id = 1")
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The stored token and when it arrived; `None` before Notion has sent one.
pub async fn load(
    pool: &Db,
    vault: &Vault,
) -> Result<Option<(Secret, chrono::DateTime<chrono::Utc>)>, WebhookError> {
    let row: Option<(Vec<u8>, String, chrono::DateTime<chrono::Utc>)> = pg::query_as(
        "SELECT token_ct, key_id, received_at FROM mcp.notion_verification WHERE id = 1",
    )
    .fetch_optional(pool)
    .await?;
    match row {
        Some((ct, key_id, at)) => Ok(Some((vault.open(&key_id, &ct, binding())?, at))),
        None => Ok(None),
    }
}

fn binding() -> Binding<'static> {
    Binding {
        record: RECORD,
        field: TOKEN_FIELD,
    }
}

/// The intake's view of the stored token: read at most every `CACHE_TTL`, replaced at once
/// when this daemon stores a new one.
#[derive(Default)]
pub struct NotionToken(Mutex<Option<(Instant, Option<Secret>)>>);

impl NotionToken {
    /// The stored token (cached). A database or vault failure is logged and reads as none.
    pub async fn get(&self, pool: &Db, vault: &Vault) -> Option<Secret> {
        if let Ok(c) = self.0.lock() {
            if let Some((at, t)) = c.as_ref() {
                if at.elapsed() < CACHE_TTL {
                    return t.clone();
                }
            }
        }
        let token = match load(pool, vault).await {
            Ok(t) => t.map(|(t, _)| t),
            Err(e) => {
                tracing::error!(error = %e, "cannot read Notion's verification token");
                return None;
            }
        };
        self.set(token.clone());
        token
    }

    /// Stores a verification request's token and uses it from now on, when none is stored;
    /// logs what it did (never the token). `false` when a token was stored already.
    pub async fn received(
        &self,
        pool: &Db,
        vault: &Vault,
        token: Secret,
    ) -> Result<bool, WebhookError> {
        if !store(pool, vault, &token).await? {
            tracing::warn!(
                "a Notion verification request came while a token is stored: kept the stored \
                 one; if the subscription was made again, run \
                 `mcp-worker webhooks notion-token --reset` and resend the token from Notion"
            );
            return Ok(false);
        }
        self.set(Some(token));
        tracing::info!(
            "Notion subscription verification token received and stored; read it with \
             `mcp-worker webhooks notion-token` and paste it into Notion"
        );
        Ok(true)
    }

    fn set(&self, token: Option<Secret>) {
        if let Ok(mut c) = self.0.lock() {
            *c = Some((Instant::now(), token));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_shape() {
        // The documented verification request body
        // (https://developers.notion.com/reference/webhooks, "Verifying the subscription").
        let documented =
            br#"{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}"#;
        let t = verification_token(documented).expect("documented body");
        assert_eq!(
            t.expose(),
            "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"
        );
        for other in [
            &br#"{"verification_token":"secret_x","type":"page.created"}"#[..],
            br#"{"verification_token":""}"#,
            br#"{"verification_token":"has space"}"#,
            br#"{"verification_token":12}"#,
            br#"{"token":"secret_x"}"#,
            br#"["secret_x"]"#,
            br#"{"id":"evt-1","type":"page.created","workspace_id":"ws-1"}"#,
            b"not json",
        ] {
            assert!(
                verification_token(other).is_none(),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
        let long = format!(
            r#"{{"verification_token":"{}"}}"#,
            "a".repeat(MAX_TOKEN_LEN + 1)
        );
        assert!(verification_token(long.as_bytes()).is_none());
    }
}
