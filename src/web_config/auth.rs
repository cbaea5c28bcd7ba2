//! HTTP basic auth against bcrypt hashes, as exporter-toolkit's `basic_auth_users`.
//!
//! bcrypt at cost 10 costs 50–100 ms of CPU, and Prometheus sends the same credentials
//! every scrape, so successful checks are remembered by an HMAC of `user:password` under
//! a key made at start (the plain password is never kept). An unknown user still costs
//! a bcrypt check, so response time does not tell which users exist.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use hyper::header::HeaderValue;
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Successful checks remembered; past this the oldest is forgotten.
const CACHE_ENTRIES: usize = 64;

/// Why a request was refused; only for debug logs and tests, never shown to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Missing,
    NotBasic,
    BadBase64,
    NoColon,
    UnknownUser,
    WrongPassword,
}

pub(super) struct BasicAuth {
    /// (user, bcrypt hash), sorted by user.
    users: Vec<(String, String)>,
    /// Checked for unknown users, at the highest cost configured.
    pub(super) dummy_hash: String,
    hmac_key: [u8; 32],
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    known: HashSet<[u8; 20]>,
    order: VecDeque<[u8; 20]>,
}

impl BasicAuth {
    /// `users` must hold hashes already checked to parse; `max_cost` is their highest cost.
    pub(super) fn new(users: Vec<(String, String)>, max_cost: u32) -> Result<Self, String> {
        let dummy_hash = bcrypt::hash(uuid::Uuid::new_v4().as_bytes(), max_cost)
            .map_err(|e| format!("cannot make the dummy bcrypt hash: {e}"))?;
        let mut hmac_key = [0; 32];
        hmac_key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        hmac_key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Ok(Self {
            users,
            dummy_hash,
            hmac_key,
            cache: Mutex::default(),
        })
    }

    pub(super) fn user_count(&self) -> usize {
        self.users.len()
    }

    pub(super) fn check(&self, authorization: Option<&HeaderValue>) -> Result<(), Denied> {
        let (user, password) = parse(authorization.ok_or(Denied::Missing)?)?;
        let tag = self.tag(&user, &password);
        if self.cached(&tag) {
            return Ok(());
        }
        // Every name is compared, in constant time, so the time taken does not tell
        // how far down the list a match was.
        let mut found = None;
        for (name, hash) in &self.users {
            if bool::from(name.as_bytes().ct_eq(user.as_bytes())) {
                found = Some(hash.as_str());
            }
        }
        let hash = found.unwrap_or(&self.dummy_hash);
        let ok = bcrypt::verify(password.as_bytes(), hash).unwrap_or(false);
        match (found, ok) {
            (Some(_), true) => {
                self.remember(tag);
                Ok(())
            }
            (Some(_), false) => Err(Denied::WrongPassword),
            (None, _) => Err(Denied::UnknownUser),
        }
    }

    /// True when these credentials were verified before: no bcrypt needed.
    pub(super) fn is_cached(&self, authorization: Option<&HeaderValue>) -> bool {
        match authorization.map(parse) {
            Some(Ok((user, password))) => self.cached(&self.tag(&user, &password)),
            _ => false,
        }
    }

    fn tag(&self, user: &str, password: &str) -> [u8; 20] {
        // Any key length is valid for HMAC; the error arm cannot happen.
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&self.hmac_key) else {
            return [0; 20];
        };
        mac.update(user.as_bytes());
        mac.update(b":");
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cached(&self, tag: &[u8; 20]) -> bool {
        self.cache
            .lock()
            .map(|c| c.known.contains(tag))
            .unwrap_or(false)
    }

    fn remember(&self, tag: [u8; 20]) {
        let Ok(mut c) = self.cache.lock() else { return };
        if !c.known.insert(tag) {
            return;
        }
        c.order.push_back(tag);
        while c.order.len() > CACHE_ENTRIES {
            if let Some(old) = c.order.pop_front() {
                c.known.remove(&old);
            }
        }
    }

    #[cfg(test)]
    pub(super) fn cache_len(&self) -> usize {
        self.cache.lock().map(|c| c.known.len()).unwrap_or(0)
    }
}

/// `Basic base64(user:password)` → (user, password). The scheme is case-insensitive
/// (RFC 7235); the password may contain colons, the user name cannot.
pub(super) fn parse(header: &HeaderValue) -> Result<(String, String), Denied> {
    let value = header.to_str().map_err(|_| Denied::NotBasic)?.trim();
    let (scheme, encoded) = value.split_once(' ').ok_or(Denied::NotBasic)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Denied::NotBasic);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Denied::BadBase64)?;
    let text = String::from_utf8(decoded).map_err(|_| Denied::BadBase64)?;
    let (user, password) = text.split_once(':').ok_or(Denied::NoColon)?;
    Ok((user.to_owned(), password.to_owned()))
}
