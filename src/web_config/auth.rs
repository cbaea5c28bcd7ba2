//! HTTP basic auth against bcrypt hashes, as exporter-toolkit's `basic_auth_users`.
//!
//! bcrypt at cost 10 costs 50–100 ms of CPU, and Prometheus sends the same credentials
//! every scrape, so successful checks are remembered by an HMAC of `user:password` under
//! a key made at start (the plain password is never kept); a reload keeps what it
//! remembered for users whose hash did not change. An unknown user still costs a bcrypt
//! check at the highest configured cost, and every uncached check lasts at least as long
//! as that one, so response time tells neither which users exist nor their costs.
//!
//! Uncached checks pass through one process-wide [`Gate`]: fewer bcrypt computations at
//! once than there are cores, at most [`PER_CLIENT`] pending per client (an IPv4
//! address or an IPv6 /64) — more are refused at once — and free places given to the
//! client served longest ago, newcomers first. So a flood of wrong passwords, from one
//! address or from many, can neither take every core nor queue a valid user behind it.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use hyper::header::HeaderValue;
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Successful checks remembered; past this the oldest is forgotten.
const CACHE_ENTRIES: usize = 64;

/// The highest bcrypt cost accepted. Each step doubles the CPU of a check: cost 14 is
/// about 1 s on one core, cost 17 was 10 s and cost 31 would be years.
pub const MAX_COST: u32 = 14;

/// Uncached checks pending (running or queued) per client, as grouped by [`group`];
/// more are refused.
pub const PER_CLIENT: usize = 2;

/// Clients whose last grant is remembered; past this the half served longest ago are
/// forgotten (and so count as newcomers again).
const REMEMBERED: usize = 4096;

/// Who counts as one client: an IPv4 address, or an IPv6 /64 (one host or LAN is
/// given a whole /64, so an attacker would otherwise have 2^64 addresses). An
/// IPv4-mapped IPv6 address is its IPv4 address.
pub(super) fn group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// Admission of uncached checks, for the whole process, across reloads: at most
/// `limit` bcrypt computations at once, at most [`PER_CLIENT`] pending per client, and
/// a free place goes to the waiting client served longest ago — one never served (or
/// forgotten) first, the newest of those first. A flood from many addresses thus
/// shares the places among its own addresses, while a client that arrives during it
/// waits for about one check, not for the whole queue; a correct password clears its
/// client's record.
pub(super) struct Gate {
    limit: usize,
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    /// Checks pending (queued or running) per client.
    pending: HashMap<IpAddr, usize>,
    running: usize,
    waiting: Vec<Waiter>,
    /// Numbers arrivals and grants, in one sequence.
    seq: u64,
    /// Client → the number of its last grant.
    served: HashMap<IpAddr, u64>,
}

struct Waiter {
    id: u64,
    client: IpAddr,
    wake: tokio::sync::oneshot::Sender<()>,
}

/// bcrypt computations at once: one fewer than the cores (at least one), so scrapes
/// and the poll loop always have a core.
pub(super) static GATE: LazyLock<Gate> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    Gate::new(cores.saturating_sub(1).max(1))
});

/// A client's place among the pending checks, given back on drop.
pub(super) struct Ticket {
    gate: &'static Gate,
    client: IpAddr,
}

/// A place among the running checks, given back on drop.
pub(super) struct Slot {
    gate: &'static Gate,
    /// False only if the gate vanished under a waiter, which it does not.
    counted: bool,
}

/// A waiter's place in the queue; if its request is dropped while waiting, the place
/// is removed, or, if granted meanwhile, passed on.
struct Queued {
    gate: &'static Gate,
    id: u64,
    taken: bool,
}

impl Gate {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            state: Mutex::default(),
        }
    }

    /// A place for one more check from `client`, unless its group already has
    /// [`PER_CLIENT`].
    pub(super) fn admit(&'static self, client: IpAddr) -> Option<Ticket> {
        let client = group(client);
        let mut s = crate::sync::lock(&self.state);
        let n = s.pending.entry(client).or_default();
        if *n >= PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(Ticket { gate: self, client })
    }

    /// Checks waiting for a place.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        crate::sync::lock(&self.state).waiting.len()
    }

    fn release(&self) {
        let mut s = crate::sync::lock(&self.state);
        s.running = s.running.saturating_sub(1);
        s.dispatch(self.limit);
    }
}

impl GateState {
    fn grant(&mut self, client: IpAddr) {
        self.running += 1;
        self.seq += 1;
        self.served.insert(client, self.seq);
        if self.served.len() > REMEMBERED {
            let mut grants: Vec<u64> = self.served.values().copied().collect();
            let (_, median, _) = grants.select_nth_unstable(REMEMBERED / 2);
            let median = *median;
            self.served.retain(|_, g| *g > median);
        }
    }

    /// Fills free places from the queue, best-placed client first.
    fn dispatch(&mut self, limit: usize) {
        while self.running < limit {
            let best = self
                .waiting
                .iter()
                .enumerate()
                .min_by_key(|(_, w)| match self.served.get(&w.client) {
                    None => (0, u64::MAX - w.id, 0),
                    Some(&g) => (1, g, w.id),
                })
                .map(|(i, _)| i);
            let Some(i) = best else { return };
            let w = self.waiting.swap_remove(i);
            self.grant(w.client);
            // A closed receiver means the waiter is being dropped: its `Queued` sees
            // it was granted and gives the place back.
            let _ = w.wake.send(());
        }
    }
}

impl Ticket {
    /// Waits for a place among the running checks.
    pub(super) async fn slot(&self) -> Slot {
        let gate = self.gate;
        let (wake, woken) = tokio::sync::oneshot::channel();
        let id = {
            let mut s = crate::sync::lock(&gate.state);
            if s.running < gate.limit && s.waiting.is_empty() {
                s.grant(self.client);
                return Slot {
                    gate,
                    counted: true,
                };
            }
            s.seq += 1;
            let id = s.seq;
            s.waiting.push(Waiter {
                id,
                client: self.client,
                wake,
            });
            id
        };
        let mut queued = Queued {
            gate,
            id,
            taken: false,
        };
        let counted = woken.await.is_ok();
        queued.taken = true;
        Slot { gate, counted }
    }

    /// The client gave a correct password: it is not the flood, so its next uncached
    /// check goes first again.
    pub(super) fn forgive(&self) {
        crate::sync::lock(&self.gate.state)
            .served
            .remove(&self.client);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut s = crate::sync::lock(&self.gate.state);
        if let Some(n) = s.pending.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                s.pending.remove(&self.client);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.counted {
            self.gate.release();
        }
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        let mut s = crate::sync::lock(&self.gate.state);
        if let Some(i) = s.waiting.iter().position(|w| w.id == self.id) {
            s.waiting.swap_remove(i);
        } else {
            s.running = s.running.saturating_sub(1);
            s.dispatch(self.gate.limit);
        }
    }
}

/// Why a request was refused; only for debug logs and tests, never shown to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Missing,
    NotBasic,
    BadBase64,
    NoColon,
    UnknownUser,
    WrongPassword,
    /// Too many uncached checks pending from this client: answered 429.
    Busy,
}

impl Denied {
    /// The `reason` field of the log line: a plain word, not Rust's `Debug`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Denied::Missing => "missing",
            Denied::NotBasic => "not_basic",
            Denied::BadBase64 => "bad_base64",
            Denied::NoColon => "no_colon",
            Denied::UnknownUser => "unknown_user",
            Denied::WrongPassword => "wrong_password",
            Denied::Busy => "busy",
        }
    }
}

pub(super) struct BasicAuth {
    /// (user, bcrypt hash), sorted by user.
    users: Vec<(String, String)>,
    /// Checked for unknown users, at the highest cost configured.
    pub(super) dummy_hash: String,
    /// How long checking the dummy hash takes: the least any uncached check lasts.
    pub(super) floor: Duration,
    hmac_key: [u8; 32],
    cache: Mutex<Cache>,
}

/// Tags of verified credentials → their user, so a reload can keep the entries of
/// users whose hash did not change.
#[derive(Default)]
struct Cache {
    known: HashMap<[u8; 20], String>,
    order: VecDeque<[u8; 20]>,
}

impl BasicAuth {
    /// `users` must hold hashes already checked to parse; `max_cost` is their highest
    /// cost. What `previous` verified stays verified for users whose hash is the same.
    pub(super) fn new(
        users: Vec<(String, String)>,
        max_cost: u32,
        previous: Option<&BasicAuth>,
    ) -> Result<Self, String> {
        let started = Instant::now();
        let dummy_hash = bcrypt::hash(uuid::Uuid::new_v4().as_bytes(), max_cost)
            .map_err(|e| format!("cannot make the dummy bcrypt hash: {e}"))?;
        let floor = started.elapsed();
        let (hmac_key, cache) = match previous {
            Some(old) => (old.hmac_key, old.cache_for(&users)),
            None => {
                let mut key = [0; 32];
                key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                (key, Cache::default())
            }
        };
        Ok(Self {
            users,
            dummy_hash,
            floor,
            hmac_key,
            cache: Mutex::new(cache),
        })
    }

    /// Whether `users` are exactly this one's: a reload can then keep it whole.
    pub(super) fn same_users(&self, users: &[(String, String)]) -> bool {
        self.users == users
    }

    /// The remembered checks of users that keep their hash in `users`.
    fn cache_for(&self, users: &[(String, String)]) -> Cache {
        let old = crate::sync::lock(&self.cache);
        let unchanged = |user: &String| {
            let hash = |list: &[(String, String)]| {
                list.iter().find(|(u, _)| u == user).map(|(_, h)| h.clone())
            };
            hash(users).is_some_and(|h| Some(h) == hash(&self.users))
        };
        let mut cache = Cache::default();
        for tag in &old.order {
            if let Some(user) = old.known.get(tag).filter(|u| unchanged(u)) {
                cache.known.insert(*tag, user.clone());
                cache.order.push_back(*tag);
            }
        }
        cache
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
                self.remember(tag, user);
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
        let mut mac =
            Hmac::<Sha1>::new_from_slice(&self.hmac_key).expect("HMAC takes a key of any length");
        mac.update(user.as_bytes());
        mac.update(b":");
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cached(&self, tag: &[u8; 20]) -> bool {
        crate::sync::lock(&self.cache).known.contains_key(tag)
    }

    fn remember(&self, tag: [u8; 20], user: String) {
        let mut c = crate::sync::lock(&self.cache);
        if c.known.insert(tag, user).is_some() {
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
        crate::sync::lock(&self.cache).known.len()
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
