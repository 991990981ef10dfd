//! The address book: peers we know of, when each may be dialled again
//! (exponential backoff), and banned IPs, in one place.
//!
//! It resists poisoning as Bitcoin Core's address manager does, in a
//! simpler shape. An address heard in `addr` (or as a peer's listen
//! address) enters the *new* table, credited to the netgroup of the IP
//! that told us (its /16 for IPv4, /32 for IPv6, as eviction counts them,
//! [`super::eviction::netgroup`]): at most [`MAX_PER_SOURCE`] new
//! addresses per source netgroup, [`MAX_NEW`] in all (when full, the
//! source holding the most entries gives up its worst one), so an
//! attacker with many IPs in one /16 gets one share, not one per IP. An address becomes *tried* only after an outbound connection to
//! it completed the handshake. Addresses that keep failing are forgotten
//! ([`MAX_NEW_FAILURES`], [`MAX_TRIED_FAILURES`] consecutive failures),
//! except pinned ones (the configured seeds). Hidden addresses (the
//! default seed a node picks for itself when given none) are dialled and
//! backed off like any other, but never passed on
//! ([`AddrBook::shareable`]), saved ([`AddrBook::records`]) or learned
//! from gossip.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use super::eviction::netgroup;
use super::types::Millis;
use crate::store::PeerRecord;

/// The netgroup `source` is counted in.
fn group(source: Option<IpAddr>) -> Option<u64> {
    source.map(|ip| netgroup(&SocketAddr::new(ip, 0)))
}

/// Most addresses in the new table.
pub const MAX_NEW: usize = 1_000;
/// Most addresses in the tried table.
pub const MAX_TRIED: usize = 1_000;
/// Most new-table addresses credited to one source netgroup.
pub const MAX_PER_SOURCE: usize = 64;
/// Consecutive failures after which a new address is forgotten.
pub const MAX_NEW_FAILURES: u32 = 5;
/// Consecutive failures after which a tried address is forgotten.
pub const MAX_TRIED_FAILURES: u32 = 20;
/// First retry delay after a failed dial (ms); doubles per failure.
pub const BACKOFF_MIN: Millis = 1_000;
/// Longest retry delay (ms).
pub const BACKOFF_MAX: Millis = 60_000;
/// Most IPs banned at once: a new ban past it replaces the one that ends
/// soonest, so the bans (and the `peers` tree they are saved in, at most
/// [`MAX_NEW`] + [`MAX_TRIED`] + `MAX_BANS` records) stay bounded whatever
/// number of IPs misbehave.
pub const MAX_BANS: usize = 5_000;

/// One known address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddrEntry {
    /// Consecutive failed dials (or connections dropped before the
    /// handshake).
    pub failures: u32,
    /// Not dialled before this time (ms since the Unix epoch).
    pub next_try: Millis,
    /// True once an outbound connection to it completed the handshake.
    pub tried: bool,
    /// The IP it was heard from; `None`: configured, saved from an earlier
    /// run, or dialled without being heard of.
    pub source: Option<IpAddr>,
    /// Last successful contact: an outbound handshake completed, or such
    /// a connection closed (ms since the Unix epoch; 0: never).
    pub last_seen: Millis,
}

/// The address book (module docs).
#[derive(Debug, Default)]
pub struct AddrBook {
    known: BTreeMap<SocketAddr, AddrEntry>,
    /// New-table entries per source netgroup (`None`: no source).
    per_source: BTreeMap<Option<u64>, usize>,
    pinned: BTreeSet<SocketAddr>,
    /// Never passed on, saved or learned (module docs).
    hidden: BTreeSet<SocketAddr>,
    /// Banned IPs and until when (ms); expired ones are pruned
    /// ([`AddrBook::prune_bans`], and on every new ban).
    bans: BTreeMap<IpAddr, Millis>,
    dialing: BTreeSet<SocketAddr>,
}

impl AddrBook {
    /// A book holding `addrs` in its new table, with no source.
    pub fn new(addrs: impl IntoIterator<Item = SocketAddr>) -> AddrBook {
        let mut book = AddrBook::default();
        book.learn(addrs, None);
        book
    }

    /// Pins `addrs` (the configured seeds): never forgotten for failing.
    pub fn pin(&mut self, addrs: impl IntoIterator<Item = SocketAddr>) {
        self.pinned.extend(addrs);
    }

    /// Hides `addrs` (the default seed, a guess about this machine rather
    /// than an address anyone gave us): they stay dialable, but
    /// [`AddrBook::shareable`] and [`AddrBook::records`] leave them out and
    /// [`AddrBook::learn`] does not take them in.
    pub fn hide(&mut self, addrs: impl IntoIterator<Item = SocketAddr>) {
        self.hidden.extend(addrs);
    }

    /// Puts addresses not known yet (and not hidden) in the new table, credited to
    /// `source`'s netgroup; returns how many new ones were left out because
    /// that netgroup has [`MAX_PER_SOURCE`] already (or the table is full
    /// of pinned and sourceless entries).
    pub fn learn(
        &mut self,
        addrs: impl IntoIterator<Item = SocketAddr>,
        source: Option<IpAddr>,
    ) -> usize {
        let mut left_out = 0;
        for a in addrs {
            if self.known.contains_key(&a) || self.hidden.contains(&a) {
                continue;
            }
            let credited = self.per_source.get(&group(source)).copied().unwrap_or(0);
            let over = source.is_some() && credited >= MAX_PER_SOURCE;
            if over || !(self.new_len() < MAX_NEW || self.evict_new()) {
                left_out += 1;
                continue;
            }
            let entry = AddrEntry {
                source,
                ..AddrEntry::default()
            };
            self.known.insert(a, entry);
            *self.per_source.entry(group(source)).or_default() += 1;
        }
        left_out
    }

    /// Forgets the worst new entry (most failures, then the highest
    /// address) of the source holding the most; false when none can go.
    fn evict_new(&mut self) -> bool {
        let Some(src) = self
            .per_source
            .iter()
            .max_by_key(|(s, n)| (**n, s.is_some()))
            .map(|(s, _)| *s)
        else {
            return false;
        };
        let victim = self
            .known
            .iter()
            .filter(|(a, e)| !e.tried && group(e.source) == src && !self.pinned.contains(a))
            .max_by_key(|(a, e)| (e.failures, **a))
            .map(|(a, _)| *a);
        victim.is_some_and(|a| self.remove(a))
    }

    /// Forgets `addr`; true if it was known.
    fn remove(&mut self, addr: SocketAddr) -> bool {
        let Some(e) = self.known.remove(&addr) else {
            return false;
        };
        let src = group(e.source);
        if !e.tried
            && let Some(n) = self.per_source.get_mut(&src)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&src);
            }
        }
        true
    }

    /// Every known address, in order.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.known.keys().copied().collect()
    }

    /// The known addresses we pass on in `addr`: all but the hidden ones,
    /// in order.
    pub fn shareable(&self) -> Vec<SocketAddr> {
        self.known
            .keys()
            .filter(|a| !self.hidden.contains(a))
            .copied()
            .collect()
    }

    /// The entry of `addr`, if known.
    pub fn entry(&self, addr: &SocketAddr) -> Option<&AddrEntry> {
        self.known.get(addr)
    }

    /// Number of known addresses (both tables).
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// True when no address is known.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Number of addresses in the new table.
    pub fn new_len(&self) -> usize {
        self.per_source.values().sum()
    }

    /// Number of new-table addresses credited to the netgroup of
    /// `source`.
    pub fn from_source(&self, source: IpAddr) -> usize {
        self.per_source
            .get(&group(Some(source)))
            .copied()
            .unwrap_or(0)
    }

    /// True when `addr` is in the tried table.
    pub fn is_tried(&self, addr: &SocketAddr) -> bool {
        self.known.get(addr).is_some_and(|e| e.tried)
    }

    /// True when `addr` may be dialled at `now`: not being dialled, not
    /// banned, and past its backoff.
    pub fn due(&self, addr: &SocketAddr, now: Millis) -> bool {
        !self.dialing.contains(addr)
            && !self.is_banned(&addr.ip(), now)
            && self.known.get(addr).is_none_or(|e| now >= e.next_try)
    }

    /// Known addresses that may be dialled at `now`, in order.
    pub fn due_addresses(&self, now: Millis) -> Vec<SocketAddr> {
        self.known
            .keys()
            .filter(|a| self.due(a, now))
            .copied()
            .collect()
    }

    /// A dial to `addr` started.
    pub fn dialing(&mut self, addr: SocketAddr) {
        self.dialing.insert(addr);
    }

    /// A dial to `addr` failed (or the connection closed before the
    /// handshake): retry after 1 s, doubling per failure up to 60 s; after
    /// [`MAX_NEW_FAILURES`] ([`MAX_TRIED_FAILURES`] when tried) in a row an
    /// unpinned address is forgotten.
    pub fn failed(&mut self, addr: SocketAddr, now: Millis) {
        self.dialing.remove(&addr);
        let e = self.known.entry(addr).or_insert_with(|| {
            *self.per_source.entry(None).or_default() += 1;
            AddrEntry::default()
        });
        let wait = BACKOFF_MIN
            .saturating_mul(1 << e.failures.min(6))
            .min(BACKOFF_MAX);
        e.failures = e.failures.saturating_add(1);
        e.next_try = now.saturating_add(wait);
        let limit = if e.tried {
            MAX_TRIED_FAILURES
        } else {
            MAX_NEW_FAILURES
        };
        if e.failures >= limit && !self.pinned.contains(&addr) {
            self.remove(addr);
        }
    }

    /// A connection to `addr` is up.
    pub fn connected(&mut self, addr: SocketAddr) {
        self.dialing.remove(&addr);
    }

    /// An outbound handshake with `addr` completed at `now`: it moves to
    /// the tried table (the tried entry with the most failures makes room
    /// when the table is full) and its failures are forgotten.
    pub fn handshaked(&mut self, addr: SocketAddr, now: Millis) {
        if !self.is_tried(&addr) {
            self.remove(addr);
            if self.known.values().filter(|e| e.tried).count() >= MAX_TRIED {
                let worst = self
                    .known
                    .iter()
                    .filter(|(a, e)| e.tried && !self.pinned.contains(a))
                    .max_by_key(|(a, e)| (e.failures, **a))
                    .map(|(a, _)| *a);
                if let Some(w) = worst {
                    self.remove(w);
                }
            }
        }
        let e = self.known.entry(addr).or_default();
        e.tried = true;
        e.source = None;
        e.failures = 0;
        e.last_seen = now;
    }

    /// A connection to `addr` that had completed its handshake closed:
    /// dial again after 1 s.
    pub fn closed(&mut self, addr: SocketAddr, now: Millis) {
        self.dialing.remove(&addr);
        if let Some(e) = self.known.get_mut(&addr) {
            e.next_try = now.saturating_add(BACKOFF_MIN);
            e.last_seen = now;
        }
    }

    /// What to save of the book at `now` for the next run (the `peers`
    /// tree, [`crate::store::PeerRecord`]): one record per known address
    /// that is not hidden, keyed `host:port`, with its last contact, its consecutive failures
    /// and the ban of its IP; and one per banned IP no known address
    /// shares, keyed `ip:0`. Times in seconds since the Unix epoch;
    /// expired bans are left out. Everything the book forgot is absent, so
    /// saving exactly this prunes the tree.
    pub fn records(&self, now: Millis) -> Vec<(SocketAddr, PeerRecord)> {
        let ban = |ip: &IpAddr| {
            self.bans
                .get(ip)
                .filter(|until| **until > now)
                .map_or(0, |until| until.div_ceil(1000))
        };
        let mut out: Vec<(SocketAddr, PeerRecord)> = self
            .known
            .iter()
            .filter(|(a, _)| !self.hidden.contains(a))
            .map(|(a, e)| {
                let rec = PeerRecord {
                    last_seen: e.last_seen / 1000,
                    failures: e.failures,
                    banned_until: ban(&a.ip()),
                };
                (*a, rec)
            })
            .collect();
        for (ip, until) in &self.bans {
            if *until > now && !self.known.keys().any(|a| a.ip() == *ip) {
                let rec = PeerRecord {
                    banned_until: until.div_ceil(1000),
                    ..PeerRecord::default()
                };
                out.push((SocketAddr::new(*ip, 0), rec));
            }
        }
        out
    }

    /// Takes back what [`AddrBook::records`] saved, at `now`: each address
    /// (port 0: a ban only) joins the new table with no source (the tried
    /// table once it was ever reached), keeping its failures and last
    /// contact; a ban still running at `now` holds again, an expired one
    /// is dropped.
    pub fn restore(
        &mut self,
        records: impl IntoIterator<Item = (SocketAddr, PeerRecord)>,
        now: Millis,
    ) {
        for (addr, rec) in records {
            let until = rec.banned_until.saturating_mul(1000);
            if until > now {
                self.ban(addr.ip(), until, now);
            }
            if addr.port() == 0 {
                continue;
            }
            self.learn([addr], None);
            if rec.last_seen > 0 && self.known.contains_key(&addr) {
                self.handshaked(addr, rec.last_seen.saturating_mul(1000));
            }
            if let Some(e) = self.known.get_mut(&addr) {
                e.failures = rec.failures;
            }
        }
    }

    /// Bans `ip` until `until` (ms), pruning bans expired by `now`; with
    /// [`MAX_BANS`] running already, the one that ends soonest (then the
    /// lowest IP) makes room.
    pub fn ban(&mut self, ip: IpAddr, until: Millis, now: Millis) {
        self.prune_bans(now);
        if !self.bans.contains_key(&ip) && self.bans.len() >= MAX_BANS {
            let soonest = self
                .bans
                .iter()
                .min_by_key(|(ip, until)| (**until, **ip))
                .map(|(ip, _)| *ip);
            if let Some(soonest) = soonest {
                self.bans.remove(&soonest);
            }
        }
        self.bans.insert(ip, until);
    }

    /// Forgets bans expired at `now`.
    pub fn prune_bans(&mut self, now: Millis) {
        self.bans.retain(|_, until| *until > now);
    }

    /// Banned IPs and until when (ms since the Unix epoch), expired ones
    /// included until pruned.
    pub fn bans(&self) -> &BTreeMap<IpAddr, Millis> {
        &self.bans
    }

    /// True when `ip` is banned at `now`.
    pub fn is_banned(&self, ip: &IpAddr, now: Millis) -> bool {
        self.bans.get(ip).is_some_and(|until| *until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([198, 18, 0, 1], port))
    }

    #[test]
    fn backoff_grows_from_one_second_to_sixty() {
        let mut book = AddrBook::new([a(1)]);
        book.pin([a(1)]);
        let mut waits = Vec::new();
        for _ in 0..9 {
            book.failed(a(1), 0);
            waits.push(book.known[&a(1)].next_try);
        }
        assert_eq!(
            waits,
            [
                1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000
            ]
        );
        book.handshaked(a(1), 0);
        book.failed(a(1), 0);
        assert_eq!(book.known[&a(1)].next_try, 1_000);
    }

    /// A source IP in its own /16 per `i`.
    fn src(i: u8) -> Option<IpAddr> {
        Some(IpAddr::from([100, i, 113, 1]))
    }

    #[test]
    fn one_source_gets_a_bounded_share() {
        let mut book = AddrBook::default();
        let left = book.learn((0..1_000).map(a), src(1));
        assert_eq!((book.len(), left), (MAX_PER_SOURCE, 1_000 - MAX_PER_SOURCE));
        // Another source is still heard.
        assert_eq!(book.learn([a(5_000)], src(2)), 0);
        assert!(book.entry(&a(5_000)).is_some());
    }

    #[test]
    fn full_new_table_makes_room_from_the_largest_source() {
        let mut book = AddrBook::default();
        for s in 0..20u8 {
            let base = u16::from(s) * 100;
            book.learn((base..base + 64).map(a), src(s));
        }
        assert_eq!(book.new_len(), MAX_NEW);
        assert_eq!(book.learn([a(9_999)], src(200)), 0);
        assert!(book.entry(&a(9_999)).is_some());
        assert_eq!(book.new_len(), MAX_NEW);
    }

    #[test]
    fn tried_only_after_handshake_and_failing_addresses_age_out() {
        let mut book = AddrBook::default();
        book.learn([a(1), a(2)], src(1));
        assert!(!book.is_tried(&a(1)));
        book.handshaked(a(1), 0);
        assert!(book.is_tried(&a(1)));
        assert_eq!(book.from_source(IpAddr::from([100, 1, 0, 9])), 1);
        for _ in 0..MAX_NEW_FAILURES {
            book.failed(a(2), 0);
        }
        assert!(book.entry(&a(2)).is_none());
        for _ in 0..MAX_NEW_FAILURES {
            book.failed(a(1), 0);
        }
        assert!(book.is_tried(&a(1)), "tried entries last longer");
        book.pin([a(3)]);
        for _ in 0..MAX_TRIED_FAILURES + 1 {
            book.failed(a(3), 0);
        }
        assert!(book.entry(&a(3)).is_some(), "pinned seeds are kept");
    }

    #[test]
    fn bans_expire_and_are_pruned() {
        let mut book = AddrBook::default();
        book.ban(a(1).ip(), 10, 0);
        assert!(book.is_banned(&a(1).ip(), 9));
        assert!(!book.is_banned(&a(1).ip(), 10));
        assert!(!book.due(&a(1), 5));
        book.ban(IpAddr::from([203, 0, 113, 5]), 100, 50);
        assert_eq!(book.bans().len(), 1, "the expired ban went");
        book.prune_bans(100);
        assert!(book.bans().is_empty());
    }

    #[test]
    fn bans_are_bounded_and_the_soonest_to_end_makes_room() {
        let mut book = AddrBook::default();
        let ip = |n: usize| IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
        for n in 0..MAX_BANS {
            book.ban(ip(n), 1_000 + n as Millis, 0);
        }
        book.ban(ip(MAX_BANS), 50_000, 0);
        assert_eq!(book.bans().len(), MAX_BANS);
        assert!(!book.is_banned(&ip(0), 1), "the soonest ban stayed");
        assert!(book.is_banned(&ip(1), 1) && book.is_banned(&ip(MAX_BANS), 1));
        // Banning a banned IP again takes no room.
        book.ban(ip(1), 60_000, 0);
        assert!(book.is_banned(&ip(2), 1));
        let saved = book.records(1).len();
        assert_eq!(saved, MAX_BANS, "one record per ban, no more");
    }

    #[test]
    fn sources_are_counted_by_netgroup() {
        let mut book = AddrBook::default();
        // 64 addresses each from four IPs of one /16: one share in all.
        for i in 1..=4u8 {
            let base = u16::from(i) * 100;
            book.learn(
                (base..base + 64).map(a),
                Some(IpAddr::from([203, 0, 113, i])),
            );
        }
        assert_eq!(book.new_len(), MAX_PER_SOURCE);
        assert_eq!(
            book.from_source(IpAddr::from([203, 0, 7, 7])),
            MAX_PER_SOURCE
        );
        // Another /16 has its own share.
        assert_eq!(
            book.learn([a(9_000)], Some(IpAddr::from([198, 51, 0, 1]))),
            0
        );
    }
}
