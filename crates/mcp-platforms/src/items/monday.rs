//! Monday. The listing stores `items_page` items (https://developer.monday.com/api-reference/reference/items):
//! today `id`, `name`, `updated_at`; asked for more, also `url`, `created_at`, `board { id }`,
//! `creator { id name email }`, `column_values { id text type column { title } }` and
//! `updates { text_body body created_at creator { name } }`. There is no separate content: a
//! `content` given is read as a fuller copy of the item (or an `items(ids:)` answer). The
//! text is each non-empty column as "Column: text", then the updates; people columns name
//! the participants. The link is the item's `url`, else `<account URL>/boards/<board>/pulses/<id>`
//! (`Context::web_base`); the thread is the board.

use serde_json::Value;

use super::text::html;
use super::{fields, Context, Kind, Model, Person};

pub fn model(raw: &Value, content: Option<&Value>, ctx: &Context) -> Model {
    let item = content
        .map(|c| c.pointer("/data/items/0").unwrap_or(c))
        .filter(|c| c.is_object())
        .unwrap_or(raw);
    let mut m = Model::empty(Kind::Task);
    let id = fields::id(item, "/id").or_else(|| fields::id(raw, "/id"));
    m.title = fields::text(item, "/name").or_else(|| fields::text(raw, "/name"));
    m.occurred_at = fields::first_time(item, &["/updated_at", "/created_at"])
        .or_else(|| fields::time(raw, "/updated_at"));
    m.author = item.get("creator").and_then(|c| {
        Person::new(
            fields::text(c, "/name"),
            fields::text(c, "/email"),
            fields::id(c, "/id"),
        )
    });
    let board = fields::id(item, "/board/id");
    m.thread = board.clone();
    m.url = fields::text(item, "/url").or_else(|| {
        let base = ctx.web_base.as_deref()?.trim_end_matches('/');
        Some(format!("{base}/boards/{}/pulses/{}", board?, id?))
    });
    let columns = fields::array(item, "/column_values");
    m.participants = columns
        .iter()
        .filter(|c| fields::text(c, "/type").as_deref() == Some("people"))
        .filter_map(|c| fields::text(c, "/text"))
        .flat_map(|t| t.split(',').map(String::from).collect::<Vec<_>>())
        .filter_map(|name| Person::new(Some(name), None, None))
        .collect();
    let column_lines: Vec<String> = columns
        .iter()
        .filter_map(|c| {
            let name = fields::first_text(c, &["/column/title", "/id"])?;
            Some(format!("{name}: {}", fields::text(c, "/text")?))
        })
        .collect();
    let updates: Vec<String> = fields::array(item, "/updates")
        .iter()
        .filter_map(update)
        .collect();
    m.text = fields::sections([
        (!column_lines.is_empty()).then(|| column_lines.join("\n")),
        (!updates.is_empty()).then(|| format!("Updates:\n{}", updates.join("\n"))),
    ]);
    m
}

/// An update as "Name (time): text"; its `text_body`, else its HTML `body` as text.
fn update(u: &Value) -> Option<String> {
    let text = fields::text(u, "/text_body")
        .or_else(|| fields::text(u, "/body").and_then(|b| html::to_text(&b)))?;
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let who = fields::text(u, "/creator/name");
    let when = fields::time(u, "/created_at").map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    Some(match (who, when) {
        (Some(w), Some(t)) => format!("{w} ({t}): {text}"),
        (Some(w), None) => format!("{w}: {text}"),
        (None, Some(t)) => format!("({t}): {text}"),
        (None, None) => text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // An `items_page` answer (https://developer.monday.com/api-reference/reference/items-page,
    // whose example asks only `id` and `name`) with the item fields of
    // https://developer.monday.com/api-reference/reference/items, column values of
    // https://developer.monday.com/api-reference/reference/column-values-v2 and updates of
    // https://developer.monday.com/api-reference/reference/updates; the values are ours.
    const ITEMS_PAGE: &str = r#"{"data": {"boards": [{"items_page": {
        "cursor": "MSw5NzI4MDA5MDAsaV9YcmxJb0p1VEdYc1VWeGlxeF9kLDg4MiwzNXw0MTQ1NzU1MTE5",
        "items": [{
            "id": "1234567890",
            "name": "Launch checklist",
            "url": "https://acme.monday.com/boards/9876543210/pulses/1234567890",
            "created_at": "2024-05-01T09:00:00Z",
            "updated_at": "2024-05-03T16:20:00Z",
            "board": {"id": "9876543210", "name": "Product launch"},
            "creator": {"id": "4012689", "name": "Dana Cruz", "email": "dana@acme.example"},
            "column_values": [
                {"id": "status", "type": "status", "text": "Working on it", "value": "{\"index\":0}", "column": {"title": "Status"}},
                {"id": "person", "type": "people", "text": "Dana Cruz, Eli Park", "value": "{\"personsAndTeams\":[{\"id\":4012689,\"kind\":\"person\"},{\"id\":4012690,\"kind\":\"person\"}]}", "column": {"title": "Owner"}},
                {"id": "date4", "type": "date", "text": "2024-05-10", "value": "{\"date\":\"2024-05-10\"}", "column": {"title": "Due"}},
                {"id": "text0", "type": "text", "text": "", "value": null, "column": {"title": "Notes"}}
            ],
            "updates": [
                {"id": "3325555202", "created_at": "2024-05-02T10:15:00Z", "creator": {"id": "4012690", "name": "Eli Park"},
                 "body": "<p>Copy is <b>final</b>.</p>", "text_body": "Copy is final."},
                {"id": "3325555203", "created_at": "2024-05-03T16:20:00Z", "creator": {"id": "4012689", "name": "Dana Cruz"},
                 "body": "<p>Waiting on <i>legal</i> review.</p>"}
            ]
        }]
    }}]}}"#;

    fn item() -> Value {
        let v: Value = serde_json::from_str(ITEMS_PAGE).expect("fixture");
        v.pointer("/data/boards/0/items_page/items/0")
            .cloned()
            .unwrap_or(Value::Null)
    }

    #[test]
    fn columns_and_updates_are_the_text_and_the_board_the_thread() {
        let m = model(&item(), None, &Context::default());
        assert_eq!(m.kind, Kind::Task);
        assert_eq!(m.title.as_deref(), Some("Launch checklist"));
        assert_eq!(
            m.text.as_deref(),
            Some(
                "Status: Working on it\nOwner: Dana Cruz, Eli Park\nDue: 2024-05-10\n\n\
                 Updates:\nEli Park (2024-05-02 10:15 UTC): Copy is final.\n\
                 Dana Cruz (2024-05-03 16:20 UTC): Waiting on legal review."
            )
        );
        let owners: Vec<&str> = m
            .participants
            .iter()
            .filter_map(|p| p.name.as_deref())
            .collect();
        assert_eq!(owners, ["Dana Cruz", "Eli Park"]);
        assert_eq!(
            m.author.and_then(|p| p.address).as_deref(),
            Some("dana@acme.example")
        );
        assert_eq!(m.thread.as_deref(), Some("9876543210"));
        assert_eq!(
            m.url.as_deref(),
            Some("https://acme.monday.com/boards/9876543210/pulses/1234567890")
        );
        assert_eq!(
            m.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-05-03T16:20:00+00:00")
        );
    }

    #[test]
    fn todays_listing_gives_name_and_time_and_a_link_with_the_account_url() {
        let listed = json!({"id": "1234567890", "name": "Launch checklist", "updated_at": "2024-05-03T16:20:00Z"});
        let m = model(&listed, None, &Context::default());
        assert_eq!(m.title.as_deref(), Some("Launch checklist"));
        assert_eq!((m.text, m.url, m.thread), (None, None, None));
        let mut fuller = item();
        fuller["url"] = Value::Null;
        let ctx = Context {
            web_base: Some("https://acme.monday.com/".into()),
            ..Context::default()
        };
        let m = model(&listed, Some(&fuller), &ctx);
        assert_eq!(
            m.url.as_deref(),
            Some("https://acme.monday.com/boards/9876543210/pulses/1234567890")
        );
    }
}
