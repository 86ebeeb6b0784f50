//! A short device label from the User-Agent, e.g. `Chrome 120 | Windows 10 | pc`, as the
//! template shows it in session listings.

/// Longest User-Agent kept; anything longer is cut (it is attacker-controlled).
pub const MAX_USER_AGENT: usize = 512;

pub fn describe(user_agent: &str) -> String {
    let Some(ua) = woothee::parser::Parser::new().parse(user_agent) else {
        return "Unknown | Unknown | unknown".to_string();
    };
    let major = ua.version.split('.').next().unwrap_or_default();
    let browser = if major.is_empty() || ua.version == woothee::woothee::VALUE_UNKNOWN {
        ua.name.to_string()
    } else {
        format!("{} {major}", ua.name)
    };
    format!("{browser} | {} | {}", ua.os, ua.category)
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
