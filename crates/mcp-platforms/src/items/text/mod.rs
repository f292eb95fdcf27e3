//! Text conversions: each platform's markup or container turned into the plain text a person
//! would read. One file per source form; docs/ITEMS.md states each one's rules. Every
//! function here takes what a platform sent and never fails: what it cannot read it leaves
//! out.

pub mod chat;
pub mod html;
pub mod mime;
pub mod mrkdwn;
pub mod notion;
pub mod turns;
pub mod vtt;
