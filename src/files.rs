//! Files only this server's user may read. The data directory holds the database and, in
//! development, the generated keys; the log directory holds, in development, the mails with
//! their live reset links and codes. Both directories are made 0700 and their files 0600,
//! whatever the umask the server was started with, and files from an earlier, laxer start are
//! tightened when they are met again.

use std::io;
use std::path::Path;

/// Makes the process's umask 077, so every file it creates from now on (the log files a
/// rotation opens, SQLite's `-wal` and `-shm`) is its owner's only. Call it first in `main`.
pub fn restrict_umask() {
    #[cfg(unix)]
    // SAFETY: `umask` only sets the process's file-creation mask and cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` (and its parents) if needed and makes it 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Makes `path` 0600 if it exists.
pub fn private_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Makes every file directly in `dir` whose name starts with `prefix` 0600.
pub fn private_files_in(dir: &Path, prefix: &str) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && entry.file_name().to_string_lossy().starts_with(prefix) {
            private_file(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_become_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "an existing directory is tightened");
        let file = dir.join("app.log.2026-01-01");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        private_files_in(&dir, "app.log").unwrap();
        assert_eq!(mode(&file), 0o600);
        private_file(&dir.join("absent")).unwrap();
    }
}
