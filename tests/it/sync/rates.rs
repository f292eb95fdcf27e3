//! Rate limits: 429s in each platform's form snooze the job, one token bucket per integration
//! shared by every caller and daemon.

use super::*;

#[tokio::test]
async fn a_429_in_each_form_snoozes_without_spending_an_attempt_and_blocks_the_bucket() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let cfg = config(&db, &sb, FAST);
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let cases = [
        (Platform::Notion, FaultKind::RateLimitSeconds),
        (Platform::Zoom, FaultKind::RateLimitDate),
        (Platform::Discord, FaultKind::RateLimitSeconds),
    ];
    let mut ids = Vec::new();
    for (p, kind) in cases {
        let id = seed(&db, &sb, ws, p, "acme").await;
        set_settings(&db, id, settings_for(p)).await;
        ids.push((p, id));
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
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
    let id = seed(&db, &sb, ws, Platform::Notion, "acme").await;
    let limit = RateLimit {
        capacity: 3.0,
        per_sec: 10.0,
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
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
        granted as f64 >= 0.7 * most,
        "{granted} tokens, the bucket refills ({most:.1})"
    );
    db.drop_db().await;
}

/// Two workers syncing integrations of one platform stay under its buckets (per integration).
#[tokio::test]
async fn two_workers_stay_under_the_platforms_rate() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    // Outlook pages by 10: 60 items = 6 calls per integration (the last with the delta link).
    sb.set_items_per_account(60);
    let limit = RateLimit {
        capacity: 2.0,
        per_sec: 5.0,
    };
    let cfg = config(&db, &sb, limit);
    let ws = integrations::create_workspace(&db.pool, "acme")
        .await
        .expect("ws");
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
