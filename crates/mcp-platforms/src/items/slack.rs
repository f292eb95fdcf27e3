//! Slack. The listing stores `conversations.history` messages (and Events API `message`
//! events stored the same way); there is no content call. A history message names no
//! channel: it comes from the stored external id `<channel>:<ts>` (`Context::external_id`),
//! else the message's own `channel` (events carry one). The text is the mrkdwn `text` made
//! readable (`text::mrkdwn`) with shared files named. The link is the permalink form
//! `chat.getPermalink` answers (https://docs.slack.dev/reference/methods/chat.getPermalink):
//! `<workspace url>/archives/<channel>/p<ts without its dot>`, with
//! `?thread_ts=<thread>&cid=<channel>` for a reply; it needs the workspace's URL
//! (`Context::web_base`, `auth.test`'s `url`).

use serde_json::Value;

use super::text::mrkdwn;
use super::{fields, Context, Kind, Model, Person};

pub fn model(raw: &Value, ctx: &Context) -> Model {
    let mut m = Model::empty(Kind::Message);
    let ts = fields::text(raw, "/ts");
    let text = fields::text(raw, "/text").map(|t| mrkdwn::to_text(&t));
    let files = fields::array(raw, "/files")
        .iter()
        .filter_map(|f| fields::first_text(f, &["/name", "/title"]))
        .map(|name| format!("[file: {name}]"));
    m.text = fields::sections(text.into_iter().chain(files).map(Some));
    m.author = Person::new(
        fields::first_text(
            raw,
            &["/user_profile/real_name", "/username", "/bot_profile/name"],
        ),
        None,
        fields::first_text(raw, &["/user", "/bot_id"]),
    );
    m.occurred_at = fields::time(raw, "/ts");
    // A reply names its parent in `thread_ts`; a parent with replies names itself there too
    // (`reply_count` then tells it has replies).
    let replies = raw.get("reply_count").and_then(Value::as_u64).unwrap_or(0);
    m.thread = fields::text(raw, "/thread_ts").or_else(|| ts.clone().filter(|_| replies > 0));
    let channel = ctx
        .external_id
        .as_deref()
        .and_then(|id| id.split_once(':'))
        .map(|(c, _)| c.to_string())
        .filter(|c| !c.is_empty())
        .or_else(|| fields::text(raw, "/channel"));
    m.url = match (ctx.web_base.as_deref(), channel, ts) {
        (Some(base), Some(channel), Some(ts)) => Some(permalink(base, &channel, &ts, raw)),
        _ => None,
    };
    m
}

fn permalink(base: &str, channel: &str, ts: &str, raw: &Value) -> String {
    let base = base.trim_end_matches('/');
    let mut url = format!("{base}/archives/{channel}/p{}", ts.replace('.', ""));
    if let Some(thread) = fields::text(raw, "/thread_ts").filter(|t| t != ts) {
        url.push_str(&format!("?thread_ts={thread}&cid={channel}"));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // https://docs.slack.dev/reference/methods/conversations.replies (the example response;
    // slack-ruby/slack-api-ref methods/conversations/conversations.replies.json): a parent
    // with `reply_count` and its replies, all naming `thread_ts`.
    const REPLIES: &str = r#"{
        "messages": [
            {"type": "message", "user": "U061F7AUR", "text": "island", "thread_ts": "1482960137.003543",
             "reply_count": 3, "subscribed": true, "last_read": "1484678597.521003", "unread_count": 0,
             "ts": "1482960137.003543"},
            {"type": "message", "user": "U061F7AUR", "text": "one island", "thread_ts": "1482960137.003543",
             "parent_user_id": "U061F7AUR", "ts": "1483037603.017503"},
            {"type": "message", "user": "U061F7AUR", "text": "two island", "thread_ts": "1482960137.003543",
             "parent_user_id": "U061F7AUR", "ts": "1483051909.018632"},
            {"type": "message", "user": "U061F7AUR", "text": "three for the land", "thread_ts": "1482960137.003543",
             "parent_user_id": "U061F7AUR", "ts": "1483125339.020269"}
        ],
        "has_more": true, "ok": true,
        "response_metadata": {"next_cursor": "bmV4dF90czoxNDg0Njc4MjkwNTE3MDkx"}
    }"#;

    // https://docs.slack.dev/reference/methods/conversations.history ("Typical success
    // response containing a channel's messages"), its first message with its text replaced
    // by the mention, channel and link forms of
    // https://docs.slack.dev/messaging/formatting-message-text, and a shared file.
    const HISTORY_MESSAGE: &str = r#"{"type": "message", "user": "U123ABC456",
        "text": "Hey <@U0G9QF9C6>, the notes are in <#C123ABC456|general> &amp; <https://example.com/notes|this doc> &lt;draft&gt;",
        "files": [{"id": "F0S43PZDF", "name": "tedair.gif", "title": "tedair.gif"}],
        "ts": "1512085950.000216"}"#;

    fn ctx(external_id: &str) -> Context {
        Context {
            web_base: Some("https://subarachnoid.slack.com/".into()),
            external_id: Some(external_id.into()),
            ..Context::default()
        }
    }

    #[test]
    fn mentions_channels_and_links_read_as_text_and_files_are_named() {
        let raw: Value = serde_json::from_str(HISTORY_MESSAGE).expect("fixture");
        let m = model(&raw, &ctx("C1H9RESGL:1512085950.000216"));
        assert_eq!(m.kind, Kind::Message);
        assert_eq!(
            m.text.as_deref(),
            Some("Hey @U0G9QF9C6, the notes are in #general & this doc (https://example.com/notes) <draft>\n\n[file: tedair.gif]")
        );
        assert_eq!(m.author.and_then(|p| p.id).as_deref(), Some("U123ABC456"));
        assert_eq!(m.occurred_at.map(|t| t.timestamp()), Some(1_512_085_950));
        assert_eq!(m.thread, None, "not in a thread");
        assert_eq!(
            m.url.as_deref(),
            Some("https://subarachnoid.slack.com/archives/C1H9RESGL/p1512085950000216")
        );
    }

    #[test]
    fn a_thread_is_its_parents_ts_and_a_reply_links_into_it() {
        let v: Value = serde_json::from_str(REPLIES).expect("fixture");
        let msgs = fields::array(&v, "/messages");
        let parent = model(&msgs[0], &ctx("C1H9RESGL:1482960137.003543"));
        assert_eq!(parent.thread.as_deref(), Some("1482960137.003543"));
        assert_eq!(
            parent.url.as_deref(),
            Some("https://subarachnoid.slack.com/archives/C1H9RESGL/p1482960137003543")
        );
        let reply = model(&msgs[1], &ctx("C1H9RESGL:1483037603.017503"));
        assert_eq!(reply.thread.as_deref(), Some("1482960137.003543"));
        assert_eq!(reply.text.as_deref(), Some("one island"));
        assert_eq!(
            reply.url.as_deref(),
            Some("https://subarachnoid.slack.com/archives/C1H9RESGL/p1483037603017503?thread_ts=1482960137.003543&cid=C1H9RESGL")
        );
        // A parent whose thread_ts is missing but has replies is its own thread.
        let mut alone = msgs[0].clone();
        alone["thread_ts"] = Value::Null;
        assert_eq!(
            model(&alone, &Context::default()).thread.as_deref(),
            Some("1482960137.003543")
        );
    }

    #[test]
    fn without_the_workspace_url_there_is_no_link() {
        let raw =
            json!({"type": "message", "user": "U1", "text": "hi", "ts": "1.2", "channel": "C9"});
        assert_eq!(model(&raw, &Context::default()).url, None);
        let with_base = Context {
            web_base: Some("https://acme.slack.com".into()),
            ..Context::default()
        };
        assert_eq!(
            model(&raw, &with_base).url.as_deref(),
            Some("https://acme.slack.com/archives/C9/p12")
        );
    }
}
