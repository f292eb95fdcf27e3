//! What the sandbox knows of the apps' installations besides their tokens: the guilds the
//! Discord bot was added to (by a bot install), and Slack's non-Marketplace limits on
//! `conversations.history`, counted per installation. Test double only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mcp_platforms::connectors::Platform;

#[derive(Default)]
pub struct Installs {
    /// Discord guilds the bot was installed in → the login that installed it.
    guilds: Mutex<HashMap<String, String>>,
    /// Slack's app is held to the non-Marketplace limits on history methods.
    slack_non_marketplace: AtomicBool,
    /// When each Slack installation (team) last called `conversations.history`.
    slack_history_at: Mutex<HashMap<String, Instant>>,
    /// `conversations.history` calls refused by those limits.
    slack_limited: AtomicU64,
}

/// Slack's non-Marketplace limit: one `conversations.history` call a minute per installation.
const SLACK_HISTORY_EVERY: Duration = Duration::from_secs(60);

impl Installs {
    /// Adds the sandbox's Discord bot to the guild of `login` (a bot install); returns the
    /// guild's id.
    pub fn install_bot(&self, login: &str) -> String {
        let guild = crate::req::account_of(Platform::Discord, login);
        let mut g = self.guilds.lock().unwrap_or_else(|e| e.into_inner());
        g.insert(guild.clone(), login.to_string());
        guild
    }

    /// The login whose guild `guild` is, if the bot was installed there.
    pub fn bot_guild(&self, guild: &str) -> Option<String> {
        let g = self.guilds.lock().unwrap_or_else(|e| e.into_inner());
        g.get(guild).cloned()
    }

    /// The guilds the bot is in, with their logins.
    pub fn bot_guilds(&self) -> Vec<(String, String)> {
        let g = self.guilds.lock().unwrap_or_else(|e| e.into_inner());
        g.iter().map(|(a, b)| (a.clone(), b.clone())).collect()
    }

    pub fn set_slack_non_marketplace(&self, on: bool) {
        self.slack_non_marketplace.store(on, Ordering::Relaxed);
    }

    pub fn slack_non_marketplace(&self) -> bool {
        self.slack_non_marketplace.load(Ordering::Relaxed)
    }

    /// A `conversations.history` call of `login`'s installation under the non-Marketplace
    /// limits: `None` when it may go ahead (and is recorded), else the seconds to wait.
    pub fn slack_history_wait(&self, login: &str) -> Option<u64> {
        let team = crate::req::account_of(Platform::Slack, login);
        let mut g = self
            .slack_history_at
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some(at) = g.get(&team) {
            let since = now.duration_since(*at);
            if since < SLACK_HISTORY_EVERY {
                self.slack_limited.fetch_add(1, Ordering::Relaxed);
                return Some((SLACK_HISTORY_EVERY - since).as_secs().max(1));
            }
        }
        g.insert(team, now);
        None
    }

    pub fn slack_limited(&self) -> u64 {
        self.slack_limited.load(Ordering::Relaxed)
    }
}
