//! Access tokens that already passed the full check, so a client sending the same token again is
//! not checked again: one Ed25519 verification costs about as much as the rest of an
//! authenticated request, and even under HS256 the decoding, the MAC and the JSON parse of the
//! claims are a tenth of it (docs/PERFORMANCE.md).
//!
//! Why a hit can never accept a token the full check would refuse:
//! - an entry is only added after the full check accepted the token;
//! - a hit needs the very same bytes (the map compares whole tokens, not hashes of them);
//! - the full check depends on the token, the key set and the time. The key set is matched by
//!   its generation (a reload that changes anything makes a new generation, and entries of
//!   another generation miss; under HS256 the secret is fixed for the process's life, one
//!   generation); the time is checked again on every hit: the token's `exp`, and the end of its
//!   key's validity for a retired key.
//!
//! So the cache holds the outcome of a pure function of (token, key set) plus the two times it
//! varies with. It is bounded: when full it is emptied (entries are cheap to remake, and only a
//! token that verifies can enter, so nobody can fill it with junk).

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};

use crate::security::claims::Claims;

/// Clients whose tokens are remembered at once; more only means more verifications.
pub const CAPACITY: usize = 10_000;

struct Entry {
    claims: Claims,
    generation: u64,
    key_until: Option<DateTime<Utc>>,
}

pub struct VerifiedTokens {
    entries: RwLock<HashMap<Box<str>, Entry>>,
    capacity: usize,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl VerifiedTokens {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// The claims of `token` if it was verified against key set `generation` and is still
    /// within its `exp` and its key's validity at `now`.
    pub fn get(&self, token: &str, generation: u64, now: DateTime<Utc>) -> Option<Claims> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(token)?;
        let live = entry.generation == generation
            && entry.claims.exp > now.timestamp()
            && entry.key_until.is_none_or(|until| until > now);
        live.then(|| entry.claims.clone())
    }

    /// Remembers a token the full check accepted against key set `generation`.
    pub fn insert(
        &self,
        token: &str,
        claims: &Claims,
        generation: u64,
        key_until: Option<DateTime<Utc>>,
    ) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(
            token.into(),
            Entry {
                claims: claims.clone(),
                generation,
                key_until,
            },
        );
    }

    /// Forgets everything (a new key set makes every entry a miss anyway; this frees them).
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
