//! Listings: every platform pages to the end, reads only what is new on the next sync, resumes
//! from its checkpoints.

use super::*;

#[tokio::test]
async fn every_platform_pages_to_the_end_and_counts_each_item_once() {
    // 250 items: several pages on every platform (Outlook pages by 10, Fireflies by 50).
    let (db, sb, cfg, ws) = setup(Some(250), FAST).await;
    let ids = seed_all(&db, &sb, ws, Platform::ALL).await;
    let worker = start_configured_worker(&db, cfg).await;
    sync_all(&db, &ids).await;
    for (p, id) in &ids {
        assert_eq!(rows(&db, *id).await, 250, "{p}");
        let synced: bool = sqlx::query_scalar(
            "SELECT last_synced_at IS NOT NULL FROM core.integrations WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("synced");
        assert!(synced, "{p}: last_synced_at recorded");
    }
    let pages: i64 = db
        .scalar_i64("SELECT count(*) FROM mcp.synced_items WHERE raw IS NULL OR external_id = ''")
        .await;
    assert_eq!(pages, 0, "every row has an id and its raw record");
    // A second run rewrites nothing new: same rows, first_seen_at untouched.
    let before: Vec<(String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT external_id, first_seen_at FROM mcp.synced_items ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .expect("before");
    sync_all(&db, &ids).await;
    let after: Vec<(String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT external_id, first_seen_at FROM mcp.synced_items ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .expect("after");
    assert_eq!(before, after);
    worker.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_too_old_gmail_cursor_starts_a_full_resync() {
    let (db, sb, cfg, ws) = setup(Some(120), FAST).await;
    let id = seed(&db, &sb, ws, Platform::Gmail, "acme").await;
    // History ids below the sandbox's oldest answer 404, as Gmail does for an old id.
    sqlx::query("UPDATE core.integrations SET sync_cursor = '100' WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .expect("old cursor");
    let worker = start_configured_worker(&db, cfg).await;
    sync_once(&db, id).await;
    assert_eq!(rows(&db, id).await, 120, "the full listing");
    let cursor = cursor_of(&db, id).await;
    assert_eq!(
        cursor.as_deref(),
        Some("10000"),
        "the history id to continue from"
    );
    // Incremental from there: nothing new, nothing doubled.
    sync_once(&db, id).await;
    assert_eq!(rows(&db, id).await, 120);
    worker.shutdown().await;
    db.drop_db().await;
}

/// Each connector's listing, page by page to the end: every item once, the cursor moving on.
#[tokio::test]
async fn each_connector_lists_every_item_once() {
    let (sb, connectors) = sandbox_connectors(230).await;
    for p in Platform::ALL {
        let (creds, _) = sb.mint_credentials(p, "acme");
        let c = connectors.get(p);
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for n in 0.. {
            assert!(n < 100, "{p}: no end after 100 pages (cursor {cursor:?})");
            let page = list_page(&*c, &creds, cursor.as_deref(), &settings_for(p), p).await;
            for it in &page.items {
                assert!(
                    seen.insert(it.external_id.clone()),
                    "{p}: {} twice",
                    it.external_id
                );
            }
            if page.done {
                break;
            }
            assert_ne!(page.next_cursor, cursor, "{p}: the cursor moves on");
            cursor = page.next_cursor;
        }
        assert_eq!(seen.len(), 230, "{p}");
    }
}

/// A first sync lists everything; after new items appear, the next sync reads only from the
/// watermark: the new items (plus, where the platform's filter is inclusive or by day, the
/// items at the watermark itself), each stored once.
#[tokio::test]
async fn each_incremental_platform_reads_only_new_items_on_the_next_sync() {
    const N: u64 = 150;
    const K: u64 = 5;
    let (db, sb, cfg, ws) = setup(Some(N), FAST).await;
    let ids = seed_all(&db, &sb, ws, INCREMENTAL).await;
    let worker = start_configured_worker(&db, cfg).await;
    sync_all(&db, &ids).await;
    let mut before = Vec::new();
    for (p, id) in &ids {
        assert_eq!(rows(&db, *id).await, N as i64, "{p}: first sync");
        let c = cursor_of(&db, *id).await;
        assert!(c.is_some(), "{p}: a finished listing keeps its watermark");
        assert_eq!(
            sb.served(*p),
            N,
            "{p}: the first sync reads everything once"
        );
        before.push((sb.served(*p), sb.calls(*p), sb.content_calls(*p)));
    }

    sb.set_items_per_account(N + K);
    sync_all(&db, &ids).await;
    for ((p, id), (served0, calls0, content0)) in ids.iter().zip(before) {
        assert_eq!(rows(&db, *id).await, (N + K) as i64, "{p}: every item once");
        let served = sb.served(*p) - served0;
        // Listing calls: the content calls of the new items are the content step's.
        let calls = (sb.calls(*p) - calls0) - (sb.content_calls(*p) - content0);
        let want = match p {
            // `oldest` and `after` are exclusive.
            Platform::Slack | Platform::Discord => K,
            // From the day of the newest recording: that day's earlier recordings again.
            Platform::Zoom => {
                N + K
                    - sandbox::ZOOM_RECORDINGS_PER_DAY
                        * ((N - 1) / sandbox::ZOOM_RECORDINGS_PER_DAY)
            }
            // Notion has no filter: one page, cut at the watermark (checked by calls below).
            Platform::Notion => served,
            // Inclusive (a time, or a day with one recording a day): the watermark item again.
            _ => K + 1,
        };
        assert_eq!(served, want, "{p}: items read on the second sync");
        // Notion (pages of 100) and everyone else: one list call now, where the first sync
        // needed several; Slack also lists its channels, Discord reads its guild's channels,
        // Zoom walks its date windows.
        let most = match p {
            Platform::Slack | Platform::Discord => 2,
            Platform::Zoom => 4,
            _ => 1,
        };
        assert!(calls <= most, "{p}: {calls} calls on the second sync");
    }
    let distinct = db
        .scalar_i64(
            "SELECT count(*) - count(DISTINCT (integration_id, external_id)) FROM mcp.synced_items",
        )
        .await;
    assert_eq!(distinct, 0);
    worker.shutdown().await;
    db.drop_db().await;
}

/// Slack with two channels in its settings reads both, each from its own watermark.
#[tokio::test]
async fn slack_reads_each_configured_channel_from_its_own_watermark() {
    const N: u64 = 120;
    let (db, sb, cfg, ws) = setup(Some(N), FAST).await;
    let id = seed(&db, &sb, ws, Platform::Slack, "acme").await;
    set_settings(&db, id, serde_json::json!({"channels": ["C123", "C456"]})).await;
    let worker = start_configured_worker(&db, cfg).await;
    sync_once(&db, id).await;
    assert_eq!(rows(&db, id).await, 2 * N as i64, "both channels");
    // Two pages per channel; no conversations.list with channels configured; one `auth.test`
    // for the workspace's address (its messages' links), once.
    assert_eq!(sb.calls(Platform::Slack), 5);
    let per_channel = db
        .scalar_i64(&format!(
            "SELECT count(DISTINCT split_part(external_id, ':', 1)) FROM mcp.synced_items \
             WHERE integration_id = '{id}'"
        ))
        .await;
    assert_eq!(per_channel, 2);
    let cursor: serde_json::Value =
        serde_json::from_str(&cursor_of(&db, id).await.expect("cursor")).expect("json cursor");
    assert!(
        cursor.pointer("/marks/C123").is_some() && cursor.pointer("/marks/C456").is_some(),
        "{cursor}"
    );
    sb.set_items_per_account(N + 3);
    sync_once(&db, id).await;
    assert_eq!(rows(&db, id).await, 2 * (N + 3) as i64);
    assert_eq!(
        sb.served(Platform::Slack),
        2 * N + 6,
        "only the new messages"
    );
    assert_eq!(
        sb.calls(Platform::Slack),
        7,
        "one list call per channel; the address is known"
    );
    worker.shutdown().await;
    db.drop_db().await;
}

/// Discord as a bot install: without channels in its settings, the sync reads every text
/// channel of the integration's guild (not its voice channel) as the app's bot; a configured
/// channel of another guild (where the bot also is) is refused before any message is read,
/// and the job fails without retries.
#[tokio::test]
async fn discord_reads_only_its_own_guilds_text_channels_as_the_bot() {
    let (db, sb, cfg, ws) = setup(Some(30), FAST).await;
    let id = seed(&db, &sb, ws, Platform::Discord, "acme").await;
    let other_guild = sb.install_discord_bot("globex");
    let worker = start_configured_worker(&db, cfg).await;
    sync_once(&db, id).await;
    assert_eq!(rows(&db, id).await, 60, "both text channels of the guild");
    assert_eq!(sb.served(Platform::Discord), 60);
    let foreign = other_guild.parse::<u64>().expect("guild id") + 1;
    set_settings(
        &db,
        id,
        serde_json::json!({"channels": [foreign.to_string()]}),
    )
    .await;
    let job = sync_now(&db, id).await;
    let (state, error): (String, Option<String>) = loop {
        let row: (String, Option<String>) =
            sqlx::query_as("SELECT state, last_error FROM mcp.sync_jobs WHERE id = $1")
                .bind(job)
                .fetch_one(&db.pool)
                .await
                .expect("job");
        if !matches!(
            row.0.as_str(),
            "available" | "running" | "scheduled" | "retryable"
        ) {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(state, "discarded");
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("not a text channel of the integration's guild")),
        "{error:?}"
    );
    assert_eq!(
        sb.served(Platform::Discord),
        60,
        "nothing read from the other guild"
    );
    worker.shutdown().await;
    db.drop_db().await;
}

/// A listing stopped after its first page (a killed daemon) and resumed from the stored cursor
/// after new items appeared loses nothing, and the next listing, from the watermark it left,
/// reads the items added after it: every item is read.
#[tokio::test]
async fn an_interrupted_listing_resumes_from_its_checkpoint_without_loss() {
    const N: u64 = 230;
    const K: u64 = 7;
    let (sb, connectors) = sandbox_connectors(N).await;
    for p in INCREMENTAL {
        sb.set_items_per_account(N);
        let (creds, _) = sb.mint_credentials(p, "acme");
        let c = connectors.get(p);
        let settings = settings_for(p);
        let mut seen = std::collections::HashSet::new();
        let first = list_page(&*c, &creds, None, &settings, p).await;
        assert!(!first.done, "{p}: more than one page");
        seen.extend(first.items.iter().map(|i| i.external_id.clone()));
        // The daemon dies here; new items arrive; another daemon resumes from the checkpoint.
        sb.set_items_per_account(N + K);
        let mut cursor = first.next_cursor;
        for round in 0..2 {
            for n in 0.. {
                assert!(n < 100, "{p}: no end after 100 pages");
                let page = list_page(&*c, &creds, cursor.as_deref(), &settings, p).await;
                seen.extend(page.items.iter().map(|i| i.external_id.clone()));
                cursor = page.next_cursor;
                if page.done {
                    break;
                }
            }
            assert!(cursor.is_some(), "{p}: round {round} ends on a watermark");
            // More items before the next (incremental) listing.
            sb.set_items_per_account(N + K + K);
        }
        assert_eq!(seen.len() as u64, N + K + K, "{p}: every item");
    }
}
