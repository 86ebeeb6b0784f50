//! A passkey registered to an account: the WebAuthn credential (its public key and signature
//! counter, as the WebAuthn library keeps it), and what the owner sees of it.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq)]
pub struct Passkey {
    pub id: String,
    pub user_id: String,
    /// The credential id, base64url: what an assertion names (unique).
    pub credential_id: String,
    /// The owner's name for it ("MacBook", "Phone").
    pub name: String,
    /// The credential as the WebAuthn library serialises it (public key, counter, backup state):
    /// public data, but only the library reads it.
    pub credential: String,
    /// Synced by its platform (iCloud Keychain, Google Password Manager).
    pub backed_up: bool,
    /// How the authenticator is reached (`internal`, `hybrid`, `usb`, ...), as it said.
    pub transports: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}
