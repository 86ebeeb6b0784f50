//! Logging: console (pretty or JSON) plus a daily-rotating file `LOG_DIR/app.log.YYYY-MM-DD`
//! keeping 14 files. Secrets are never formatted into events: settings redact themselves and
//! tokens and passwords are never logged.
//!
//! In the `pretty` format every field value that holds a space, a quote, an `=` or a control
//! character is written quoted and escaped ([`QuotedFields`]), so a client's User-Agent such as
//! `x event=login.succeeded` stays one value and cannot pose as fields of its own to a key=value
//! parser. Colours go to a terminal only, never to the file.

use std::fmt::{self as stdfmt, Write as _};
use std::io::IsTerminal;

use anyhow::Context;
use tracing::field::{Field, Visit};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::{LogFormat, Settings};

pub const LOG_FILES_KEPT: usize = 14;

/// Installs the global subscriber. Keep the guard alive: dropping it flushes the file writer.
pub fn init(settings: &Settings) -> anyhow::Result<WorkerGuard> {
    // In development the log holds each mail, live links and codes included: owner only.
    crate::files::private_dir(&settings.logging.dir)
        .and_then(|()| crate::files::private_files_in(&settings.logging.dir, "app.log"))
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
        LogFormat::Pretty => fmt::layer()
            .compact()
            .with_target(false)
            .with_ansi(std::io::stdout().is_terminal())
            .fmt_fields(QuotedFields)
            .boxed(),
        LogFormat::Json => fmt::layer().json().flatten_event(true).boxed(),
    };
    let file = match settings.logging.format {
        LogFormat::Pretty => fmt::layer()
            .compact()
            .with_ansi(false)
            .fmt_fields(QuotedFields)
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

/// Formats fields as `name=value`, quoting and escaping (as Rust string literals are) every value
/// that could be read as more than one token. One type for both layers also matters: a span's
/// fields are formatted once by the first layer and reused by the others that share the
/// formatter's type, so a formatter that writes no colour keeps colour out of the file.
pub struct QuotedFields;

impl<'writer> FormatFields<'writer> for QuotedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> stdfmt::Result {
        let mut visitor = QuotingVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct QuotingVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: stdfmt::Result,
}

impl QuotingVisitor<'_> {
    /// What goes before the next field: nothing before the first, a space before the others.
    fn separator(&mut self) -> &'static str {
        if std::mem::replace(&mut self.first, false) {
            ""
        } else {
            " "
        }
    }

    fn write(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        let separator = self.separator();
        self.result = if field.name() == "message" {
            // The message is the code's own text.
            write!(self.writer, "{separator}{value}")
        } else if needs_quotes(value) && !is_quoted_literal(value) {
            write!(self.writer, "{separator}{}={value:?}", field.name())
        } else {
            write!(self.writer, "{separator}{}={value}", field.name())
        };
    }

    fn write_plain(&mut self, field: &Field, value: impl stdfmt::Display) {
        if self.result.is_err() {
            return;
        }
        let separator = self.separator();
        self.result = write!(self.writer, "{separator}{}={value}", field.name());
    }
}

/// Whether `value` is already one quoted, escaped string (as `?` formats a `&str`): an opening
/// and a closing quote, and no quote between them that an escape does not cover.
fn is_quoted_literal(value: &str) -> bool {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return false;
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return false,
            '"' => return false,
            c if c.is_control() => return false,
            _ => {}
        }
    }
    true
}

fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '=' | '\\'))
}

impl Visit for QuotingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn stdfmt::Debug) {
        // Formatted once into a buffer the thread keeps, to see whether it needs quotes: no
        // allocation per field of every request's log line.
        thread_local! {
            static TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        TEXT.with(|text| match text.try_borrow_mut() {
            Ok(mut text) => {
                text.clear();
                let _ = write!(text, "{value:?}");
                self.write(field, &text);
            }
            // A value whose formatting logs in turn: a buffer of its own.
            Err(_) => self.write(field, &format!("{value:?}")),
        });
    }

    // Numbers and booleans never need quotes: written as they are.
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.write_plain(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.write_plain(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.write_plain(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.write_plain(field, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_could_pose_as_fields_are_quoted() {
        assert!(needs_quotes("x event=login.succeeded user_id=1"));
        assert!(needs_quotes("a\u{1b}[31mred"));
        assert!(needs_quotes("tab\there"));
        assert!(needs_quotes(""));
        assert!(!needs_quotes("Mozilla/5.0"));
        assert!(!needs_quotes("127.0.0.1"));
        // What `?` makes of a string stays as it is; a client's text that only looks quoted
        // does not.
        assert!(is_quoted_literal(&format!("{:?}", "a \" b=c")));
        assert!(!is_quoted_literal(r#""a\\" b="c""#));
        assert!(!is_quoted_literal(r#""a\""#));
        assert_eq!(
            format!("{:?}", "x event=login.succeeded\n"),
            "\"x event=login.succeeded\\n\""
        );
    }
}
