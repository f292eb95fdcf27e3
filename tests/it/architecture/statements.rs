//! What the daemon's statements may name: kinds only through their type, SQL only through
//! `mcp_queue::pg`.

use std::path::Path;

use super::{code_of, rust_files, source_files};

/// Only a kind's type names the kind: no statement of the daemon or the engine spells a kind
/// as an SQL string (`'sync'`) or enqueues one by a literal; they take the type's `KIND`.
#[test]
fn only_the_kinds_type_names_the_kind() {
    let kinds: Vec<String> = mcp_handlers::builtin_catalog()
        .iter()
        .map(|k| k.kind.clone())
        .collect();
    assert!(kinds.len() >= 17);
    for (file, text) in source_files(
        &[
            "crates/mcp-daemon/src",
            "crates/mcp-handlers/src",
            "crates/mcp-queue/src",
            "src",
        ],
        &["rs"],
    ) {
        if file.contains("/kinds/") {
            continue;
        }
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        for k in &kinds {
            for spelled in [
                format!("'{k}'"),
                format!("'{k}:"),
                format!("enqueue_job(\"{k}\""),
                format!("enqueue_rows_sql!(\"{k}\""),
                format!("const KIND: &'static str = \"{k}\""),
            ] {
                assert!(
                    !text.contains(&spelled),
                    "{file} spells the kind {k} ({spelled}): take its type's KIND"
                );
            }
        }
    }
}

/// Behind a transaction pooler a statement is safe only when made by `mcp_queue::pg` (unnamed
/// there) and run on a `Db` or in a transaction: the engine, the daemon, the handlers and the
/// binary name no `PgPool` and make no query with sqlx's own constructors (`pg.rs` aside).
#[test]
fn production_statements_go_through_mcp_queue_pg() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "crates/mcp-queue/src",
        "crates/mcp-daemon/src",
        "crates/mcp-handlers/src",
        "src",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut found = Vec::new();
    for f in files.iter().filter(|f| !f.ends_with("mcp-queue/src/pg.rs")) {
        let code = code_of(f);
        for needle in [
            "PgPool;",
            "PgPool,",
            ": PgPool",
            "&PgPool",
            "sqlx::query(",
            "sqlx::query_as(",
            "sqlx::query_scalar(",
            "sqlx::query_as::<",
            "sqlx::query_scalar::<",
        ] {
            if code.contains(needle) {
                found.push(format!("{}: {needle}", f.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "statements outside mcp_queue::pg: {found:#?}"
    );
}
