//! Which inbound peer makes room for a newcomer when the inbound slots are
//! full: a pure, deterministic function of the candidates' statistics,
//! after Bitcoin Core's `SelectNodeToEvict` (`src/node/eviction.cpp`).
//!
//! 1. A peer that has not completed the handshake goes first, the oldest
//!    connection first: it is of no use yet, and an idle socket must not
//!    hold a slot an honest node needs.
//! 2. Otherwise useful peers are protected: the [`PROTECT_NETGROUP`] peers
//!    whose netgroup ranks first under a keyed hash (an attacker cannot
//!    choose to rank first), the [`PROTECT_PING`] with the lowest ping, the
//!    [`PROTECT_TX`] that most recently delivered a new transaction, the
//!    [`PROTECT_BLOCK`] that most recently delivered a new block, and half
//!    of the rest, the longest connected. Of the remaining peers, the
//!    netgroup holding the most connections (ties: the one whose newest
//!    member connected last) loses its newest member.
//!
//! `None` when every peer is protected: the newcomer is refused.

use std::net::{IpAddr, SocketAddr};

use super::PeerId;
use super::types::Millis;

/// Peers protected by keyed netgroup rank.
pub const PROTECT_NETGROUP: usize = 4;
/// Peers protected by lowest ping.
pub const PROTECT_PING: usize = 8;
/// Peers protected by most recent new transaction.
pub const PROTECT_TX: usize = 4;
/// Peers protected by most recent new block.
pub const PROTECT_BLOCK: usize = 4;

/// What eviction knows of one inbound peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The peer.
    pub peer: PeerId,
    /// Its netgroup ([`netgroup`] of its address).
    pub netgroup: u64,
    /// When it connected (ms).
    pub connected_at: Millis,
    /// True once its `version` arrived.
    pub handshaked: bool,
    /// Its lowest measured ping round trip (ms); `None`: never measured.
    pub min_ping: Option<Millis>,
    /// When it last delivered a block new to us (ms); 0: never.
    pub last_block: Millis,
    /// When it last delivered a transaction new to us (ms); 0: never.
    pub last_tx: Millis,
}

/// The netgroup of `addr`: its /16 for IPv4 (IPv4-mapped IPv6 included),
/// its /32 for IPv6, as a number.
pub fn netgroup(addr: &SocketAddr) -> u64 {
    match addr.ip() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            (4 << 32) | u64::from(u16::from_be_bytes([a, b]))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => netgroup(&SocketAddr::new(IpAddr::V4(v4), 0)),
            None => {
                let s = v6.segments();
                (6 << 32) | (u64::from(s[0]) << 16) | u64::from(s[1])
            }
        },
    }
}

/// The peer to evict among `candidates` (module docs); `key` keys the
/// netgroup ranking (a per-node secret). Deterministic: the same input
/// gives the same answer.
pub fn select_victim(candidates: &[Candidate], key: u64) -> Option<PeerId> {
    let unready = candidates.iter().filter(|c| !c.handshaked);
    if let Some(c) = unready.min_by_key(|c| (c.connected_at, c.peer)) {
        return Some(c.peer);
    }
    let mut left: Vec<Candidate> = candidates.to_vec();
    protect(&mut left, PROTECT_NETGROUP, |c| {
        std::cmp::Reverse(keyed(c.netgroup, key))
    });
    protect(&mut left, PROTECT_PING, |c| {
        std::cmp::Reverse(c.min_ping.unwrap_or(Millis::MAX))
    });
    protect(&mut left, PROTECT_TX, |c| c.last_tx);
    protect(&mut left, PROTECT_BLOCK, |c| c.last_block);
    let half = left.len() / 2;
    protect(&mut left, half, |c| std::cmp::Reverse(c.connected_at));
    largest_group_newest(&left)
}

/// Removes from `left` the `n` candidates with the highest `rank` (ties:
/// the lower peer id ranks higher), keeping the others in peer order.
fn protect<K: Ord>(left: &mut Vec<Candidate>, n: usize, rank: impl Fn(&Candidate) -> K) {
    left.sort_by(|a, b| rank(b).cmp(&rank(a)).then_with(|| a.peer.cmp(&b.peer)));
    left.drain(..n.min(left.len()));
    left.sort_by_key(|c| c.peer);
}

/// The newest member of the netgroup with the most members; ties between
/// groups go to the group whose newest member connected last.
fn largest_group_newest(left: &[Candidate]) -> Option<PeerId> {
    let mut groups: std::collections::BTreeMap<u64, Vec<&Candidate>> = Default::default();
    for c in left {
        groups.entry(c.netgroup).or_default().push(c);
    }
    let newest = |g: &[&Candidate]| {
        g.iter()
            .max_by_key(|c| (c.connected_at, c.peer))
            .map(|c| (c.connected_at, c.peer))
    };
    groups
        .values()
        .max_by_key(|g| (g.len(), newest(g)))
        .and_then(|g| newest(g))
        .map(|(_, peer)| peer)
}

/// A keyed 64-bit mix of `group` (splitmix64 finaliser over `group ^ key`).
fn keyed(group: u64, key: u64) -> u64 {
    let mut z = (group ^ key).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(peer: PeerId, ip: [u8; 4], connected_at: Millis) -> Candidate {
        Candidate {
            peer,
            netgroup: netgroup(&SocketAddr::from((ip, 1))),
            connected_at,
            handshaked: true,
            min_ping: None,
            last_block: 0,
            last_tx: 0,
        }
    }

    /// `n` handshaked attackers in 203.0.0.0/16, connected after 1,000 ms.
    fn attackers(n: u64) -> Vec<Candidate> {
        (0..n)
            .map(|i| c(100 + i, [203, 0, 113, i as u8], 1_000 + i))
            .collect()
    }

    #[test]
    fn unhandshaked_peers_go_first_oldest_first() {
        let mut all = attackers(30);
        for (peer, at) in [(7, 500), (8, 400), (9, 600)] {
            let mut x = c(peer, [10, 0, 0, 1], at);
            x.handshaked = false;
            all.push(x);
        }
        assert_eq!(select_victim(&all, 1), Some(8));
        all.retain(|x| x.peer != 8);
        assert_eq!(select_victim(&all, 1), Some(7));
    }

    #[test]
    fn useful_peers_are_protected_and_the_largest_group_loses_its_newest() {
        let mut all = attackers(40);
        // Honest peers, each in its own /16, connected later than most
        // attackers: one delivered blocks, one transactions, one pings fast.
        let mut block = c(1, [10, 1, 0, 1], 5_000);
        block.last_block = 9_000;
        let mut tx = c(2, [10, 2, 0, 1], 5_001);
        tx.last_tx = 9_000;
        let mut fast = c(3, [10, 3, 0, 1], 5_002);
        fast.min_ping = Some(1);
        for x in &mut all {
            x.min_ping = Some(50);
        }
        all.extend([block, tx, fast]);
        for _ in 0..30 {
            let Some(v) = select_victim(&all, 7) else {
                break;
            };
            assert!(v >= 100, "evicted honest peer {v}");
            all.retain(|x| x.peer != v);
        }
        // The newest attacker went first.
        assert!(!all.iter().any(|x| x.peer == 139));
        assert!(all.iter().any(|x| x.peer == 100));
    }

    #[test]
    fn everyone_protected_means_no_victim() {
        let all = attackers(8);
        assert_eq!(select_victim(&all, 3), None);
        assert_eq!(select_victim(&[], 3), None);
    }

    #[test]
    fn deterministic_and_order_independent() {
        let mut all = attackers(40);
        let a = select_victim(&all, 5);
        all.reverse();
        assert_eq!(select_victim(&all, 5), a);
        assert!(a.is_some());
    }

    #[test]
    fn netgroups() {
        let a = SocketAddr::from(([203, 0, 113, 1], 1));
        let b = SocketAddr::from(([203, 0, 7, 9], 2));
        let d = SocketAddr::from(([203, 1, 113, 1], 1));
        assert_eq!(netgroup(&a), netgroup(&b));
        assert_ne!(netgroup(&a), netgroup(&d));
        let mapped: SocketAddr = "[::ffff:203.0.1.1]:5".parse().expect("addr");
        assert_eq!(netgroup(&mapped), netgroup(&a));
    }
}
