//! The CLI as scripts use it: output through pipes, `send`'s verdict and
//! exit code, `--json` everywhere, read-only commands side by side, and
//! the commands that ask a running node.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use support::*;
use tempfile::TempDir;

/// Copies directory `from` to `to` (created), recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn printchain_into_a_closed_pipe_exits_zero() {
    let tmp = TempDir::new().unwrap();
    let node = Node::new(tmp.path(), "n");
    // Far more text than a pipe buffers (64 KiB): the writer is still
    // writing when the reader leaves.
    genchain(tmp.path(), node.port, 300, 2);
    let mut child = std::process::Command::new(bin())
        .args(["--datadir"])
        .arg(&node.datadir)
        .args(["--port", &node.port.to_string(), "printchain"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit {status}: {err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn send_through_the_seed_waits_for_its_verdict() {
    let tmp = TempDir::new().unwrap();
    let wallet = Node::new(tmp.path(), "wallet");
    let mut seed = Node::new(tmp.path(), "seed");
    let g = wallet.create_chain();
    let to = wallet.create_wallet();
    // The seed holds the same chain (no keys).
    copy_dir(&wallet.chain_path(), &seed.chain_path());
    seed.start_central(&[]);
    let send = |amount: &str| {
        wallet.run(&[
            "send",
            "--from",
            &g,
            "--to",
            &to,
            "--amount",
            amount,
            "--seed",
            &seed.addr(),
        ])
    };
    let before = std::fs::read(wallet.wallet_path()).unwrap();
    let out = send("1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let txid = sent_txid(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(seed.status().unwrap().mempool, 1);
    seed.wait_log(&format!("accepted transaction {txid}"));

    // The wallet remembers the pending payment: the same payment again is
    // built from its change, a second transaction the seed takes too.
    let out = send("1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = sent_txid(&String::from_utf8_lossy(&out.stdout));
    assert_ne!(second, txid, "the second send reused the first one's coin");
    assert_eq!(seed.status().unwrap().mempool, 2);

    // A wallet that does not know (its file from before both payments)
    // pays the spent coin again: a double spend the seed refuses.
    std::fs::write(wallet.wallet_path(), &before).unwrap();
    let out = send("2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a double spend was reported sent");
    assert!(out.stdout.is_empty());
    assert!(err.contains("refused by the seed"), "{err}");
    assert_eq!(seed.status().unwrap().mempool, 2);
    seed.stop();
}

#[test]
fn twelve_printchain_json_side_by_side_all_succeed() {
    let tmp = TempDir::new().unwrap();
    let node = Node::new(tmp.path(), "n");
    genchain(tmp.path(), node.port, 30, 2);
    let children: Vec<_> = (0..12)
        .map(|_| {
            std::process::Command::new(bin())
                .arg("--datadir")
                .arg(&node.datadir)
                .args(["--port", &node.port.to_string(), "printchain", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v.as_array().map(Vec::len), Some(31));
    }
}

/// Runs `args` with `--json` and parses stdout.
fn json(node: &Node, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = node.stdout(&all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[test]
fn every_read_command_speaks_json_on_a_stopped_node() {
    let tmp = TempDir::new().unwrap();
    let node = Node::new(tmp.path(), "n");
    let a = node.create_chain();
    let b = node.create_wallet();
    let txid = node.mint_send_fee(&a, &b, 5, 1);

    assert_eq!(json(&node, &["listaddresses"]), serde_json::json!([a, b]));
    let bal = json(&node, &["getbalance", "--address", &b]);
    assert_eq!(
        (
            bal["address"].as_str(),
            bal["chain_stats"]["funded_txo_sum"].as_u64()
        ),
        (Some(&*b), Some(5))
    );
    let chain = json(&node, &["printchain"]);
    assert_eq!(chain.as_array().map(Vec::len), Some(2));
    let status = json(&node, &["status"]);
    assert_eq!(status["running"], false);
    assert_eq!(status["height"], 1);
    assert_eq!(status["tip"], chain[0]["hash"]);
    let check = json(&node, &["checkchain"]);
    assert_eq!(
        (check["ok"].as_bool(), check["result"].as_str()),
        (Some(true), Some("OK"))
    );

    let tip = chain[0]["hash"].as_str().unwrap();
    for id in ["1", tip] {
        let block = json(&node, &["getblock", id]);
        assert_eq!(block["id"], tip);
        assert_eq!(
            (block["height"].as_u64(), block["tx_count"].as_u64()),
            (Some(1), Some(2))
        );
    }
    let genesis = json(&node, &["getblock", "0"]);
    assert_eq!(genesis["height"], 0);

    let tx = json(&node, &["gettx", &txid]);
    assert_eq!(tx["status"]["confirmed"], true);
    assert_eq!(tx["status"]["block_hash"], tip);
    assert_eq!(tx["fee"], 1);
    assert_eq!(tx["vout"][0]["value"], 5);

    let unspent = json(&node, &["listunspent", "--address", &b]);
    assert_eq!(unspent[0]["txid"], txid.as_str());
    assert_eq!(
        (unspent[0]["vout"].as_u64(), unspent[0]["value"].as_u64()),
        (Some(0), Some(5))
    );
    assert_eq!(unspent.as_array().map(Vec::len), Some(1));

    // Unknown objects and a running node's own commands fail with one line.
    for args in [
        vec!["getblock", "7"],
        vec!["gettx", &"00".repeat(32)],
        vec!["getblock", "zz"],
        vec!["peers"],
        vec!["mempool"],
        vec!["mint"],
        vec!["addpeer", "127.0.0.1:1"],
    ] {
        let out = node.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let err = String::from_utf8_lossy(&node.run(&["peers"]).stderr).to_string();
    assert!(err.contains("needs the node on port"), "{err}");
}

#[test]
fn a_running_node_answers_status_peers_mempool_gettx_addpeer_and_mint() {
    let tmp = TempDir::new().unwrap();
    let mut minter = Node::new(tmp.path(), "minter");
    let mut other = Node::new(tmp.path(), "other");
    let m = minter.create_chain();
    let to = minter.create_wallet();
    minter.start_central(&["--minter", &m, "--mint-threshold", "100"]);
    other.start_seeded(&minter.addr(), &[]);
    wait_for(WAIT, "the other node to adopt the genesis", || {
        other.status().is_some_and(|s| s.tip != "none")
    });

    let status = json(&minter, &["status"]);
    assert_eq!(
        (status["running"].as_bool(), status["minter"].as_str()),
        (Some(true), Some(m.as_str()))
    );
    assert!(status["uptime_s"].is_u64(), "{status}");
    assert!(minter.ok(&["status"]).contains("running: yes"));

    wait_for(WAIT, "the minter to see the other node", || {
        json(&minter, &["peers"])
            .as_array()
            .is_some_and(|p| !p.is_empty())
    });
    let peers = json(&other, &["peers"]);
    assert_eq!(peers[0]["addr"], minter.addr());
    assert_eq!(peers[0]["direction"], "outbound");
    let e = other.run(&["addpeer", &minter.addr()]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("already connected"));

    // An empty mempool: nothing to mint.
    assert!(!minter.run(&["mint"]).status.success());
    let txid = sent_txid(&minter.ok(&["send", "--from", &m, "--to", &to, "--amount", "3"]));
    let pool = json(&minter, &["mempool"]);
    assert_eq!(pool[0]["txid"], txid);
    let tx = json(&minter, &["gettx", &txid]);
    assert_eq!(tx["status"], serde_json::json!({"confirmed": false}));

    // Below the threshold of 100: only `mint` mints it.
    assert!(other.run(&["mint"]).status.code() != Some(0));
    assert!(minter.ok(&["mint"]).contains("minting a block at height 1"));
    wait_same_tip(&[&minter, &other], 1);
    let tx = json(&other, &["gettx", &txid]);
    assert_eq!(
        (
            tx["status"]["confirmed"].as_bool(),
            tx["status"]["block_height"].as_u64()
        ),
        (Some(true), Some(1))
    );
    assert_eq!(
        json(&other, &["listunspent", "--address", &to])[0]["value"],
        3
    );

    // --confirmations waits for the block.
    let out = std::thread::scope(|s| {
        let send = s.spawn(|| {
            minter.ok(&[
                "send",
                "--from",
                &to,
                "--to",
                &m,
                "--amount",
                "1",
                "--confirmations",
                "1",
            ])
        });
        wait_for(WAIT, "the payment in the mempool", || {
            json(&minter, &["mempool"])
                .as_array()
                .is_some_and(|p| !p.is_empty())
        });
        minter.ok(&["mint"]);
        send.join().unwrap()
    });
    assert!(out.ends_with("confirmations: 1"), "{out}");
    sent_txid(out.lines().next().unwrap());
    // --json: one object, with the confirmations, once it is that deep.
    let out = std::thread::scope(|s| {
        let send = s.spawn(|| {
            minter.run(&[
                "send",
                "--to",
                &m,
                "--amount",
                "1",
                "--confirmations",
                "1",
                "--json",
            ])
        });
        wait_for(WAIT, "the payment in the mempool", || {
            json(&minter, &["mempool"])
                .as_array()
                .is_some_and(|p| !p.is_empty())
        });
        minter.ok(&["mint"]);
        send.join().unwrap()
    });
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(sent["confirmations"], 1, "{sent}");
    assert_eq!(
        json(&minter, &["gettx", sent["txid"].as_str().unwrap()])["status"]["confirmed"],
        true
    );
    minter.stop();
    other.stop();
}

#[test]
fn an_initial_sync_logs_one_summary_line_instead_of_a_line_per_block() {
    let tmp = TempDir::new().unwrap();
    let mut central = Node::new(tmp.path(), "central");
    let mut fresh = Node::new(tmp.path(), "fresh");
    genchain(tmp.path(), central.port, 40, 1);
    central.start_central(&[]);
    fresh.start_seeded(&central.addr(), &[]);
    fresh.wait_height(40);
    let line = fresh.wait_log("synced ");
    assert!(line.contains("blocks/s"), "{line}");
    let log = fresh.log_text();
    assert!(!log.contains("connected at height 20"), "{log}");
    assert!(log.contains("data directory"), "{log}");
    fresh.stop();
    central.stop();
}
