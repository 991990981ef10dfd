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
    let out = send("1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let txid = sent_txid(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(seed.status().unwrap().mempool, 1);
    seed.wait_log(&format!("accepted transaction {txid}"));

    // The stopped wallet does not know its coin is spent: the same coin
    // paid again is a double spend the seed refuses.
    let out = send("2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a double spend was reported sent");
    assert!(out.stdout.is_empty());
    assert!(err.contains("rejected by the seed"), "{err}");
    assert_eq!(seed.status().unwrap().mempool, 1);
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
