//! Demo mode (`serve --demo`): a local Ed25519 signing key and an admin token, created
//! beside the database on first start, so a fresh clone is a working line with signatures
//! on and `slotline call` can sign like Telnyx. Only `--demo` reads these files; outside it
//! the demo key is never accepted and the token file is never used.

use std::{
    fs, io,
    io::Write,
    path::{Path, PathBuf},
};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use ed25519_dalek::SigningKey;
use rand::RngCore;

use crate::config::Secret;

/// File name of the demo signing key (base64 of the 32-byte Ed25519 seed).
pub const KEY_FILE: &str = "demo-signing.key";
/// File name of the generated admin token.
pub const TOKEN_FILE: &str = "demo-admin.token";

/// Where the demo files live: the directory of the database file.
pub fn dir_for(db_path: &Path) -> PathBuf {
    match db_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A demo file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The key file holds something other than a key.
    #[error(
        "{}: not a signing key; it must hold the base64 (or 64 hex digits) of a 32-byte Ed25519 seed. Delete it and start `serve --demo` again for a new one",
        path.display()
    )]
    BadKey {
        /// The file.
        path: PathBuf,
    },
}

/// What demo mode uses, and what the start-up banner tells the operator.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The key whose signatures are accepted besides `TELNYX_PUBLIC_KEY`.
    pub public_key: ed25519_dalek::VerifyingKey,
    /// Its file.
    pub key_path: PathBuf,
    /// Whether the key was created by this start.
    pub key_created: bool,
    /// The admin token file, when the token comes from it (no `SLOTLINE_ADMIN_TOKEN`).
    pub token_path: Option<PathBuf>,
    /// The token from the file, when `SLOTLINE_ADMIN_TOKEN` is not set.
    pub token: Option<Secret>,
    /// Whether this start created the token (the banner prints it then, and only then).
    pub token_created: bool,
}

/// Loads the demo key from `dir` (creating it on first start) and, when `need_token`, the
/// admin token too.
pub fn load_or_create(dir: &Path, need_token: bool) -> Result<Demo, DemoError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let key_path = dir.join(KEY_FILE);
    let key_created = create_secret_file(&key_path, || STANDARD.encode(random_32()))?;
    let key = read_signing_key(&key_path)?;
    let (mut token_path, mut token, mut token_created) = (None, None, false);
    if need_token {
        let path = dir.join(TOKEN_FILE);
        let created = create_secret_file(&path, || URL_SAFE_NO_PAD.encode(random_32()))?;
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        let value = Secret::new(text.trim());
        if value.expose().is_empty() {
            return Err(DemoError::Io {
                path,
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the token file is empty; delete it for a new token",
                ),
            });
        }
        token_created = created;
        token = Some(value);
        token_path = Some(path);
    }
    Ok(Demo {
        public_key: key.verifying_key(),
        key_path,
        key_created,
        token_path,
        token,
        token_created,
    })
}

/// Reads a signing key file: base64 of the 32-byte seed (what `serve --demo` writes) or
/// 64 hex digits.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, DemoError> {
    let text = fs::read_to_string(path).map_err(|source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_seed(text.trim())
        .map(|seed| SigningKey::from_bytes(&seed))
        .ok_or_else(|| DemoError::BadKey {
            path: path.to_path_buf(),
        })
}

fn parse_seed(text: &str) -> Option<[u8; 32]> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        return Some(seed);
    }
    STANDARD.decode(text).ok()?.try_into().ok()
}

fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// Writes `make()` to `path` readable by the owner only, unless the file exists; returns
/// whether it wrote. Two starts at once cannot both write: the file is created exclusively
/// under a temp name and linked into place, so a reader never sees a half-written file.
fn create_secret_file(path: &Path, make: impl FnOnce() -> String) -> Result<bool, DemoError> {
    if path.exists() {
        return Ok(false);
    }
    let io_err = |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(make().as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    });
    let linked = written.and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_start_creates_key_and_token_and_later_starts_reuse_them() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), true).unwrap();
        assert!(first.key_created);
        assert!(first.token_created);
        let again = load_or_create(dir.path(), true).unwrap();
        assert!(!again.key_created);
        assert!(!again.token_created, "the token is printed once");
        assert_eq!(again.public_key, first.public_key);
        assert_eq!(again.token.unwrap().expose(), first.token.unwrap().expose());
    }

    #[cfg(unix)]
    #[test]
    fn the_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path(), true).unwrap();
        for name in [KEY_FILE, TOKEN_FILE] {
            let mode = fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn with_an_admin_token_set_no_token_file_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let demo = load_or_create(dir.path(), false).unwrap();
        assert!(demo.token.is_none());
        assert!(!dir.path().join(TOKEN_FILE).exists());
    }

    #[test]
    fn a_key_file_in_hex_or_base64_reads_and_anything_else_says_what_it_must_hold() {
        let dir = tempfile::tempdir().unwrap();
        let hex = dir.path().join("hex.key");
        fs::write(
            &hex,
            "f5720b7d80d90be95efe5d25e6609c6aabdb5de3988f02fe571fb5b3c7c73782\n",
        )
        .unwrap();
        let key = read_signing_key(&hex).unwrap();
        assert_eq!(
            STANDARD.encode(key.verifying_key().to_bytes()),
            "GzOl8c8NI5MxkZ8QIv+xlORAyBVdmziMrUgVM7Db8pc="
        );
        let b64 = dir.path().join("b64.key");
        fs::write(&b64, STANDARD.encode(key.to_bytes())).unwrap();
        assert_eq!(read_signing_key(&b64).unwrap().to_bytes(), key.to_bytes());
        let bad = dir.path().join("bad.key");
        fs::write(&bad, "not a key").unwrap();
        let err = read_signing_key(&bad).unwrap_err().to_string();
        assert!(err.contains("32-byte Ed25519 seed"), "{err}");
    }

    #[test]
    fn the_directory_of_a_bare_file_name_is_the_current_one() {
        assert_eq!(dir_for(Path::new("slotline.db")), PathBuf::from("."));
        assert_eq!(
            dir_for(Path::new("data/slotline.db")),
            PathBuf::from("data")
        );
    }
}
