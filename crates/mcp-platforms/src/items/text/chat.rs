//! Discord's message content (https://discord.com/developers/docs/reference#message-formatting)
//! made readable: `<@id>`/`<@!id>` → `@name` from the message's `mentions` (else `@id`),
//! `<@&id>` → `@id` (a role), `<#id>` → `#id`, `<:name:id>`/`<a:name:id>` → `:name:`,
//! `</name:id>` → `/name`, `<t:unix>`/`<t:unix:style>` → the time in RFC 3339 (UTC). Markdown
//! markers are left as written.

use serde_json::Value;

/// Discord content as plain text; `mentions` is the message's `mentions` array of users.
pub fn discord_to_text(content: &str, mentions: &[Value]) -> String {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let Some(end) = tail.find('>') else {
            out.push('<');
            out.push_str(tail);
            return out;
        };
        match token(&tail[..end], mentions) {
            Some(readable) => {
                out.push_str(&readable);
                rest = &tail[end + 1..];
            }
            None => {
                // Kept as written up to the last `<` before that `>`: no token holds a `<`.
                let upto = tail[..end].rfind('<').unwrap_or(end);
                out.push('<');
                out.push_str(&tail[..upto]);
                rest = &tail[upto..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn token(inner: &str, mentions: &[Value]) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(role) = inner.strip_prefix("@&") {
        return digits(role).then(|| format!("@{role}"));
    }
    if let Some(user) = inner.strip_prefix('@') {
        let user = user.strip_prefix('!').unwrap_or(user);
        if !digits(user) {
            return None;
        }
        let name = mentions
            .iter()
            .find(|m| m.get("id").and_then(Value::as_str) == Some(user))
            .and_then(|m| {
                ["global_name", "username"]
                    .iter()
                    .find_map(|k| m.get(*k).and_then(Value::as_str))
            });
        return Some(format!("@{}", name.unwrap_or(user)));
    }
    if let Some(channel) = inner.strip_prefix('#') {
        return digits(channel).then(|| format!("#{channel}"));
    }
    if let Some(stamp) = inner.strip_prefix("t:") {
        let secs: i64 = stamp.split(':').next()?.parse().ok()?;
        let t = chrono::DateTime::from_timestamp(secs, 0)?;
        return Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    if let Some(command) = inner.strip_prefix('/') {
        let (name, id) = command.rsplit_once(':')?;
        return digits(id).then(|| format!("/{name}"));
    }
    let emoji = inner
        .strip_prefix("a:")
        .or_else(|| inner.strip_prefix(':'))?;
    let (name, id) = emoji.split_once(':')?;
    (digits(id) && !name.is_empty()).then(|| format!(":{name}:"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mentions_emoji_and_timestamps_read_as_text() {
        let mentions = [json!({"id": "80351110224678912", "username": "Nelly"})];
        assert_eq!(
            discord_to_text(
                "<@80351110224678912> <@!42> <@&165511591545143296> in <#41771983423143937> \
                 <:mmLol:216154654256398347> <a:b1nzy:392938283556143104> </airhorn:816437322781949972> \
                 <t:1618953630:R>",
                &mentions
            ),
            "@Nelly @42 @165511591545143296 in #41771983423143937 :mmLol: :b1nzy: /airhorn \
             2021-04-20T21:20:30Z"
        );
    }

    #[test]
    fn other_angle_brackets_stay() {
        assert_eq!(discord_to_text("a <b> <@x> 1 < 2", &[]), "a <b> <@x> 1 < 2");
        assert_eq!(discord_to_text("<<#1>", &[]), "<#1");
        let many = "<".repeat(100_000) + ">";
        assert_eq!(discord_to_text(&many, &[]), many);
    }
}
