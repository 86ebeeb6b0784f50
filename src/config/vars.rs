//! Reading one variable: the lookup (environment, `.env`, or a test's map) and the parsers every
//! concern shares. Every error names its variable.
//!
//! A value that does not parse is recorded as a problem and the reader goes on with the default,
//! so that one pass reports every problem at once (`check-config`, and the start's error).

use std::cell::RefCell;
use std::str::FromStr;
use std::time::Duration;

use super::{ConfigError, Limit, bad};

/// The variables, through any lookup; empty values count as unset.
pub(super) struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: RefCell<Vec<ConfigError>>,
}

impl<'a> Vars<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            problems: RefCell::default(),
        }
    }

    /// Records a problem found while reading; the caller goes on with a default.
    pub(super) fn report(&self, problem: ConfigError) {
        self.problems.borrow_mut().push(problem);
    }

    /// The value, or the default after recording why the value was refused.
    fn or_default<T>(&self, parsed: Result<T, ConfigError>, default: T) -> T {
        parsed.unwrap_or_else(|problem| {
            self.report(problem);
            default
        })
    }

    /// Every problem recorded so far.
    pub(super) fn into_problems(self) -> Vec<ConfigError> {
        self.problems.into_inner()
    }

    /// The trimmed value, `None` when unset or empty.
    pub(super) fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn string_or(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or_else(|| default.to_string())
    }

    /// A comma-separated list, blanks dropped.
    pub(super) fn list(&self, var: &str) -> Vec<String> {
        self.get(var)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One of a few words (case-insensitive), each standing for a value.
    pub(super) fn choice<T: Copy>(&self, var: &'static str, default: T, words: &[(&str, T)]) -> T {
        let Some(value) = self.get(var) else {
            return default;
        };
        let lower = value.to_ascii_lowercase();
        let chosen = words
            .iter()
            .find(|(word, _)| *word == lower)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let expected: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
                bad(
                    var,
                    format!("expected {}, got {value:?}", expected.join(", ")),
                )
            });
        self.or_default(chosen, default)
    }

    pub(super) fn bool(&self, var: &'static str, default: bool) -> bool {
        match self.get(var).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => default,
            Some("true" | "1" | "yes" | "on") => true,
            Some("false" | "0" | "no" | "off") => false,
            Some(other) => {
                self.report(bad(var, format!("expected on or off, got {other:?}")));
                default
            }
        }
    }

    pub(super) fn num<T: FromStr>(&self, var: &'static str, default: T) -> T {
        match self.get(var) {
            None => default,
            Some(v) => {
                let parsed = v
                    .parse()
                    .map_err(|_| bad(var, format!("not a valid number: {v:?}")));
                self.or_default(parsed, default)
            }
        }
    }

    /// A count that must be at least one.
    pub(super) fn positive(&self, var: &'static str, default: usize) -> usize {
        match self.num(var, default) {
            0 => {
                self.report(bad(var, "must be positive"));
                default
            }
            n => n,
        }
    }

    /// Seconds (`900`) or a number with a unit: `s`, `m`, `h`, `d` (`15m`, `30d`).
    pub(super) fn duration(&self, var: &'static str, default: Duration) -> Duration {
        match self.get(var) {
            None => default,
            Some(v) => self.or_default(parse_duration(var, &v), default),
        }
    }

    /// A duration that must be longer than zero.
    pub(super) fn positive_duration(&self, var: &'static str, default: Duration) -> Duration {
        let d = self.duration(var, default);
        if d.is_zero() {
            self.report(bad(var, "must be positive"));
            return default;
        }
        d
    }

    /// A limit is `MAX/WINDOW` (e.g. `30/5m`), or `off` (`None`). `default` is written the same
    /// way and must parse.
    pub(super) fn limit(&self, var: &'static str, default: &str) -> Option<Limit> {
        let text = self.string_or(var, default);
        let parsed = parse_limit(var, &text);
        let fallback = parse_limit(var, default).expect("a valid default limit");
        self.or_default(parsed, fallback)
    }
}

fn parse_limit(var: &'static str, text: &str) -> Result<Option<Limit>, ConfigError> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (max, window) = text.split_once('/').ok_or_else(|| {
        bad(
            var,
            format!("expected MAX/WINDOW such as 30/5m, or off; got {text:?}"),
        )
    })?;
    let max: u64 = max.trim().parse().ok().filter(|m| *m > 0).ok_or_else(|| {
        bad(
            var,
            format!("the maximum must be a positive number, got {max:?}"),
        )
    })?;
    let window = parse_duration(var, window.trim())?;
    if window.is_zero() {
        return Err(bad(var, "the window must be positive"));
    }
    Ok(Some(Limit { max, window }))
}

fn parse_duration(var: &'static str, v: &str) -> Result<Duration, ConfigError> {
    let (digits, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = digits.parse().map_err(|_| {
        bad(
            var,
            format!("expected seconds or a number with s/m/h/d, got {v:?}"),
        )
    })?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad(var, format!("unknown unit in {v:?}; use s, m, h or d"))),
    };
    n.checked_mul(scale)
        .filter(|secs| *secs <= 10 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| bad(var, "too large"))
}
