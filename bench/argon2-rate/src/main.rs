//! Raw Argon2id verify rate: how many password verifications per second this machine does with
//! the server's parameters (m = 19456 KiB, t = 2, p = 1), running one verification per core at
//! once, as the server does (it runs WORKERS = cores hashing threads).
//!
//! Each verification parses the stored PHC string, builds an Argon2id instance and verifies with
//! the crate's standard API (the server reuses one 19 MiB memory buffer per hashing thread
//! instead of allocating it, which is no slower).
//!
//! Usage: argon2-rate [SECONDS] [THREADS]   (defaults: 5 s, all cores)
//! Prints one JSON object on stdout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The server's parameters (src/security/password.rs).
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const PASSWORD: &str = "correct horse battery staple";

fn argon2() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("valid parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn verify(stored: &str) {
    let parsed = PasswordHash::new(stored).expect("a PHC string");
    argon2()
        .verify_password(PASSWORD.as_bytes(), &parsed)
        .expect("the password matches");
}

/// Verifications per second with `threads` threads for `duration`.
fn rate(stored: &Arc<String>, threads: usize, duration: Duration) -> (f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (stored, stop, done) = (stored.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    verify(&stored);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("worker thread");
    }
    // Verifications finished after the stop flag count too, so divide by the real elapsed time.
    let n = done.load(Ordering::Relaxed);
    (n as f64 / start.elapsed().as_secs_f64(), n)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args
        .next()
        .map_or(5.0, |s| s.parse().expect("SECONDS must be a number"));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: usize = args
        .next()
        .map_or(cores, |s| s.parse().expect("THREADS must be a number"));

    let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").expect("salt");
    let stored = Arc::new(
        argon2()
            .hash_password(PASSWORD.as_bytes(), &salt)
            .expect("hashing")
            .to_string(),
    );
    verify(&stored); // warm-up: page in the allocator and the code

    let (single, _) = rate(&stored, 1, Duration::from_secs_f64(seconds / 2.0));
    let (all, n) = rate(&stored, threads, Duration::from_secs_f64(seconds));
    println!(
        "{{\"m_cost_kib\":{M_COST_KIB},\"t_cost\":{T_COST},\"p_cost\":{P_COST},\"cores\":{cores},\
         \"threads\":{threads},\"verifies\":{n},\"verifies_per_sec\":{all:.2},\
         \"single_thread_verifies_per_sec\":{single:.2},\"ms_per_verify_single_thread\":{:.2}}}",
        1000.0 / single
    );
}
