//! `mcp-worker-lab bench --suite health`: a full health-check cycle of many integrations (spread over
//! the 13 platforms) against the sandbox on loopback, run by the real daemon as a child process.
//! Prints: the cycle's wall time (sweep enqueued → last check recorded), the daemon's own time per
//! check (job run time minus the platform call), state transitions through the SQL function
//! (median, p99), and the daemon's peak RSS. It prints numbers; it asserts nothing.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

use crate::bench::{http_get, machine, BenchArgs, BenchDaemon};
use mcp_daemon::vault::{Binding, Vault, ACCESS_TOKEN_FIELD, REFRESH_TOKEN_FIELD};
use mcp_platforms::connectors::{Credentials, Platform};

#[derive(Debug, Default, serde::Serialize)]
pub struct HealthReport {
    pub machine: String,
    pub integrations: i64,
    pub cycle_s: f64,
    pub checks_per_s: f64,
    pub daemon_cpu_ms_per_check: f64,
    pub job_time_ms_mean: f64,
    pub platform_call_ms_mean: f64,
    pub transition_median_ms: f64,
    pub transition_p99_ms: f64,
    pub daemon_peak_rss_mb: f64,
}

pub async fn measure(args: &BenchArgs, db_url: &str) -> anyhow::Result<HealthReport> {
    let n = args.integrations.max(1);
    let mut report = HealthReport {
        machine: machine(),
        integrations: n,
        ..HealthReport::default()
    };
    println!("machine: {}", report.machine);
    let Seeded {
        pool,
        sandbox,
        keys,
        ids,
        seed_s,
    } = setup(db_url, n, &Platform::ALL, None).await?;
    println!("seeded {n} integrations over 13 platforms in {seed_s:.1} s");

    // State transitions through the SQL function, one at a time, as a client sees them.
    let mut conn = PgConnection::connect(db_url).await?;
    let mut samples = Vec::new();
    for id in ids.iter().take(500) {
        for to in ["DEGRADED", "ACTIVE"] {
            let t = Instant::now();
            sqlx::query("SELECT mcp.transition_integration_state($1, $2, 'bench')")
                .bind(id)
                .bind(to)
                .execute(&mut conn)
                .await?;
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    report.transition_median_ms = samples[samples.len() / 2];
    report.transition_p99_ms = samples[samples.len() * 99 / 100];
    println!(
        "state transition via mcp.transition_integration_state (client round trip): median {:.3} ms, p99 {:.3} ms over {} calls",
        report.transition_median_ms,
        report.transition_p99_ms,
        samples.len()
    );

    let daemon = daemon_with(&keys, &mcp_sandbox::overrides_toml(&sandbox), args, db_url).await?;
    let (pid, port) = (daemon.pid, daemon.port);

    let cpu_before = cpu_seconds(pid).unwrap_or(f64::NAN);
    let start: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&mut conn)
        .await?;
    sqlx::query("SELECT mcp.enqueue_job('health_sweep', '{\"spread_s\": 0}')")
        .execute(&mut conn)
        .await?;
    wait_jobs_done(&mut conn, "health_check", n).await?;
    let cpu = cpu_seconds(pid).unwrap_or(f64::NAN) - cpu_before;
    let last: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(checked_at) FROM mcp.health_checks")
            .fetch_one(&mut conn)
            .await?;
    let (healthy, checks): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'healthy'), count(*) FROM mcp.health_checks",
    )
    .fetch_one(&mut conn)
    .await?;
    report.cycle_s = (last - start).num_microseconds().unwrap_or(0) as f64 / 1e6;
    report.checks_per_s = n as f64 / report.cycle_s.max(1e-6);
    // Let the metrics settle (the completer writes after the handler has returned).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, body) = http_get(&format!("127.0.0.1:{port}"), "/metrics").await?;
    let sum = |prefix: &str| -> f64 {
        body.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
            .sum()
    };
    let job_s = sum("mcp_job_duration_seconds_sum{kind=\"health_check\"}");
    let job_n = sum("mcp_job_duration_seconds_count{kind=\"health_check\"}");
    let call_s = sum("mcp_health_check_duration_seconds_sum");
    let call_n = sum("mcp_health_check_duration_seconds_count");
    report.daemon_cpu_ms_per_check = 1000.0 * cpu / n as f64;
    report.job_time_ms_mean = 1000.0 * job_s / job_n.max(1.0);
    report.platform_call_ms_mean = 1000.0 * call_s / call_n.max(1.0);
    println!(
        "health-check cycle: {n} integrations ({healthy} of {checks} checks healthy) in {:.2} s = {:.0} checks/s",
        report.cycle_s, report.checks_per_s
    );
    println!(
        "per check: daemon CPU {:.3} ms (user+system time of the daemon over the cycle / checks); \
         mean job run time {:.1} ms, of which the platform call {:.3} ms (the rest is waiting \
         for one of the pool's database connections with thousands of checks in flight)",
        report.daemon_cpu_ms_per_check, report.job_time_ms_mean, report.platform_call_ms_mean
    );
    report.daemon_peak_rss_mb = daemon.stop().await;
    pool.close().await;
    Ok(report)
}

/// User + system CPU time of a process, from /proc/<pid>/stat.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY-free: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / tick.max(1.0))
}

/// What a suite against the sandbox starts from: the migrated bench database, the sandbox on
/// loopback, a throwaway vault key, and the seeded integrations.
pub(crate) struct Seeded {
    pub pool: mcp_queue::pg::Db,
    pub sandbox: mcp_sandbox::Sandbox,
    pub keys: BenchKeys,
    pub ids: Vec<uuid::Uuid>,
    /// Seconds the seeding itself took.
    pub seed_s: f64,
}

/// Migrates the bench database, starts the sandbox, makes a vault key and seeds `n`
/// integrations over `platforms` (see `seed`).
pub(crate) async fn setup(
    db_url: &str,
    n: i64,
    platforms: &[Platform],
    expires_in: Option<Duration>,
) -> anyhow::Result<Seeded> {
    let pool = mcp_queue::pg::Db::connect(db_url).await?;
    mcp_daemon::db::migrate(&pool, mcp_handlers::builtin_catalog()).await?;
    let sandbox = mcp_sandbox::start("127.0.0.1:0").await?;
    let keys = bench_keys()?;
    let t = Instant::now();
    let ids = seed(&pool, &sandbox, &keys.vault, n, platforms, expires_in).await?;
    // Each with its account, as a connect records it: the health checks then measure the steady
    // state, not the one-time fill-in of accounts that integrations connected earlier get.
    sqlx::query(
        "UPDATE core.integrations SET external_account_id = 'bench-' || id::text \
         WHERE external_account_id IS NULL",
    )
    .execute(&pool)
    .await?;
    Ok(Seeded {
        pool,
        sandbox,
        keys,
        ids,
        seed_s: t.elapsed().as_secs_f64(),
    })
}

/// Discord integrations are bot installs: each gets the guild of its sandbox login (`seed`
/// mints with the integration's id as the login) as its account, and that guild's first text
/// channel (whose id follows the guild's) in its settings, one channel each.
pub(crate) async fn discord_channels(pool: &mcp_queue::pg::Db) -> anyhow::Result<()> {
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM core.integrations WHERE platform = 'discord'")
            .fetch_all(pool)
            .await?;
    let guilds: Vec<String> = ids
        .iter()
        .map(|id| mcp_sandbox::account_of(Platform::Discord, &id.to_string()))
        .collect();
    sqlx::query(
        "UPDATE core.integrations i SET external_account_id = g.guild, \
             settings = i.settings || jsonb_build_object('channels', \
                 jsonb_build_array(((g.guild)::numeric + 1)::text)) \
         FROM unnest($1::uuid[], $2::text[]) AS g(id, guild) WHERE i.id = g.id",
    )
    .bind(&ids)
    .bind(&guilds)
    .execute(pool)
    .await?;
    Ok(())
}

/// Seeds `n` ACTIVE integrations round-robin over `platforms`, with credentials minted by the
/// sandbox and sealed by `vault`, in a few bulk statements. With `expires_in`, the refresh
/// token is stored too and the access token expires that far from now.
pub(crate) async fn seed(
    pool: &mcp_queue::pg::Db,
    sandbox: &mcp_sandbox::Sandbox,
    vault: &Vault,
    n: i64,
    platforms: &[Platform],
    expires_in: Option<Duration>,
) -> anyhow::Result<Vec<uuid::Uuid>> {
    let ws = mcp_daemon::integrations::create_workspace(pool, "bench").await?;
    let names: Vec<&str> = platforms.iter().map(|p| p.as_str()).collect();
    let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "INSERT INTO core.integrations (workspace_id, platform) \
         SELECT $1, ($2::text[])[1 + (g % cardinality($2::text[]))] FROM generate_series(0, $3 - 1) g \
         RETURNING id, platform",
    )
    .bind(ws)
    .bind(&names)
    .bind(n)
    .fetch_all(pool)
    .await?;
    for to in ["CONNECTED", "ACTIVE"] {
        sqlx::query(
            "UPDATE core.integrations SET state = $1, state_reason = 'bench seed' WHERE workspace_id = $2",
        )
        .bind(to)
        .bind(ws)
        .execute(pool)
        .await?;
    }
    let mut ids = Vec::with_capacity(rows.len());
    let (mut kinds, mut cts, mut rcts, mut users) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut key_id = String::new();
    for (id, platform) in &rows {
        let p = Platform::parse(platform).context("seeded an unknown platform")?;
        let (creds, refresh) = sandbox.mint_credentials(p, &id.to_string());
        let (kind, secret, user) = match &creds {
            Credentials::Bearer(s) => ("bearer", s, None),
            Credentials::ApiKey(s) => ("api_key", s, None),
            Credentials::Basic { user, secret } => ("basic", secret, Some(user.clone())),
        };
        let record = id.to_string();
        let at = |field| Binding {
            record: &record,
            field,
        };
        let (k, ct) = vault.seal(secret.expose(), at(ACCESS_TOKEN_FIELD))?;
        let rct = match (&refresh, expires_in) {
            (Some(r), Some(_)) => Some(vault.seal(r.expose(), at(REFRESH_TOKEN_FIELD))?.1),
            _ => None,
        };
        key_id = k;
        ids.push(*id);
        kinds.push(kind);
        cts.push(ct);
        rcts.push(rct);
        users.push(user);
    }
    sqlx::query(
        "INSERT INTO mcp.oauth_tokens (integration_id, workspace_id, platform, token_type, \
             access_token_ct, refresh_token_ct, key_id, basic_user, expires_at) \
         SELECT t.id, i.workspace_id, i.platform, t.kind, t.ct, t.rct, $4, t.usr, \
                now() + $7 * interval '1 millisecond' \
         FROM unnest($1::uuid[], $2::text[], $3::bytea[], $5::text[], $6::bytea[]) \
              AS t(id, kind, ct, usr, rct) \
         JOIN core.integrations i ON i.id = t.id",
    )
    .bind(&ids)
    .bind(&kinds)
    .bind(&cts)
    .bind(&key_id)
    .bind(&users)
    .bind(&rcts)
    .bind(expires_in.map(|d| d.as_millis() as i64))
    .execute(pool)
    .await?;
    Ok(ids)
}

/// A throwaway vault key (file and loaded vault) for a bench run; the directory also holds
/// the daemon's config file.
pub(crate) struct BenchKeys {
    pub dir: tempfile::TempDir,
    pub key_file: std::path::PathBuf,
    pub vault: Vault,
}

/// A migrated bench database with the bench's keys, one workspace and one Slack integration in
/// it (their ids).
pub(crate) async fn bench_slack_integration(
    db_url: &str,
) -> anyhow::Result<(mcp_queue::pg::Db, BenchKeys, uuid::Uuid, uuid::Uuid)> {
    let pool = mcp_queue::pg::Db::connect(db_url).await?;
    mcp_daemon::db::migrate(&pool, mcp_handlers::builtin_catalog()).await?;
    let keys = bench_keys()?;
    let ws = mcp_daemon::integrations::create_workspace(&pool, "bench").await?;
    let integration: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO core.integrations (workspace_id, platform) VALUES ($1, 'slack') RETURNING id",
    )
    .bind(ws)
    .fetch_one(&pool)
    .await?;
    Ok((pool, keys, ws, integration))
}

pub(crate) fn bench_keys() -> anyhow::Result<BenchKeys> {
    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("bench.key");
    Vault::write_new_key_file(&key_file)?;
    let vault = Vault::from_config(&mcp_daemon::vault::VaultConfig {
        key_files: vec![key_file.clone()],
        ..Default::default()
    })?;
    Ok(BenchKeys {
        dir,
        key_file,
        vault,
    })
}

/// The daemon as a child process with the bench's vault key, the scheduler off, and `extra`
/// config (TOML) appended.
pub(crate) async fn daemon_with(
    keys: &BenchKeys,
    extra: &str,
    args: &BenchArgs,
    db_url: &str,
) -> anyhow::Result<BenchDaemon> {
    let cfg_file = keys.dir.path().join("bench.toml");
    std::fs::write(
        &cfg_file,
        format!(
            "[vault]\nkey_files = [{:?}]\n\n[scheduler]\nenabled = false\n\n{extra}",
            keys.key_file.display().to_string(),
        ),
    )?;
    BenchDaemon::start(
        db_url,
        &["--config".to_string(), cfg_file.display().to_string()],
        &[],
        &args.daemon_env,
    )
    .await
}

/// Waits until `n` jobs of `kind` have finished.
pub(crate) async fn wait_jobs_done(
    conn: &mut PgConnection,
    kind: &str,
    n: i64,
) -> anyhow::Result<()> {
    let sql = format!(
        "SELECT count(*) FROM mcp.sync_jobs WHERE kind = '{kind}' AND state IN ('completed', 'discarded')"
    );
    wait_count(conn, &sql, n, &format!("{kind} jobs done")).await
}

/// Waits until the count `sql` returns reaches `n` (at most 10 minutes).
pub(crate) async fn wait_count(
    conn: &mut PgConnection,
    sql: &str,
    n: i64,
    what: &str,
) -> anyhow::Result<()> {
    let waited = Instant::now();
    loop {
        let done: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await?;
        if done >= n {
            return Ok(());
        }
        if waited.elapsed() > Duration::from_secs(600) {
            bail!("only {done} of {n} {what} after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
