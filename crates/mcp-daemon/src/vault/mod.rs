//! The vault: encrypts and decrypts stored secrets (access and refresh tokens, API keys, webhook
//! and notification secrets) with XChaCha20-Poly1305. Each write uses a fresh random 24-byte
//! nonce and binds the ciphertext to where it belongs (record, field, key id) through associated
//! data, so a ciphertext copied to another row or field does not decrypt.
//! Envelope encryption: the operator's keys (files or systemd credentials) wrap **data keys**
//! (`mcp.vault_data_keys`, made and rotated by the daemons, see `crate::keys`); secrets are
//! sealed with the newest data key that is active. Without any data key, the newest operator
//! key seals (the layout before data keys). Every loaded key of either kind decrypts.
//! It never logs, prints or returns key material or plaintext except as `Secret`.

mod key_files;

use std::path::PathBuf;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use mcp_platforms::secret::Secret;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no vault key is configured (vault.key_files, or vault-key-* systemd credentials)")]
    NoKey,
    #[error("cannot read vault key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("vault key file {path} must hold 32 bytes as base64 or hex")]
    BadKey { path: String },
    #[error(
        "vault key file {path} can be read by group or others (mode {mode:o}): \
         `chmod 600 {path}` (as ssh refuses such a private key)"
    )]
    OpenKeyFile { path: String, mode: u32 },
    #[error("the secret was encrypted with key `{0}`, which is not loaded")]
    UnknownKey(String),
    #[error("stored secret is malformed")]
    Malformed,
    #[error("stored secret failed authentication: it was altered, or belongs to another record")]
    Tampered,
    #[error("encryption failed")]
    Encrypt,
}

/// `[vault]`: where the operator's keys come from, and the data keys' rotation.
#[derive(Clone, Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// Key files: 32 random bytes as base64 or hex. The key id is the file name without its
    /// extension; the greatest id (sorting as text) is the newest and wraps the data keys.
    pub key_files: Vec<PathBuf>,
    /// A new data key is made when the newest is older than this (once across daemons), and
    /// every secret re-encrypted under it in the background.
    #[serde(with = "humantime_serde")]
    pub rotate_after: std::time::Duration,
    /// A new data key seals only this long after it was made: every daemon reloads the data
    /// keys (every `upkeep_interval`) before any secret is sealed with it.
    #[serde(with = "humantime_serde")]
    pub data_key_grace: std::time::Duration,
    /// How often a daemon reloads the data keys, rotates when due, and re-encrypts a batch.
    #[serde(with = "humantime_serde")]
    pub upkeep_interval: std::time::Duration,
    /// Secrets re-encrypted per transaction by the background rotation.
    pub batch: i64,
}

impl Default for VaultConfig {
    fn default() -> Self {
        VaultConfig {
            key_files: Vec::new(),
            rotate_after: std::time::Duration::from_secs(90 * 86_400),
            data_key_grace: std::time::Duration::from_secs(120),
            upkeep_interval: std::time::Duration::from_secs(30),
            batch: 500,
        }
    }
}

/// What a ciphertext is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub record: &'a str,
    pub field: &'a str,
}

impl<'a> Binding<'a> {
    pub fn new(record: &'a str, field: &'a str) -> Self {
        Binding { record, field }
    }
}

/// The field a stored token's access token is sealed under (`mcp.oauth_tokens.access_token_ct`).
pub const ACCESS_TOKEN_FIELD: &str = "access_token";
/// The field a stored token's refresh token is sealed under (`mcp.oauth_tokens.refresh_token_ct`).
pub const REFRESH_TOKEN_FIELD: &str = "refresh_token";

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// A data key, unwrapped, and from when it seals.
struct DataKey {
    key: Key,
    active_from: chrono::DateTime<chrono::Utc>,
}

pub struct Vault {
    /// The operator's keys. Oldest first; the last one is the newest.
    keys: Vec<Key>,
    /// The data keys this daemon has unwrapped, oldest first.
    data: std::sync::RwLock<Vec<DataKey>>,
}

/// The field data keys are wrapped under (their record: the data key's id).
pub const DATA_KEY_FIELD: &str = "data_key";

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Vault").field("key_ids", &ids).finish()
    }
}

impl Vault {
    /// Keys from `vault.key_files`, plus `$CREDENTIALS_DIRECTORY/vault-key-*` under systemd.
    /// No key at all is not an error here: the vault then refuses every operation with `NoKey`.
    pub fn from_config(cfg: &VaultConfig) -> Result<Vault, VaultError> {
        let keys = key_files::load(cfg)?;
        Ok(Vault::from_keys(keys))
    }

    /// A vault over raw keys `(id, 32 bytes)`.
    pub fn from_keys(keys: Vec<(String, Zeroizing<[u8; 32]>)>) -> Vault {
        let mut keys: Vec<Key> = keys
            .into_iter()
            .map(|(id, bytes)| Key {
                id,
                cipher: XChaCha20Poly1305::new(bytes.as_ref().into()),
            })
            .collect();
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        keys.dedup_by(|a, b| a.id == b.id);
        Vault {
            keys,
            data: std::sync::RwLock::new(Vec::new()),
        }
    }

    /// Replaces the data keys: `(id, bytes, active from)`.
    pub fn set_data_keys(
        &self,
        keys: Vec<(String, Zeroizing<[u8; 32]>, chrono::DateTime<chrono::Utc>)>,
    ) {
        let mut keys: Vec<DataKey> = keys
            .into_iter()
            .map(|(id, bytes, active_from)| DataKey {
                key: Key {
                    id,
                    cipher: XChaCha20Poly1305::new(bytes.as_ref().into()),
                },
                active_from,
            })
            .collect();
        keys.sort_by(|a, b| (a.active_from, &a.key.id).cmp(&(b.active_from, &b.key.id)));
        if let Ok(mut d) = self.data.write() {
            *d = keys;
        }
    }

    /// The data key ids loaded, oldest first.
    pub fn data_key_ids(&self) -> Vec<String> {
        self.data
            .read()
            .map(|d| d.iter().map(|k| k.key.id.clone()).collect())
            .unwrap_or_default()
    }

    /// The id of the key that seals new writes now: the newest active data key, else the
    /// newest operator key.
    pub fn sealing_key_id(&self) -> Option<String> {
        let now = chrono::Utc::now();
        let data = self.data.read().ok().and_then(|d| {
            d.iter()
                .rev()
                .find(|k| k.active_from <= now)
                .map(|k| k.key.id.clone())
        });
        data.or_else(|| self.newest_key_id().map(str::to_string))
    }

    /// Wraps a data key under the newest operator key: (operator key id, stored bytes).
    pub fn wrap(
        &self,
        data_key_id: &str,
        bytes: &[u8; 32],
    ) -> Result<(String, Vec<u8>), VaultError> {
        let text = Zeroizing::new(hex::encode(bytes));
        let key = self.keys.last().ok_or(VaultError::NoKey)?;
        seal_with(
            key,
            &text,
            Binding {
                record: data_key_id,
                field: DATA_KEY_FIELD,
            },
        )
    }

    /// Unwraps a data key stored by `wrap`.
    pub fn unwrap_key(
        &self,
        data_key_id: &str,
        kek_id: &str,
        stored: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == kek_id)
            .ok_or_else(|| VaultError::UnknownKey(kek_id.to_string()))?;
        let text = open_with(
            key,
            stored,
            Binding {
                record: data_key_id,
                field: DATA_KEY_FIELD,
            },
        )?;
        let bytes = Zeroizing::new(hex::decode(text.expose()).map_err(|_| VaultError::Malformed)?);
        let mut out = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return Err(VaultError::Malformed);
        }
        out.copy_from_slice(&bytes);
        Ok(out)
    }

    /// Loaded key ids, oldest first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    pub fn newest_key_id(&self) -> Option<&str> {
        self.keys.last().map(|k| k.id.as_str())
    }

    /// Encrypts under the sealing key (`sealing_key_id`); returns (key id, stored bytes).
    pub fn seal(&self, plain: &str, at: Binding<'_>) -> Result<(String, Vec<u8>), VaultError> {
        let now = chrono::Utc::now();
        if let Ok(d) = self.data.read() {
            if let Some(k) = d.iter().rev().find(|k| k.active_from <= now) {
                return seal_with(&k.key, plain, at);
            }
        }
        let key = self.keys.last().ok_or(VaultError::NoKey)?;
        seal_with(key, plain, at)
    }

    /// Decrypts what `seal` stored with `key_id` for the same binding.
    pub fn open(&self, key_id: &str, stored: &[u8], at: Binding<'_>) -> Result<Secret, VaultError> {
        if let Ok(d) = self.data.read() {
            if let Some(k) = d.iter().find(|k| k.key.id == key_id) {
                return open_with(&k.key, stored, at);
            }
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| VaultError::UnknownKey(key_id.to_string()))?;
        open_with(key, stored, at)
    }
}

fn seal_with(key: &Key, plain: &str, at: Binding<'_>) -> Result<(String, Vec<u8>), VaultError> {
    let nonce_bytes: [u8; NONCE_LEN] = rand::random();
    let aad = aad(at, &key.id);
    let ct = key
        .cipher
        .encrypt(
            &XNonce::from(nonce_bytes),
            Payload {
                msg: plain.as_bytes(),
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Encrypt)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ct);
    Ok((key.id.clone(), out))
}

fn open_with(key: &Key, stored: &[u8], at: Binding<'_>) -> Result<Secret, VaultError> {
    let key_id = key.id.as_str();
    if stored.len() < 1 + NONCE_LEN + 16 || stored[0] != FORMAT_V1 {
        return Err(VaultError::Malformed);
    }
    let (nonce, ct) = stored[1..].split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| VaultError::Malformed)?;
    let aad = aad(at, key_id);
    let plain = Zeroizing::new(
        key.cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| VaultError::Tampered)?,
    );
    let text = std::str::from_utf8(&plain).map_err(|_| VaultError::Malformed)?;
    Ok(Secret::new(text))
}

fn aad(at: Binding<'_>, key_id: &str) -> Vec<u8> {
    // Length-prefixed so that no two different bindings give the same bytes.
    let mut v = Vec::new();
    for part in [at.record, at.field, key_id] {
        v.extend_from_slice(&(part.len() as u32).to_be_bytes());
        v.extend_from_slice(part.as_bytes());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(ids: &[&str]) -> Vault {
        Vault::from_keys(
            ids.iter()
                .map(|id| (id.to_string(), Zeroizing::new(rand::random::<[u8; 32]>())))
                .collect(),
        )
    }

    const AT: Binding<'static> = Binding {
        record: "6f1c0a4e-0000-0000-0000-000000000001",
        field: "access_token",
    };

    #[test]
    fn sealed_secret_opens_only_where_it_was_sealed() {
        let v = vault(&["k1", "k2"]);
        let (key_id, ct) = v.seal("xoxb-123", AT).unwrap();
        assert_eq!(key_id, "k2", "the newest key encrypts");
        assert_eq!(v.open(&key_id, &ct, AT).unwrap().expose(), "xoxb-123");
        let other_field = Binding {
            field: "refresh_token",
            ..AT
        };
        assert!(matches!(
            v.open(&key_id, &ct, other_field),
            Err(VaultError::Tampered)
        ));
        let other_row = Binding {
            record: "6f1c0a4e-0000-0000-0000-000000000002",
            ..AT
        };
        assert!(matches!(
            v.open(&key_id, &ct, other_row),
            Err(VaultError::Tampered)
        ));
        assert!(matches!(v.open("k1", &ct, AT), Err(VaultError::Tampered)));
    }

    #[test]
    fn tampered_or_short_ciphertext_is_an_error_not_a_panic() {
        let v = vault(&["k1"]);
        let (id, mut ct) = v.seal("secret", AT).unwrap();
        let last = ct.len() - 1;
        ct[last] ^= 1;
        assert!(matches!(v.open(&id, &ct, AT), Err(VaultError::Tampered)));
        for n in 0..30 {
            let r = v.open(&id, &ct[..n.min(ct.len())], AT);
            assert!(matches!(r, Err(VaultError::Malformed)), "{n}");
        }
        assert!(matches!(
            v.open("nope", &ct, AT),
            Err(VaultError::UnknownKey(_))
        ));
        assert!(matches!(vault(&[]).seal("x", AT), Err(VaultError::NoKey)));
    }

    #[test]
    fn two_seals_of_one_secret_differ() {
        let v = vault(&["k1"]);
        assert_ne!(v.seal("same", AT).unwrap().1, v.seal("same", AT).unwrap().1);
    }

    #[test]
    fn a_data_key_seals_once_active_and_every_key_still_opens() {
        let v = vault(&["k1"]);
        let (kek_sealed, old) = v.seal("before", AT).expect("seal");
        assert_eq!(kek_sealed, "k1");
        let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
        let (by, wrapped) = v.wrap("dk-1", &bytes).expect("wrap");
        assert_eq!(by, "k1");
        let back = v.unwrap_key("dk-1", "k1", &wrapped).expect("unwrap");
        assert_eq!(back.as_ref(), bytes.as_ref());
        // Bound to its id: a wrapped key copied to another id does not open.
        assert!(matches!(
            v.unwrap_key("dk-2", "k1", &wrapped),
            Err(VaultError::Tampered)
        ));
        // Not active yet: the operator key still seals.
        let later = chrono::Utc::now() + chrono::Duration::seconds(60);
        v.set_data_keys(vec![("dk-1".into(), back, later)]);
        assert_eq!(v.sealing_key_id().as_deref(), Some("k1"));
        let again: Zeroizing<[u8; 32]> = Zeroizing::new(*bytes);
        v.set_data_keys(vec![("dk-1".into(), again, chrono::Utc::now())]);
        assert_eq!(v.sealing_key_id().as_deref(), Some("dk-1"));
        let (id, ct) = v.seal("after", AT).expect("seal");
        assert_eq!(id, "dk-1");
        assert_eq!(v.open(&id, &ct, AT).expect("open").expose(), "after");
        assert_eq!(v.open("k1", &old, AT).expect("open").expose(), "before");
    }
}
