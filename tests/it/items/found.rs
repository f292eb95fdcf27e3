//! What the assistant asks for, end to end: the platforms' content fetched by a real sync
//! through the real connectors from the sandbox, then found by `mcp.search_items` — a word that
//! only an email's HTML part holds, a phrase only a meeting's transcript holds — and nothing
//! else found by them.

use mcp_platforms::connectors::Platform;
use mcp_sandbox as sandbox;

use super::*;
use crate::common::start_configured_worker;
use crate::sync::{config, seed, sync_now, wait_done, FAST};

async fn found(db: &TestDb, ws: Uuid, query: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT platform, external_id FROM mcp.search_items($1, $2, '{}', NULL, 100) \
         ORDER BY external_id",
    )
    .bind(ws)
    .bind(query)
    .fetch_all(&db.pool)
    .await
    .expect("search")
}

#[tokio::test]
async fn search_finds_words_only_an_emails_html_part_or_a_transcript_holds() {
    let db = TestDb::new().await;
    let sb = sandbox::start("127.0.0.1:0").await.expect("sandbox");
    sb.set_items_per_account(12);
    let ws = workspace(&db, "acme").await;
    let gmail = seed(&db, &sb, ws, Platform::Gmail, "acme").await;
    let zoom = seed(&db, &sb, ws, Platform::Zoom, "acme").await;
    let worker = start_configured_worker(&db, config(&db, &sb, FAST)).await;
    let jobs = [sync_now(&db, gmail).await, sync_now(&db, zoom).await];
    wait_done(&db, &jobs).await;

    // The word is in no listing record and in no message's plain part: only in the HTML parts.
    let listed_with_it = db
        .scalar_i64(&format!(
            "SELECT count(*) FROM mcp.synced_items WHERE raw::text ILIKE '%{}%'",
            sandbox::content::gmail::HTML_ONLY_WORD
        ))
        .await;
    assert_eq!(listed_with_it, 0, "the listings do not carry it");
    let hits = found(&db, ws, sandbox::content::gmail::HTML_ONLY_WORD).await;
    let want: Vec<(String, String)> = sqlx::query_scalar::<_, String>(
        "SELECT external_id FROM mcp.synced_items WHERE integration_id = $1 ORDER BY external_id",
    )
    .bind(gmail)
    .fetch_all(&db.pool)
    .await
    .expect("ids")
    .into_iter()
    .filter(|id| sandbox::content::gmail::html_only(id))
    .map(|id| ("gmail".to_string(), id))
    .collect();
    assert!(!want.is_empty(), "some messages hold it in HTML only");
    assert_eq!(hits, want, "exactly the messages whose HTML part holds it");

    // A phrase of the transcripts (every other meeting has one), not of the recordings' records.
    let phrase = "\"pricing page ships\"";
    let in_records = db
        .scalar_i64("SELECT count(*) FROM mcp.synced_items WHERE raw::text ILIKE '%pricing%'")
        .await;
    assert_eq!(in_records, 0);
    let hits = found(&db, ws, phrase).await;
    let with_transcripts = db
        .scalar_i64(&format!(
            "SELECT count(*) FROM mcp.synced_items WHERE integration_id = '{zoom}' \
             AND content ? 'vtt'"
        ))
        .await;
    assert!(with_transcripts > 0, "some meetings have a transcript");
    assert_eq!(hits.len() as i64, with_transcripts, "{hits:?}");
    assert!(hits.iter().all(|(p, _)| p == "zoom"), "{hits:?}");
    // Words the transcript does not say in that order are not that phrase.
    assert!(found(&db, ws, "\"ships pricing page\"").await.is_empty());
    worker.shutdown().await;
    db.drop_db().await;
}
