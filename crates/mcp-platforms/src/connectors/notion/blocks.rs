//! Notion's content call: a page's blocks, read with `GET /v1/blocks/{id}/children`
//! (https://developers.notion.com/reference/get-block-children: "Returns only the first level
//! of children", `page_size` at most 100, `start_cursor` from `next_cursor` while `has_more`)
//! from the page down to `settings.content_depth` levels, each block's children right after
//! it. It never follows a `child_page` or `child_database` (each is an item of its own) and
//! never puts a block's text into an error.

use std::collections::VecDeque;

use serde_json::{json, Value};

use super::super::base::Base;
use super::super::content::{self, ContentRequest};
use super::super::http;
use super::super::lists::{bad_settings, no_error, query};
use super::super::{ConnectorError, ErrorType, MethodLimit};
use super::{classify, DEFAULT_VERSION};

/// Levels of blocks read when `settings.content_depth` is not set: the page's blocks, their
/// children and grandchildren.
pub const DEFAULT_DEPTH: u64 = 3;
/// The most levels `content_depth` may ask.
pub const MAX_DEPTH: u64 = 10;
/// Blocks read at most from one page (a hundred calls at least); more are left out and the
/// content says `"truncated": true`.
pub const MAX_BLOCKS: usize = 10_000;

/// Notion's average of three requests a second per integration
/// (https://developers.notion.com/reference/request-limits), the pace of the block calls even
/// when the integration's bucket (`[sync.rate_limits.notion]`) is set to allow more: a page's
/// blocks are most of a Notion sync's calls (one per hundred blocks and per nested block).
pub const BLOCKS_LIMIT: MethodLimit = MethodLimit {
    bucket: "notion:blocks.children",
    capacity: 3.0,
    per_sec: 3.0,
};

/// Pages have blocks; databases (listed by the same search) have rows, which are pages.
pub(super) fn needs_content(_: &Base, raw: &Value) -> bool {
    raw.get("object").and_then(Value::as_str) == Some("page") && http::json_id(raw, "/id").is_some()
}

pub(super) fn content_limit(_: &Base) -> Option<MethodLimit> {
    Some(BLOCKS_LIMIT)
}

/// `settings.content_depth`: how many levels of blocks to read (1: the page's own).
fn depth(base: &Base, settings: &Value) -> Result<u64, ConnectorError> {
    match settings.get("content_depth") {
        None | Some(Value::Null) => Ok(DEFAULT_DEPTH),
        Some(v) => v
            .as_u64()
            .filter(|d| (1..=MAX_DEPTH).contains(d))
            .ok_or_else(|| {
                bad_settings(
                    base,
                    format!("content_depth must be a whole number from 1 to {MAX_DEPTH}"),
                )
            }),
    }
}

/// `{"blocks": [...]}`: the page's blocks in document order, each followed by its children
/// (where `has_children`, down to `content_depth` levels), each with an added `"depth"` (0
/// for the page's own). A 404 for the page is `NotFound`; a nested block gone meanwhile
/// (its 404) only has no children.
pub(super) async fn fetch_content(
    base: &Base,
    req: ContentRequest<'_>,
) -> Result<Value, ConnectorError> {
    let page = content::id(base, req.raw, "/id")?;
    let levels = depth(base, req.settings)?;
    let mut out: Vec<Value> = Vec::new();
    let mut truncated = false;
    let first = children(base, &req, &page).await?;
    // The blocks still to write at each level, innermost last.
    let mut stack: Vec<(VecDeque<Value>, u64)> = vec![(first.into(), 0)];
    while let Some((queue, depth)) = stack.last_mut() {
        let depth = *depth;
        let Some(mut block) = queue.pop_front() else {
            stack.pop();
            continue;
        };
        if out.len() >= MAX_BLOCKS {
            truncated = true;
            break;
        }
        let descend = depth + 1 < levels && opens(&block);
        let id = http::json_id(&block, "/id");
        if let Some(obj) = block.as_object_mut() {
            obj.insert("depth".into(), json!(depth));
        }
        out.push(block);
        if let (true, Some(id)) = (descend, id) {
            match children(base, &req, &id).await {
                Ok(kids) => stack.push((kids.into(), depth + 1)),
                Err(e) if e.error_type == ErrorType::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    let mut content = json!({ "blocks": out });
    if truncated {
        content["truncated"] = json!(true);
    }
    Ok(content)
}

/// Whether a block's children are part of this page: it has some, and it is not a page or
/// database of its own.
fn opens(block: &Value) -> bool {
    block.get("has_children").and_then(Value::as_bool) == Some(true)
        && !matches!(
            block.get("type").and_then(Value::as_str),
            Some("child_page" | "child_database")
        )
}

/// Every page of a block's children, one paced call each.
async fn children(
    base: &Base,
    req: &ContentRequest<'_>,
    block: &str,
) -> Result<Vec<Value>, ConnectorError> {
    let path = format!("/v1/blocks/{}/children", content::segment(block));
    let version = base.api_version.as_deref().unwrap_or(DEFAULT_VERSION);
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![("page_size", "100".to_string())];
        if let Some(c) = &cursor {
            q.push(("start_cursor", c.clone()));
        }
        let get = query(base, &path, req.creds, &q).header("Notion-Version", version);
        let v = content::call(classify, base, req.pace, get, no_error).await?;
        if let Some(results) = v.get("results").and_then(Value::as_array) {
            all.extend(results.iter().cloned());
        }
        let more = v.get("has_more").and_then(Value::as_bool) == Some(true);
        cursor = v
            .get("next_cursor")
            .and_then(Value::as_str)
            .filter(|c| more && !c.is_empty())
            .map(String::from);
        if cursor.is_none() || all.len() >= MAX_BLOCKS {
            return Ok(all);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::{Platform, PlatformOverride};

    fn base() -> Base {
        Base::new(
            Platform::Notion,
            reqwest::Client::new(),
            &super::super::defaults(),
            &PlatformOverride::default(),
        )
    }

    #[test]
    fn the_depth_setting_is_checked() {
        assert_eq!(depth(&base(), &json!({})).ok(), Some(DEFAULT_DEPTH));
        assert_eq!(depth(&base(), &json!({"content_depth": 1})).ok(), Some(1));
        for bad in [json!(0), json!(11), json!("3"), json!(2.5), json!(-1)] {
            let e = depth(&base(), &json!({ "content_depth": bad })).expect_err("refused");
            assert_eq!(e.error_type, ErrorType::BadRequest, "{bad}");
        }
    }

    #[test]
    fn child_pages_and_databases_are_not_opened() {
        let b = |t: &str, kids: bool| json!({"type": t, "has_children": kids});
        assert!(opens(&b("toggle", true)));
        assert!(!opens(&b("toggle", false)));
        assert!(!opens(&b("child_page", true)));
        assert!(!opens(&b("child_database", true)));
    }

    #[test]
    fn only_pages_have_blocks_to_fetch() {
        assert!(needs_content(
            &base(),
            &json!({"object": "page", "id": "p1"})
        ));
        assert!(!needs_content(
            &base(),
            &json!({"object": "database", "id": "d1"})
        ));
        assert!(!needs_content(&base(), &json!({"object": "page"})));
    }
}
