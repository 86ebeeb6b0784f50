//! The mails, rendered from the templates in `templates/mail/` (compiled in): `NAME.txt` starts
//! with a `Subject:` line, then the text body; `NAME.html` is the HTML body. `{{name}}` marks a
//! value; values are HTML-escaped in the HTML body. A fork edits the wording there.

/// A mail ready for the outbox.
#[derive(Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What a mail says, with its values.
pub enum MailKind<'a> {
    PasswordReset {
        link: &'a str,
        code: &'a str,
    },
    VerifyEmail {
        link: &'a str,
        code: &'a str,
    },
    ConfirmNewEmail {
        link: &'a str,
        code: &'a str,
    },
    EmailChangeNotice {
        new_email: &'a str,
    },
    PasswordChanged,
    SignIn {
        link: &'a str,
        code: &'a str,
    },
    /// An invitation to join an organization (`org`: its name).
    OrgInvitation {
        link: &'a str,
        org: &'a str,
    },
}

macro_rules! template {
    ($name:literal) => {
        (
            include_str!(concat!("../../templates/mail/", $name, ".txt")),
            include_str!(concat!("../../templates/mail/", $name, ".html")),
        )
    };
}

impl MailKind<'_> {
    fn template(&self) -> (&'static str, &'static str) {
        match self {
            Self::PasswordReset { .. } => template!("password_reset"),
            Self::VerifyEmail { .. } => template!("verify_email"),
            Self::ConfirmNewEmail { .. } => template!("confirm_new_email"),
            Self::EmailChangeNotice { .. } => template!("email_change_notice"),
            Self::PasswordChanged => template!("password_changed"),
            Self::SignIn { .. } => template!("sign_in"),
            Self::OrgInvitation { .. } => template!("org_invitation"),
        }
    }

    fn values(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::PasswordReset { link, code }
            | Self::VerifyEmail { link, code }
            | Self::ConfirmNewEmail { link, code }
            | Self::SignIn { link, code } => vec![("link", link), ("code", code)],
            Self::EmailChangeNotice { new_email } => vec![("new_email", new_email)],
            Self::PasswordChanged => Vec::new(),
            Self::OrgInvitation { link, org } => vec![("link", link), ("org", org)],
        }
    }

    pub fn render(&self, product: &str) -> Rendered {
        let (text, html) = self.template();
        let mut values = self.values();
        values.push(("product", product));
        let (subject_line, body) = text.split_once('\n').unwrap_or((text, ""));
        let subject = subject_line.trim_start_matches("Subject:").trim();
        Rendered {
            subject: fill(subject, &values, |v| v.to_string()),
            text: fill(body.trim_start(), &values, |v| v.to_string()),
            html: fill(html, &values, escape_html),
        }
    }
}

fn fill(template: &str, values: &[(&str, &str)], encode: impl Fn(&str) -> String) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), &encode(value));
    }
    out
}

fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_fills_every_value_and_escapes_html() {
        let kinds = [
            MailKind::PasswordReset {
                link: "https://x/reset?token=T&a=1",
                code: "012345",
            },
            MailKind::VerifyEmail {
                link: "https://x/v",
                code: "999999",
            },
            MailKind::ConfirmNewEmail {
                link: "https://x/v",
                code: "111111",
            },
            MailKind::EmailChangeNotice {
                new_email: "<new>@example.com",
            },
            MailKind::PasswordChanged,
            MailKind::SignIn {
                link: "https://x/sign-in?token=T",
                code: "222222",
            },
            MailKind::OrgInvitation {
                link: "https://x/invitation?token=T",
                org: "<Acme>",
            },
        ];
        for kind in &kinds {
            let mail = kind.render("Acme");
            for part in [&mail.subject, &mail.text, &mail.html] {
                assert!(!part.contains("{{"), "unfilled: {part}");
            }
            assert!(mail.subject.contains("Acme"), "{}", mail.subject);
            assert!(!mail.subject.is_empty() && !mail.text.starts_with("Subject"));
            assert!(!mail.html.contains("<new>"), "escaped: {}", mail.html);
            assert!(!mail.html.contains("<Acme>"), "escaped: {}", mail.html);
        }
        let reset = kinds[0].render("Acme");
        assert!(
            reset.text.contains("https://x/reset?token=T&a=1") && reset.text.contains("012345")
        );
        assert!(reset.html.contains("https://x/reset?token=T&amp;a=1"));
    }
}
