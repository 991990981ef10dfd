//! Multi-node tests: real `node` processes on loopback, each on a free port
//! with its data in a temporary directory. Nodes are stopped with signals and
//! killed when a test fails; a failing test prints the tails of their logs.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tempfile::TempDir;

/// Coins a block pays its minter (no fees in these tests).
const SUBSIDY: u64 = 20;

// ---------------------------------------------------------------- tests

#[test]
fn fresh_node_syncs_whole_chain_from_seed() {
    let net = TempDir::new().unwrap();
    let mut seed = Node::new(net.path(), "seed");
    let mut fresh = Node::new(net.path(), "fresh");
    let g = seed.create_chain();
    let w = seed.create_wallet();
    seed.mint_send(&g, &w, 5);
    seed.mint_send(&g, &w, 6);
    let want = seed.status().unwrap();
    assert_eq!(want.height, 2);
    seed.start_central(&[]);
    assert!(fresh.status().is_none(), "the fresh node has no chain yet");
    fresh.start_seeded(&seed.addr(), &[]);
    let tip = wait_same_tip(&[&seed, &fresh], 2);
    assert_eq!(tip, want.tip);
    assert_eq!(fresh.ok(&["printchain"]), seed.ok(&["printchain"]));
    assert_eq!(fresh.balance(&w), 11);
    assert_eq!(fresh.ok(&["checkchain"]), "OK");
    fresh.stop();
    seed.stop();
}

#[test]
fn offline_node_catches_up_after_restart() {
    let net = TempDir::new().unwrap();
    let mut seed = Node::new(net.path(), "seed");
    let mut peer = Node::new(net.path(), "peer");
    let g = seed.create_chain();
    let w = peer.create_wallet();
    seed.mint_send(&g, &w, 3);
    seed.start_central(&[]);
    peer.start_seeded(&seed.addr(), &[]);
    wait_same_tip(&[&seed, &peer], 1);
    peer.stop();
    // The reopened database still holds what was synced.
    assert_eq!(peer.height(), Some(1));
    assert_eq!(peer.balance(&w), 3);

    // The chain grows while the peer is offline.
    seed.stop();
    seed.mint_send(&g, &w, 4);
    seed.mint_send(&g, &w, 5);
    seed.start_central(&[]);
    assert_eq!(peer.height(), Some(1));
    peer.start_seeded(&seed.addr(), &[]);
    let tip = wait_same_tip(&[&seed, &peer], 3);
    peer.stop();
    let st = peer.status().unwrap();
    assert_eq!((st.height, st.tip), (3, tip));
    assert_eq!(peer.balance(&w), 12);
    assert_eq!(peer.ok(&["checkchain"]), "OK");
    seed.stop();
}

#[test]
fn payment_relayed_through_central_node_is_minted_and_reaches_every_node() {
    let net = TempDir::new().unwrap();
    let mut central = Node::new(net.path(), "central");
    let mut wallet = Node::new(net.path(), "wallet");
    let mut minter = Node::new(net.path(), "minter");
    let g = central.create_chain();
    let w1 = wallet.create_wallet();
    let w2 = wallet.create_wallet();
    let w3 = wallet.create_wallet();
    let w4 = wallet.create_wallet();
    central.mint_send(&g, &w1, 10);
    central.mint_send(&g, &w2, 10);
    let m = minter.create_wallet();
    central.start_central(&[]);
    wallet.start_seeded(&central.addr(), &[]);
    minter.start_seeded(&central.addr(), &["--minter", &m]);
    wait_same_tip(&[&central, &wallet, &minter], 2);
    wait_for(WAIT, "both nodes to connect to the central node", || {
        central.status().is_some_and(|s| s.peers >= 2)
    });

    wallet.ok(&["send", "--from", &w1, "--to", &w3, "--amount", "1"]);
    wallet.ok(&["send", "--from", &w2, "--to", &w4, "--amount", "2"]);
    wait_same_tip(&[&central, &wallet, &minter], 3);
    minter.wait_log("minted block");
    for n in [&central, &wallet, &minter] {
        assert_eq!(n.balance(&w3), 1);
        assert_eq!(n.balance(&w4), 2);
        assert_eq!(n.balance(&m), SUBSIDY);
        assert_eq!(n.status().unwrap().mempool, 0);
    }
    for n in [&mut minter, &mut wallet, &mut central] {
        n.stop();
    }
}

#[test]
fn minting_waits_for_the_threshold() {
    let net = TempDir::new().unwrap();
    let mut node = Node::new(net.path(), "minter");
    let g = node.create_chain();
    let a = node.create_wallet();
    let b = node.create_wallet();
    let m = node.create_wallet();
    node.mint_send(&g, &a, 5);
    node.mint_send(&g, &b, 5);
    node.start_central(&["--minter", &m, "--mint-threshold", "2"]);
    node.wait_log("minting to");

    node.ok(&["send", "--from", &a, "--to", &m, "--amount", "1"]);
    // Below the threshold: no block for a while, the payment waits.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let st = node.status().unwrap();
        assert_eq!(
            (st.height, st.mempool),
            (2, 1),
            "minted below the threshold"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!node.log_text().contains("minting a block"));

    node.ok(&["send", "--from", &b, "--to", &m, "--amount", "1"]);
    node.wait_height(3);
    // `status` gives the height and the mempool of one moment: at the new
    // height the mined payments have left the mempool.
    let st = node.status().unwrap();
    assert_eq!((st.height, st.mempool), (3, 0));
    assert_eq!(node.balance(&m), SUBSIDY + 2);
    node.stop();
}

#[test]
fn two_sends_in_a_row_spend_unconfirmed_change_and_both_get_mined() {
    let net = TempDir::new().unwrap();
    let mut central = Node::new(net.path(), "central");
    let mut minter = Node::new(net.path(), "minter");
    // The genesis coin (20) is the only coin of `g`: the second payment can
    // only be funded by the first one's change.
    let g = central.create_chain();
    let b = central.create_wallet();
    let c = central.create_wallet();
    let m = minter.create_wallet();
    central.start_central(&[]);
    minter.start_seeded(&central.addr(), &["--minter", &m, "--mint-threshold", "2"]);
    wait_same_tip(&[&central, &minter], 0);
    wait_for(WAIT, "the minter to connect", || {
        central.status().is_some_and(|s| s.peers >= 1)
    });

    let t1 = sent_txid(&central.ok(&["send", "--from", &g, "--to", &b, "--amount", "3"]));
    let t2 = sent_txid(&central.ok(&["send", "--from", &g, "--to", &c, "--amount", "4"]));
    assert_ne!(t1, t2);
    wait_same_tip(&[&central, &minter], 1);
    let chain = central.ok(&["printchain"]);
    assert!(chain.contains(&t1) && chain.contains(&t2), "{chain}");
    assert_eq!(central.balance(&g), SUBSIDY - 7);
    assert_eq!(central.balance(&b), 3);
    assert_eq!(central.balance(&c), 4);
    assert_eq!(central.status().unwrap().mempool, 0);
    minter.stop();
    central.stop();
}

#[test]
fn cli_answers_the_same_with_the_node_running_and_stopped() {
    let net = TempDir::new().unwrap();
    let mut node = Node::new(net.path(), "node");
    let g = node.create_chain();
    let a = node.create_wallet();
    node.mint_send(&g, &a, 7);
    node.mint_send(&a, &g, 2);
    let snapshot = |n: &Node| -> Vec<String> {
        // `status` adds `running: ...` and, while it runs, uptime and sync
        // lines: the figures above them must agree.
        let status = n.ok(&["status"]);
        vec![
            status.lines().take(4).collect::<Vec<_>>().join("\n"),
            n.ok(&["getbalance", "--address", &g]),
            n.ok(&["getbalance", "--address", &a]),
            n.ok(&["printchain"]),
            n.ok(&["printchain", "--json"]),
            n.ok(&["checkchain"]),
            n.ok(&["printchain", "--json", "--verify"]),
        ]
    };
    let stopped = snapshot(&node);
    assert!(stopped[0].starts_with("height: 2\n"), "{}", stopped[0]);
    // 7 received, 2 paid, and the subsidy of the block `a` minted.
    assert_eq!(node.balance(&a), 7 - 2 + SUBSIDY);
    assert_eq!(stopped[5], "OK");
    let json: serde_json::Value = serde_json::from_str(&stopped[4]).expect("printchain --json");
    assert!(json.is_array() || json.is_object());

    node.start_central(&[]);
    let running = snapshot(&node);
    assert_eq!(running, stopped);
    // Commands that need the database to themselves refuse while it runs.
    assert!(
        !node
            .run(&["send", "--from", &a, "--to", &g, "--amount", "1", "--mint"])
            .status
            .success()
    );
    assert!(!node.run(&["reindexutxo"]).status.success());
    node.stop();
    assert_eq!(snapshot(&node), stopped);
}

#[test]
fn sigint_and_sigterm_stop_cleanly() {
    let net = TempDir::new().unwrap();
    let mut seed = Node::new(net.path(), "seed");
    let mut peer = Node::new(net.path(), "peer");
    let g = seed.create_chain();
    let w = seed.create_wallet();
    seed.mint_send(&g, &w, 5);
    seed.start_central(&[]);
    peer.start_seeded(&seed.addr(), &[]);
    let tip = wait_same_tip(&[&seed, &peer], 1);
    wait_for(WAIT, "the peers to connect", || {
        peer.status().is_some_and(|s| s.peers >= 1)
    });
    for (node, signal) in [(&mut peer, "INT"), (&mut seed, "TERM")] {
        let (st, took) = node.stop_with(signal, Duration::from_secs(5));
        assert!(
            st.success(),
            "{} exited with {st} on SIG{signal}",
            node.name
        );
        assert!(took < Duration::from_secs(5), "SIG{signal} took {took:?}");
        assert!(!node.control().exists(), "control socket left behind");
        let s = node.status().expect("status of the stopped node");
        assert_eq!((s.height, s.tip.as_str()), (1, tip.as_str()));
        assert_eq!(node.ok(&["checkchain"]), "OK");
        assert_eq!(node.balance(&w), 5);
        assert!(node.log_text().contains("database flushed; node stopped"));
    }
}

#[test]
fn fresh_node_syncs_1200_blocks() {
    const BLOCKS: u64 = 1200;
    let net = TempDir::new().unwrap();
    let mut seed = Node::new(net.path(), "seed");
    let mut fresh = Node::new(net.path(), "fresh");
    genchain(net.path(), seed.port, BLOCKS, 3);
    let want = seed.status().unwrap();
    assert_eq!(want.height, BLOCKS);
    seed.start_central(&[]);
    let start = Instant::now();
    fresh.start_seeded(&seed.addr(), &[]);
    wait_for(Duration::from_secs(60), "the fresh node to sync", || {
        fresh.height() == Some(BLOCKS)
    });
    let took = start.elapsed();
    eprintln!(
        "synced {BLOCKS} blocks in {:.2}s: {:.0} blocks/s",
        took.as_secs_f64(),
        BLOCKS as f64 / took.as_secs_f64()
    );
    assert_eq!(fresh.status().unwrap().tip, want.tip);
    fresh.stop();
    assert_eq!(fresh.ok(&["checkchain"]), "OK");
    seed.stop();
}

#[test]
fn node_on_another_network_is_refused() {
    let net = TempDir::new().unwrap();
    let mut seed = Node::new(net.path(), "seed");
    let mut other = Node::new(net.path(), "other");
    let g = seed.create_chain();
    seed.mint_send(&g, &g, 1);
    seed.mint_send(&g, &g, 1);
    other.create_chain();
    let ours = seed.status().unwrap();
    let theirs = other.status().unwrap();
    assert_ne!(ours.tip, theirs.tip);
    seed.start_central(&[]);
    other.start_seeded(&seed.addr(), &[]);
    // Both sides say why, at WARN, each naming both genesis hashes.
    wait_for(WAIT, "both logs to say different network", || {
        seed.log_text().contains("different network")
            && other.log_text().contains("different network")
    });
    for log in [seed.log_text(), other.log_text()] {
        let line = log
            .lines()
            .find(|l| l.contains("different network"))
            .unwrap_or_default()
            .to_string();
        assert!(line.contains("WARN"), "{line}");
        let hashes = line
            .split(|c: char| !c.is_ascii_hexdigit())
            .filter(|w| w.len() == 64)
            .collect::<std::collections::HashSet<_>>();
        assert_eq!(hashes.len(), 2, "both genesis hashes: {line}");
    }
    // Let the other node retry a few times: it must never adopt this chain.
    std::thread::sleep(Duration::from_millis(1500));
    let now = other.status().unwrap();
    assert_eq!((now.height, &now.tip), (theirs.height, &theirs.tip));
    assert_eq!(seed.status().unwrap().tip, ours.tip);
    assert!(!other.log_text().contains("connected at height"));
    other.stop();
    assert_eq!(other.status().unwrap(), theirs);
    seed.stop();
}

#[test]
fn send_from_stopped_node_goes_to_seed_and_is_minted() {
    let net = TempDir::new().unwrap();
    let mut central = Node::new(net.path(), "central");
    let mut wallet = Node::new(net.path(), "wallet");
    let mut minter = Node::new(net.path(), "minter");
    let g = central.create_chain();
    let w = wallet.create_wallet();
    let to = wallet.create_wallet();
    central.mint_send(&g, &w, 9);
    let m = minter.create_wallet();
    central.start_central(&[]);
    // The wallet node syncs once, then stops.
    wallet.start_seeded(&central.addr(), &[]);
    wait_same_tip(&[&central, &wallet], 1);
    wallet.stop();
    minter.start_seeded(&central.addr(), &["--minter", &m, "--mint-threshold", "1"]);
    wait_same_tip(&[&central, &minter], 1);
    wait_for(WAIT, "the minter to connect", || {
        central.status().is_some_and(|s| s.peers >= 1)
    });

    let txid = sent_txid(&wallet.ok(&[
        "send",
        "--from",
        &w,
        "--to",
        &to,
        "--amount",
        "4",
        "--seed",
        &central.addr(),
    ]));
    wait_same_tip(&[&central, &minter], 2);
    central.wait_log(&format!("accepted transaction {txid}"));
    assert!(central.ok(&["printchain"]).contains(&txid));
    assert_eq!(central.balance(&to), 4);
    assert_eq!(central.balance(&w), 5);
    assert_eq!(central.balance(&m), SUBSIDY);
    minter.stop();
    central.stop();
}
