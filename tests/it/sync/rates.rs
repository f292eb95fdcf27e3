//! Rate limits: 429s in each platform's form snooze the job, one token bucket per integration
//! shared by every caller and daemon.

use super::*;

#[tokio::test]
async fn a_429_in_each_form_snoozes_without_spending_an_attempt_and_blocks_the_bucket() {
    let (db, sb, cfg, ws) = setup(None, FAST).await;
    let cases = [
        (Platform::Notion, FaultKind::RateLimitSeconds),
        (Platform::Zoom, FaultKind::RateLimitDate),
        (Platform::Discord, FaultKind::RateLimitSeconds),
    ];
    let ids = seed_all(&db, &sb, ws, cases.map(|(p, _)| p)).await;
    for (p, kind) in cases {
        sb.fault(p, kind, Some(1), Some(120));
    }
    let worker = start_configured_worker(&db, cfg).await;
    for (_, id) in &ids {
        sync_now(&db, *id).await;
    }
    db.wait_until(
        "SELECT count(*) = 3 FROM mcp.sync_jobs WHERE kind = 'sync' AND state = 'scheduled' \
         AND run_at > now() + interval '60 seconds'",
        Duration::from_secs(20),
    )
    .await;
    for (p, id) in &ids {
        let (attempt, wait_s): (i16, f64) = sqlx::query_as(
            "SELECT attempt, EXTRACT(EPOCH FROM run_at - now())::float8 FROM mcp.sync_jobs \
             WHERE kind = 'sync' AND payload->>'integration_id' = $1::text",
        )
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("job");
        assert_eq!(attempt, 0, "{p}: the attempt is not spent");
        assert!((100.0..=125.0).contains(&wait_s), "{p}: snoozed {wait_s} s");
        let blocked_s: f64 = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM blocked_until - now())::float8 FROM mcp.rate_limits \
             WHERE integration_id = $1",
        )
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("bucket");
        assert!(
            (100.0..=125.0).contains(&blocked_s),
            "{p}: bucket blocked {blocked_s} s"
        );
        assert_eq!(rows(&db, *id).await, 0, "{p}");
    }
    worker.shutdown().await;
    db.drop_db().await;
}

/// Two pools (as two daemons) hammer one bucket: grants never exceed capacity + rate × time.
#[tokio::test]
async fn the_token_bucket_is_shared_by_every_caller() {
    let (db, sb, _, ws) = setup(None, FAST).await;
    let id = seed(&db, &sb, ws, Platform::Notion, "acme").await;
    let limit = RateLimit {
        capacity: 3.0,
        per_sec: 10.0,
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let pool = mcp_queue::pg::Db::connect(&db.url).await.expect("pool");
        for _ in 0..4 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let mut granted = 0u32;
                while start.elapsed() < Duration::from_millis(1500) {
                    let wait = mcp_daemon::sync::try_take_token(&pool, id, limit)
                        .await
                        .expect("take");
                    if wait.is_zero() {
                        granted += 1;
                    } else {
                        assert!(wait <= Duration::from_millis(101), "wait {wait:?}");
                    }
                }
                granted
            }));
        }
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.expect("task");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let most = limit.capacity + limit.per_sec * elapsed;
    assert!(granted as f64 <= most + 1.0, "{granted} tokens > {most:.1}");
    assert!(
        granted as f64 > limit.capacity,
        "{granted}: the bucket refilled"
    );
    // Emptied, it refills: after the wait it names, a token is there (time only moves on, so
    // this holds however slow the machine).
    let pool = mcp_queue::pg::Db::connect(&db.url).await.expect("pool");
    let take = || mcp_daemon::sync::try_take_token(&pool, id, limit);
    let mut wait = take().await.expect("take");
    while wait.is_zero() {
        wait = take().await.expect("take");
    }
    let mut refused = 0;
    while !wait.is_zero() {
        refused += 1;
        assert!(
            refused <= 3,
            "no token after waiting what the bucket said, three times"
        );
        tokio::time::sleep(wait).await;
        wait = take().await.expect("take");
    }
    db.drop_db().await;
}

/// Two workers syncing integrations of one platform stay under its buckets (per integration).
#[tokio::test]
async fn two_workers_stay_under_the_platforms_rate() {
    let limit = RateLimit {
        capacity: 2.0,
        per_sec: 5.0,
    };
    // Outlook pages by 10: 60 items = 6 calls per integration (the last with the delta link).
    let (db, sb, cfg, ws) = setup(Some(60), limit).await;
    let a = seed(&db, &sb, ws, Platform::Outlook, "a").await;
    let b = seed(&db, &sb, ws, Platform::Outlook, "b").await;
    let w1 = start_configured_worker(&db, cfg.clone()).await;
    let w2 = start_configured_worker(&db, cfg).await;
    let start = Instant::now();
    let jobs = [sync_now(&db, a).await, sync_now(&db, b).await];
    let mut worst = 0.0f64;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let calls = sb.calls(Platform::Outlook) as f64;
        let allowed = 2.0 * (limit.capacity + limit.per_sec * start.elapsed().as_secs_f64());
        worst = worst.max(calls - allowed);
        let done = db
            .scalar_i64(&format!(
                "SELECT count(*) FROM mcp.sync_jobs WHERE id IN ({}, {}) AND state = 'completed'",
                jobs[0], jobs[1]
            ))
            .await;
        if done == 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "syncs not done");
    }
    assert!(worst <= 1.0, "calls ran ahead of the buckets by {worst}");
    assert_eq!(sb.calls(Platform::Outlook), 12);
    // 6 calls each with a burst of 2 at 5/s take at least (6 - 2) / 5 s.
    assert!(
        start.elapsed() >= Duration::from_millis(750),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(rows(&db, a).await + rows(&db, b).await, 120);
    w1.shutdown().await;
    w2.shutdown().await;
    db.drop_db().await;
}

/// Zoom's daily limit (a 429 with `X-RateLimit-Type: Daily-limit` and `Retry-After` as an
/// ISO-8601 time) and Fireflies' `too_many_requests` (its wait in the GraphQL error's
/// `extensions.metadata.retryAfter`, no header): the sync waits until the time the platform
/// names, not the default minute, and the integration's bucket stays closed until then.
#[tokio::test]
async fn quotas_wait_until_the_time_the_platform_names() {
    let (db, sb, cfg, ws) = setup(None, FAST).await;
    let zoom = seed(&db, &sb, ws, Platform::Zoom, "acme").await;
    let fireflies = seed(&db, &sb, ws, Platform::Fireflies, "acme").await;
    sb.fault(Platform::Zoom, FaultKind::Quota, Some(1), None);
    sb.fault(
        Platform::Fireflies,
        FaultKind::RateLimitSeconds,
        Some(1),
        Some(3 * 3600),
    );
    let worker = start_configured_worker(&db, cfg).await;
    sync_now(&db, zoom).await;
    sync_now(&db, fireflies).await;
    db.wait_until(
        "SELECT count(*) = 2 FROM mcp.sync_jobs WHERE kind = 'sync' AND state = 'scheduled'",
        Duration::from_secs(20),
    )
    .await;
    let wait = |id: Uuid| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, f64>(
                "SELECT EXTRACT(EPOCH FROM run_at - now())::float8 FROM mcp.sync_jobs \
                 WHERE kind = 'sync' AND payload->>'integration_id' = $1::text",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("job")
        }
    };
    // Zoom's quota resets at the next midnight UTC.
    let now = chrono::Utc::now();
    let midnight = (now.date_naive() + chrono::Duration::days(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let to_midnight = (midnight - now).num_seconds() as f64;
    let zoom_wait = wait(zoom).await;
    assert!(
        (zoom_wait - to_midnight).abs() < 30.0,
        "zoom snoozed {zoom_wait} s, midnight UTC is {to_midnight} s away"
    );
    let ff_wait = wait(fireflies).await;
    assert!(
        (3.0 * 3600.0 - 30.0..=3.0 * 3600.0).contains(&ff_wait),
        "fireflies snoozed {ff_wait} s"
    );
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT error_type FROM mcp.integration_errors WHERE integration_id = $1",
    )
    .bind(zoom)
    .fetch_all(&db.pool)
    .await
    .expect("errors");
    assert_eq!(kinds, ["quota_exceeded"]);
    worker.shutdown().await;
    db.drop_db().await;
}

/// A Slack app held to the non-Marketplace limits (`[platforms.slack] non_marketplace_app`):
/// the sync asks 15 messages a page and takes `conversations.history` calls from a bucket of
/// one a minute, so it snoozes for the next page instead of meeting Slack's 429.
#[tokio::test]
async fn a_non_marketplace_slack_app_reads_history_within_its_limits() {
    let (db, sb, mut cfg, ws) = setup(Some(40), FAST).await;
    sb.set_slack_non_marketplace(true);
    if let Some(o) = cfg.platforms.get_mut("slack") {
        o.non_marketplace_app = Some(true);
    }
    let id = seed(&db, &sb, ws, Platform::Slack, "acme").await;
    set_settings(
        &db,
        id,
        serde_json::json!({"channels": [sandbox::SLACK_CHANNEL]}),
    )
    .await;
    let worker = start_configured_worker(&db, cfg).await;
    let job = sync_now(&db, id).await;
    db.wait_until(
        &format!(
            "SELECT state = 'scheduled' AND run_at > now() + interval '30 seconds' \
             FROM mcp.sync_jobs WHERE id = {job}"
        ),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(rows(&db, id).await, 15, "one page of 15");
    assert_eq!(sb.slack_limited(), 0, "never refused by Slack");
    let errors = db
        .scalar_i64(&format!(
            "SELECT count(*) FROM mcp.integration_errors WHERE integration_id = '{id}'"
        ))
        .await;
    assert_eq!(errors, 0);
    worker.shutdown().await;
    db.drop_db().await;
}
