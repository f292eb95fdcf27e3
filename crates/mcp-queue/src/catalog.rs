//! The catalogue of job kinds: each kind's spec, made from its type (`Kind`), merged with the
//! config's per-kind overrides (`[kinds.<kind>]`), and written to `mcp.job_kinds` so SQL users
//! (and the enqueue check of migration 0025) see exactly the kinds a daemon can run.
//! This module never runs a job; it only describes them.

use crate::pg::{self, Db};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::schema::Schema;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("job kind {kind}: {message}")]
    Kind { kind: String, message: String },
    #[error("cannot write the job catalogue to the database: {0}")]
    Db(#[from] sqlx::Error),
}

/// `[kinds.<kind>]`: a deployment's changes to a kind's policy.
#[derive(Clone, serde::Deserialize, serde::Serialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct KindOverride {
    pub max_attempts: Option<u16>,
    #[serde(default, with = "humantime_serde::option")]
    pub timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde::option")]
    pub backoff_base: Option<Duration>,
    #[serde(default, with = "humantime_serde::option")]
    pub backoff_max: Option<Duration>,
    /// Most jobs of this kind this daemon runs at once (at least 1).
    pub concurrency: Option<usize>,
}

/// Retry policy of a kind: attempts, per-attempt timeout, exponential backoff bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u16,
    pub timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// A policy in whole seconds: attempts, per-attempt timeout, backoff base and maximum.
    pub const fn secs(
        max_attempts: u16,
        timeout: u64,
        backoff_base: u64,
        backoff_max: u64,
    ) -> Self {
        RetryPolicy {
            max_attempts,
            timeout: Duration::from_secs(timeout),
            backoff_base: Duration::from_secs(backoff_base),
            backoff_max: Duration::from_secs(backoff_max),
        }
    }
}

#[derive(Debug, Clone)]
pub struct KindSpec {
    pub kind: String,
    pub description: String,
    pub policy: RetryPolicy,
    pub default_schedule: Option<String>,
    /// Most jobs of this kind one daemon runs at once (`[kinds.<kind>] concurrency`); `None`:
    /// only `worker.concurrency` bounds it.
    pub concurrency: Option<usize>,
    pub payload_schema: serde_json::Value,
    pub schema: Schema,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    kinds: BTreeMap<String, KindSpec>,
}

impl Catalog {
    /// The catalogue of `specs`, each checked: attempts and concurrency at least 1, a default
    /// schedule that parses, a payload schema within what `schema` checks.
    pub fn new(specs: impl IntoIterator<Item = KindSpec>) -> Result<Catalog, CatalogError> {
        let mut kinds = BTreeMap::new();
        for mut spec in specs {
            let err = |message: String| CatalogError::Kind {
                kind: spec.kind.clone(),
                message,
            };
            if spec.policy.max_attempts == 0 {
                return Err(err("max_attempts must be at least 1".into()));
            }
            if spec.concurrency == Some(0) {
                return Err(err("concurrency must be at least 1".into()));
            }
            if let Some(s) = &spec.default_schedule {
                crate::cron_expr::parse_cron(s)
                    .map_err(|m| err(format!("default_schedule: {m}")))?;
            }
            spec.schema = Schema::compile(&spec.payload_schema)
                .map_err(|m| err(format!("payload schema: {m}")))?;
            if kinds.contains_key(&spec.kind) {
                return Err(err("declared twice".into()));
            }
            kinds.insert(spec.kind.clone(), spec);
        }
        Ok(Catalog { kinds })
    }

    /// This catalogue with the config's `[kinds.*]` overrides applied (names checked by
    /// `config::check_kinds`).
    pub fn with_overrides(&self, overrides: &BTreeMap<String, KindOverride>) -> Catalog {
        let mut cat = self.clone();
        for (name, o) in overrides {
            if let Some(spec) = cat.kinds.get_mut(name) {
                let p = &mut spec.policy;
                p.max_attempts = o.max_attempts.unwrap_or(p.max_attempts);
                p.timeout = o.timeout.unwrap_or(p.timeout);
                p.backoff_base = o.backoff_base.unwrap_or(p.backoff_base);
                p.backoff_max = o.backoff_max.unwrap_or(p.backoff_max);
                if let Some(c) = o.concurrency {
                    spec.concurrency = Some(c);
                }
            }
        }
        cat
    }

    pub fn get(&self, kind: &str) -> Option<&KindSpec> {
        self.kinds.get(kind)
    }

    pub fn iter(&self) -> impl Iterator<Item = &KindSpec> {
        self.kinds.values()
    }

    pub fn names(&self) -> Vec<String> {
        self.kinds.keys().cloned().collect()
    }

    /// Upserts every kind into `mcp.job_kinds`. Kinds no longer shipped are left in place, for
    /// the jobs that name them; a daemon simply does not claim them.
    pub async fn sync_to_db(&self, pool: &Db) -> Result<(), CatalogError> {
        let mut tx = pool.begin().await?;
        for k in self.kinds.values() {
            pg::query(
                "INSERT INTO mcp.job_kinds AS k (kind, description, payload_schema, max_attempts, \
                   timeout_ms, backoff_base_ms, backoff_max_ms, default_schedule, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) \
                 ON CONFLICT (kind) DO UPDATE SET description = EXCLUDED.description, \
                   payload_schema = EXCLUDED.payload_schema, max_attempts = EXCLUDED.max_attempts, \
                   timeout_ms = EXCLUDED.timeout_ms, backoff_base_ms = EXCLUDED.backoff_base_ms, \
                   backoff_max_ms = EXCLUDED.backoff_max_ms, \
                   default_schedule = EXCLUDED.default_schedule, updated_at = now() \
                 WHERE (k.description, k.payload_schema, k.max_attempts, k.timeout_ms, \
                        k.backoff_base_ms, k.backoff_max_ms, k.default_schedule) \
                   IS DISTINCT FROM (EXCLUDED.description, EXCLUDED.payload_schema, \
                        EXCLUDED.max_attempts, EXCLUDED.timeout_ms, EXCLUDED.backoff_base_ms, \
                        EXCLUDED.backoff_max_ms, EXCLUDED.default_schedule)",
            )
            .bind(&k.kind)
            .bind(&k.description)
            .bind(&k.payload_schema)
            .bind(k.policy.max_attempts as i16)
            .bind(millis_i32(k.policy.timeout))
            .bind(millis_i32(k.policy.backoff_base))
            .bind(millis_i32(k.policy.backoff_max))
            .bind(&k.default_schedule)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn millis_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
