//! The operator's key files: found (`vault.key_files`, and the `vault-key-*` systemd
//! credentials), read (32 bytes as base64 or hex, refused when group or others can read the
//! file, as ssh refuses such a private key), named (the id is the file name) and written new
//! (mode 0600). It must never log or put a key into an error.

use std::path::{Path, PathBuf};

use base64::Engine;
use zeroize::Zeroizing;

use super::{Vault, VaultConfig, VaultError};

/// An operator key: its id and its 32 bytes.
pub(super) type NamedKey = (String, Zeroizing<[u8; 32]>);

/// The keys of `vault.key_files`, plus `$CREDENTIALS_DIRECTORY/vault-key-*` under systemd.
pub(super) fn load(cfg: &VaultConfig) -> Result<Vec<NamedKey>, VaultError> {
    // (file, whether its mode is checked): systemd's credentials are the service's alone
    // whatever their mode bits say (it may grant access through an ACL).
    let mut files: Vec<(PathBuf, bool)> = cfg.key_files.iter().map(|f| (f.clone(), true)).collect();
    if let Ok(dir) = std::env::var("CREDENTIALS_DIRECTORY") {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with("vault-key-") {
                    files.push((e.path(), false));
                }
            }
        }
    }
    let mut keys = Vec::new();
    for (path, checked) in files {
        let bytes = read_key_file(&path, checked)?;
        keys.push((key_id_of(&path), bytes));
    }
    Ok(keys)
}

impl Vault {
    /// Writes a new key file (`generate_key`) readable by its owner only; refuses to replace
    /// an existing file.
    pub fn write_new_key_file(path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(Vault::generate_key().as_bytes())
    }

    /// 32 fresh random bytes, base64: the content of a new key file.
    pub fn generate_key() -> String {
        let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
        base64::engine::general_purpose::STANDARD.encode(bytes.as_ref())
    }
}

/// A key's id from its file name: without the `.key` extension and, for systemd credentials,
/// without the `vault-key-` prefix, so one key has one id however it is delivered.
fn key_id_of(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.strip_suffix(".key").unwrap_or(&name);
    name.strip_prefix("vault-key-").unwrap_or(name).to_string()
}

/// Reads a key file; with `check_mode`, refuses one that group or others can read.
fn read_key_file(path: &Path, check_mode: bool) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| VaultError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if check_mode && mode & 0o077 != 0 {
        return Err(VaultError::OpenKeyFile {
            path: path.display().to_string(),
            mode,
        });
    }
    let text =
        Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| VaultError::Read {
                path: path.display().to_string(),
                source,
            })?,
        );
    let t = text.trim();
    let bad = || VaultError::BadKey {
        path: path.display().to_string(),
    };
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .ok()
            .filter(|b| b.len() == 32)
            .or_else(|| hex::decode(t).ok().filter(|b| b.len() == 32))
            .ok_or_else(bad)?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_load_from_base64_and_hex_and_name_the_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("2026-01.key");
        Vault::write_new_key_file(&a).unwrap();
        let b = dir.path().join("2026-02.key");
        std::fs::write(&b, "ab".repeat(32)).unwrap();
        std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o400)).unwrap();
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "short").unwrap();
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
        let v = Vault::from_config(&VaultConfig {
            key_files: vec![a, b.clone()],
            ..VaultConfig::default()
        })
        .unwrap();
        assert_eq!(v.newest_key_id(), Some("2026-02"));
        assert_eq!(
            key_id_of(Path::new("/run/creds/vault-key-2026-02")),
            "2026-02"
        );
        assert_eq!(key_id_of(Path::new("/etc/keys/2026-02.key")), "2026-02");
        assert!(!format!("{v:?}").contains(&"ab".repeat(4)));
        let e = Vault::from_config(&VaultConfig {
            key_files: vec![bad],
            ..VaultConfig::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("bad.key"));
        // A key file group or others can read is refused, as ssh refuses such a key.
        for mode in [0o644, 0o640, 0o604] {
            std::fs::set_permissions(&b, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = Vault::from_config(&VaultConfig {
                key_files: vec![b.clone()],
                ..VaultConfig::default()
            })
            .unwrap_err();
            assert!(
                matches!(&e, VaultError::OpenKeyFile { .. }) && e.to_string().contains("chmod 600"),
                "{mode:o}: {e}"
            );
        }
    }
}
