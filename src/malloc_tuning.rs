//! Two glibc allocator settings that keep the resident set small, applied once at start.
//!
//! Measured (docs/PERFORMANCE.md, "History: the first run" and "What changed"): with glibc's
//! defaults a login storm grew the server to 4.3 GiB resident (6.8 GiB peak). Argon2's 19 MiB
//! working buffers, once freed, landed in per-thread arenas and were never returned. With the
//! buffers pooled (`security::password`) and these two settings, the server holds 62 MiB after
//! every benchmark scenario and 24 MiB at rest.
//!
//! - `M_ARENA_MAX = 2`: glibc gives each thread that allocates its own arena (up to 8 per core),
//!   and memory freed in one is not reusable by another; two are enough for a server whose
//!   threads mostly wait. 4 or 8 measured no faster.
//! - `M_MMAP_THRESHOLD = 4 MiB`: blocks of 4 MiB and more (in practice the Argon2 buffers) are
//!   mapped on their own, so freeing one returns it to the OS at once. By default glibc raises
//!   this threshold after the first such free, and the buffers then land in an arena, where a
//!   freed one can stay resident. The buffers are reused while logins come in, so they are
//!   mapped once, not per hash.

/// Applies the settings. Call it first thing in `main`, before any other thread exists: glibc's
/// `mallopt` is not safe to call while other threads allocate.
pub fn apply() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes allocator parameters; the caller runs before any other
    // thread exists, so no allocation races with it.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}
