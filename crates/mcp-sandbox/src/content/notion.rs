//! Notion's `GET /v1/blocks/{id}/children` (https://developers.notion.com/reference/get-block-children)
//! for the search listing's pages: the first level of a block's children only, `page_size`
//! (default and most 100) honoured, `has_more` and `next_cursor` (the id of the next block,
//! as Notion's cursors are) to page on, `start_cursor` to resume; `Notion-Version` required.
//! Block objects as https://developers.notion.com/reference/block shows them. Each page holds
//! twelve blocks, nested four levels deep in places: a bulleted item with children whose
//! first child has children whose first child has one more; a toggle with a child; a child
//! page (a page of its own, with a block inside); a page made large has filler paragraphs after
//! those (about one per 40 bytes asked). An id that is no block of a listed page is Notion's
//! 404 `object_not_found`.
//!
//! Ids: page `i` is `{i:08x}-0000-4000-8000-{i:012x}` (the listing's id); the block at
//! positions `a`, `b`, `c`, `d` (1-based, 0 when absent) of its levels is
//! `{i:08x}-{a:02x}{b:02x}-4{c:03x}-8{d:03x}-{i:012x}`.

use serde_json::{json, Value};

use super::listed;
use crate::forms::json_response;
use crate::req::Req;
use crate::state::State;
use crate::timeline::TS0;
use axum::response::Response;
use mcp_platforms::connectors::Platform;

/// The block id of a block-children path.
pub fn block_of(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/blocks/")?.strip_suffix("/children")
}

/// (page index, positions) of a block id of this sandbox.
fn decode(id: &str) -> Option<(u64, Vec<u64>)> {
    let parts: Vec<&str> = id.split('-').collect();
    let [page, ab, c, d, tail] = parts.as_slice() else {
        return None;
    };
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    let i = hex(page)?;
    if hex(tail)? != i || ab.len() != 4 || c.len() != 4 || d.len() != 4 {
        return None;
    }
    let levels = [
        hex(ab.get(..2)?)?,
        hex(ab.get(2..)?)?,
        hex(c.strip_prefix('4')?)?,
        hex(d.strip_prefix('8')?)?,
    ];
    let path: Vec<u64> = levels.iter().copied().take_while(|&x| x > 0).collect();
    // Positions after an absent one would name no block.
    if levels[path.len()..].iter().any(|&x| x > 0) {
        return None;
    }
    Some((i, path))
}

fn encode(i: u64, path: &[u64]) -> String {
    let at = |k: usize| path.get(k).copied().unwrap_or(0);
    format!(
        "{i:08x}-{:02x}{:02x}-4{:03x}-8{:03x}-{i:012x}",
        at(0),
        at(1),
        at(2),
        at(3)
    )
}

fn rich(text: &str) -> Value {
    json!([{"type": "text", "text": {"content": text, "link": null},
        "annotations": {"bold": false, "italic": false, "strikethrough": false,
            "underline": false, "code": false, "color": "default"},
        "plain_text": text, "href": null}])
}

/// (type, text, has children) of the blocks under `path` of page `i`, in order; a page made
/// large has `filler` more paragraphs at its end.
fn tree(i: u64, path: &[u64], filler: usize) -> Option<Vec<(&'static str, String, bool)>> {
    let b = |t: &'static str, s: &str, kids: bool| (t, s.to_string(), kids);
    Some(match path {
        [] => {
            let mut page = vec![
                b("heading_1", &format!("Plan of page {i}"), false),
                b(
                    "paragraph",
                    &format!("This page describes project {i}."),
                    false,
                ),
                b("bulleted_list_item", "Goals", true),
                b("to_do", "Book the review room", false),
                b("toggle", "Details", true),
                b("numbered_list_item", "First step", false),
                b("numbered_list_item", "Second step", false),
                b("quote", "Simple things should be simple.", false),
                b("code", "cargo test", false),
                b("divider", "", false),
                b("child_page", &format!("Notes {i}"), true),
                b("paragraph", &format!("The end of page {i}."), false),
            ];
            page.extend((1..=filler).map(|j| {
                b(
                    "paragraph",
                    &format!("Filler paragraph {j} of page {i}."),
                    false,
                )
            }));
            page
        }
        [3] => vec![
            b("bulleted_list_item", "Ship the beta", true),
            b("bulleted_list_item", "Hire two engineers", false),
        ],
        [3, 1] => vec![
            b("paragraph", "Beta opens to ten teams.", true),
            b("to_do", "Write the launch note", false),
        ],
        [3, 1, 1] => vec![b("paragraph", &format!("Deep detail of page {i}."), false)],
        [5] => vec![b(
            "paragraph",
            &format!("The budget is {} euros.", i * 100),
            false,
        )],
        [11] => vec![b(
            "paragraph",
            &format!("Inside the child page of {i}."),
            false,
        )],
        _ => {
            // A block without children answers an empty list; a position past the end is no block.
            let (last, parent) = path.split_last()?;
            let siblings = tree(i, parent, filler)?;
            let (_, _, kids) = siblings.get(usize::try_from(*last).ok()?.checked_sub(1)?)?;
            if *kids {
                return None;
            }
            vec![]
        }
    })
}

/// One block object.
fn block(i: u64, path: &[u64], kind: &str, text: &str, kids: bool) -> Value {
    let parent = match path.len() {
        1 => json!({"type": "page_id", "page_id": encode(i, &[])}),
        n => json!({"type": "block_id", "block_id": encode(i, &path[..n - 1])}),
    };
    let time = chrono::DateTime::from_timestamp((TS0 + 60 * i) as i64, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let user = json!({"object": "user", "id": "c2f20311-9e54-4d11-8c79-7398424ae41e"});
    let body = match kind {
        "divider" => json!({}),
        "child_page" => json!({"title": text}),
        "to_do" => {
            json!({"rich_text": rich(text), "checked": path.first() == Some(&4), "color": "default"})
        }
        "code" => json!({"rich_text": rich(text), "caption": [], "language": "shell"}),
        _ => json!({"rich_text": rich(text), "color": "default"}),
    };
    json!({"object": "block", "id": encode(i, path), "parent": parent,
        "created_time": time, "last_edited_time": time, "created_by": user,
        "last_edited_by": user, "has_children": kids, "archived": false, "in_trash": false,
        "type": kind, kind: body})
}

fn error(status: u16, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"object": "error", "status": status, "code": code, "message": message}),
        &[],
    )
}

pub fn children(st: &State, r: &Req, login: &str) -> Response {
    if r.headers.get("notion-version").is_none() {
        return error(400, "missing_version", "Notion-Version header is required.");
    }
    let id = block_of(&r.path).unwrap_or_default();
    let found = decode(id).filter(|(i, _)| listed(st, Platform::Notion, login, *i));
    let filler = |i: u64| {
        let large = st.content.large(Platform::Notion, login, i);
        large.map_or(0, |bytes| bytes / 40)
    };
    let kids = |(i, p): (u64, Vec<u64>)| Some((i, p.clone(), tree(i, &p, filler(i))?));
    let Some((i, path, kids)) = found.and_then(kids) else {
        return error(
            404,
            "object_not_found",
            &format!("Could not find block with ID: {id}. Make sure the relevant pages and databases are shared with your integration."),
        );
    };
    let size = r
        .q("page_size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 100);
    let ids: Vec<String> = (1..=kids.len() as u64)
        .map(|k| encode(i, &[path.as_slice(), &[k]].concat()))
        .collect();
    let start = match r.q("start_cursor") {
        None => 0,
        Some(c) => match ids.iter().position(|b| b == c) {
            Some(k) => k,
            None => return error(400, "validation_error", "start_cursor is not valid."),
        },
    };
    let end = (start + size).min(kids.len());
    let results: Vec<Value> = (start..end)
        .map(|k| {
            let (kind, text, has) = &kids[k];
            let at = [path.as_slice(), &[k as u64 + 1]].concat();
            block(i, &at, kind, text, *has)
        })
        .collect();
    let next = ids.get(end).cloned();
    json_response(
        200,
        json!({"object": "list", "results": results, "next_cursor": next,
            "has_more": next.is_some(), "type": "block", "block": {}}),
        &[],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_page_and_positions() {
        assert_eq!(encode(5, &[]), "00000005-0000-4000-8000-000000000005");
        for path in [vec![], vec![3], vec![3, 1], vec![3, 1, 1], vec![3, 1, 1, 1]] {
            assert_eq!(decode(&encode(5, &path)), Some((5, path)));
        }
        assert_eq!(decode("00000005-0001-4000-8000-000000000006"), None);
        assert_eq!(decode("00000005-0001-4000-8001-000000000005"), None);
        assert_eq!(decode("nope"), None);
        assert_eq!(decode("00000005-a€-4000-8000-000000000005"), None);
    }

    #[test]
    fn blocks_without_children_have_an_empty_list_and_no_more() {
        assert_eq!(tree(1, &[1], 0), Some(vec![]));
        assert_eq!(tree(1, &[3, 2], 0), Some(vec![]));
        assert_eq!(tree(1, &[13], 0), None);
        assert_eq!(tree(1, &[13], 5), Some(vec![]));
        assert_eq!(tree(1, &[3, 1, 1, 1], 0), Some(vec![]));
        assert_eq!(tree(1, &[3, 1, 1, 2], 0), None);
    }
}
