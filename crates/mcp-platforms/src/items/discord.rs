//! Discord. The listing stores Get Channel Messages' message objects
//! (https://discord.com/developers/docs/resources/message#message-object); there is no
//! content call. The text is `content` made readable (`text::chat`) with attachments named;
//! the author is `author` (its `global_name`, else `username`); participants are the
//! mentioned users. The thread is the message's channel (`channel_id`: a thread is a channel
//! too). The link (https://discord.com/developers/docs/reference#message-formatting has the
//! channel form; the message form is what the client's "Copy Message Link" gives) is
//! `https://discord.com/channels/<guild>/<channel>/<message>`, with the guild from the
//! message's `guild_id` or the integration's account (`Context::account`).

use serde_json::Value;

use super::text::chat;
use super::{fields, Context, Kind, Model, Person};

pub fn model(raw: &Value, ctx: &Context) -> Model {
    let mut m = Model::empty(Kind::Message);
    let mentions = fields::array(raw, "/mentions");
    let content = fields::text(raw, "/content").map(|c| chat::discord_to_text(&c, mentions));
    let attachments = fields::array(raw, "/attachments")
        .iter()
        .filter_map(|a| fields::text(a, "/filename"))
        .map(|name| format!("[attachment: {name}]"));
    m.text = fields::sections(content.into_iter().chain(attachments).map(Some));
    m.author = user(raw.get("author"));
    m.participants = mentions.iter().filter_map(|u| user(Some(u))).collect();
    m.occurred_at = fields::time(raw, "/timestamp");
    let channel = fields::id(raw, "/channel_id");
    m.thread = channel.clone();
    let guild = fields::id(raw, "/guild_id").or_else(|| ctx.account.clone());
    m.url = match (guild, channel, fields::id(raw, "/id")) {
        (Some(g), Some(c), Some(id)) => Some(format!("https://discord.com/channels/{g}/{c}/{id}")),
        _ => None,
    };
    m
}

/// A user object: display name (`global_name`, else `username`) and id.
fn user(u: Option<&Value>) -> Option<Person> {
    let u = u?;
    Person::new(
        fields::first_text(u, &["/global_name", "/username"]),
        None,
        fields::id(u, "/id"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // https://discord.com/developers/docs/resources/message#message-object-example-message
    // (Get Channel Messages returns a list of these).
    const MESSAGE: &str = include_str!("../../fixtures/discord-message.json");

    const GUILD: &str = "41771983423143937";

    #[test]
    fn a_message_links_into_its_guild_and_channel() {
        let raw: Value = serde_json::from_str(MESSAGE).expect("fixture");
        let ctx = Context {
            account: Some(GUILD.into()),
            ..Context::default()
        };
        let m = model(&raw, &ctx);
        assert_eq!(m.kind, Kind::Message);
        assert_eq!(m.text.as_deref(), Some("Supa Hot"));
        assert_eq!(
            m.author,
            Person::new(Some("Mason".into()), None, Some("53908099506183680".into()))
        );
        assert_eq!(
            m.occurred_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2017-07-11T17:27:07.299+00:00")
        );
        assert_eq!(m.thread.as_deref(), Some("290926798999357250"));
        assert_eq!(
            m.url.as_deref(),
            Some("https://discord.com/channels/41771983423143937/290926798999357250/334385199974967042")
        );
        assert_eq!(
            model(&raw, &Context::default()).url,
            None,
            "no guild, no link"
        );
    }

    #[test]
    fn mentions_become_names_and_attachments_are_named() {
        let mut raw: Value = serde_json::from_str(MESSAGE).expect("fixture");
        raw["content"] = json!("<@80351110224678912> look at <#290926798999357250>");
        raw["mentions"] = json!([{"id": "80351110224678912", "username": "Nelly",
            "global_name": "Nelly B", "discriminator": "1337"}]);
        raw["attachments"] = json!([{"id": "1", "filename": "plan.png", "size": 10,
            "url": "https://cdn.discordapp.com/attachments/1/plan.png"}]);
        let m = model(&raw, &Context::default());
        assert_eq!(
            m.text.as_deref(),
            Some("@Nelly B look at #290926798999357250\n\n[attachment: plan.png]")
        );
        assert_eq!(m.participants[0].id.as_deref(), Some("80351110224678912"));
    }
}
