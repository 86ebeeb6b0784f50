//! The mail the tests' real SMTP server received: aiosmtpd writes every message into a Maildir
//! (`TEST_MAILDIR`, started by scripts/test.sh), and these helpers read it back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;

/// The SMTP server the mail tests send through, and where its mail lands. Under `CI=true` a
/// missing server fails the test; elsewhere the test is skipped with a note.
pub fn smtp() -> Option<(String, Mailbox)> {
    match (
        std::env::var("TEST_SMTP_URL"),
        std::env::var("TEST_MAILDIR"),
    ) {
        (Ok(url), Ok(dir)) if !url.is_empty() => Some((url, Mailbox::at(dir))),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but TEST_SMTP_URL is not set: run the tests through scripts/test.sh")
        }
        _ => {
            eprintln!("SKIPPED: TEST_SMTP_URL is not set (scripts/test.sh starts an SMTP server)");
            None
        }
    }
}

/// A server that sends through the test SMTP server, as the product "Acme"; `None` skips (see
/// [`smtp`]).
pub async fn mail_app(
    backend: crate::helpers::Backend,
    extra: &[(&str, &str)],
) -> Option<(crate::helpers::TestApp, Mailbox)> {
    let (url, mailbox) = smtp()?;
    let mut vars = vec![
        ("SMTP_URL", url.as_str()),
        ("MAIL_FROM", "Acme <no-reply@acme.example>"),
        ("PRODUCT_NAME", "Acme"),
    ];
    vars.extend_from_slice(extra);
    Some((
        crate::helpers::TestApp::spawn_with(backend, &vars).await,
        mailbox,
    ))
}

/// Posts `{email}` to a route that asks for a mail (`forgot`, `resend`, a sign-in's `start`) and
/// asserts its one answer, 202; returns the body (the same for every address).
pub async fn ask_for_mail(
    app: &crate::helpers::TestApp,
    path: &str,
    email: &str,
) -> serde_json::Value {
    let res = app
        .post(path, Some(serde_json::json!({"email": email})), None)
        .await;
    let (status, body) = crate::helpers::read(res).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    body
}

/// An address no other test uses (every test shares the SMTP server).
pub fn unique_address(name: &str) -> String {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("{name}-{}@mail.example.com", &tag[..12])
}

#[derive(Clone)]
pub struct Mailbox {
    dir: PathBuf,
}

/// One received mail: its envelope recipient, subject and decoded text parts.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub raw: String,
}

impl Mail {
    /// The `token` of the mail's link.
    pub fn link_token(&self) -> String {
        let at = self.text.find("token=").expect("a link with a token") + "token=".len();
        self.text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    /// The mail's link.
    pub fn link(&self) -> String {
        let start = self.text.find("http").expect("a link");
        self.text[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    /// The 6-digit code.
    pub fn code(&self) -> String {
        let at = self.text.find("code in the app: ").expect("a code") + "code in the app: ".len();
        self.text[at..at + 6].to_string()
    }
}

impl Mailbox {
    pub fn at(dir: impl AsRef<Path>) -> Self {
        Self {
            dir: dir.as_ref().to_path_buf(),
        }
    }

    /// Every mail received for `to` so far, oldest first.
    pub fn to(&self, to: &str) -> Vec<Mail> {
        let mut found: Vec<(std::time::SystemTime, Mail)> = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(raw) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                let mail = parse(&raw);
                if mail.to.eq_ignore_ascii_case(to) {
                    let at = entry.metadata().and_then(|m| m.modified()).unwrap();
                    found.push((at, mail));
                }
            }
        }
        found.sort_by_key(|(at, _)| *at);
        found.into_iter().map(|(_, m)| m).collect()
    }

    /// Waits (up to `limit`) until `count` mails for `to` arrived; returns them.
    pub async fn wait_for(&self, to: &str, count: usize, limit: Duration) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let mails = self.to(to);
            if mails.len() >= count {
                return mails;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{count} mail(s) for {to} expected, {} arrived: {mails:#?}",
                    mails.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The newest mail for `to` whose subject contains `subject`, waiting for it.
    pub async fn latest(&self, to: &str, subject: &str) -> Mail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(mail) = self
                .to(to)
                .into_iter()
                .rev()
                .find(|m| m.subject.contains(subject))
            {
                return mail;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("no mail for {to} about {subject:?}: {:#?}", self.to(to));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Enough MIME for the mails the server writes: headers, and each part decoded by its
/// transfer encoding (7bit, quoted-printable or base64).
fn parse(raw: &str) -> Mail {
    let raw = raw.replace("\r\n", "\n");
    let (headers, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let to = header(headers, "X-RcptTo")
        .or_else(|| header(headers, "To"))
        .unwrap_or_default()
        .trim_matches(['<', '>'])
        .to_string();
    let subject = header(headers, "Subject").unwrap_or_default().to_string();
    let mut text = String::new();
    for part in body.split("\n--") {
        let (part_headers, content) = part.split_once("\n\n").unwrap_or(("", part));
        let encoding = header(part_headers, "Content-Transfer-Encoding").unwrap_or("7bit");
        let decoded = match encoding.to_ascii_lowercase().as_str() {
            "base64" => {
                let compact: String = content.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap_or_default();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            "quoted-printable" => quoted_printable(content),
            _ => content.to_string(),
        };
        text.push_str(&decoded);
        text.push('\n');
    }
    Mail {
        to,
        subject,
        text,
        raw,
    }
}

fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let mut bytes = Vec::new();
    let mut chars = joined.bytes().peekable();
    while let Some(b) = chars.next() {
        if b == b'=' {
            let hex: Vec<u8> = chars.by_ref().take(2).collect();
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&hex).unwrap_or(""), 16) {
                bytes.push(v);
                continue;
            }
            bytes.push(b);
            bytes.extend(hex);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
