//! Connection slots and the address book under attack, in the
//! deterministic simulator: junk `addr` cannot crowd out real peers, a
//! peer's claimed listen address does not stop us dialling the seed,
//! inbound eviction drops idle sockets first and keeps useful peers, and
//! `addr` is rate limited.

use std::net::{IpAddr, SocketAddr};

use sledchain::protocol::addrbook::MAX_PER_SOURCE;
use sledchain::protocol::discovery::ADDR_BURST;
use sledchain::protocol::{DisconnectReason, Input};
use sledchain::sim::{Sim, SimConfig};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{Addr, PROTOCOL_VERSION, Version};

fn sim(nodes: usize) -> Sim {
    Sim::new(SimConfig {
        nodes,
        known: 0,
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("temporary stores")
}

fn sock(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// `version` from a hand-driven peer claiming `listen` as its address.
fn version(s: &Sim, peer: u64, listen: &str, nonce: u64) -> Input {
    Input::Received {
        peer,
        message: Message::Version(Version {
            version: PROTOCOL_VERSION,
            best_height: 0,
            addr_from: listen.to_string(),
            genesis: Some(s.genesis.hash()),
            nonce,
        }),
    }
}

fn addr(peer: u64, addrs: Vec<String>) -> Input {
    Input::Received {
        peer,
        message: Message::Addr(Addr { addrs }),
    }
}

/// A hand-driven peer from `from` that completed the handshake.
fn attach_ready(s: &mut Sim, node: usize, from: &str, nonce: u64) -> u64 {
    let p = s.attach(node, sock(from));
    let v = version(s, p, "", nonce);
    s.inject(node, v);
    p
}

/// True when `node` has an outbound connection to `to`.
fn dialled(s: &Sim, node: usize, to: SocketAddr) -> bool {
    s.protocol(node)
        .peers()
        .values()
        .any(|p| !p.inbound && p.addr == to && p.is_ready())
}

#[test]
fn junk_from_one_source_cannot_fill_the_book_and_real_peers_still_get_dialled() {
    let mut s = sim(3);
    // The seed (node 0) stays down; node 1 knows nobody else.
    s.start(1);
    s.start(2);
    s.run_for(1_000);
    let attacker = attach_ready(&mut s, 1, "203.0.113.9:5000", 91);
    for batch in 0..3u32 {
        let junk = (0..1_000u32)
            .map(|i| format!("198.51.{}.{}:{}", 100 + batch, i % 250 + 1, 10_000 + i))
            .collect();
        s.inject(1, addr(attacker, junk));
        s.run_for(1_000);
    }
    let book = s.protocol(1).addrbook();
    let ip: IpAddr = "203.0.113.9".parse().expect("ip");
    assert_eq!(book.from_source(ip), MAX_PER_SOURCE);
    assert!(book.len() <= MAX_PER_SOURCE + 1, "{} addresses", book.len());
    // Another source announces a real node afterwards.
    let honest = attach_ready(&mut s, 1, "192.0.2.1:6000", 92);
    let real = s.nodes[2].addr;
    s.inject(1, addr(honest, vec![real.to_string()]));
    assert!(s.protocol(1).addrbook().entry(&real).is_some());
    assert!(
        s.run_while_not(60_000, |s| dialled(s, 1, real)),
        "node 1 never dialled the announced node"
    );
    assert!(s.protocol(1).addrbook().is_tried(&real));
}

#[test]
fn an_inbound_peer_claiming_the_seed_address_does_not_stop_dialling_the_seed() {
    let mut s = sim(2);
    s.start(1);
    s.run_for(1_000);
    let seed = s.nodes[0].addr;
    let fake = s.attach(1, sock("203.0.113.50:40000"));
    let v = version(&s, fake, &seed.to_string(), 93);
    s.inject(1, v);
    assert!(s.protocol(1).peers()[&fake].is_ready());
    s.start(0);
    assert!(
        s.run_while_not(30_000, |s| dialled(s, 1, seed)),
        "node 1 never re-dialled its seed"
    );
    assert!(
        s.protocol(1).peers().contains_key(&fake),
        "the impostor was there all along"
    );
    // The claim did not make the impostor's address tried.
    assert!(s.protocol(1).addrbook().is_tried(&seed));
    assert!(!s.protocol(1).peers()[&fake].addr.eq(&seed));
}

fn evicted(s: &Sim, node: usize) -> Vec<u64> {
    s.stats
        .disconnects
        .iter()
        .filter(|(n, _, r)| *n == node && *r == DisconnectReason::Evicted)
        .map(|(_, p, _)| *p)
        .collect()
}

#[test]
fn eviction_takes_unhandshaked_sockets_first_then_spares_useful_peers() {
    let mut s = sim(2);
    s.start_all();
    // Long enough for a ping round trip between the honest nodes.
    s.run_for(25_000);
    let honest: Vec<u64> = s
        .protocol(0)
        .peers()
        .iter()
        .filter(|(_, p)| p.inbound && p.ping_rtt.is_some())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(honest.len(), 1, "node 1 dialled the seed");
    let attackers: Vec<u64> = (0..40u64)
        .map(|i| attach_ready(&mut s, 0, &format!("203.0.113.{i}:7000"), 1_000 + i))
        .collect();
    let idle: Vec<u64> = (0..3)
        .map(|i| {
            s.run_for(10);
            s.attach(0, sock(&format!("203.0.114.{i}:7000")))
        })
        .collect();
    for _ in 0..3 {
        s.inject(
            0,
            Input::InboundFull {
                addr: sock("203.0.115.1:1"),
            },
        );
    }
    assert_eq!(evicted(&s, 0), idle, "idle sockets go first, oldest first");
    for _ in 0..25 {
        s.inject(
            0,
            Input::InboundFull {
                addr: sock("203.0.115.1:1"),
            },
        );
    }
    // Attackers go until only protected peers are left; then newcomers
    // are refused.
    let gone = evicted(&s, 0);
    assert!(gone.len() >= 20 && gone.len() < 28, "{gone:?}");
    assert!(gone[3..].iter().all(|p| attackers.contains(p)), "{gone:?}");
    assert!(s.protocol(0).peers().contains_key(&honest[0]));
}

#[test]
fn addr_is_rate_limited_per_peer() {
    let mut s = sim(3);
    s.start(1);
    s.run_for(1_000);
    let p = attach_ready(&mut s, 1, "203.0.113.77:1", 94);
    // The whole burst spent on one junk address repeated.
    let burst = vec!["198.51.100.1:1".to_string(); ADDR_BURST as usize];
    s.inject(1, addr(p, burst));
    assert_eq!(s.protocol(1).addrs().addr_tokens(p), Some(0));
    let real = s.nodes[2].addr;
    s.inject(1, addr(p, vec![real.to_string()]));
    assert!(
        s.protocol(1).addrbook().entry(&real).is_none(),
        "an address past the limit was taken"
    );
    // 0.1 address per second: two more after 20 s.
    s.run_for(20_000);
    s.inject(1, addr(p, vec![real.to_string()]));
    assert!(s.protocol(1).addrbook().entry(&real).is_some());
    assert_eq!(s.protocol(1).addrs().addr_tokens(p), Some(1_000));
}

#[test]
fn a_second_version_is_misbehaviour() {
    let mut s = sim(2);
    s.start(1);
    s.run_for(1_000);
    let p = attach_ready(&mut s, 1, "203.0.113.78:1", 95);
    let v = version(&s, p, "", 95);
    s.inject(1, v);
    assert_eq!(s.protocol(1).peers()[&p].score, 20);
}
