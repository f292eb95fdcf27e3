//! The fixture: integrations, tokens, webhooks and buckets in every state, production-sized
//! history beside them, the work in flight, analysed. Ids are fixed (see
//! [`super::integration`]), so probes can name the rows they need.

use mcp_daemon::integrations;

use crate::common::TestDb;

// Integrations, tokens, webhooks and buckets come first (in order: the state machine's
// trigger checks every move); the history tables are then filled side by side.

/// Integrations 0..1999 over every platform and the workspaces there are: g % 20 = 0 PENDING,
/// 1 EXPIRED, 2 ERROR, 3 DEGRADED, 4 REVOKED, the rest ACTIVE; a quarter never synced, a
/// quarter a day ago. Tokens for all but PENDING (a third without a refresh token, expiries
/// spread over 200 hours), a webhook for all but ZeroDB (Gmail and Outlook ones expiring
/// within 96 hours, a tenth failing, a third silent), a token bucket each, the cron rows.
const SEED_INTEGRATIONS: &str = "\
INSERT INTO mcp.vault_keys (key_id) VALUES ('test-key') ON CONFLICT DO NOTHING;
INSERT INTO core.integrations (id, workspace_id, platform, display_name, sync_cursor, last_synced_at)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
       w.ids[1 + g % cardinality(w.ids)],
       (ARRAY['gmail', 'outlook', 'slack', 'discord', 'zoom', 'fireflies', 'otter', 'loom',
              'monday', 'notion', 'granola', 'zerodb', 'zerovoice'])[1 + g % 13],
       'plans-' || g, 'cursor-' || g,
       CASE g % 4 WHEN 0 THEN NULL WHEN 1 THEN now() - interval '1 day'
                  ELSE now() - interval '1 minute' END
FROM generate_series(0, 1999) g, (SELECT array_agg(id ORDER BY id) AS ids FROM core.workspaces) w;
UPDATE core.integrations SET state = 'CONNECTED', state_reason = 'seeded'
WHERE substr(display_name, 7)::int % 20 <> 0;
UPDATE core.integrations SET state = 'ACTIVE', state_reason = 'seeded' WHERE state = 'CONNECTED';
UPDATE core.integrations i SET state = s.state, state_reason = 'seeded'
FROM (VALUES (1, 'EXPIRED'), (2, 'ERROR'), (3, 'DEGRADED'), (4, 'REVOKED')) s(r, state)
WHERE substr(i.display_name, 7)::int % 20 = s.r;
INSERT INTO mcp.oauth_tokens (integration_id, workspace_id, platform, token_type, access_token_ct,
                              refresh_token_ct, key_id, expires_at)
SELECT i.id, i.workspace_id, i.platform, 'bearer', '\\x0102'::bytea,
       CASE WHEN substr(i.display_name, 7)::int % 3 <> 0 THEN '\\x0304'::bytea END, 'test-key',
       now() + (substr(i.display_name, 7)::int % 200) * interval '1 hour'
FROM core.integrations i WHERE i.state <> 'PENDING';
INSERT INTO mcp.webhooks (id, integration_id, workspace_id, platform, status, expires_at,
                          last_event_at, created_at)
SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(g), 12, '0'))::uuid, i.id, i.workspace_id,
       i.platform, CASE WHEN g % 10 = 0 THEN 'failing' ELSE 'active' END,
       CASE WHEN i.platform IN ('gmail', 'outlook') THEN now() + (g % 96) * interval '1 hour' END,
       CASE WHEN g % 3 <> 0 THEN now() - (g % 48) * interval '1 hour' END,
       now() - interval '60 days'
FROM core.integrations i, LATERAL (SELECT substr(i.display_name, 7)::int AS g) n
WHERE i.platform <> 'zerodb';
INSERT INTO mcp.rate_limits (integration_id, bucket, workspace_id, platform, tokens, capacity,
                             refill_per_sec)
SELECT id, 'default', workspace_id, platform, 10, 10, 1 FROM core.integrations;
INSERT INTO mcp.cron_state (name, last_tick_at)
SELECT unnest(ARRAY['prune', 'health_sweep', 'sync_sweep', 'token_refresh_sweep',
                    'webhook_renew_sweep']), now() - interval '1 day';";

/// The history, one statement per table (run side by side). Integration of row g: g % 2000.
pub const SEED_HISTORY: [&str; 7] = [
    // 200,000 finished jobs, one every 20 s back to ~46 days ago: 80 % completed, 10 %
    // discarded, 10 % cancelled, over five kinds; the integrations' ones with their unique keys.
    "INSERT INTO mcp.sync_jobs (kind, state, integration_id, payload, unique_key, attempt,
                                max_attempts, created_at, run_at, attempted_at, finished_at,
                                last_error)
     SELECT k.kind,
            CASE WHEN g % 10 < 8 THEN 'completed' WHEN g % 10 = 8 THEN 'discarded'
                 ELSE 'cancelled' END,
            CASE WHEN k.kind <> 'noop' THEN k.iid END,
            CASE WHEN k.kind <> 'noop' THEN jsonb_build_object('integration_id', k.iid)
                 ELSE '{}'::jsonb END,
            CASE WHEN k.kind IN ('health_check', 'sync') THEN k.kind || ':' || k.iid END,
            1, 3, k.f - interval '2 seconds', k.f - interval '2 seconds',
            k.f - interval '1 second', k.f, CASE WHEN g % 10 = 8 THEN 'failed for good' END
     FROM generate_series(1, 200000) g,
          LATERAL (SELECT (ARRAY['health_check', 'sync', 'webhook_process', 'token_refresh',
                                 'noop'])[1 + g % 5] AS kind,
                          ('00000000-0000-4000-8000-' || lpad(to_hex(g % 2000), 12, '0'))::uuid AS iid,
                          now() - (200000 - g) * interval '20 seconds' AS f) k",
    // 200,000 webhook events over ~46 days, all processed but the last 300.
    "INSERT INTO mcp.webhook_events (webhook_id, integration_id, workspace_id, platform, dedup_key,
                                     event_type, payload, received_at, processed_at)
     SELECT w.id, w.integration_id, w.workspace_id, w.platform, 'ev-' || g, 'message', '{}'::jsonb,
            now() - (200000 - g) * interval '20 seconds',
            CASE WHEN g <= 199700 THEN now() - (200000 - g) * interval '20 seconds'
                                       + interval '1 second' END
     FROM generate_series(1, 200000) g,
          (SELECT array_agg(id ORDER BY id) AS ids FROM mcp.webhooks) h,
          LATERAL (SELECT * FROM mcp.webhooks x WHERE x.id = h.ids[1 + g % cardinality(h.ids)]) w",
    // 200,000 seen dedup keys over the same ~46 days (migration 0015).
    "INSERT INTO mcp.webhook_dedup (webhook_id, key_sha256, platform, first_seen)
     SELECT w.id, sha256(('ev-' || g)::bytea), w.platform,
            now() - (200000 - g) * interval '20 seconds'
     FROM generate_series(1, 200000) g,
          (SELECT array_agg(id ORDER BY id) AS ids FROM mcp.webhooks) h,
          LATERAL (SELECT * FROM mcp.webhooks x WHERE x.id = h.ids[1 + g % cardinality(h.ids)]) w",
    // 100,000 health checks over ~46 days.
    "INSERT INTO mcp.health_checks (integration_id, workspace_id, platform, checked_at, status,
                                    latency_ms)
     SELECT i.id, i.workspace_id, i.platform, now() - (100000 - g) * interval '40 seconds',
            CASE WHEN g % 17 = 0 THEN 'unhealthy' ELSE 'healthy' END, 40 + g % 100
     FROM generate_series(1, 100000) g
     JOIN core.integrations i
       ON i.id = ('00000000-0000-4000-8000-' || lpad(to_hex(g % 2000), 12, '0'))::uuid",
    // 50,000 integration errors over ~140 days.
    "INSERT INTO mcp.integration_errors (integration_id, workspace_id, platform, error_type,
                                         message, occurred_at)
     SELECT i.id, i.workspace_id, i.platform, 'timeout', 'no answer',
            now() - (50000 - g) * interval '4 minutes'
     FROM generate_series(1, 50000) g
     JOIN core.integrations i
       ON i.id = ('00000000-0000-4000-8000-' || lpad(to_hex(g % 2000), 12, '0'))::uuid",
    // 50,000 synced items (25 per integration: item-<g> of integration g % 2000), modelled:
    // a title, a text with one of 500 tags, one of 5,000 threads, a seventh waiting for content.
    "INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind,
                                   occurred_at, raw, title, text, thread, content_state,
                                   model_version)
     SELECT i.id, 'item-' || g, i.workspace_id, i.platform, 'message',
            now() - g * interval '1 minute', '{}'::jsonb, 'item ' || g,
            'a note about tag' || (g % 500) || ' and other words', 't' || (g % 5000),
            CASE WHEN g % 7 = 0 THEN 'pending' ELSE 'listed' END, 1
     FROM generate_series(1, 50000) g
     JOIN core.integrations i
       ON i.id = ('00000000-0000-4000-8000-' || lpad(to_hex(g % 2000), 12, '0'))::uuid",
    // 20,000 connect states, one every 2 minutes, each valid for 10.
    "INSERT INTO mcp.oauth_states (state_hash, integration_id, workspace_id, platform, redirect_uri,
                                   created_at, expires_at)
     SELECT sha256(('state-' || g)::bytea), i.id, i.workspace_id, i.platform,
            'https://app.example/cb', now() - (20000 - g) * interval '2 minutes',
            now() - (20000 - g) * interval '2 minutes' + interval '10 minutes'
     FROM generate_series(1, 20000) g
     JOIN core.integrations i
       ON i.id = ('00000000-0000-4000-8000-' || lpad(to_hex(g % 2000), 12, '0'))::uuid",
];

/// The work in flight: two jobs for each of integrations 0..299 (health_check + sync for even
/// ones, webhook_process + token_refresh for odd ones; the first two hold their unique keys),
/// a backlog of 2,000 noop jobs, 100 scheduled for later, 50 retryable now, and 1,100 running
/// under `plans-worker`: 1,000 with an expired lease, 100 with a lease of an hour.
const SEED_LIVE: &str = "\
INSERT INTO mcp.sync_jobs (kind, integration_id, payload, unique_key, run_at)
SELECT k.kind, k.iid,
       CASE WHEN k.kind = 'webhook_process' THEN jsonb_build_object('event_ids', jsonb_build_array(g))
            ELSE jsonb_build_object('integration_id', k.iid) END,
       CASE WHEN k.kind IN ('health_check', 'sync') THEN k.kind || ':' || k.iid END,
       now() - (g % 60) * interval '1 second'
FROM generate_series(0, 599) g,
     LATERAL (SELECT (ARRAY['health_check', 'sync', 'webhook_process', 'token_refresh'])[1 + g % 4]
                         AS kind,
                     ('00000000-0000-4000-8000-' || lpad(to_hex(g / 2), 12, '0'))::uuid AS iid) k;
INSERT INTO mcp.sync_jobs (kind, run_at) SELECT 'noop', now() - g * interval '1 ms'
FROM generate_series(1, 2000) g;
INSERT INTO mcp.sync_jobs (kind, state, run_at, attempt)
SELECT 'noop', CASE WHEN g % 3 = 0 THEN 'retryable' ELSE 'scheduled' END,
       CASE WHEN g % 3 = 0 THEN now() - interval '1 second' ELSE now() + g * interval '1 minute' END,
       CASE WHEN g % 3 = 0 THEN 1 ELSE 0 END
FROM generate_series(1, 150) g;
INSERT INTO mcp.sync_jobs (kind, state, run_at, attempt, max_attempts, attempted_at, locked_by,
                           lease_expires_at)
SELECT 'noop', 'running', now() - interval '1 minute', 1, 3, now() - interval '1 minute',
       'plans-worker',
       CASE WHEN g <= 1000 THEN now() - g * interval '1 ms' ELSE now() + interval '1 hour' END
FROM generate_series(1, 1100) g;";

/// A database with migrations and the fixture, analysed.
pub async fn seeded() -> TestDb {
    let db = TestDb::new().await;
    for n in 1..=8 {
        integrations::create_workspace(&db.pool, &format!("plans-{n}"))
            .await
            .expect("workspace");
    }
    sqlx::raw_sql(SEED_INTEGRATIONS)
        .execute(&db.pool)
        .await
        .expect("seed integrations");
    let history = SEED_HISTORY.iter().map(|sql| {
        let pool = db.pool.clone();
        async move {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    });
    futures::future::join_all(history).await;
    sqlx::raw_sql(SEED_LIVE)
        .execute(&db.pool)
        .await
        .expect("seed live jobs");
    // Statistics as in service; no autovacuum to change what the measured runs find.
    db.exec(
        "DO $$ DECLARE t text; BEGIN \
           FOR t IN SELECT c.oid::regclass::text FROM pg_class c \
                    JOIN pg_namespace n ON n.oid = c.relnamespace \
                    WHERE n.nspname IN ('mcp', 'core', 'ops') AND c.relkind = 'r' LOOP \
             EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = off)', t); \
           END LOOP; END $$",
    )
    .await;
    db.exec("VACUUM ANALYZE").await;
    db
}
