//! The address book: peers we know of, when each may be dialled again
//! (exponential backoff), and banned IPs, in one place.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use super::types::Millis;

/// Most addresses remembered; past it new ones are ignored.
pub const MAX_KNOWN: usize = 1_000;
/// First retry delay after a failed dial (ms); doubles per failure.
pub const BACKOFF_MIN: Millis = 1_000;
/// Longest retry delay (ms).
pub const BACKOFF_MAX: Millis = 60_000;

/// One known address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddrEntry {
    /// Consecutive failed dials (or connections dropped before the
    /// handshake).
    pub failures: u32,
    /// Not dialled before this time (ms since the Unix epoch).
    pub next_try: Millis,
}

/// The address book (module docs).
#[derive(Debug, Default)]
pub struct AddrBook {
    known: BTreeMap<SocketAddr, AddrEntry>,
    bans: BTreeMap<IpAddr, Millis>,
    dialing: BTreeSet<SocketAddr>,
}

impl AddrBook {
    /// A book holding `addrs`.
    pub fn new(addrs: impl IntoIterator<Item = SocketAddr>) -> AddrBook {
        let mut book = AddrBook::default();
        book.learn(addrs);
        book
    }

    /// Remembers addresses not known yet while there is room; returns how
    /// many new ones were left out for lack of room.
    pub fn learn(&mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> usize {
        let mut left_out = 0;
        for a in addrs {
            if self.known.contains_key(&a) {
                continue;
            }
            if self.known.len() >= MAX_KNOWN {
                left_out += 1;
                continue;
            }
            self.known.insert(a, AddrEntry::default());
        }
        left_out
    }

    /// Every known address, in order.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.known.keys().copied().collect()
    }

    /// Number of known addresses.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// True when no address is known.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
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
    /// handshake): retry after 1 s, doubling per failure up to 60 s.
    pub fn failed(&mut self, addr: SocketAddr, now: Millis) {
        self.dialing.remove(&addr);
        let e = self.known.entry(addr).or_default();
        let wait = BACKOFF_MIN
            .saturating_mul(1 << e.failures.min(6))
            .min(BACKOFF_MAX);
        e.failures = e.failures.saturating_add(1);
        e.next_try = now.saturating_add(wait);
    }

    /// A connection to `addr` is up.
    pub fn connected(&mut self, addr: SocketAddr) {
        self.dialing.remove(&addr);
    }

    /// The handshake with `addr` completed: failures are forgotten.
    pub fn handshaked(&mut self, addr: SocketAddr) {
        if let Some(e) = self.known.get_mut(&addr) {
            e.failures = 0;
        }
    }

    /// A connection to `addr` that had completed its handshake closed:
    /// dial again after 1 s.
    pub fn closed(&mut self, addr: SocketAddr, now: Millis) {
        self.dialing.remove(&addr);
        if let Some(e) = self.known.get_mut(&addr) {
            e.next_try = now.saturating_add(BACKOFF_MIN);
        }
    }

    /// Bans `ip` until `until`.
    pub fn ban(&mut self, ip: IpAddr, until: Millis) {
        self.bans.insert(ip, until);
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
        book.handshaked(a(1));
        book.failed(a(1), 0);
        assert_eq!(book.known[&a(1)].next_try, 1_000);
    }

    #[test]
    fn full_book_ignores_new_addresses() {
        let mut book = AddrBook::default();
        let left = book.learn((0..MAX_KNOWN as u16 + 5).map(a));
        assert_eq!((book.len(), left), (MAX_KNOWN, 5));
    }

    #[test]
    fn bans_expire() {
        let mut book = AddrBook::default();
        book.ban(a(1).ip(), 10);
        assert!(book.is_banned(&a(1).ip(), 9));
        assert!(!book.is_banned(&a(1).ip(), 10));
        assert!(!book.due(&a(1), 5));
    }
}
