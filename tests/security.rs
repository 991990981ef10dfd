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
    let mut seed = Node::new(d, "seed");
    let mut wallet = Node::new(d, "wallet");
    let mut miner = Node::new(d, "miner");
    let proxy_port = free_port();
    let central = seed.create_wallet();
    let w1 = wallet.create_wallet();
    let w2 = wallet.create_wallet();
    let miner_addr = miner.create_wallet();
    seed.create_blockchain(&central, "8");
    seed.mint_send(&central, &w1, 10);

    let capture = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind(("127.0.0.1", proxy_port)).expect("proxy bind");
    recording_proxy(listener, seed.port, capture.clone());
    let via_proxy = format!("127.0.0.1:{proxy_port}");

    seed.start_central(&[]);
    wallet.start_seeded(&via_proxy, &[]);
    miner.start_seeded(
        &seed.addr(),
        &["--minter", &miner_addr, "--mint-threshold", "1"],
    );
    for n in [&wallet, &miner] {
        assert!(
            wait_until(30, || n.status().is_some_and(|s| s.height == 1)),
            "node {} did not sync",
            n.name
        );
    }
    wallet.ok(&["send", "--from", &w1, "--to", &w2, "--amount", "3"]);
    for n in [&seed, &wallet, &miner] {
        assert!(
            wait_until(30, || n.status().is_some_and(|s| s.height == 2)),
            "node {} did not get the block",
            n.name
        );
    }

    // Files holding or reaching keys are private to the owner.
    for n in [&seed, &wallet, &miner] {
        let p = &n.name;
        assert_eq!(mode(&n.wallet_path()), 0o600, "wallet of {p}");
        assert_eq!(mode(&n.control()), 0o600, "control socket of {p}");
        assert_eq!(
            mode(&n.dir()) & 0o077,
            0,
            "node directory of {p} is open to others"
        );
    }
    for n in [&mut seed, &mut wallet, &mut miner] {
        n.stop();
    }

    let traffic = capture.lock().expect("capture").clone();
    assert!(
        traffic.len() > 1000,
        "proxy saw no traffic ({} bytes)",
        traffic.len()
    );
    let mut logs = Vec::new();
    for n in [&seed, &wallet, &miner] {
        logs.extend_from_slice(n.log_text().as_bytes());
    }
    let mut checked = 0;
    for n in [&seed, &wallet, &miner] {
        let wallets = Wallets::load(&n.wallet_path()).expect("wallet");
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
