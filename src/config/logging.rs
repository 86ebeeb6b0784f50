//! What is logged, in which format, and where the log files go.

use std::path::PathBuf;

use super::vars::Vars;
use super::{ConfigError, bad};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    /// A level or a filter (`info,authkit=debug`).
    pub level: String,
    pub format: LogFormat,
    /// Daily-rotating `app.log.YYYY-MM-DD`.
    pub dir: PathBuf,
}

pub(super) fn read(vars: &Vars) -> Result<LogSettings, ConfigError> {
    let level = vars.string_or("LOG_LEVEL", "info");
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        return Err(bad(
            "LOG_LEVEL",
            format!("not a level or filter: {level:?}"),
        ));
    }
    Ok(LogSettings {
        level,
        format: vars.choice(
            "LOG_FORMAT",
            LogFormat::Pretty,
            &[("pretty", LogFormat::Pretty), ("json", LogFormat::Json)],
        ),
        dir: PathBuf::from(vars.string_or("LOG_DIR", "./logs")),
    })
}
