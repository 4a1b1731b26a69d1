//! Small helpers for secrets the server makes: random text and files only the owner reads.

use std::path::Path;

use anyhow::Context;
use base64::Engine as _;
use rand::RngExt;

/// Base64 of `bytes` random bytes.
pub fn random_base64(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill(&mut buffer[..]);
    base64::engine::general_purpose::STANDARD.encode(buffer)
}

/// A random password of 24 URL-safe characters.
pub fn random_password() -> String {
    let mut buffer = [0u8; 18];
    rand::rng().fill(&mut buffer[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

/// Writes `text` to a file only its owner may read.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    Ok(())
}
