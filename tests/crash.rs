//! Crash safety: nodes killed with SIGKILL while syncing or minting leave a
//! chain that `node checkchain` accepts (every block valid, UTXO set equal to
//! a rebuild from the blocks) and that a restart completes; a wallet write
//! killed at any point never loses a key that was reported created.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sledchain::app::cli::NodePaths;
use sledchain::net::control;
use sledchain::wallet::Wallets;
use sledchain::wallet::send::build_payment;
use support::*;

/// Checks a killed node's datadir. `Ok(true)`: chain OK; `Ok(false)`: no
/// chain yet (killed before the genesis arrived); `Err`: a discrepancy.
fn check_after_kill(dir: &std::path::Path, port: u16) -> Result<bool, String> {
    let (ok, out, err) = checkchain(dir, port);
    if ok && out == "OK" {
        Ok(true)
    } else if !ok && err.contains("no chain yet") {
        Ok(false)
    } else {
        Err(format!("checkchain: stdout {out:?}, stderr {err:?}"))
    }
}

/// The height a killed node's chain reaches once opened: the chain state of
/// its last flush, then the stored blocks above it replayed (as a restart
/// does).
fn replayed_height(path: &std::path::Path) -> u64 {
    let Ok(store) = sledchain::store::ChainStore::open(path, 1 << 20) else {
        return 0;
    };
    let sigs = Arc::new(sledchain::core::validation::SigCache::new(1000));
    if sledchain::chain::Chain::open(store.clone(), sigs).is_err() {
        return 0;
    }
    store.tip_opt().ok().flatten().map_or(0, |t| t.height)
}

#[test]
fn kill9_during_sync_and_minting_leaves_a_valid_chain() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut seed = Node::new(d, "seed");
    let seed_port = seed.port;
    let (seed_tip, seed_height) = genchain(d, seed_port, 1200, 2);
    assert_eq!(seed_height, 1200);
    let seed_addr = seed.addr();
    seed.start(&["--seed", &seed_addr]);
    assert!(
        wait_until(20, || seed.status().is_some()),
        "seed did not start"
    );

    // Sync under SIGKILL: a node syncing from the seed, killed after a random
    // 50..1500 ms, checked, restarted. A node that completed the sync starts
    // over from an empty datadir so that every kill lands in a sync.
    let mut node = Node::new(d, "node");
    let port = node.port;
    let mut rng = Lcg::from_time();
    println!("sync kill loop seed {}", rng.0);
    let (mut iterations, mut failures, mut no_chain, mut completed) = (0, 0, 0, 0);
    let mut max_height_seen = 0;
    for i in 0..20 {
        node.spawn(&["--seed", &seed_addr]);
        let delay = rng.range(50, 1500);
        std::thread::sleep(Duration::from_millis(delay));
        node.kill();
        iterations += 1;
        match check_after_kill(d, port) {
            Ok(true) => {}
            Ok(false) => no_chain += 1,
            Err(e) => {
                failures += 1;
                eprintln!("iteration {i} (killed after {delay} ms): {e}");
            }
        }
        let height = replayed_height(&node.chain_path());
        max_height_seen = max_height_seen.max(height);
        if height == seed_height {
            completed += 1;
            std::fs::remove_dir_all(node.dir()).expect("wipe datadir");
        }
    }
    println!(
        "sync kill loop: {iterations} iterations, {failures} failures, {no_chain} before genesis, \
         {completed} completed syncs, highest height reached {max_height_seen}"
    );
    assert_eq!(failures, 0, "checkchain failed after a kill during sync");
    assert!(
        max_height_seen > 0,
        "no kill happened after blocks connected"
    );

    // After the loop a restart finishes the sync.
    node.start(&["--seed", &seed_addr]);
    assert!(
        wait_until(120, || node
            .status()
            .is_some_and(|s| s.height == seed_height)),
        "restarted node did not finish the sync: {:?}",
        node.status()
    );
    assert_eq!(node.status().expect("status").tip, seed_tip);
    node.stop();
    assert_eq!(check_after_kill(d, port), Ok(true));

    // Minting under SIGKILL: the seed, now a minter at one transaction, gets
    // a stream of payments and is killed while it mints.
    seed.stop();
    let addrs = seed.addresses();
    assert!(addrs.len() >= 2);
    // Payments are built here and submitted over the control socket only, so
    // the sender never opens the store (which would lock a starting node out).
    let sending = Arc::new(AtomicBool::new(true));
    let sender = {
        let sending = sending.clone();
        let paths = NodePaths::new(d, seed_port);
        std::thread::spawn(move || {
            let wallets = Wallets::load(&paths.wallet).expect("seed wallet");
            let addrs = wallets.addresses();
            let (mut sent, mut k) = (0u64, 0usize);
            while sending.load(Ordering::SeqCst) {
                let from = &addrs[k % addrs.len()];
                let to = &addrs[(k + 1) % addrs.len()];
                k += 1;
                let submitted = control::coins(&paths.control, from)
                    .ok()
                    .and_then(|coins| {
                        let key = wallets.key(from)?;
                        build_payment(key, &coins, to.0, 1, 0).ok()
                    })
                    .is_some_and(|tx| {
                        control::request(&paths.control, &control::Request::SubmitTx(tx)).is_ok()
                    });
                if submitted {
                    sent += 1;
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            sent
        })
    };
    let minter = addrs[0].clone();
    let (mut m_iter, mut m_fail) = (0, 0);
    let mut heights = vec![seed_height];
    for i in 0..10 {
        seed.spawn(&[
            "--seed",
            &seed_addr,
            "--minter",
            &minter,
            "--mint-threshold",
            "1",
        ]);
        let delay = rng.range(300, 1500);
        std::thread::sleep(Duration::from_millis(delay));
        seed.kill();
        m_iter += 1;
        match check_after_kill(d, seed_port) {
            Ok(true) => {}
            other => {
                m_fail += 1;
                eprintln!("minting iteration {i} (killed after {delay} ms): {other:?}");
            }
        }
        let h = replayed_height(&seed.chain_path());
        heights.push(h);
    }
    sending.store(false, Ordering::SeqCst);
    let sent = sender.join().expect("sender thread");
    let minted = heights.last().copied().unwrap_or(0) - seed_height;
    println!(
        "minting kill loop: {m_iter} iterations, {m_fail} failures, {sent} payments accepted, \
         {minted} blocks kept, heights {heights:?}"
    );
    assert_eq!(m_fail, 0, "checkchain failed after a kill while minting");
    assert!(minted > 0, "no block was minted during the minting loop");

    // The chain minted across kills serves a sync: the earlier node catches
    // up with the restarted minter's tip.
    seed.start(&["--seed", &seed_addr]);
    node.start(&["--seed", &seed_addr]);
    let target = seed.status().expect("seed status");
    assert!(
        wait_until(60, || node.status().is_some_and(|s| s.tip == target.tip)),
        "node did not sync the minted blocks: {:?} vs {target:?}",
        node.status()
    );
    seed.stop();
    node.stop();
    assert_eq!(check_after_kill(d, port), Ok(true));
    println!("crash test wall time {:.1}s", t0.elapsed().as_secs_f64());
}

#[test]
fn wallet_keeps_every_reported_key_under_kill9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = 4100;
    let mut rng = Lcg::from_time();
    println!("wallet kill loop seed {}", rng.0);
    let mut reported = Vec::new();
    let (mut iterations, mut killed) = (0, 0);
    for _ in 0..60 {
        let mut child = std::process::Command::new(bin())
            .arg("--datadir")
            .arg(d)
            .args(["--port", &port.to_string(), "createwallet"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn createwallet");
        std::thread::sleep(Duration::from_micros(rng.range(0, 20_000)));
        if let Ok(None) = child.try_wait() {
            killed += 1;
        }
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait createwallet");
        iterations += 1;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !text.is_empty() {
            reported.push(text);
        }
        // The file loads after every kill.
        let path = d.join(port.to_string()).join("wallets.dat");
        if let Err(e) = Wallets::load(&path) {
            panic!("wallet does not load after a kill: {e}");
        }
    }
    let listed = cli_ok(d, port, &["listaddresses"]);
    let listed: Vec<&str> = listed.lines().collect();
    let lost: Vec<&String> = reported
        .iter()
        .filter(|a| !listed.contains(&a.as_str()))
        .collect();
    println!(
        "wallet kill loop: {iterations} iterations, {killed} killed while running, \
         {} addresses reported, {} listed, {} lost",
        reported.len(),
        listed.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "addresses lost: {lost:?}");
    assert!(!reported.is_empty(), "no createwallet completed");
}

#[test]
fn concurrent_createwallet_processes_keep_every_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = 4101;
    let children: Vec<_> = (0..12)
        .map(|_| {
            std::process::Command::new(bin())
                .arg("--datadir")
                .arg(d)
                .args(["--port", &port.to_string(), "createwallet"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn createwallet")
        })
        .collect();
    let reported: Vec<String> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait createwallet"))
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .collect();
    let listed = cli_ok(d, port, &["listaddresses"]);
    let lost: Vec<&String> = reported
        .iter()
        .filter(|a| !listed.lines().any(|l| l == a.as_str()))
        .collect();
    println!(
        "concurrent createwallet: {} reported, {} listed, {} lost",
        reported.len(),
        listed.lines().count(),
        lost.len()
    );
    assert_eq!(reported.len(), 12, "every createwallet should succeed");
    assert!(lost.is_empty(), "addresses lost: {lost:?}");
}
