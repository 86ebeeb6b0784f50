//! The passwords people choose most, as breaches show them: the 300,000 most common of a list
//! drawn from real breaches, lower-cased, those of 8 to 128 characters kept (115,387; shorter
//! ones fail the length rule anyway). Source, licence and how to regenerate:
//! `assets/passwords/README.md`.
//!
//! The list is compiled into the binary as sorted text and searched in place: no file, no
//! network, and no heap at all (a set of 115k strings would cost megabytes of heap; the text is
//! 1 MiB of read-only data the kernel pages in as the search touches it). A lookup is a binary
//! search of about 17 steps over the lines, each finding its line's start in the text.

use std::cmp::Ordering;

/// One password a line, lower-cased, sorted by bytes, unique.
const LIST: &str = include_str!("../../assets/passwords/common.txt");

/// Whether `password` is in the list, compared case-insensitively.
pub fn is_common(password: &str) -> bool {
    contains(LIST, &password.to_lowercase())
}

/// Binary search of the sorted, newline-separated `list` for the line `needle`.
fn contains(list: &str, needle: &str) -> bool {
    let bytes = list.as_bytes();
    let (mut low, mut high) = (0, bytes.len());
    while low < high {
        let middle = (low + high) / 2;
        // The line the middle byte falls in.
        let start = bytes[..middle]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let end = bytes[middle..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| middle + i);
        match bytes[start..end].cmp(needle.as_bytes()) {
            Ordering::Equal => return true,
            Ordering::Less => low = end + 1,
            Ordering::Greater => high = start,
        }
    }
    false
}

/// How many passwords the list holds.
pub fn len() -> usize {
    LIST.lines().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_unique_and_lower_case() {
        let lines: Vec<&str> = LIST.lines().collect();
        assert!(lines.len() >= 100_000, "{} passwords", lines.len());
        assert!(lines.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()));
        assert!(
            lines
                .iter()
                .all(|l| *l == l.to_lowercase() && l.chars().count() >= 8)
        );
    }

    #[test]
    fn common_ones_are_found_whatever_their_case() {
        for common in [
            "password123",
            "qwertyuiop",
            "PASSWORD123",
            "Iloveyou1",
            "abc12345",
        ] {
            assert!(is_common(common), "{common}");
        }
        for uncommon in ["correct horse battery", "Vq3xT9pL2mZ8rK4w", "passwor", ""] {
            assert!(!is_common(uncommon), "{uncommon}");
        }
    }

    #[test]
    fn every_line_is_found_and_its_neighbours_are_not() {
        let list = "aaaaaaaa\nbbbbbbbb\ncccccccc\n";
        for line in list.lines() {
            assert!(contains(list, line), "{line}");
        }
        for absent in ["a", "aaaaaaaaa", "bbbbbbb", "zzzzzzzz", "0", ""] {
            assert!(!contains(list, absent), "{absent}");
        }
        for line in LIST.lines().step_by(997) {
            assert!(contains(LIST, line), "{line}");
        }
    }
}
