//! A Monday board item with the fields a query may ask of it (the `Item`, `ColumnValue` and
//! `Update` types of monday's schema, https://developer.monday.com/api-reference/reference/items,
//! https://developer.monday.com/api-reference/reference/updates): its link, board, creator,
//! times, columns (status, people, text, date; each with `id`, `type`, `text`, `value` and its
//! column's `title`) and two updates. Only asked fields are added: `id` and `name` always,
//! the rest when the query names `column_values`. Test double only.

use serde_json::{json, Value};

use crate::timeline::TS0;

/// The board the sandbox's items are on.
pub const BOARD: u64 = 4_000_000_001;
/// The word only an item's update holds.
pub const UPDATE_WORD: &str = "scaffolding";

fn time(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Item `i`; `rich`: with the fields beyond `id` and `name`.
pub fn item(i: u64, rich: bool) -> Value {
    let id = (5_000 + i).to_string();
    let mut v = json!({"id": id, "name": format!("item {i}")});
    if !rich {
        return v;
    }
    let col = |cid: &str, kind: &str, title: &str, text: &str, value: Value| {
        json!({"id": cid, "type": kind, "text": text, "value": value.to_string(),
            "column": {"title": title}})
    };
    let person = json!({"id": 77, "name": "Maya Chen", "email": "maya@sandbox.test"});
    let extra = json!({
        "url": format!("https://sandbox.monday.com/boards/{BOARD}/pulses/{id}"),
        "created_at": time(TS0 + i),
        "updated_at": time(TS0 + 3600 + i),
        "board": {"id": BOARD.to_string()},
        "creator": person,
        "column_values": [
            col("status", "status", "Status", if i.is_multiple_of(2) { "Working on it" } else { "Done" },
                json!({"index": i % 2})),
            col("person", "people", "Owner", "Maya Chen, Omar Haddad",
                json!({"personsAndTeams": [{"id": 77, "kind": "person"}, {"id": 78, "kind": "person"}]})),
            col("text", "text", "Notes", &format!("Order {i} needs a second supplier"), json!(format!("Order {i} needs a second supplier"))),
            col("date", "date", "Due", "2025-02-01", json!({"date": "2025-02-01"})),
            col("empty", "text", "Spare", "", Value::Null),
        ],
        "updates": [
            {"id": format!("9{i}1"), "text_body": format!("The {UPDATE_WORD} arrives on Monday."),
             "body": format!("<p>The <b>{UPDATE_WORD}</b> arrives on Monday.</p>"),
             "created_at": time(TS0 + 1800 + i), "creator": person},
            {"id": format!("9{i}2"), "text_body": "Site visit moved to the afternoon.",
             "body": "<p>Site visit moved to the afternoon.</p>",
             "created_at": time(TS0 + 900 + i),
             "creator": {"id": 78, "name": "Omar Haddad", "email": "omar@sandbox.test"}},
        ],
    });
    if let (Some(o), Value::Object(more)) = (v.as_object_mut(), extra) {
        o.extend(more);
    }
    v
}
