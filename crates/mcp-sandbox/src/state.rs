//! The sandbox's memory: tokens it issued (access, refresh, API keys, Twilio account SIDs),
//! authorization codes, armed faults, per-platform call counters and the items removed from
//! accounts' listings. Test double only: it must never be used to hold real credentials.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use mcp_platforms::connectors::Platform;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
    ApiKey,
    /// A Twilio account SID; the secret is the auth token stored with it.
    AccountSid,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub platform: Platform,
    pub account: String,
    pub kind: TokenKind,
    pub expires_at: Option<Instant>,
    pub revoked: bool,
    /// A rotated refresh token: using it again is `invalid_grant`.
    pub used: bool,
    /// For an account SID: its auth token.
    pub secret: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Code {
    pub platform: Platform,
    pub account: String,
    pub redirect_uri: Option<String>,
    pub challenge: Option<String>,
    /// The scopes the authorize request asked for.
    pub scopes: Vec<String>,
    pub used: bool,
}

pub use crate::faults::{FaultKind, FaultSpec};

pub struct State {
    inner: Mutex<Inner>,
    calls: [AtomicU64; 13],
    /// `refresh_token` grants answered with new tokens, per platform.
    refreshes: [AtomicU64; 13],
    /// List items served per platform.
    served: [AtomicU64; 13],
    /// The day Zoom's synthetic recordings start (90 days before the sandbox started: Zoom
    /// lists recordings by date windows reaching about six months back).
    pub zoom_day0: chrono::NaiveDate,
    /// Lifetime of issued access tokens in seconds, where the platform's tokens expire; 0: the
    /// platform's documented lifetime (`facts::oauth`).
    pub expires_in: AtomicU64,
    /// Synthetic list items per account.
    pub items_per_account: AtomicU64,
    /// How long the `timeout` fault hangs.
    pub hang: Mutex<Duration>,
    /// How long every platform request waits before it is answered (a platform's round trip).
    pub latency: Mutex<Duration>,
    /// `http://127.0.0.1:PORT`, for absolute links in list pages.
    pub base_url: String,
    /// Items removed from listings, per platform and login.
    removed: Mutex<HashMap<(Platform, String), Arc<Removed>>>,
    /// Whether `removed` has any entry: listings skip the lock while it is false.
    any_removed: AtomicBool,
    /// The installations: Discord's bot in guilds, Slack's limits.
    pub installs: crate::installs::Installs,
    /// Google's signing keys: which one signs, JWKS fetches.
    pub gmail_keys: crate::gmail_keys::GmailKeyState,
    /// The content calls' faults, large items and storage downloads.
    pub content: crate::content_state::ContentState,
}

/// The items removed from one login's listings on one platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// Removals made so far; never decreases (a restore does not undo its count). Gmail's
    /// latest history id and Outlook's delta tokens count with it.
    pub seq: u64,
    /// Removed item index → the `seq` its removal got.
    pub at: BTreeMap<u64, u64>,
}

impl Removed {
    /// Whether item `i` is still listed.
    pub fn keeps(&self, i: u64) -> bool {
        !self.at.contains_key(&i)
    }
}

#[derive(Default)]
struct Inner {
    tokens: HashMap<String, Token>,
    codes: HashMap<String, Code>,
    faults: Vec<FaultSpec>,
    subscriptions: Vec<Subscription>,
}

/// A webhook subscription made through the platform's API (Gmail watch, Graph subscription,
/// Monday board webhook), as `GET /_sandbox/subscriptions` lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Subscription {
    pub platform: String,
    pub id: String,
    /// The login whose token made it.
    pub account: String,
    /// Where it delivers: the notification URL, or the Pub/Sub topic.
    pub target: String,
    /// What it watches: the Graph resource, the Monday board and event, the Gmail labels.
    pub watches: String,
}

fn idx(p: Platform) -> usize {
    Platform::ALL.iter().position(|x| *x == p).unwrap_or(0)
}

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0'))
        .collect()
}

impl State {
    pub fn new(base_url: String) -> State {
        State {
            inner: Mutex::new(Inner::default()),
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
            refreshes: std::array::from_fn(|_| AtomicU64::new(0)),
            served: std::array::from_fn(|_| AtomicU64::new(0)),
            zoom_day0: chrono::Utc::now().date_naive() - chrono::Duration::days(90),
            expires_in: AtomicU64::new(0),
            items_per_account: AtomicU64::new(25),
            hang: Mutex::new(Duration::from_secs(30)),
            latency: Mutex::new(Duration::ZERO),
            base_url,
            removed: Mutex::new(HashMap::new()),
            any_removed: AtomicBool::new(false),
            installs: Default::default(),
            gmail_keys: Default::default(),
            content: Default::default(),
        }
    }

    /// The items removed from `login`'s listings on `p`; `None` (without locking) when no
    /// item was ever removed.
    pub fn removed(&self, p: Platform, login: &str) -> Option<Arc<Removed>> {
        if !self.any_removed.load(Ordering::Acquire) {
            return None;
        }
        let g = self.removed.lock().unwrap_or_else(|e| e.into_inner());
        g.get(&(p, login.to_string())).cloned()
    }

    /// Removes items (by index) from a login's listings; returns how many were not removed
    /// already. Each gets the next `seq`, in the order given.
    pub fn remove_items(&self, p: Platform, login: &str, indexes: &[u64]) -> u64 {
        let mut g = self.removed.lock().unwrap_or_else(|e| e.into_inner());
        let entry = g.entry((p, login.to_string())).or_default();
        let r = Arc::make_mut(entry);
        let mut n = 0;
        for &i in indexes {
            if r.keeps(i) {
                r.seq += 1;
                r.at.insert(i, r.seq);
                n += 1;
            }
        }
        self.any_removed.store(true, Ordering::Release);
        n
    }

    /// Lists removed items again (all of the login's when `indexes` is `None`); returns how
    /// many were removed.
    pub fn restore_items(&self, p: Platform, login: &str, indexes: Option<&[u64]>) -> u64 {
        let mut g = self.removed.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = g.get_mut(&(p, login.to_string())) else {
            return 0;
        };
        let r = Arc::make_mut(entry);
        let before = r.at.len();
        match indexes {
            Some(ix) => ix.iter().for_each(|i| {
                r.at.remove(i);
            }),
            None => r.at.clear(),
        }
        (before - r.at.len()) as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a subscription (a Gmail watch replaces the login's earlier one, as Gmail does);
    /// returns its id.
    pub fn subscribe(&self, p: Platform, account: &str, target: &str, watches: &str) -> String {
        let id = random_hex(16);
        let mut g = self.lock();
        if p == Platform::Gmail {
            g.subscriptions
                .retain(|s| !(s.platform == p.as_str() && s.account == account));
        }
        g.subscriptions.push(Subscription {
            platform: p.as_str().into(),
            id: id.clone(),
            account: account.into(),
            target: target.into(),
            watches: watches.into(),
        });
        id
    }

    /// Removes a subscription of `p` by id (Gmail: the login's watch); whether one was there.
    /// Only the account that made a subscription removes it: to another, it is not found. Graph
    /// deletes a subscription only for a caller with the permission it was made with
    /// (https://learn.microsoft.com/en-us/graph/api/subscription-delete); Monday's
    /// `delete_webhook` needs access to the webhook's board
    /// (https://developer.monday.com/api-reference/reference/webhooks).
    pub fn unsubscribe(&self, p: Platform, account: &str, id: Option<&str>) -> bool {
        let mut g = self.lock();
        let before = g.subscriptions.len();
        g.subscriptions.retain(|s| {
            !(s.platform == p.as_str() && s.account == account && id.is_none_or(|id| s.id == id))
        });
        g.subscriptions.len() < before
    }

    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.lock().subscriptions.clone()
    }

    pub fn count_call(&self, p: Platform) {
        self.calls[idx(p)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn calls(&self, p: Platform) -> u64 {
        self.calls[idx(p)].load(Ordering::Relaxed)
    }

    pub fn count_refresh(&self, p: Platform) {
        self.refreshes[idx(p)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn refreshes(&self, p: Platform) -> u64 {
        self.refreshes[idx(p)].load(Ordering::Relaxed)
    }

    pub fn count_served(&self, p: Platform, n: u64) {
        self.served[idx(p)].fetch_add(n, Ordering::Relaxed);
    }

    pub fn served(&self, p: Platform) -> u64 {
        self.served[idx(p)].load(Ordering::Relaxed)
    }

    pub fn hang(&self) -> Duration {
        *self.hang.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn latency(&self) -> Duration {
        *self.latency.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, value: String, t: Token) -> String {
        self.lock().tokens.insert(value.clone(), t);
        value
    }

    fn token(&self, p: Platform, account: &str, kind: TokenKind, ttl: Option<Duration>) -> String {
        let tag = match kind {
            TokenKind::Access => "at",
            TokenKind::Refresh => "rt",
            TokenKind::ApiKey => "key",
            TokenKind::AccountSid => "sid",
        };
        let value = format!("sbx-{}-{tag}-{}", p.as_str(), random_hex(24));
        self.insert(
            value,
            Token {
                platform: p,
                account: account.into(),
                kind,
                expires_at: ttl.map(|d| Instant::now() + d),
                revoked: false,
                used: false,
                secret: None,
            },
        )
    }

    /// How long an access token of `p` issued now lives (`None`: it does not expire).
    pub fn access_ttl(&self, facts: &crate::facts::OAuthFacts) -> Option<u64> {
        let set = self.expires_in.load(Ordering::Relaxed);
        facts.access_ttl.map(|d| if set > 0 { set } else { d })
    }

    /// An access + refresh pair (OAuth platforms; the refresh token empty where the platform
    /// issues none), an API key (twice), or a Twilio (AccountSid, AuthToken) pair.
    pub fn mint(&self, p: Platform, account: &str) -> (String, String) {
        if p == Platform::Discord {
            // Discord integrations are bot installs: the bot is in the login's guild.
            self.installs.install_bot(account);
        }
        self.mint_as(p, account, None)
    }

    /// `mint` with the facts of the OAuth flow that issues the tokens (`None`: the
    /// platform's usual flow).
    pub fn mint_as(
        &self,
        p: Platform,
        account: &str,
        flow: Option<crate::facts::OAuthFacts>,
    ) -> (String, String) {
        match flow.or_else(|| crate::facts::oauth(p)) {
            Some(f) => {
                let ttl = self.access_ttl(&f).map(Duration::from_secs);
                let access = self.token(p, account, TokenKind::Access, ttl);
                let refresh = if f.refresh == crate::facts::Refresh::None {
                    String::new()
                } else {
                    self.token(p, account, TokenKind::Refresh, None)
                };
                (access, refresh)
            }
            None if p == Platform::ZeroVoice => {
                let sid = format!("AC{}", random_hex(32));
                let auth = random_hex(32);
                self.insert(
                    sid.clone(),
                    Token {
                        platform: p,
                        account: account.into(),
                        kind: TokenKind::AccountSid,
                        expires_at: None,
                        revoked: false,
                        used: false,
                        secret: Some(auth.clone()),
                    },
                );
                (sid, auth)
            }
            None => {
                let key = self.token(p, account, TokenKind::ApiKey, None);
                (key.clone(), key)
            }
        }
    }

    pub fn get(&self, value: &str) -> Option<Token> {
        self.lock().tokens.get(value).cloned()
    }

    /// Marks a token revoked (access, refresh or key); returns whether it was known.
    pub fn revoke(&self, value: &str) -> bool {
        let mut g = self.lock();
        let Some(t) = g.tokens.get_mut(value) else {
            return false;
        };
        t.revoked = true;
        let (p, account) = (t.platform, t.account.clone());
        // Revoking one token of a grant revokes the grant (as Google, Slack and Zoom do).
        for t in g.tokens.values_mut() {
            if t.platform == p && t.account == account {
                t.revoked = true;
            }
        }
        true
    }

    /// Revokes one token only (not its grant).
    pub fn revoke_single(&self, value: &str) {
        self.lock().tokens.remove(value);
    }

    /// Makes an access token expire now, as time would (its grant stays good).
    pub fn expire(&self, value: &str) -> bool {
        let mut g = self.lock();
        match g.tokens.get_mut(value) {
            Some(t) if t.kind == TokenKind::Access => {
                t.expires_at = Some(Instant::now());
                true
            }
            _ => false,
        }
    }

    pub fn mark_used(&self, value: &str) {
        if let Some(t) = self.lock().tokens.get_mut(value) {
            t.used = true;
        }
    }

    pub fn new_code(&self, c: Code) -> String {
        let code = format!("sbx-code-{}", random_hex(20));
        self.lock().codes.insert(code.clone(), c);
        code
    }

    /// Takes a code (single use): `None` when unknown or already used.
    pub fn take_code(&self, code: &str) -> Option<Code> {
        let mut g = self.lock();
        let c = g.codes.get_mut(code)?;
        if c.used {
            return None;
        }
        c.used = true;
        Some(c.clone())
    }

    pub fn add_fault(&self, f: FaultSpec) {
        self.lock().faults.push(f);
    }

    pub fn clear_faults(&self, platform: Option<Platform>) {
        let mut g = self.lock();
        match platform {
            None => g.faults.clear(),
            Some(p) => g.faults.retain(|f| f.platform != p.as_str()),
        }
    }

    pub fn faults(&self) -> Vec<FaultSpec> {
        self.lock().faults.clone()
    }

    /// The first fault that applies to this request and lets none through any more; counts
    /// it down. Every applying fault that still lets requests through counts this one.
    pub fn take_fault(&self, p: Platform, presented: Option<&str>) -> Option<FaultSpec> {
        self.take_fault_at(p, presented, false)
    }

    /// `take_fault` at the token endpoint (`token_endpoint`) or an API call: an `oauth_error`
    /// fault fires only at the token endpoint.
    pub fn take_fault_at(
        &self,
        p: Platform,
        presented: Option<&str>,
        token_endpoint: bool,
    ) -> Option<FaultSpec> {
        crate::faults::take(&mut self.lock().faults, p, presented, token_endpoint)
    }
}
