//! What the common-password check costs: the time of one lookup in the built-in list, for a
//! password in it and one not in it. Run in release: `cargo run --release --example
//! password_list_cost`. The figures go into docs/PERFORMANCE.md.

use std::hint::black_box;
use std::time::Instant;

use authkit::security::common_passwords::{is_common, len};

fn per_lookup(password: &str, rounds: u32) -> f64 {
    let started = Instant::now();
    for _ in 0..rounds {
        black_box(is_common(black_box(password)));
    }
    started.elapsed().as_nanos() as f64 / f64::from(rounds)
}

fn main() {
    let rounds = 1_000_000;
    println!("{} passwords in the list", len());
    for password in [
        "password123",
        "Qwertyuiop",
        "a strong and unlisted passphrase",
    ] {
        let ns = per_lookup(password, rounds);
        println!("{password:?}: {ns:.0} ns per lookup ({rounds} lookups)");
    }
}
