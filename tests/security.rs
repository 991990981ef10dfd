//! Keys stay private: the wallet file and control socket are mode 0600 under
//! the node's own directory, and no secret key appears in any node's log or
//! in the P2P traffic of a payment relayed and minted across three nodes.
//! The traffic is captured by a recording TCP proxy that the wallet node
//! uses as its seed.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sledchain::core::address::Address;
use sledchain::wallet::Wallets;
use support::*;

/// Forwards every connection on `listen` to `target`, appending all bytes
/// seen in both directions to `capture`.
fn recording_proxy(listen: TcpListener, target: u16, capture: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        for client in listen.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            for (mut from, mut to) in [
                (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                ),
                (server, client),
            ] {
                let cap = capture.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        cap.lock().expect("capture").extend_from_slice(&buf[..n]);
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn secret_keys_never_reach_logs_or_the_wire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (seed_port, wallet_port, miner_port, proxy_port) =
        (free_port(), free_port(), free_port(), free_port());
    let seed = format!("127.0.0.1:{seed_port}");
    let central = cli_ok(d, seed_port, &["createwallet"]);
    let w1 = cli_ok(d, wallet_port, &["createwallet"]);
    let w2 = cli_ok(d, wallet_port, &["createwallet"]);
    let miner = cli_ok(d, miner_port, &["createwallet"]);
    cli_ok(
        d,
        seed_port,
        &[
            "createblockchain",
            "--address",
            &central,
            "--difficulty",
            "8",
        ],
    );
    cli_ok(
        d,
        seed_port,
        &[
            "send", "--from", &central, "--to", &w1, "--amount", "10", "--mint",
        ],
    );

    let capture = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind(("127.0.0.1", proxy_port)).expect("proxy bind");
    recording_proxy(listener, seed_port, capture.clone());
    let via_proxy = format!("127.0.0.1:{proxy_port}");

    let mut nodes = Reaper(vec![start(d, seed_port, &["--seed", &seed])]);
    assert!(
        wait_until(20, || running(d, seed_port)),
        "seed did not start"
    );
    nodes.0.push(start(d, wallet_port, &["--seed", &via_proxy]));
    nodes.0.push(start(
        d,
        miner_port,
        &["--seed", &seed, "--minter", &miner, "--mint-threshold", "1"],
    ));
    for p in [wallet_port, miner_port] {
        assert!(
            wait_until(30, || status(d, p).is_some_and(|s| s.height == 1)),
            "node {p} did not sync"
        );
    }
    cli_ok(
        d,
        wallet_port,
        &["send", "--from", &w1, "--to", &w2, "--amount", "3"],
    );
    for p in [seed_port, wallet_port, miner_port] {
        assert!(
            wait_until(30, || status(d, p).is_some_and(|s| s.height == 2)),
            "node {p} did not get the block"
        );
    }

    // Files holding or reaching keys are private to the owner.
    for p in [seed_port, wallet_port, miner_port] {
        let node_dir = d.join(p.to_string());
        assert_eq!(mode(&node_dir.join("wallets.dat")), 0o600, "wallet of {p}");
        assert_eq!(
            mode(&node_dir.join("control.sock")),
            0o600,
            "control socket of {p}"
        );
        assert_eq!(
            mode(&node_dir) & 0o077,
            0,
            "node directory of {p} is open to others"
        );
    }
    for c in &mut nodes.0 {
        assert!(stop(c), "node did not stop cleanly");
    }

    let traffic = capture.lock().expect("capture").clone();
    assert!(
        traffic.len() > 1000,
        "proxy saw no traffic ({} bytes)",
        traffic.len()
    );
    let mut logs = Vec::new();
    for p in [seed_port, wallet_port, miner_port] {
        logs.extend_from_slice(log_text(d, p).as_bytes());
    }
    let mut checked = 0;
    for p in [seed_port, wallet_port, miner_port] {
        let wallets = Wallets::load(&d.join(p.to_string()).join("wallets.dat")).expect("wallet");
        for addr in wallets.addresses() {
            let secret = wallets.key(&addr).expect("key").to_bytes();
            let hex = hex::encode(secret);
            assert!(!contains(&traffic, &secret), "secret of {addr} on the wire");
            assert!(
                !contains(&traffic, hex.as_bytes()),
                "secret of {addr} (hex) on the wire"
            );
            assert!(
                !contains(&logs, hex.as_bytes()),
                "secret of {addr} in a log"
            );
            assert!(!contains(&logs, &secret), "secret of {addr} (raw) in a log");
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
    // The capture is real: the payment's public data did cross the proxy.
    let w2_hash = w2.parse::<Address>().expect("address").0;
    assert!(
        contains(&traffic, &w2_hash),
        "payment not seen in the capture"
    );
}
