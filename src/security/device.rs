//! A short device label from the User-Agent, e.g. `Chrome 120 | Windows 10 | pc`, as the
//! template shows it in session listings.

/// Longest User-Agent kept; anything longer is cut (it is attacker-controlled).
pub const MAX_USER_AGENT: usize = 512;

pub fn describe(user_agent: &str) -> String {
    let unknown = woothee::woothee::VALUE_UNKNOWN;
    let known = |v: &str| (v != unknown && !v.is_empty()).then(|| v.to_string());
    let parsed = woothee::parser::Parser::new().parse(user_agent);
    let (browser, os, category) = match parsed {
        Some(ua) => {
            let major = ua.version.split('.').next().and_then(known);
            let browser = known(ua.name).map(|name| match major {
                Some(major) => format!("{name} {major}"),
                None => name,
            });
            (browser, known(ua.os), known(ua.category))
        }
        None => (None, None, None),
    };
    format!(
        "{} | {} | {}",
        browser.as_deref().unwrap_or("Unknown"),
        os.as_deref().unwrap_or("Unknown"),
        category.as_deref().unwrap_or("unknown")
    )
}

/// The User-Agent as stored: trimmed to [`MAX_USER_AGENT`] characters.
pub fn truncate_user_agent(user_agent: &str) -> String {
    user_agent.chars().take(MAX_USER_AGENT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(describe(chrome), "Chrome 120 | Windows 10 | pc");
        assert_eq!(describe(""), "Unknown | Unknown | unknown");
        assert!(describe("curl/8.5.0").contains('|'));
    }
}
