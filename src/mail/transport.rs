//! How mail leaves: SMTP through `lettre`, or the log in development.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Settings;
use crate::domain::mail::OutboxMail;

/// One SMTP conversation may take this long; the outbox lease is longer, so a claimed mail is
/// never handed to a second sender while the first may still be talking to the server.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

pub enum Transport {
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
    /// Development without SMTP_URL: each mail is written to the log (its link included, which
    /// is the point: the developer follows it).
    Log,
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug)]
pub enum SendError {
    /// The server or the network may recover (a 4xx reply, a refused connection, a timeout).
    Temporary(String),
    /// It will not work again (a 5xx reply, an address that cannot be a recipient).
    Permanent(String),
}

impl Transport {
    /// The configured transport: SMTP when `SMTP_URL` is set, the log in development, none in
    /// production (mail is then off, and the mail routes answer 503).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Self>> {
        match &settings.mail.smtp_url {
            Some(url) => {
                let url = url.expose();
                // smtp:// upgrades with STARTTLS whenever the server offers it, unless the URL
                // says otherwise (`?tls=required`); smtps:// is TLS from the first byte.
                let url = if url.starts_with("smtp://") && !url.contains("tls=") {
                    let separator = if url.contains('?') { '&' } else { '?' };
                    format!("{url}{separator}tls=opportunistic")
                } else {
                    url.to_string()
                };
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                    // The error may quote the URL, which may hold a password.
                    .map_err(|_| anyhow::anyhow!("SMTP_URL is not a valid SMTP URL"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build();
                Ok(Some(Self::Smtp(Box::new(transport))))
            }
            None if settings.is_production() => Ok(None),
            None => Ok(Some(Self::Log)),
        }
    }

    pub async fn send(&self, from: &Mailbox, mail: &OutboxMail) -> Result<(), SendError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| SendError::Permanent(format!("not a recipient address: {e}")))?;
        match self {
            Self::Log => {
                tracing::info!(
                    target: "mail",
                    to = %mail.to,
                    subject = %mail.subject,
                    "mail (no SMTP_URL, so written here instead of sent):\n{}",
                    mail.text
                );
                Ok(())
            }
            Self::Smtp(transport) => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(mail.subject.clone())
                    .multipart(MultiPart::alternative_plain_html(
                        mail.text.clone(),
                        mail.html.clone(),
                    ))
                    .map_err(|e| SendError::Permanent(format!("cannot build the mail: {e}")))?;
                transport.send(message).await.map(drop).map_err(|e| {
                    if e.is_permanent() {
                        SendError::Permanent(e.to_string())
                    } else {
                        SendError::Temporary(e.to_string())
                    }
                })
            }
        }
    }
}
