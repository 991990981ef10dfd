//! Peer records in a real sled store in a temporary directory: bans and
//! failure counts survive a restart and expire, and the `peers` tree keeps
//! only what the address book knows; they are saved as the node runs (a
//! ban at once, the rest every minute), not only at a clean shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use sledchain::chain::Chain;
use sledchain::core::validation::SigCache;
use sledchain::exec;
use sledchain::protocol::addrs::SAVE_INTERVAL;
use sledchain::protocol::{Config, DisconnectReason, Input, Output, Protocol};
use sledchain::store::{ChainStore, PeerRecord};
use sledchain::wire::message::Message;

const T0: u64 = 1_700_000_000_000;
const BAN: u64 = 3_600_000;

fn config() -> Config {
    Config {
        me: "198.18.0.1:8333".parse().expect("address"),
        seeds: vec![],
        default_seeds: vec![],
        minter: None,
        mint_threshold: 2,
        idle_timeout: 60_000,
        handshake_timeout: 10_000,
        max_outbound: 8,
        ban_score: 100,
        ban_time: BAN,
        nonce: 5,
        genesis: None,
    }
}

fn open(dir: &Path) -> ChainStore {
    ChainStore::open(dir, 16 << 20).expect("store")
}

/// A node's start over the store in `dir` at `now`, as `net` does it.
fn start(dir: &Path, now: u64) -> (ChainStore, Protocol) {
    let store = open(dir);
    let records: Vec<(SocketAddr, PeerRecord)> = store
        .peers()
        .expect("peers")
        .into_iter()
        .map(|(a, r)| (a.parse().expect("saved address"), r))
        .collect();
    let mut p = Protocol::new(config(), store.clone(), vec![]);
    p.restore_peers(records, now);
    (store, p)
}

/// A node's stop at `now`, as `net` does it.
fn stop(store: ChainStore, p: Protocol, now: u64) {
    let records: Vec<(String, PeerRecord)> = p
        .addrbook()
        .records(now)
        .into_iter()
        .map(|(a, r)| (a.to_string(), r))
        .collect();
    store.replace_peers(&records).expect("save");
    store.flush().expect("flush");
}

fn refused_as_banned(p: &mut Protocol, peer: u64, addr: SocketAddr, now: u64) -> bool {
    let out = p.step(
        Input::Connected {
            peer,
            addr,
            inbound: true,
        },
        now,
    );
    out.iter().any(|o| {
        matches!(
            o,
            Output::Disconnect {
                reason: DisconnectReason::Banned,
                ..
            }
        )
    })
}

#[test]
fn bans_and_failures_survive_a_restart_and_expire_and_the_tree_is_pruned() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad: SocketAddr = "203.0.113.7:40000".parse().expect("addr");
    let flaky: SocketAddr = "198.51.100.3:8333".parse().expect("addr");
    {
        // A record of an earlier run the book will not keep: pruned.
        let store = open(dir.path());
        store
            .put_peer("192.0.2.1:1", &PeerRecord::default())
            .expect("put");
        store.flush().expect("flush");
    }
    let (store, mut p) = start(dir.path(), T0);
    // The stale record came back as an address; forget it as the book
    // would after failures.
    for _ in 0..5 {
        p.step(
            Input::DialFailed {
                addr: "192.0.2.1:1".parse().expect("addr"),
            },
            T0,
        );
    }
    // An inbound peer that talks before `version` ten times is banned.
    p.step(
        Input::Connected {
            peer: 1,
            addr: bad,
            inbound: true,
        },
        T0,
    );
    for _ in 0..10 {
        p.step(
            Input::Received {
                peer: 1,
                message: Message::Ping(1),
            },
            T0,
        );
    }
    assert!(refused_as_banned(&mut p, 2, bad, T0 + 1));
    // A dial that failed twice.
    p.step(Input::DialFailed { addr: flaky }, T0);
    p.step(Input::DialFailed { addr: flaky }, T0 + 2_000);
    stop(store, p, T0 + 10_000);

    let saved: Vec<String> = open(dir.path())
        .peers()
        .expect("peers")
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert!(!saved.contains(&"192.0.2.1:1".to_string()), "{saved:?}");

    // Restarted within the ban: still banned, failures remembered.
    let (store, mut p) = start(dir.path(), T0 + 20_000);
    assert!(refused_as_banned(&mut p, 1, bad, T0 + 20_000));
    let failures = p.addrbook().entry(&flaky).map(|e| e.failures);
    assert_eq!(failures, Some(2));
    stop(store, p, T0 + 30_000);
    let rec = open(dir.path())
        .peer("203.0.113.7:0")
        .expect("read")
        .expect("the ban is stored");
    assert_eq!(rec.banned_until, (T0 + BAN) / 1000);

    // Restarted after the ban ran out: not banned, and the record goes.
    let later = T0 + BAN + 1_000;
    let (store, mut p) = start(dir.path(), later);
    assert!(!refused_as_banned(&mut p, 1, bad, later));
    stop(store, p, later);
    assert_eq!(open(dir.path()).peer("203.0.113.7:0").expect("read"), None);
}

/// Carries out the chain work among `out` (the peer records to save among
/// it) as the node's worker does, at `now` ms.
fn carry_out(chain: &mut Chain, out: Vec<Output>, now: u64) {
    for o in out {
        if let Ok(job) = exec::Job::from_output(o) {
            exec::run(chain, job, &mut || None, now / 1000);
        }
    }
}

fn chain_over(store: &ChainStore) -> Chain {
    Chain::open(store.clone(), Arc::new(SigCache::new(16)))
        .expect("chain")
        .0
}

#[test]
fn a_ban_and_failures_are_saved_while_running_and_survive_a_stop_without_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad: SocketAddr = "203.0.113.9:40000".parse().expect("addr");
    let flaky: SocketAddr = "198.51.100.4:8333".parse().expect("addr");
    {
        let store = open(dir.path());
        let mut chain = chain_over(&store);
        let mut p = Protocol::new(config(), store.clone(), vec![]);
        let mut out = p.step(
            Input::Connected {
                peer: 1,
                addr: bad,
                inbound: true,
            },
            T0,
        );
        for _ in 0..10 {
            out.extend(p.step(
                Input::Received {
                    peer: 1,
                    message: Message::Ping(1),
                },
                T0,
            ));
        }
        assert!(
            out.iter().any(|o| matches!(o, Output::SavePeers(_))),
            "the ban was not saved when set"
        );
        carry_out(&mut chain, out, T0);
        let mut out = p.step(Input::DialFailed { addr: flaky }, T0 + 1);
        out.extend(p.step(Input::DialFailed { addr: flaky }, T0 + 2));
        // A minute on, the book is saved with the failures.
        out.extend(p.step(Input::Tick, T0 + SAVE_INTERVAL));
        carry_out(&mut chain, out, T0 + SAVE_INTERVAL);
        // The node dies here: no shutdown, the book is never written
        // whole at a stop.
    }
    let now = T0 + SAVE_INTERVAL + 1_000;
    let (store, mut p) = start(dir.path(), now);
    assert!(refused_as_banned(&mut p, 1, bad, now), "the ban was lost");
    let failures = p.addrbook().entry(&flaky).map(|e| e.failures);
    assert_eq!(failures, Some(2), "the failures were lost");
    let rec = store.peer("203.0.113.9:0").expect("read").expect("stored");
    assert_eq!(rec.banned_until, (T0 + BAN) / 1000);

    // Once the ban has run out, the next save (a minute after the
    // restarted node's first tick) prunes it from the tree.
    let later = T0 + BAN + 1_000;
    let mut chain = chain_over(&store);
    let mut out = p.step(Input::Tick, later);
    out.extend(p.step(Input::Tick, later + SAVE_INTERVAL));
    carry_out(&mut chain, out, later + SAVE_INTERVAL);
    assert_eq!(store.peer("203.0.113.9:0").expect("read"), None);
    assert!(!refused_as_banned(&mut p, 2, bad, later));
}
