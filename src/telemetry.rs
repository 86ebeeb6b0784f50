//! Logging: console (pretty or JSON) plus a daily-rotating file `LOG_DIR/app.log.YYYY-MM-DD`
//! keeping 14 files. Secrets are never formatted into events: settings redact themselves and
//! tokens and passwords are never logged.

use anyhow::Context;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::{LogFormat, Settings};

pub const LOG_FILES_KEPT: usize = 14;

/// Installs the global subscriber. Keep the guard alive: dropping it flushes the file writer.
pub fn init(settings: &Settings) -> anyhow::Result<WorkerGuard> {
    std::fs::create_dir_all(&settings.logging.dir)
        .with_context(|| format!("LOG_DIR: cannot create {}", settings.logging.dir.display()))?;
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("app.log")
        .max_log_files(LOG_FILES_KEPT)
        .build(&settings.logging.dir)
        .with_context(|| {
            format!(
                "LOG_DIR: cannot write logs to {}",
                settings.logging.dir.display()
            )
        })?;
    let (file_writer, guard) = tracing_appender::non_blocking(appender);

    let filter = EnvFilter::try_new(&settings.logging.level).context("LOG_LEVEL")?;
    let console = match settings.logging.format {
        LogFormat::Pretty => fmt::layer().compact().with_target(false).boxed(),
        LogFormat::Json => fmt::layer().json().flatten_event(true).boxed(),
    };
    let file = match settings.logging.format {
        LogFormat::Pretty => fmt::layer()
            .compact()
            .with_ansi(false)
            .with_writer(file_writer)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(file_writer)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(console)
        .with(file)
        .try_init()
        .context("installing the log subscriber")?;
    Ok(guard)
}
