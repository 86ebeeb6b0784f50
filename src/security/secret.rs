//! The JWT signing secret. Production must configure SECRET_KEY (checked in `config`); in
//! development a random key is generated once and kept under DATA_DIR, so restarts do not log
//! everyone out and nobody has to invent a key to try the server.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{MIN_SECRET_LEN, Settings};

const KEY_FILE: &str = "secret_key";

/// Returns the signing secret: SECRET_KEY when set, else the development key file (created if absent).
pub fn resolve(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if let Some(key) = settings.tokens.secret_key.as_ref().map(|k| k.expose()) {
        if key.len() < MIN_SECRET_LEN {
            tracing::warn!(
                "SECRET_KEY is shorter than {MIN_SECRET_LEN} bytes; this is refused in production"
            );
        }
        return Ok(key.as_bytes().to_vec());
    }
    // Production without SECRET_KEY never gets here: config refuses it.
    load_or_create(&settings.store.data_dir.join(KEY_FILE))
}

fn load_or_create(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(existing) = fs::read_to_string(path) {
        let key = existing.trim();
        if key.len() >= MIN_SECRET_LEN {
            return Ok(key.as_bytes().to_vec());
        }
        anyhow::bail!(
            "{} is too short; delete it to generate a new key",
            path.display()
        );
    }
    if let Some(dir) = path.parent() {
        crate::files::private_dir(dir)
            .with_context(|| format!("creating DATA_DIR {}", dir.display()))?;
    }
    let mut random = [0u8; 48];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    let key = URL_SAFE_NO_PAD.encode(random);
    if write_private(path, &key).with_context(|| format!("writing {}", path.display()))? {
        tracing::info!(path = %path.display(), "generated a development signing key");
        return Ok(key.into_bytes());
    }
    // Another process created the file first: use its key.
    let theirs = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(theirs.trim().as_bytes().to_vec())
}

/// Creates the file readable by its owner only. Returns false when it already existed
/// (`create_new` makes a race with a second process safe).
fn write_private(path: &Path, contents: &str) -> std::io::Result<bool> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => file.write_all(contents.as_bytes()).map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}
