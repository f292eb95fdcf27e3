//! Search as its SQL users call it: `mcp.search_items` (words, ranking, the cursor, filters,
//! errors). Threads and what a workspace sees are in `threads.rs`.

use mcp_queue::pg::Db;
use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use mcp_platforms::connectors::Platform;
use mcp_platforms::items::Kind;
use serde_json::json;

use super::*;

/// An item with its model, written by plain SQL as another writer would.
pub(super) struct Put<'a> {
    pub ext: &'a str,
    pub kind: &'a str,
    pub title: Option<&'a str>,
    pub text: Option<&'a str>,
    pub at: Option<DateTime<Utc>>,
    pub author: serde_json::Value,
    pub thread: Option<&'a str>,
}

impl Default for Put<'_> {
    fn default() -> Self {
        Put {
            ext: "x",
            kind: "message",
            title: None,
            text: None,
            at: None,
            author: serde_json::Value::Null,
            thread: None,
        }
    }
}

pub(super) async fn put(pool: &Db, integration: Uuid, p: Put<'_>) {
    sqlx::query(
        "INSERT INTO mcp.synced_items (integration_id, external_id, workspace_id, platform, kind, \
           raw, title, text, occurred_at, author, thread, model_version) \
         SELECT id, $2, workspace_id, platform, $3, '{}', $4, $5, $6, \
                CASE WHEN $7::jsonb = 'null' THEN NULL ELSE $7::jsonb END, $8, 1 \
         FROM core.integrations WHERE id = $1",
    )
    .bind(integration)
    .bind(p.ext)
    .bind(p.kind)
    .bind(p.title)
    .bind(p.text)
    .bind(p.at)
    .bind(p.author)
    .bind(p.thread)
    .execute(pool)
    .await
    .expect("put");
}

type Hit = (String, String, Option<String>, Option<String>, f32);

/// (cursor, external id, title, snippet, rank) of one page.
async fn search(
    pool: &Db,
    ws: Uuid,
    q: &str,
    filters: serde_json::Value,
    after: Option<&str>,
    max: i32,
) -> Result<Vec<Hit>, sqlx::Error> {
    sqlx::query_as(
        "SELECT cursor, external_id, title, snippet, rank \
         FROM mcp.search_items($1, $2, $3, $4, $5)",
    )
    .bind(ws)
    .bind(q)
    .bind(filters)
    .bind(after)
    .bind(max)
    .fetch_all(pool)
    .await
}

async fn ids(pool: &Db, ws: Uuid, q: &str, filters: serde_json::Value) -> Vec<String> {
    search(pool, ws, q, filters, None, 100)
        .await
        .expect("search")
        .into_iter()
        .map(|h| h.1)
        .collect()
}

#[tokio::test]
async fn search_finds_words_in_titles_and_texts_and_ranks_title_matches_first() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let i = bare_active(&db.pool, ws, Platform::Gmail).await;
    let now = Utc::now();
    let items = [
        (
            "in-text",
            Some("Lunch"),
            Some("the budget is fine: budget, budget and budget"),
        ),
        ("in-title", Some("Quarterly budget"), Some("numbers")),
        ("elsewhere", Some("Holidays"), Some("nothing to see")),
        (
            "french",
            Some("Menu"),
            Some("Le menu du vendredi à midi: café crème"),
        ),
    ];
    for (k, (ext, title, text)) in items.into_iter().enumerate() {
        let at = Some(now - Duration::hours(k as i64));
        put(
            &db.pool,
            i,
            Put {
                ext,
                kind: "email",
                title,
                text,
                at,
                ..Default::default()
            },
        )
        .await;
    }
    let hits = search(&db.pool, ws, "budget", json!({}), None, 10)
        .await
        .expect("search");
    let order: Vec<&str> = hits.iter().map(|h| h.1.as_str()).collect();
    assert_eq!(
        order,
        ["in-title", "in-text"],
        "a title match first, however often the text says it"
    );
    assert!(hits[0].4 > hits[1].4);
    assert!(
        hits[0].3.as_deref().is_some_and(|s| s.contains("«budget»")),
        "{:?}",
        hits[0].3
    );
    assert!(
        hits[1].3.as_deref().is_some_and(|s| s.contains("«budget»")),
        "{:?}",
        hits[1].3
    );
    // Websearch syntax: a phrase, a word left out, either of two.
    assert_eq!(
        ids(&db.pool, ws, "\"budget is fine\"", json!({})).await,
        ["in-text"]
    );
    assert_eq!(
        ids(&db.pool, ws, "budget -lunch", json!({})).await,
        ["in-title"]
    );
    assert_eq!(
        ids(&db.pool, ws, "holidays or numbers", json!({}))
            .await
            .len(),
        2
    );
    // Any language, as written (no stemming, no stop words dropped).
    assert_eq!(
        ids(&db.pool, ws, "vendredi midi", json!({})).await,
        ["french"]
    );
    assert_eq!(ids(&db.pool, ws, "Café", json!({})).await, ["french"]);
    assert!(ids(&db.pool, ws, "budgets", json!({})).await.is_empty());
    // No words: every item, newest first.
    assert_eq!(
        ids(&db.pool, ws, "", json!({})).await,
        ["in-text", "in-title", "elsewhere", "french"]
    );
    db.drop_db().await;
}

/// Pages of every size, with ties of rank and time and items without a time, read with the
/// cursor: the same rows as one big page, in its order, each once.
#[tokio::test]
async fn pages_read_with_the_cursor_have_no_repeats_or_gaps() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let a = bare_active(&db.pool, ws, Platform::Slack).await;
    let b = bare_active(&db.pool, ws, Platform::Notion).await;
    let t0 = Utc::now();
    for k in 0..57 {
        let ext = format!("C1:{k}");
        let text = if k % 3 == 0 {
            "budget budget"
        } else {
            "a budget"
        };
        // Groups of seven share a time; every tenth has none.
        let at = (k % 10 != 0).then(|| t0 - Duration::minutes(k / 7));
        let title = (k % 5 == 0).then_some("budget");
        let integration = if k % 2 == 0 { a } else { b };
        put(
            &db.pool,
            integration,
            Put {
                ext: &ext,
                title,
                text: Some(text),
                at,
                ..Default::default()
            },
        )
        .await;
    }
    for q in ["budget", ""] {
        let whole = ids(&db.pool, ws, q, json!({})).await;
        assert_eq!(whole.len(), 57, "{q:?}");
        for size in [1, 5, 7, 56] {
            let (mut seen, mut after) = (Vec::new(), None::<String>);
            loop {
                let page = search(&db.pool, ws, q, json!({}), after.as_deref(), size)
                    .await
                    .expect("page");
                let Some(last) = page.last() else { break };
                after = Some(last.0.clone());
                seen.extend(page.into_iter().map(|h| h.1));
            }
            assert_eq!(seen, whole, "{q:?} by {size}");
        }
        let unique: HashSet<&String> = whole.iter().collect();
        assert_eq!(unique.len(), 57);
    }
    db.drop_db().await;
}

#[tokio::test]
async fn filters_narrow_a_search_by_platform_kind_integration_author_and_time() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let slack = bare_active(&db.pool, ws, Platform::Slack).await;
    let gmail = bare_active(&db.pool, ws, Platform::Gmail).await;
    let now = Utc::now();
    let ann = json!({"name": "Ann Lee", "address": "ann@example.com", "id": "U1"});
    let bob = json!({"name": "Bob", "address": "bob@example.com"});
    let rows = [
        (slack, "s1", "message", ann.clone(), now - Duration::days(1)),
        (
            slack,
            "s2",
            "message",
            bob.clone(),
            now - Duration::days(10),
        ),
        (gmail, "g1", "email", ann.clone(), now - Duration::days(2)),
        (gmail, "g2", "email", bob.clone(), now - Duration::days(20)),
    ];
    for (i, ext, kind, author, at) in rows {
        let p = Put {
            ext,
            kind,
            text: Some("plan"),
            at: Some(at),
            author,
            ..Default::default()
        };
        put(&db.pool, i, p).await;
    }
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let f = |v: serde_json::Value| v;
    assert_eq!(
        ids(&db.pool, ws, "plan", f(json!({"platforms": ["slack"]}))).await,
        ["s1", "s2"]
    );
    assert_eq!(
        ids(&db.pool, ws, "plan", f(json!({"kinds": "email"}))).await,
        ["g1", "g2"]
    );
    assert_eq!(
        ids(
            &db.pool,
            ws,
            "",
            f(json!({"integration_id": gmail.to_string()}))
        )
        .await,
        ["g1", "g2"]
    );
    assert_eq!(
        sorted(ids(&db.pool, ws, "plan", json!({"author": "ann"})).await),
        ["g1", "s1"]
    );
    assert_eq!(
        sorted(ids(&db.pool, ws, "plan", json!({"author": "BOB@EXAMPLE"})).await),
        ["g2", "s2"]
    );
    assert_eq!(
        ids(
            &db.pool,
            ws,
            "plan",
            json!({"author": "U1", "kinds": ["message"]})
        )
        .await,
        ["s1"]
    );
    let since = (now - Duration::days(5)).to_rfc3339();
    let until = (now - Duration::days(3)).to_rfc3339();
    assert_eq!(
        ids(&db.pool, ws, "plan", json!({"since": since})).await,
        ["s1", "g1"]
    );
    assert_eq!(
        ids(&db.pool, ws, "plan", json!({"until": until})).await,
        ["s2", "g2"]
    );
    assert_eq!(
        ids(
            &db.pool,
            ws,
            "",
            json!({"since": since, "until": until, "platforms": ["gmail"]})
        )
        .await,
        Vec::<String>::new()
    );
    db.drop_db().await;
}

#[tokio::test]
async fn unknown_filters_and_bad_cursors_are_clear_errors() {
    let db = TestDb::new().await;
    let ws = workspace(&db, "a").await;
    let i = bare_active(&db.pool, ws, Platform::Slack).await;
    put(
        &db.pool,
        i,
        Put {
            ext: "x",
            text: Some("word"),
            ..Default::default()
        },
    )
    .await;
    let word_cursor = search(&db.pool, ws, "word", json!({}), None, 1)
        .await
        .expect("search")[0]
        .0
        .clone();
    let cases = [
        (
            "word",
            json!({"platform": ["slack"]}),
            None,
            20,
            "unknown filter 'platform'",
        ),
        (
            "word",
            json!({"kinds": ["page"]}),
            None,
            20,
            "unknown 'page'",
        ),
        (
            "word",
            json!({"platforms": [1]}),
            None,
            20,
            "platforms must be a string or an array",
        ),
        (
            "word",
            json!({"integration_id": "nope"}),
            None,
            20,
            "integration_id must be a uuid",
        ),
        (
            "word",
            json!({"since": "last week"}),
            None,
            20,
            "since must be a time",
        ),
        (
            "word",
            json!({"author": ""}),
            None,
            20,
            "author must be a non-empty string",
        ),
        ("word", json!([]), None, 20, "filters must be a JSON object"),
        (
            "word",
            json!({}),
            Some("s1:garbage"),
            20,
            "is not a cursor of this search",
        ),
        (
            "",
            json!({}),
            Some(word_cursor.as_str()),
            20,
            "is not a cursor of this search",
        ),
        (
            "word",
            json!({}),
            None,
            0,
            "max_rows must be between 1 and 100",
        ),
    ];
    for (q, filters, after, max, says) in cases {
        let e = search(&db.pool, ws, q, filters.clone(), after, max)
            .await
            .expect_err("refused");
        let pg = e.as_database_error().expect("database error");
        assert_eq!(
            pg.code().as_deref(),
            Some("22023"),
            "{filters} {after:?}: {}",
            pg.message()
        );
        assert!(pg.message().contains(says), "{}", pg.message());
    }
    db.drop_db().await;
}

/// The names the filters take are the daemon's: every platform and every kind of the model.
#[tokio::test]
async fn filter_names_are_the_daemons_platforms_and_kinds() {
    let db = TestDb::new().await;
    let (platforms, kinds): (Vec<String>, Vec<String>) =
        sqlx::query_as("SELECT mcp.item_platforms(), mcp.item_kinds()")
            .fetch_one(&db.pool)
            .await
            .expect("names");
    assert_eq!(platforms, Platform::ALL.map(|p| p.as_str().to_string()));
    assert_eq!(kinds, Kind::ALL.map(|k| k.as_str().to_string()));
    db.drop_db().await;
}
