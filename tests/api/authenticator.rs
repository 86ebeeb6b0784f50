//! A software authenticator for the tests: real ES256 keys and signatures, the WebAuthn byte
//! formats written out by hand, and knobs for the attacks.
//!
//! One authenticator holds one discoverable credential (a resident key with its user handle, so
//! it can answer a sign-in that names no account); make a new one per device. It answers the
//! server's options JSON with the JSON a browser's `PublicKeyCredential.toJSON()` gives, in
//! webauthn-rs's serde shapes:
//!
//! - registration: `{id, rawId, type, response: {attestationObject, clientDataJSON, transports},
//!   extensions}`, the attestation object `{"fmt": "none", "attStmt": {}, "authData": ...}` in
//!   CBOR, the public key as a COSE EC2 key;
//! - sign-in: `{id, rawId, type, response: {authenticatorData, clientDataJSON, signature,
//!   userHandle}, extensions}`, the signature ES256 (DER) over authenticatorData ‖
//!   SHA-256(clientDataJSON).
//!
//! The knobs: the origin the "browser" puts in clientDataJSON, an RP id other than the options'
//! (a wrong RP id hash), user verification on or off, the signature counter (set it back to play
//! a cloned authenticator), a signature over other bytes, and an impostor: the same user handle
//! with a credential the server never saw.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// authenticatorData flags.
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const ATTESTED_CREDENTIAL_DATA: u8 = 0x40;

pub struct Authenticator {
    key: SigningKey,
    credential_id: Vec<u8>,
    /// The user handle the registration options named (base64url, as given), sent back at
    /// sign-in.
    pub user_handle: Option<String>,
    /// The origin in clientDataJSON (a web origin, or `android:apk-key-hash:...`).
    pub origin: String,
    /// Hash this RP id instead of the one the options name.
    pub rp_id: Option<String>,
    /// Set the UV flag (the fingerprint or PIN was checked).
    pub user_verified: bool,
    /// The signature counter the next answer carries; each answer counts it up by one. 0 stays
    /// 0: no counter at all, as synced passkeys do.
    pub counter: u32,
    /// Sign other bytes than the ones sent (a signature that does not verify).
    pub bad_signature: bool,
}

impl Authenticator {
    /// A fresh device with a fresh key, answering from `origin`, user verification on, the
    /// counter at 1.
    pub fn new(origin: &str) -> Self {
        Self {
            key: signing_key(),
            credential_id: random_bytes(32),
            user_handle: None,
            origin: origin.to_string(),
            rp_id: None,
            user_verified: true,
            counter: 1,
            bad_signature: false,
        }
    }

    /// Another device claiming to hold a credential of the same account: same user handle and
    /// origin, but a key and credential id the server never registered.
    pub fn impostor(&self) -> Self {
        Self {
            user_handle: self.user_handle.clone(),
            ..Self::new(&self.origin)
        }
    }

    /// The credential id as the server stores and lists it in `excludeCredentials`.
    pub fn credential_id(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.credential_id)
    }

    /// Answers `PublicKeyCredentialCreationOptions` (the `options` of register/start) with a new
    /// credential: `navigator.credentials.create()`. Keeps the user handle for sign-ins.
    pub fn register(&mut self, options: &Value) -> Value {
        let challenge = options["challenge"].as_str().expect("a challenge");
        let rp_id = options["rp"]["id"].as_str().expect("rp.id");
        let user_handle = options["user"]["id"].as_str().expect("user.id");
        self.user_handle = Some(user_handle.to_string());

        let mut auth_data = self.authenticator_data(rp_id, ATTESTED_CREDENTIAL_DATA);
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        let id_len = u16::try_from(self.credential_id.len()).expect("a short credential id");
        auth_data.extend_from_slice(&id_len.to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key());

        let mut attestation = Cbor::default();
        attestation.map(3);
        attestation.text("fmt");
        attestation.text("none");
        attestation.text("attStmt");
        attestation.map(0);
        attestation.text("authData");
        attestation.bytes(&auth_data);

        let client_data = self.client_data("webauthn.create", challenge);
        let id = self.credential_id();
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "attestationObject": URL_SAFE_NO_PAD.encode(attestation.0),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "transports": ["internal"],
            },
            "extensions": {},
        })
    }

    /// Answers `PublicKeyCredentialRequestOptions` (the `options` of login/start) with an
    /// assertion of its credential, user handle included: `navigator.credentials.get()`.
    pub fn sign_in(&mut self, options: &Value) -> Value {
        let challenge = options["challenge"].as_str().expect("a challenge");
        let rp_id = options["rpId"].as_str().expect("rpId");
        let auth_data = self.authenticator_data(rp_id, 0);
        let client_data = self.client_data("webauthn.get", challenge);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        if self.bad_signature {
            signed[0] ^= 0xff;
        }
        let signature: Signature = self.key.sign(&signed);
        let id = self.credential_id();
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "authenticatorData": URL_SAFE_NO_PAD.encode(&auth_data),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(&client_data),
                "signature": URL_SAFE_NO_PAD.encode(signature.to_der().as_bytes()),
                "userHandle": self.user_handle.as_deref().expect("registered first"),
            },
            "extensions": {},
        })
    }

    /// SHA-256(rp id) ‖ flags ‖ signCount (u32 BE); counts the counter up.
    fn authenticator_data(&mut self, options_rp_id: &str, extra_flags: u8) -> Vec<u8> {
        let rp_id = self.rp_id.as_deref().unwrap_or(options_rp_id);
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        let uv = if self.user_verified { USER_VERIFIED } else { 0 };
        data.push(USER_PRESENT | uv | extra_flags);
        data.extend_from_slice(&self.counter.to_be_bytes());
        if self.counter > 0 {
            self.counter += 1;
        }
        data
    }

    /// The JSON the browser hashes and sends, with the challenge as the options gave it.
    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        let data = json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        });
        serde_json::to_vec(&data).expect("JSON")
    }

    /// The public key as a COSE EC2 key: `{1: 2, 3: -7, -1: 1, -2: x, -3: y}` (EC2, ES256,
    /// P-256).
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut key = Cbor::default();
        key.map(5);
        key.int(1);
        key.int(2);
        key.int(3);
        key.int(-7);
        key.int(-1);
        key.int(1);
        key.int(-2);
        key.bytes(point.x().expect("an uncompressed point"));
        key.int(-3);
        key.bytes(point.y().expect("an uncompressed point"));
        key.0
    }
}

/// The little CBOR needed: maps, text and byte strings, small and negative integers.
#[derive(Default)]
struct Cbor(Vec<u8>);

impl Cbor {
    fn head(&mut self, major: u8, n: u64) {
        let major = major << 5;
        match n {
            0..=23 => self.0.push(major | n as u8),
            24..=0xff => self.0.extend_from_slice(&[major | 24, n as u8]),
            0x100..=0xffff => {
                self.0.push(major | 25);
                self.0.extend_from_slice(&(n as u16).to_be_bytes());
            }
            _ => {
                self.0.push(major | 26);
                self.0.extend_from_slice(&(n as u32).to_be_bytes());
            }
        }
    }

    fn int(&mut self, value: i64) {
        if value >= 0 {
            self.head(0, value as u64);
        } else {
            self.head(1, (-1 - value) as u64);
        }
    }

    fn bytes(&mut self, value: &[u8]) {
        self.head(2, value.len() as u64);
        self.0.extend_from_slice(value);
    }

    fn text(&mut self, value: &str) {
        self.head(3, value.len() as u64);
        self.0.extend_from_slice(value.as_bytes());
    }

    /// A map of `pairs` entries; the keys and values follow.
    fn map(&mut self, pairs: u64) {
        self.head(5, pairs);
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("randomness");
    bytes
}

/// A P-256 key from fresh randomness (a random 32-byte string is a valid scalar but with
/// negligible chance; try again then).
fn signing_key() -> SigningKey {
    loop {
        let bytes = random_bytes(32);
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
    }
}

#[test]
fn cbor_heads_and_integers() {
    let mut c = Cbor::default();
    c.int(-7);
    c.int(1);
    c.int(-1);
    c.int(24);
    c.bytes(&[0; 32]);
    c.map(0);
    assert_eq!(&c.0[..6], &[0x26, 0x01, 0x20, 0x18, 24, 0x58]);
    assert_eq!(c.0[6], 32);
    assert_eq!(*c.0.last().unwrap(), 0xa0);
}
