//! `[items]`: how much text an item keeps, which platforms keep text at all, and the batch sizes
//! of the content step and the backfill. Read once at start; nothing here touches the database.

use std::collections::BTreeMap;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use mcp_platforms::connectors::Platform;

/// `[items.<platform>]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformItems {
    /// Keep the items' text and fetched content (false: the model's other fields only, and no
    /// content call is made; `content_state` is `withheld`).
    pub text: bool,
    /// Make the content calls of items whose listing lacks their content (false: the model of
    /// the listing alone, text included where the listing has it; no content call, which
    /// spends no quota: Fireflies' Free and Pro plans allow 50 requests a day).
    pub content: bool,
}

impl Default for PlatformItems {
    fn default() -> Self {
        PlatformItems {
            text: true,
            content: true,
        }
    }
}

/// `[items]`. The platforms' tables sit beside the scalar keys (`[items.gmail] text = false`).
#[derive(Clone, Debug, PartialEq)]
pub struct ItemsConfig {
    /// An item's text is cut to at most this many bytes (at a character boundary) and flagged
    /// `text_truncated`.
    pub max_text_bytes: usize,
    /// Pending items read per round of the sync's content step.
    pub content_batch: u32,
    /// Rows modelled per transaction by the backfill.
    pub backfill_batch: u32,
    /// Per platform, by name.
    pub platforms: BTreeMap<String, PlatformItems>,
}

impl Default for ItemsConfig {
    fn default() -> Self {
        ItemsConfig {
            max_text_bytes: 1 << 20,
            content_batch: 50,
            backfill_batch: 500,
            platforms: BTreeMap::new(),
        }
    }
}

/// The most a text may keep: well within a Postgres value (1 GB) and a search vector's input.
pub const MAX_TEXT_BYTES_LIMIT: usize = 64 << 20;

const SCALARS: [&str; 3] = ["max_text_bytes", "content_batch", "backfill_batch"];
/// The keys of `[items]`: its scalars, then a table for each platform, as `Platform` names it.
const FIELDS: [&str; SCALARS.len() + Platform::ALL.len()] = {
    let mut keys = [""; SCALARS.len() + Platform::ALL.len()];
    let mut i = 0;
    while i < SCALARS.len() {
        keys[i] = SCALARS[i];
        i += 1;
    }
    let mut j = 0;
    while j < Platform::ALL.len() {
        keys[SCALARS.len() + j] = Platform::ALL[j].as_str();
        j += 1;
    }
    keys
};

impl ItemsConfig {
    /// Whether `p`'s items keep their text and content.
    pub fn keeps_text(&self, p: Platform) -> bool {
        self.platforms.get(p.as_str()).is_none_or(|c| c.text)
    }

    /// Whether `p`'s items get their content calls: they keep text and `content` is on.
    pub fn fetches_content(&self, p: Platform) -> bool {
        self.platforms
            .get(p.as_str())
            .is_none_or(|c| c.text && c.content)
    }

    /// Whether the values make sense: a message naming the key, if not.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.max_text_bytes == 0 || self.max_text_bytes > MAX_TEXT_BYTES_LIMIT {
            return Err((
                "items.max_text_bytes".into(),
                format!("must be between 1 and {MAX_TEXT_BYTES_LIMIT}"),
            ));
        }
        if !(1..=1000).contains(&self.content_batch) {
            return Err((
                "items.content_batch".into(),
                "must be between 1 and 1000".into(),
            ));
        }
        if !(1..=10_000).contains(&self.backfill_batch) {
            return Err((
                "items.backfill_batch".into(),
                "must be between 1 and 10000".into(),
            ));
        }
        for name in self.platforms.keys() {
            if Platform::parse(name).is_none() {
                return Err((format!("items.{name}"), "no such platform".into()));
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ItemsConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items;
        impl<'de> Visitor<'de> for Items {
            type Value = ItemsConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the [items] table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ItemsConfig, A::Error> {
                let mut cfg = ItemsConfig::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "max_text_bytes" => cfg.max_text_bytes = map.next_value()?,
                        "content_batch" => cfg.content_batch = map.next_value()?,
                        "backfill_batch" => cfg.backfill_batch = map.next_value()?,
                        name if Platform::parse(name).is_some() => {
                            let p: PlatformItems = map.next_value()?;
                            cfg.platforms.insert(key, p);
                        }
                        other => return Err(de::Error::unknown_field(other, &FIELDS)),
                    }
                }
                Ok(cfg)
            }
        }
        d.deserialize_map(Items)
    }
}

impl Serialize for ItemsConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(SCALARS.len() + self.platforms.len()))?;
        m.serialize_entry("max_text_bytes", &self.max_text_bytes)?;
        m.serialize_entry("content_batch", &self.content_batch)?;
        m.serialize_entry("backfill_batch", &self.backfill_batch)?;
        for (name, p) in &self.platforms {
            m.serialize_entry(name, p)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ItemsConfig, String> {
        let v: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
        let cfg: ItemsConfig = serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner())
        })?;
        cfg.check().map_err(|(k, m)| format!("{k}: {m}"))?;
        Ok(cfg)
    }

    #[test]
    fn platform_tables_sit_beside_the_scalar_keys() {
        let cfg = parse("max_text_bytes = 1000\n[gmail]\ntext = false\n").expect("config");
        assert_eq!(cfg.max_text_bytes, 1000);
        assert!(!cfg.keeps_text(Platform::Gmail));
        assert!(!cfg.fetches_content(Platform::Gmail));
        assert!(cfg.keeps_text(Platform::Slack));
        let cfg = parse("[fireflies]\ncontent = false\n").expect("config");
        assert!(cfg.keeps_text(Platform::Fireflies) && !cfg.fetches_content(Platform::Fireflies));
        assert!(cfg.fetches_content(Platform::Zoom));
        let back: toml::Value = toml::Value::try_from(&cfg).expect("serialize");
        let again: ItemsConfig = back.try_into().expect("read back");
        assert_eq!(again, cfg);
    }

    #[test]
    fn bad_keys_are_named() {
        let e = parse("[gmial]\ntext = false\n").expect_err("unknown platform");
        assert!(e.contains("gmial"), "{e}");
        let e = parse("[gmail]\ntxt = false\n").expect_err("unknown key");
        assert!(e.contains("gmail") && e.contains("txt"), "{e}");
        let e = parse("max_text_bytes = 0\n").expect_err("zero");
        assert!(e.contains("items.max_text_bytes"), "{e}");
        let e = parse("max_txt_bytes = 5\n").expect_err("unknown scalar");
        assert!(e.contains("max_txt_bytes"), "{e}");
        // Through the whole config, as `check-config` reads it.
        for (text, names) in [
            ("[items.gmial]\ntext = false\n", "gmial"),
            ("[items.gmail]\ntext = \"no\"\n", "items.gmail.text"),
            ("[items]\nbackfill_batch = 0\n", "items.backfill_batch"),
        ] {
            let e = crate::config::Config::from_parts(Some(text), "t.toml", &[])
                .expect_err("refused")
                .to_string();
            assert!(e.contains(names), "{e}");
        }
    }
}
