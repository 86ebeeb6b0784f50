//! The redirect allow-list of provider flows (`OAUTH_REDIRECT_URLS`). An app names where a
//! flow returns to; the server sends the browser there with a one-time code, so a URL an
//! attacker could slip in would hand them the code. Hence: the candidate is parsed and compared
//! whole (scheme, host, port, path and query) with each configured URL, never by prefix or
//! pattern; one carrying userinfo (`user@`) or a fragment never matches; and the browser is sent
//! to the configured URL's own serialisation, not the candidate's text.

use url::Url;

/// The configured URL `candidate` names, if it names one exactly.
pub fn allowed<'a>(allow_list: &'a [Url], candidate: &str) -> Option<&'a Url> {
    // A URL that is not ASCII-clean or has surrounding blanks is not one anybody configured.
    if candidate.is_empty()
        || candidate.len() > 2048
        || candidate
            .bytes()
            .any(|b| b <= b' ' || b == b'\\' || b >= 0x7f)
    {
        return None;
    }
    let url = Url::parse(candidate).ok()?;
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return None;
    }
    allow_list.iter().find(|a| **a == url)
}

/// `url` with the pairs appended to its query (the code, or the error of a failed flow).
pub fn with_params(url: &Url, pairs: &[(&str, &str)]) -> String {
    let mut url = url.clone();
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Vec<Url> {
        [
            "https://app.example.com/auth/callback",
            "http://localhost:3000/callback",
            "com.example.app:/oauth",
        ]
        .iter()
        .map(|u| Url::parse(u).unwrap())
        .collect()
    }

    #[test]
    fn exact_urls_match_and_come_back_as_configured() {
        let list = list();
        for ok in [
            "https://app.example.com/auth/callback",
            "HTTPS://APP.example.com/auth/callback",
            "https://app.example.com:443/auth/callback",
            "http://localhost:3000/callback",
            "com.example.app:/oauth",
        ] {
            assert!(allowed(&list, ok).is_some(), "{ok}");
        }
    }

    #[test]
    fn tricks_never_match() {
        let list = list();
        for bad in [
            "https://app.example.com/auth/callback/evil",
            "https://app.example.com/auth/callbackx",
            "https://app.example.com/auth/callback?next=https://evil.example",
            "https://app.example.com/auth/callback#frag",
            "https://app.example.com.evil.example/auth/callback",
            "https://evil.example@app.example.com/auth/callback",
            "https://app.example.com@evil.example/auth/callback",
            "https://user:pw@app.example.com/auth/callback",
            "https://app.example.com/auth/callback/..;/evil",
            "https://app.example.com/auth/..;/callback",
            "https://app.example.com/auth%2Fcallback",
            "https://app.example.com/auth/callback%2F..%2F..%2Fevil",
            "https://app.example.com:8443/auth/callback",
            "http://app.example.com/auth/callback",
            "http://localhost:3001/callback",
            "http://127.0.0.1:3000/callback",
            "//app.example.com/auth/callback",
            "/auth/callback",
            "javascript:alert(1)//https://app.example.com/auth/callback",
            "data:text/html,https://app.example.com/auth/callback",
            " https://app.example.com/auth/callback",
            "https://app.example.com/auth/callback ",
            "https:\\\\app.example.com/auth/callback",
            "https://app.example.com\\@evil.example/auth/callback",
            "com.example.app:/oauth/../evil",
            "com.example.app://oauth",
            "",
        ] {
            assert!(allowed(&list, bad).is_none(), "{bad:?} matched");
        }
    }

    #[test]
    fn params_are_appended_encoded() {
        let url = Url::parse("https://app.example.com/cb?tab=1").unwrap();
        assert_eq!(
            with_params(&url, &[("code", "a b&c")]),
            "https://app.example.com/cb?tab=1&code=a+b%26c"
        );
    }
}
