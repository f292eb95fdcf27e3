//! The catalogue of job kinds: the files in `jobs/`, embedded at build time, merged with the
//! config's per-kind overrides, and written to `mcp.job_kinds` so SQL users (and the foreign key
//! on `mcp.sync_jobs.kind`) see exactly the kinds a daemon can run.
//! This module never runs a job; it only describes them.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use sqlx::PgPool;

use crate::schema::Schema;

/// The `jobs/*.toml` files this binary knows, as (file name, text).
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("noop.toml", include_str!("../../../jobs/noop.toml")),
    ("prune.toml", include_str!("../../../jobs/prune.toml")),
    (
        "health_check.toml",
        include_str!("../../../jobs/health_check.toml"),
    ),
    (
        "health_sweep.toml",
        include_str!("../../../jobs/health_sweep.toml"),
    ),
    (
        "token_refresh.toml",
        include_str!("../../../jobs/token_refresh.toml"),
    ),
    (
        "token_refresh_sweep.toml",
        include_str!("../../../jobs/token_refresh_sweep.toml"),
    ),
    (
        "webhook_process.toml",
        include_str!("../../../jobs/webhook_process.toml"),
    ),
    (
        "webhook_renew.toml",
        include_str!("../../../jobs/webhook_renew.toml"),
    ),
    (
        "webhook_renew_sweep.toml",
        include_str!("../../../jobs/webhook_renew_sweep.toml"),
    ),
    (
        "notify_deliver.toml",
        include_str!("../../../jobs/notify_deliver.toml"),
    ),
    (
        "webhook_subscribe.toml",
        include_str!("../../../jobs/webhook_subscribe.toml"),
    ),
    (
        "webhook_unsubscribe.toml",
        include_str!("../../../jobs/webhook_unsubscribe.toml"),
    ),
    ("sync.toml", include_str!("../../../jobs/sync.toml")),
    (
        "sync_sweep.toml",
        include_str!("../../../jobs/sync_sweep.toml"),
    ),
    (
        "reconcile.toml",
        include_str!("../../../jobs/reconcile.toml"),
    ),
    (
        "items_backfill.toml",
        include_str!("../../../jobs/items_backfill.toml"),
    ),
    (
        "reconcile_sweep.toml",
        include_str!("../../../jobs/reconcile_sweep.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("jobs/{file}: {message}")]
    File { file: String, message: String },
    #[error("cannot write the job catalogue to the database: {0}")]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindFile {
    kind: String,
    description: String,
    max_attempts: u16,
    #[serde(with = "humantime_serde")]
    timeout: Duration,
    #[serde(with = "humantime_serde")]
    backoff_base: Duration,
    #[serde(with = "humantime_serde")]
    backoff_max: Duration,
    default_schedule: Option<String>,
    /// Most jobs of this kind one daemon runs at once; none: only `worker.concurrency` bounds it.
    concurrency: Option<usize>,
    payload_schema: serde_json::Value,
}

/// `[kinds.<kind>]`: a deployment's changes to a kind's policy in `jobs/`.
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
    /// The kinds shipped in `jobs/`, with their file policies. Panics only if a file shipped in
    /// this binary is malformed, which the test suite rules out.
    pub fn builtin() -> &'static Catalog {
        static BUILTIN: OnceLock<Catalog> = OnceLock::new();
        BUILTIN.get_or_init(|| match Catalog::parse(BUILTIN_FILES) {
            Ok(c) => c,
            Err(e) => panic!("embedded job catalogue is invalid: {e}"),
        })
    }

    pub fn parse(files: &[(&str, &str)]) -> Result<Catalog, CatalogError> {
        let mut kinds = BTreeMap::new();
        for (file, text) in files {
            let err = |message: String| CatalogError::File {
                file: file.to_string(),
                message,
            };
            let f: KindFile = toml::from_str(text).map_err(|e| err(e.message().to_string()))?;
            if format!("{}.toml", f.kind) != *file {
                return Err(err(format!(
                    "kind `{}` must live in {}.toml",
                    f.kind, f.kind
                )));
            }
            if f.max_attempts == 0 {
                return Err(err("max_attempts must be at least 1".into()));
            }
            if f.concurrency == Some(0) {
                return Err(err("concurrency must be at least 1".into()));
            }
            if let Some(s) = &f.default_schedule {
                crate::cron_expr::parse_cron(s)
                    .map_err(|m| err(format!("default_schedule: {m}")))?;
            }
            let schema = Schema::compile(&f.payload_schema)
                .map_err(|m| err(format!("payload_schema: {m}")))?;
            kinds.insert(
                f.kind.clone(),
                KindSpec {
                    kind: f.kind,
                    description: f.description,
                    policy: RetryPolicy {
                        max_attempts: f.max_attempts,
                        timeout: f.timeout,
                        backoff_base: f.backoff_base,
                        backoff_max: f.backoff_max,
                    },
                    default_schedule: f.default_schedule,
                    concurrency: f.concurrency,
                    payload_schema: f.payload_schema,
                    schema,
                },
            );
        }
        Ok(Catalog { kinds })
    }

    /// The built-in catalogue with the config's `[kinds.*]` overrides applied.
    pub fn effective(overrides: &BTreeMap<String, KindOverride>) -> Catalog {
        let mut cat = Catalog::builtin().clone();
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

    /// Upserts every kind into `mcp.job_kinds`. Kinds no longer shipped are left in place so
    /// that old jobs keep their foreign key; a daemon simply does not claim them.
    pub async fn sync_to_db(&self, pool: &PgPool) -> Result<(), CatalogError> {
        let mut tx = pool.begin().await?;
        for k in self.kinds.values() {
            sqlx::query(
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
