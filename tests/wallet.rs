//! The wallet as a user drives it through the `node` binary: seed phrase,
//! restore on a fresh node, encryption, pending payments with the node
//! stopped, and kill -9 during the commands that write the wallet file.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sledchain::wallet::Wallets;
use support::*;
use tempfile::TempDir;

fn json(n: &Node, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&n.stdout(&a)).expect("JSON output")
}

/// Runs a command that must fail; its stderr.
fn fails(n: &Node, args: &[&str]) -> String {
    let out = n.run(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Runs a command that must fail with exit `code`; its stderr.
fn fails_with(n: &Node, args: &[&str], code: i32) -> String {
    let out = n.run(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    err
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn create_pay_restore_on_a_fresh_node_gets_every_coin_back() {
    let net = TempDir::new().unwrap();
    let alice = Node::new(net.path(), "alice");
    let bob = Node::new(net.path(), "bob");
    let phrase = net.path().join("phrase.txt");
    let a0 = alice.ok(&["createwallet", "--mnemonic-file", phrase.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&phrase)
            .unwrap()
            .split_whitespace()
            .count(),
        12
    );
    alice.create_blockchain(&a0, CLI_DIFFICULTY);
    let x = bob.create_wallet();
    // Wallet-wide payments: change to fresh change addresses.
    alice.ok(&["send", "--to", &x, "--amount", "5", "--mint"]);
    let a1 = alice.create_wallet();
    alice.ok(&["send", "--to", &a1, "--amount", "7", "--fee", "1", "--mint"]);
    alice.ok(&["send", "--to", &x, "--amount", "30", "--mint"]);
    let before = json(&alice, &["getbalance"]);
    assert_eq!(before["total"], before["confirmed"]);
    assert_eq!(before["unconfirmed"], 0);
    // 4 blocks of 20, 35 paid away (the fee came back as subsidy).
    assert_eq!(before["confirmed"], 80 - 35);
    // The API's address totals, summed over the wallet's addresses.
    let chain = &before["chain_stats"];
    assert_eq!(
        chain["funded_txo_sum"].as_u64().unwrap() - chain["spent_txo_sum"].as_u64().unwrap(),
        45
    );
    assert_eq!(before["mempool_stats"]["funded_txo_count"], 0);
    // listunspent: the API's unspent outputs with the address each pays.
    let coins = json(&alice, &["listunspent"]);
    let coins = coins.as_array().unwrap();
    assert!(!coins.is_empty());
    let mut sum = 0;
    for c in coins {
        assert_eq!(c["txid"].as_str().unwrap().len(), 64, "{c}");
        assert!(c["vout"].is_u64() && c["address"].is_string(), "{c}");
        assert_eq!(c["status"]["confirmed"], true, "{c}");
        assert!(c["status"]["block_height"].is_u64(), "{c}");
        sum += c["value"].as_u64().unwrap();
    }
    assert_eq!(sum, 45);
    let addresses = json(&alice, &["listaddresses"]);
    assert!(addresses.as_array().unwrap().len() >= 4, "{addresses}");
    let txs = json(&alice, &["listtransactions"]);

    // A fresh node with the same chain and no wallet.
    let fresh = Node::new(net.path(), "fresh");
    copy_dir(&alice.chain_path(), &fresh.chain_path());
    let restored = json(
        &fresh,
        &["restorewallet", "--mnemonic-file", phrase.to_str().unwrap()],
    );
    assert_eq!(restored["balance"], before, "{restored}");
    assert_eq!(json(&fresh, &["listaddresses"]), addresses);
    assert_eq!(json(&fresh, &["listtransactions"]), txs);
    // The restored keys spend every coin.
    let all = before["total"].as_u64().unwrap();
    fresh.ok(&["send", "--to", &x, "--amount", &all.to_string(), "--mint"]);
    assert_eq!(fresh.balance(&x), 35 + all);
    // Restoring the same phrase again is a rescan: nothing lost, nothing
    // refused.
    let addresses = json(&fresh, &["listaddresses"]);
    let again = json(
        &fresh,
        &["restorewallet", "--mnemonic-file", phrase.to_str().unwrap()],
    );
    assert_eq!(again["balance"], json(&fresh, &["getbalance"]), "{again}");
    assert_eq!(json(&fresh, &["listaddresses"]), addresses);
    // Restoring another phrase into a wallet that has a seed is refused.
    let other = net.path().join("other.txt");
    std::fs::write(
        &other,
        "legal winner thank year wave sausage worth useful legal winner thank yellow\n",
    )
    .unwrap();
    let e = fails(
        &fresh,
        &["restorewallet", "--mnemonic-file", other.to_str().unwrap()],
    );
    assert!(e.contains("already has a seed"), "{e}");
}

#[test]
fn mnemonic_is_shown_once_and_only_on_creation() {
    let net = TempDir::new().unwrap();
    let n = Node::new(net.path(), "n");
    let first = n.run(&["createwallet"]);
    assert!(first.status.success());
    let err = String::from_utf8_lossy(&first.stderr).to_string();
    assert!(err.contains("seed phrase"), "{err}");
    let second = n.run(&["createwallet"]);
    assert!(second.status.success());
    assert!(
        second.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&second.stderr)
    );
    let j = json(&n, &["createwallet"]);
    assert_eq!(j["created"], false);
    assert!(j["mnemonic"].is_null());
    assert_eq!(n.addresses().len(), 3);
}

#[test]
fn encrypted_wallet_needs_its_passphrase_to_sign_and_a_wrong_one_changes_nothing() {
    let net = TempDir::new().unwrap();
    let n = Node::new(net.path(), "n");
    let a = n.create_chain();
    let pass = net.path().join("pass");
    let wrong = net.path().join("wrong");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    std::fs::write(&wrong, "incorrect\n").unwrap();
    n.ok(&["encryptwallet", "--passphrase-file", pass.to_str().unwrap()]);
    let e = fails_with(
        &n,
        &["encryptwallet", "--passphrase-file", pass.to_str().unwrap()],
        1,
    );
    assert!(e.contains("already encrypted"), "{e}");
    // New addresses need no passphrase.
    let b = n.create_wallet();
    let bytes = std::fs::read(n.wallet_path()).unwrap();
    // No passphrase and no terminal to ask on: a usage error (exit 2),
    // JSON on stderr under --json.
    let e = fails_with(&n, &["send", "--to", &b, "--amount", "1", "--mint"], 2);
    assert!(
        e.contains("encrypted") && e.contains("--passphrase-file"),
        "{e}"
    );
    let e = fails_with(
        &n,
        &["send", "--to", &b, "--amount", "1", "--mint", "--json"],
        2,
    );
    let v: Value = serde_json::from_str(e.trim()).expect("a JSON error");
    assert_eq!(v["code"], "usage");
    // A wrong passphrase: exit 1, the file unchanged.
    let e = fails_with(
        &n,
        &[
            "send",
            "--to",
            &b,
            "--amount",
            "1",
            "--mint",
            "--passphrase-file",
            wrong.to_str().unwrap(),
        ],
        1,
    );
    assert!(e.contains("wrong passphrase"), "{e}");
    assert_eq!(
        std::fs::read(n.wallet_path()).unwrap(),
        bytes,
        "the file changed"
    );
    n.ok(&[
        "send",
        "--from",
        &a,
        "--to",
        &b,
        "--amount",
        "3",
        "--mint",
        "--passphrase-file",
        pass.to_str().unwrap(),
    ]);
    assert_eq!(n.balance(&b), 3);
    let w = Wallets::load(&n.wallet_path()).unwrap();
    assert!(w.is_encrypted() && !w.is_unlocked());
}

#[test]
fn version_1_wallet_file_is_migrated_with_a_backup_and_its_coins_count() {
    use sledchain::core::encode;
    use sledchain::core::hash::sha256d;
    let net = TempDir::new().unwrap();
    let n = Node::new(net.path(), "n");
    let key = sledchain::wallet::generate_key().unwrap();
    let old_addr = sledchain::wallet::address_of(&key).to_string();
    let mut v1 = b"SLEDWLLT".to_vec();
    v1.extend_from_slice(&1u32.to_le_bytes());
    let secret: [u8; 32] = key.to_bytes().into();
    v1.extend_from_slice(&encode::encode(&vec![secret]));
    let c = sha256d(&v1);
    v1.extend_from_slice(&c.as_bytes()[..4]);
    std::fs::create_dir_all(n.dir()).unwrap();
    std::fs::write(n.wallet_path(), &v1).unwrap();
    assert_eq!(n.addresses(), vec![old_addr.clone()]);
    n.create_blockchain(&old_addr, CLI_DIFFICULTY);
    let fresh = n.create_wallet();
    let backup = n.dir().join("wallets.dat.v1-backup");
    assert_eq!(std::fs::read(backup).unwrap(), v1);
    assert_eq!(n.addresses(), vec![old_addr.clone(), fresh.clone()]);
    assert_eq!(json(&n, &["getbalance"])["total"], 20);
    n.ok(&["send", "--to", &fresh, "--amount", "20", "--mint"]);
    assert_eq!(n.balance(&fresh), 20);
    // Encrypting the wallet names the backup that still holds the
    // imported key in plain form.
    let pass = net.path().join("pass");
    std::fs::write(&pass, "hunter22\n").unwrap();
    let v = json(
        &n,
        &["encryptwallet", "--passphrase-file", pass.to_str().unwrap()],
    );
    assert_eq!(v["encrypted"], true);
    assert_eq!(
        v["unencrypted_backups"],
        serde_json::json!([n.dir().join("wallets.dat.v1-backup").display().to_string()])
    );
}

#[test]
fn double_send_with_the_node_stopped_never_reuses_coins() {
    let net = TempDir::new().unwrap();
    let mut central = Node::new(net.path(), "central");
    let wallet = Node::new(net.path(), "wallet");
    let g = central.create_chain();
    let w = wallet.create_wallet();
    let to = Node::new(net.path(), "payee").create_wallet();
    central.mint_send(&g, &w, 9);
    copy_dir(&central.chain_path(), &wallet.chain_path());
    central.start_central(&[]);
    let send = |n: &Node| {
        n.run(&[
            "send",
            "--from",
            &w,
            "--to",
            &to,
            "--amount",
            "4",
            "--seed",
            &central.addr(),
        ])
    };
    let first = send(&wallet);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let t1 = sent_txid(&String::from_utf8_lossy(&first.stdout));
    // The same payment again: the first one's coin is locked, so it is
    // built from the first one's change (5), another transaction.
    let second = send(&wallet);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let t2 = sent_txid(&String::from_utf8_lossy(&second.stdout));
    assert_ne!(t1, t2, "the second send reused the first one's coins");
    // A third finds 1 coin left and says so.
    let e = fails(
        &wallet,
        &[
            "send",
            "--from",
            &w,
            "--to",
            &to,
            "--amount",
            "4",
            "--seed",
            &central.addr(),
        ],
    );
    assert!(
        e.contains("insufficient funds") && e.contains("pending"),
        "{e}"
    );
    let mempool = central.ok(&["mempool"]);
    assert!(mempool.contains(&t1) && mempool.contains(&t2), "{mempool}");
    let b = json(&wallet, &["getbalance"]);
    assert_eq!(b["confirmed"], 9);
    assert_eq!(b["unconfirmed"], -8);
    assert_eq!(b["total"], 1);
    central.stop();
}

/// Spawns `node ARGS` on `n`'s port and kills it with SIGKILL after
/// `delay`; true if it had finished by then.
fn run_killed(n: &Node, args: &[&str], delay: Duration) -> bool {
    let mut child = std::process::Command::new(bin())
        .arg("--datadir")
        .arg(n.dir().parent().unwrap())
        .arg("--port")
        .arg(n.dir().file_name().unwrap())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(delay);
    let done = matches!(child.try_wait(), Ok(Some(_)));
    let _ = child.kill();
    let _ = child.wait();
    done
}

#[test]
fn kill_9_during_send_and_encryptwallet_loses_no_key() {
    let net = TempDir::new().unwrap();
    let n = Node::new(net.path(), "n");
    n.create_chain();
    let to = n.create_wallet();
    let mut rng = Lcg::from_time();
    println!("kill loop seed {}", rng.0);
    let mut known: Vec<String> = n.addresses();
    let mut finished = 0;
    for _ in 0..25 {
        let delay = Duration::from_micros(rng.range(0, 150_000));
        finished += usize::from(run_killed(
            &n,
            &["send", "--to", &to, "--amount", "1", "--mint"],
            delay,
        ));
        let w = Wallets::load(&n.wallet_path()).expect("wallet loads after kill -9");
        let now: Vec<String> = w.addresses().iter().map(ToString::to_string).collect();
        for a in &known {
            assert!(now.contains(a), "address {a} lost");
            assert!(w.key(&a.parse().unwrap()).is_some(), "key of {a} lost");
        }
        known = now;
    }
    println!("send kill loop: 25 runs, {finished} finished before the kill");
    let pass = net.path().join("pass");
    std::fs::write(&pass, "pw\n").unwrap();
    let mut tries = 0;
    loop {
        tries += 1;
        let delay = Duration::from_micros(rng.range(0, 40_000) * tries);
        run_killed(
            &n,
            &["encryptwallet", "--passphrase-file", pass.to_str().unwrap()],
            delay,
        );
        let mut w = Wallets::load(&n.wallet_path()).expect("wallet loads after kill -9");
        let now: Vec<String> = w.addresses().iter().map(ToString::to_string).collect();
        assert_eq!(now, known);
        if w.is_encrypted() {
            w.unlock(b"pw").expect("unlocks");
            for a in &known {
                assert!(w.key(&a.parse().unwrap()).is_some(), "key of {a} lost");
            }
            break;
        }
        assert!(tries < 60, "encryptwallet never finished");
    }
    println!("encryptwallet kill loop: {tries} runs");
}

/// `createwallet --json` prints its answer (with the seed phrase) before
/// the seed is saved: when the answer cannot be written (here standard
/// output is a pipe nobody reads), no seed is saved that nobody saw.
#[test]
fn createwallet_json_saves_no_seed_it_could_not_show() {
    let net = TempDir::new().unwrap();
    let n = Node::new(net.path(), "n");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    // A closed standard output ends the program quietly (as for `| head`):
    // its exit status says nothing here, the wallet file does.
    std::process::Command::new(support::bin())
        .args(["--datadir", net.path().to_str().unwrap()])
        .args(["--port", &n.port.to_string(), "createwallet", "--json"])
        .env_remove("NODE_ID")
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .output()
        .unwrap();
    assert!(
        n.addresses().is_empty(),
        "a seed was saved but its phrase never shown"
    );
    // With standard output readable, the answer names the first address.
    let j = json(&n, &["createwallet"]);
    assert_eq!(j["created"], true);
    assert_eq!(j["mnemonic"].as_str().unwrap().split(' ').count(), 12);
    assert_eq!(
        n.addresses(),
        vec![j["address"].as_str().unwrap().to_string()]
    );
}

#[test]
fn send_follows_the_exit_codes_and_createrawtransaction_builds_as_send_does() {
    let net = TempDir::new().unwrap();
    let n = Node::new(net.path(), "n");
    let a = n.create_chain();
    let b = n.create_wallet();
    let bytes = std::fs::read(n.wallet_path()).unwrap();
    // No node running, neither --seed nor --mint: exit 3 before anything
    // is built or locked.
    let e = fails_with(&n, &["send", "--to", &b, "--amount", "1", "--json"], 3);
    let v: Value = serde_json::from_str(e.trim()).expect("a JSON error");
    assert_eq!(v["code"], "not_running");
    assert_eq!(std::fs::read(n.wallet_path()).unwrap(), bytes);
    // Wallet reads on a port without a node: exit 3, nothing created.
    let ghost = Node::at(net.path(), free_port());
    for args in [&["getbalance"][..], &["listunspent"], &["listtransactions"]] {
        let e = fails_with(&ghost, args, 3);
        assert!(e.contains("--datadir"), "{e}");
    }
    assert!(!ghost.dir().exists(), "a wallet read created the node");
    // Bad input: exit 2.
    fails_with(&n, &["send", "--to", "nope", "--amount", "1", "--mint"], 2);
    fails_with(&n, &["send", "--to", &b, "--amount", "0", "--mint"], 2);

    // createrawtransaction: the whole wallet's coins, change to a new
    // change address, nothing recorded as pending.
    let hex = n.ok(&["createrawtransaction", "--to", &b, "--amount", "3"]);
    let tx: Value = serde_json::from_str(&n.ok(&["decoderawtransaction", &hex])).unwrap();
    let outs = tx["vout"].as_array().unwrap();
    assert_eq!(outs.len(), 2, "{tx}");
    let paid = outs.iter().find(|o| o["value"] == 3).expect("the payment");
    assert_eq!(paid["scriptpubkey_address"], b.as_str());
    let change = outs.iter().find(|o| o["value"] == 17).expect("the change");
    let change = change["scriptpubkey_address"].as_str().unwrap().to_string();
    assert!(
        change != a && change != b,
        "change went back to a used address"
    );
    assert!(n.addresses().contains(&change), "change outside the wallet");
    let w = Wallets::load(&n.wallet_path()).unwrap();
    assert!(w.pending().is_empty(), "createrawtransaction locked coins");
    // With --from, change goes back to it.
    let hex = n.ok(&[
        "createrawtransaction",
        "--from",
        &a,
        "--to",
        &b,
        "--amount",
        "3",
    ]);
    let tx: Value = serde_json::from_str(&n.ok(&["decoderawtransaction", &hex])).unwrap();
    assert!(
        tx["vout"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["value"] == 17 && o["scriptpubkey_address"] == a.as_str()),
        "{tx}"
    );
}
