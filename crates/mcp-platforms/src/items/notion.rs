//! Notion. The listing stores `POST /v1/search` results: page objects
//! (https://developers.notion.com/reference/page) or databases. The content is
//! `{"blocks": [...]}`: the page's blocks from `GET /v1/blocks/{id}/children` (every page of
//! it), in document order, each block's children (fetched the same way where `has_children`)
//! right after it, every block with an added `"depth"` (0 for the page's own blocks); read by
//! `text::notion`. The title is the page's `title` property (a database's `title`); the thread
//! its parent (page, database, data source or block id; none for the workspace).

use serde_json::Value;

use super::text::notion as blocks;
use super::{fields, Kind, Model, Person};

pub fn model(raw: &Value, content: Option<&Value>) -> Model {
    let mut m = Model::empty(Kind::Document);
    m.title = title(raw);
    m.url = fields::text(raw, "/url");
    m.occurred_at = fields::first_time(raw, &["/last_edited_time", "/created_time"]);
    m.author = Person::new(
        fields::text(raw, "/created_by/name"),
        fields::text(raw, "/created_by/person/email"),
        fields::text(raw, "/created_by/id"),
    );
    m.thread = fields::text(raw, "/parent/type")
        .filter(|t| t != "workspace")
        .and_then(|t| fields::text(raw, &format!("/parent/{t}")));
    m.text = content
        .and_then(|c| c.get("blocks"))
        .and_then(Value::as_array)
        .and_then(|b| blocks::blocks_to_text(b));
    m
}

/// A page's property of type `title`, or a database's `title` rich text.
fn title(raw: &Value) -> Option<String> {
    let from_properties = raw
        .get("properties")
        .and_then(Value::as_object)
        .and_then(|props| {
            props
                .values()
                .find(|p| p.get("type").and_then(Value::as_str) == Some("title"))
        })
        .and_then(|p| blocks::rich_text(p.get("title")));
    from_properties
        .or_else(|| blocks::rich_text(raw.get("title")))
        .map(|t| t.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // https://developers.notion.com/reference/page (the example page object), as the search
    // listing stores it.
    const PAGE: &str = r#"{
      "object": "page",
      "id": "be633bf1-dfa0-436d-b259-571129a590e5",
      "created_time": "2022-10-24T22:54:00.000Z",
      "last_edited_time": "2023-03-08T18:25:00.000Z",
      "created_by": {"object": "user", "id": "c2f20311-9e54-4d11-8c79-7398424ae41e"},
      "last_edited_by": {"object": "user", "id": "9188c6a5-7381-452f-b3dc-d4865aa89bdf"},
      "cover": null,
      "icon": {"type": "emoji", "emoji": "🐞"},
      "parent": {"type": "database_id", "database_id": "a1d8501e-1ac1-43e9-a6bd-ea9fe6c8822b"},
      "archived": true,
      "in_trash": true,
      "properties": {
        "Due date": {"id": "M%3BBw", "type": "date", "date": {"start": "2023-02-23", "end": null, "time_zone": null}},
        "Status": {"id": "Z%3ClH", "type": "status", "status": {"id": "86ddb6ec-0627-47f8-800d-b65afd28be13", "name": "Not started", "color": "default"}},
        "Title": {"id": "title", "type": "title", "title": [{"type": "text", "text": {"content": "Bug bash", "link": null},
          "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"},
          "plain_text": "Bug bash", "href": null}]}
      },
      "url": "https://www.notion.so/Bug-bash-be633bf1dfa0436db259571129a590e5",
      "public_url": "https://jm-testing.notion.site/p1-6df2c07bfc6b4c46815ad205d132e22d"
    }"#;

    // Block objects as https://developers.notion.com/reference/block shows them (its
    // heading_2 example, and the block-type examples: paragraph, bulleted and numbered list
    // items, to_do, code, quote, callout, divider, toggle, child_page) with the envelope and
    // `plain_text` Notion's answers carry, nested children flattened after their parent
    // with their depth. The paragraph is get-block-children's example
    // (https://developers.notion.com/reference/get-block-children).
    const BLOCKS: &str = include_str!("fixtures/notion_blocks.json");

    #[test]
    fn a_page_reads_with_its_title_property_link_and_parent() {
        let raw: Value = serde_json::from_str(PAGE).expect("fixture");
        let m = model(&raw, None);
        assert_eq!(m.kind, Kind::Document);
        assert_eq!(m.title.as_deref(), Some("Bug bash"));
        assert_eq!(
            m.url.as_deref(),
            Some("https://www.notion.so/Bug-bash-be633bf1dfa0436db259571129a590e5")
        );
        assert_eq!(
            m.thread.as_deref(),
            Some("a1d8501e-1ac1-43e9-a6bd-ea9fe6c8822b")
        );
        assert_eq!(
            m.author.and_then(|p| p.id).as_deref(),
            Some("c2f20311-9e54-4d11-8c79-7398424ae41e")
        );
        assert_eq!(
            m.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2023-03-08T18:25:00+00:00")
        );
        assert_eq!(m.text, None);
    }

    #[test]
    fn nested_blocks_are_flattened_in_order_with_their_markers() {
        let raw: Value = serde_json::from_str(PAGE).expect("fixture");
        let content: Value = serde_json::from_str(BLOCKS).expect("fixture");
        let m = model(&raw, Some(&content));
        assert_eq!(
            m.text.as_deref(),
            Some(
                "## Lacinato kale\n\
                 Lacinato kale is a variety of kale with a long tradition in Italian cuisine, especially that of Tuscany. \
                 It is also known as Tuscan kale, Italian kale, dinosaur kale, kale, flat back kale, palm tree kale, or black Tuscan palm.\n\
                 - Lacinato kale\n  Also called cavolo nero.\n\
                 1. Finish reading the docs\n2. Try the API\n\
                 [ ] Finish Q3 goals\n  [x] Draft the hiring plan\n\
                 ```javascript\nconst a = 3\nconsole.log(a)\n```\n\
                 > To be or not to be...\n\
                 ⭐ Lacinato kale\n\
                 ---\n\
                 Lacinato kale\n  [page: Lacinato kale]"
            )
        );
    }

    #[test]
    fn a_workspace_page_has_no_thread_and_a_database_its_title() {
        let raw = json!({"object": "database", "parent": {"type": "workspace", "workspace": true},
            "title": [{"type": "text", "plain_text": "Tasks"}]});
        let m = model(&raw, Some(&json!({"blocks": []})));
        assert_eq!(m.title.as_deref(), Some("Tasks"));
        assert_eq!((m.thread, m.text), (None, None));
    }
}
