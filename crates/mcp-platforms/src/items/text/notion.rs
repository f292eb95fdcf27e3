//! Notion blocks (https://developers.notion.com/reference/block), in document order with
//! children flattened after their parent and an added `depth`, as text: a block's
//! `rich_text[].plain_text` joined, indented two spaces per depth; headings as `#`, `##`,
//! `###`; bulleted items `- `; numbered items `1. `, `2. ` (counted per run at one depth);
//! to-dos `[ ] `/`[x] `; quotes `> `; callouts behind their emoji; code fenced with its
//! language; dividers `---`; child pages and databases, media and links by title, caption or
//! URL in brackets; table rows as cells joined by ` | `. Containers (tables, columns, synced
//! blocks) have no line of their own; unsupported blocks are skipped.

use serde_json::Value;

use super::super::fields;

/// The text of a page's blocks; `None` when they hold none.
pub fn blocks_to_text(blocks: &[Value]) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    // The running number of numbered items at each depth.
    let mut numbers: Vec<u32> = Vec::new();
    for block in blocks {
        let depth = block
            .get("depth")
            .and_then(Value::as_u64)
            .map_or(0, |d| d.min(32) as usize);
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        numbers.resize(depth + 1, 0);
        let number = if kind == "numbered_list_item" {
            numbers[depth] += 1;
            numbers[depth]
        } else {
            numbers[depth] = 0;
            0
        };
        let Some(line) = line(kind, block.get(kind).unwrap_or(&Value::Null), number) else {
            continue;
        };
        let indent = "  ".repeat(depth);
        for l in line.split('\n') {
            lines.push(format!("{indent}{l}").trim_end().to_string());
        }
    }
    fields::tidy(&lines.join("\n"))
}

/// One block's line(s), without indentation; `None` for blocks with no text of their own.
fn line(kind: &str, body: &Value, number: u32) -> Option<String> {
    let text = rich_text(body.get("rich_text"));
    let caption = rich_text(body.get("caption"));
    let or_empty = |s: Option<String>| s.unwrap_or_default();
    Some(match kind {
        "paragraph" | "toggle" | "template" => text?,
        "heading_1" => format!("# {}", text?),
        "heading_2" => format!("## {}", text?),
        "heading_3" => format!("### {}", text?),
        "bulleted_list_item" => format!("- {}", or_empty(text)),
        "numbered_list_item" => format!("{number}. {}", or_empty(text)),
        "to_do" => {
            let checked = body.get("checked").and_then(Value::as_bool) == Some(true);
            format!("[{}] {}", if checked { "x" } else { " " }, or_empty(text))
        }
        "quote" => text?
            .split('\n')
            .map(|l| format!("> {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        "callout" => match fields::text(body, "/icon/emoji") {
            Some(icon) => format!("{icon} {}", text?),
            None => text?,
        },
        "code" => {
            let lang = fields::text(body, "/language").unwrap_or_default();
            let mut fenced = format!("```{lang}\n{}\n```", or_empty(text));
            if let Some(c) = caption {
                fenced.push('\n');
                fenced.push_str(&c);
            }
            fenced
        }
        "equation" => fields::text(body, "/expression")?,
        "divider" => "---".into(),
        "child_page" => format!("[page: {}]", fields::text(body, "/title")?),
        "child_database" => format!("[database: {}]", fields::text(body, "/title")?),
        "bookmark" | "embed" | "link_preview" => {
            let url = fields::text(body, "/url")?;
            match caption {
                Some(c) => format!("{c} ({url})"),
                None => url,
            }
        }
        "image" | "video" | "audio" | "file" | "pdf" => {
            let name = caption
                .or_else(|| fields::text(body, "/name"))
                .or_else(|| fields::first_text(body, &["/external/url", "/file/url"]))?;
            format!("[{kind}: {name}]")
        }
        "link_to_page" => {
            let id = fields::first_text(body, &["/page_id", "/database_id"])?;
            format!("[link to page: {id}]")
        }
        "table_row" => body
            .get("cells")
            .and_then(Value::as_array)?
            .iter()
            .map(|cell| or_empty(rich_text(Some(cell))))
            .collect::<Vec<_>>()
            .join(" | "),
        _ => return None,
    })
}

/// The plain text of a rich-text array; `None` when empty.
pub fn rich_text(v: Option<&Value>) -> Option<String> {
    let s: String = v?
        .as_array()?
        .iter()
        .filter_map(|r| r.get("plain_text").and_then(Value::as_str))
        .collect();
    (!s.trim().is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn block(kind: &str, depth: u64, body: Value) -> Value {
        json!({"object": "block", "type": kind, "depth": depth, kind: body})
    }

    fn rt(s: &str) -> Value {
        json!([{"type": "text", "text": {"content": s, "link": null}, "plain_text": s, "href": null}])
    }

    #[test]
    fn numbers_restart_after_another_block_and_count_per_depth() {
        let blocks = [
            block("numbered_list_item", 0, json!({"rich_text": rt("one")})),
            block("numbered_list_item", 1, json!({"rich_text": rt("one.a")})),
            block("numbered_list_item", 1, json!({"rich_text": rt("one.b")})),
            block("numbered_list_item", 0, json!({"rich_text": rt("two")})),
            block("paragraph", 0, json!({"rich_text": rt("break")})),
            block("numbered_list_item", 0, json!({"rich_text": rt("again")})),
        ];
        assert_eq!(
            blocks_to_text(&blocks).as_deref(),
            Some("1. one\n  1. one.a\n  2. one.b\n2. two\nbreak\n1. again")
        );
    }

    #[test]
    fn tables_media_and_unknown_blocks() {
        let blocks = [
            block("table", 0, json!({"table_width": 2})),
            block("table_row", 1, json!({"cells": [rt("a"), rt("b")]})),
            block(
                "image",
                0,
                json!({"type": "external", "external": {"url": "https://x/i.png"}, "caption": []}),
            ),
            block("unsupported", 0, json!({})),
            block("paragraph", 0, json!({"rich_text": []})),
            block("divider", 0, json!({})),
        ];
        assert_eq!(
            blocks_to_text(&blocks).as_deref(),
            Some("  a | b\n[image: https://x/i.png]\n---")
        );
        assert_eq!(blocks_to_text(&[]), None);
    }
}
