//! Which store holds the data, and how long the store keeps what expires on its own.

use std::path::PathBuf;
use std::time::Duration;

use super::vars::Vars;
use super::{ConfigError, Secret, bad};

#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// MongoDB connection string (it may hold a password); unset selects the embedded SQLite
    /// store.
    pub mongo_url: Option<Secret>,
    pub mongodb_name: String,
    /// The embedded database, and the keys generated in development.
    pub data_dir: PathBuf,
    /// How long security events are kept (a TTL on each event).
    pub audit_retention: Duration,
}

pub(super) fn read(vars: &Vars) -> Result<StoreSettings, ConfigError> {
    let mongo_url = vars.get("MONGO_URL");
    if let Some(url) = &mongo_url
        && !(url.starts_with("mongodb://") || url.starts_with("mongodb+srv://"))
    {
        return Err(bad(
            "MONGO_URL",
            "must start with mongodb:// or mongodb+srv://",
        ));
    }
    let mongodb_name = vars.string_or("MONGODB_NAME", "authkit");
    if mongodb_name.contains(['/', '\\', '.', ' ', '"', '$']) || mongodb_name.len() > 63 {
        return Err(bad("MONGODB_NAME", "not a valid MongoDB database name"));
    }
    Ok(StoreSettings {
        mongo_url: mongo_url.map(Secret::new),
        mongodb_name,
        data_dir: PathBuf::from(vars.string_or("DATA_DIR", "./data")),
        audit_retention: vars
            .positive_duration("AUDIT_RETENTION", Duration::from_secs(90 * 24 * 3600)),
    })
}
