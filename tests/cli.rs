//! The `node` binary run as a user would, each test in its own temporary
//! data directory, with the node stopped (commands work on the store
//! directly).

mod support;

use serde_json::Value;
use support::{Node, is_hash};
use tempfile::TempDir;

const DIFFICULTY: &str = "8";

/// Node 3000 of `dir`.
fn node(dir: &TempDir) -> Node {
    Node::at(dir.path(), 3000)
}

/// Runs and returns stdout, failing with stderr if the command fails.
fn ok(dir: &TempDir, args: &[&str]) -> String {
    node(dir).stdout(args)
}

/// Runs a command that must fail: non-zero exit, nothing on stdout, exactly
/// one line on stderr, no panic or backtrace. Returns that line.
fn fails(dir: &TempDir, args: &[&str]) -> String {
    let out = node(dir).run(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "node {args:?} succeeded");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        !stderr.contains("panicked") && !stderr.to_lowercase().contains("backtrace"),
        "node {args:?}: {stderr}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "node {args:?} should print one line: {stderr:?}"
    );
    assert!(out.stdout.is_empty(), "node {args:?} printed to stdout");
    stderr.trim_end().to_string()
}

fn new_address(dir: &TempDir) -> String {
    node(dir).create_wallet()
}

fn balance(dir: &TempDir, addr: &str) -> u64 {
    node(dir).balance(addr)
}

/// A wallet with addresses A and B and a chain whose genesis pays A.
/// Returns (dir, A, B, genesis hash).
fn with_chain() -> (TempDir, String, String, String) {
    let dir = TempDir::new().unwrap();
    let a = new_address(&dir);
    let b = new_address(&dir);
    let genesis = node(&dir).create_blockchain(&a, DIFFICULTY);
    (dir, a, b, genesis)
}

fn send_mint(dir: &TempDir, from: &str, to: &str, amount: u64, fee: u64) -> String {
    node(dir).mint_send_fee(from, to, amount, fee)
}

#[test]
fn createwallet_and_listaddresses() {
    let dir = TempDir::new().unwrap();
    // No node yet on this port: an error naming the directory (exit 3),
    // not an empty list, and nothing is created.
    let e = fails(&dir, &["listaddresses"]);
    assert!(
        e.contains("does not exist") && e.contains("--datadir"),
        "{e}"
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    let a = new_address(&dir);
    let b = new_address(&dir);
    assert_ne!(a, b);
    let listed: Vec<String> = ok(&dir, &["listaddresses"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&a) && listed.contains(&b));
    // Another port is another node with its own wallet (none yet).
    let other = Node::at(dir.path(), 3001).run(&["listaddresses"]);
    assert_eq!(other.status.code(), Some(3));
    assert!(other.stdout.is_empty());
}

#[test]
fn createblockchain_pays_genesis_and_refuses_a_second_chain() {
    let (dir, a, b, genesis) = with_chain();
    assert_eq!(balance(&dir, &a), 20);
    assert_eq!(balance(&dir, &b), 0);
    let status = ok(&dir, &["status"]);
    assert_eq!(
        status.trim_end(),
        format!(
            "height: 0\ntip: {genesis}\ngenesis: {genesis}\ndifficulty: 8 leading zero bits\nrunning: no\nmempool: 0 transactions (0 bytes)\npeers: 0"
        )
    );
    let err = fails(
        &dir,
        &[
            "createblockchain",
            "--address",
            &b,
            "--difficulty",
            DIFFICULTY,
        ],
    );
    assert!(err.contains("chain exists"), "{err}");
    // Nothing changed.
    assert_eq!(balance(&dir, &a), 20);
    assert_eq!(balance(&dir, &b), 0);
    assert!(ok(&dir, &["status"]).contains(&genesis));
}

#[test]
fn send_mint_moves_balances_and_pays_the_fee_to_the_minter() {
    let (dir, a, b, genesis) = with_chain();
    let txid = send_mint(&dir, &a, &b, 5, 2);
    // A: 20 - 5 - 2 change, plus a coinbase of 20 + 2 fee.
    assert_eq!(balance(&dir, &a), 13 + 22);
    assert_eq!(balance(&dir, &b), 5);
    let txid2 = send_mint(&dir, &b, &a, 4, 0);
    assert_ne!(txid, txid2);
    assert_eq!(balance(&dir, &b), 1 + 20);
    assert_eq!(balance(&dir, &a), 35 + 4);
    // A balance for an address outside the wallet works too.
    let dir2 = TempDir::new().unwrap();
    let c = new_address(&dir2);
    assert_eq!(balance(&dir, &c), 0);
    send_mint(&dir, &a, &c, 10, 1);
    assert_eq!(balance(&dir, &c), 10);
    assert_eq!(
        balance(&dir, &a) + balance(&dir, &b) + balance(&dir, &c),
        80
    );

    let status = ok(&dir, &["status"]);
    let lines: Vec<&str> = status.lines().collect();
    assert_eq!(lines[0], "height: 3");
    assert!(lines[1].starts_with("tip: ") && is_hash(&lines[1][5..]));
    assert_ne!(&lines[1][5..], genesis);
    assert_eq!(lines[2], format!("genesis: {genesis}"));
    assert_eq!(
        lines[4..],
        [
            "running: no",
            "mempool: 0 transactions (0 bytes)",
            "peers: 0"
        ]
    );
    assert_eq!(ok(&dir, &["checkchain"]).trim_end(), "OK");
}

#[test]
fn printchain_text_and_json_newest_first() {
    let (dir, a, b, genesis) = with_chain();
    let txid = send_mint(&dir, &a, &b, 7, 1);
    let status = ok(&dir, &["status"]);
    let tip = status
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("tip: ")
        .unwrap();

    let text = ok(&dir, &["printchain"]);
    assert!(
        text.starts_with(&format!("============ Block {tip} ============")),
        "{text}"
    );
    let h1 = text.find("Height: 1").expect("block 1 printed");
    let h0 = text.find("Height: 0").expect("genesis printed");
    assert!(h1 < h0, "newest first");
    assert!(text.contains(&format!("============ Block {genesis} ============")));
    assert!(text.contains(&format!("--- Transaction {txid}")));
    assert!(text.contains("(coinbase)"));
    // The status recorded at connect time; signatures are not re-verified.
    assert_eq!(text.matches("Status: valid\n").count(), 2, "{text}");
    assert!(!text.contains("signature"), "{text}");
    assert!(text.contains(&format!("7 coins to {b}")));
    let verified = ok(&dir, &["printchain", "--verify"]);
    assert_eq!(verified.matches("signature OK").count(), 1, "{verified}");
    assert!(!verified.contains("INVALID") && !verified.contains("no undo data"));
    assert_eq!(
        verified.replace(" signature OK", ""),
        text,
        "--verify only adds the per-input result"
    );

    let json: Value = serde_json::from_str(&ok(&dir, &["printchain", "--json"])).unwrap();
    let blocks = json.as_array().expect("a JSON array");
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0]["hash"], tip);
    assert_eq!(blocks[0]["height"], 1);
    assert_eq!(blocks[0]["prev_block_hash"], genesis.as_str());
    assert_eq!(blocks[1]["hash"], genesis.as_str());
    assert_eq!(blocks[1]["height"], 0);
    assert_eq!(blocks[1]["prev_block_hash"], "0".repeat(64));
    for blk in blocks {
        for field in ["timestamp", "nonce"] {
            assert!(blk[field].is_u64(), "{field}");
        }
        assert_eq!(blk["bits"], 8);
        assert_eq!(blk["pow_valid"], true);
        assert_eq!(blk["status"], "valid");
        let txs = blk["transactions"].as_array().unwrap();
        assert_eq!(txs[0]["coinbase"], true);
        for tx in txs {
            assert!(is_hash(tx["txid"].as_str().unwrap()));
            assert!(tx["inputs"].is_array() && tx["outputs"].is_array());
        }
    }
    let txs = blocks[0]["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[0]["outputs"][0]["value"], 21, "subsidy + fee");
    assert_eq!(txs[0]["outputs"][0]["address"], a.as_str());
    let pay = &txs[1];
    assert_eq!(pay["txid"], txid.as_str());
    assert_eq!(pay["coinbase"], false);
    let input = &pay["inputs"][0];
    assert!(
        input.get("signature_ok").is_none(),
        "only --verify checks signatures"
    );
    let verified: Value =
        serde_json::from_str(&ok(&dir, &["printchain", "--json", "--verify"])).unwrap();
    let vpay = &verified[0]["transactions"][1];
    assert_eq!(vpay["txid"], txid.as_str());
    assert_eq!(vpay["inputs"][0]["signature_ok"], true);
    assert_eq!(
        verified[1]["transactions"][0]["inputs"][0]["signature_ok"],
        Value::Null,
        "coinbase input"
    );
    assert!(
        input["prev_out"]
            .as_str()
            .unwrap()
            .contains(blocks[1]["transactions"][0]["txid"].as_str().unwrap())
    );
    assert!(input["pubkey"].is_string());
    let outs = pay["outputs"].as_array().unwrap();
    assert_eq!(outs[0]["value"], 7);
    assert_eq!(outs[0]["address"], b.as_str());
    assert_eq!(outs[1]["value"], 12);
    assert_eq!(outs[1]["address"], a.as_str());
}

#[test]
fn reindexutxo_prints_counts_and_keeps_balances() {
    let (dir, a, b, _) = with_chain();
    send_mint(&dir, &a, &b, 5, 0);
    send_mint(&dir, &b, &a, 2, 1);
    let before = (balance(&dir, &a), balance(&dir, &b));
    let out = ok(&dir, &["reindexutxo"]);
    // Genesis coinbase spent; block 1: coinbase + payment (2 outputs);
    // block 2: coinbase + payment (2 outputs), which spent block 1's output to B.
    assert_eq!(
        out.trim_end(),
        "Done! There are 4 transactions with 5 unspent outputs in the UTXO set."
    );
    assert_eq!((balance(&dir, &a), balance(&dir, &b)), before);
    assert_eq!(before, (15 + 20 + 2, 2 + 21));
    assert_eq!(ok(&dir, &["checkchain"]).trim_end(), "OK");
    // Running it twice changes nothing.
    assert_eq!(ok(&dir, &["reindexutxo"]), out);
    assert_eq!((balance(&dir, &a), balance(&dir, &b)), before);
}

#[test]
fn checkchain_on_a_fresh_chain_is_ok() {
    let (dir, ..) = with_chain();
    assert_eq!(ok(&dir, &["checkchain"]), "OK\n");
}

#[test]
fn errors_are_one_line_without_panics() {
    let (dir, a, b, _) = with_chain();
    let other = TempDir::new().unwrap();
    let foreign = new_address(&other);

    let e = fails(&dir, &["getbalance", "--address", "not-an-address"]);
    assert!(e.contains("invalid address"), "{e}");
    let e = fails(
        &dir,
        &[
            "send", "--from", &a, "--to", "1111", "--amount", "1", "--mint",
        ],
    );
    assert!(e.contains("invalid address"), "{e}");
    // A valid address with a broken checksum.
    let mut bad = a.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == '2' { '3' } else { '2' });
    let e = fails(&dir, &["getbalance", "--address", &bad]);
    assert!(e.contains("invalid address"), "{e}");

    let e = fails(
        &dir,
        &[
            "send", "--from", &foreign, "--to", &a, "--amount", "1", "--mint",
        ],
    );
    assert!(e.contains("not in this node's wallet"), "{e}");

    let e = fails(
        &dir,
        &[
            "send", "--from", &a, "--to", &b, "--amount", "1000", "--mint",
        ],
    );
    assert!(e.contains("insufficient funds"), "{e}");
    assert!(e.contains("20 available"), "{e}");
    let e = fails(
        &dir,
        &[
            "send", "--from", &a, "--to", &b, "--amount", "19", "--fee", "2", "--mint",
        ],
    );
    assert!(e.contains("20 available"), "{e}");
    let e = fails(
        &dir,
        &["send", "--from", &b, "--to", &a, "--amount", "1", "--mint"],
    );
    assert!(e.contains("0 available"), "{e}");

    let e = fails(
        &dir,
        &["send", "--from", &a, "--to", &b, "--amount", "0", "--mint"],
    );
    assert!(e.contains("amount"), "{e}");

    let e = fails(
        &dir,
        &["createblockchain", "--address", &a, "--difficulty", "8"],
    );
    assert!(e.contains("chain exists"), "{e}");

    // Nothing above changed the chain.
    assert_eq!(balance(&dir, &a), 20);
    assert_eq!(ok(&dir, &["status"]).lines().next(), Some("height: 0"));

    // No seed node to send to.
    let e = fails(
        &dir,
        &[
            "send",
            "--from",
            &a,
            "--to",
            &b,
            "--amount",
            "1",
            "--seed",
            "127.0.0.1:1",
        ],
    );
    assert!(e.contains("127.0.0.1:1"), "{e}");
}

#[test]
fn commands_without_a_chain_say_so() {
    let dir = TempDir::new().unwrap();
    let a = new_address(&dir);
    let b = new_address(&dir);
    for args in [
        vec!["getbalance", "--address", &a],
        vec!["printchain"],
        vec!["printchain", "--json"],
        vec!["reindexutxo"],
        vec!["checkchain"],
        vec!["send", "--from", &a, "--to", &b, "--amount", "1", "--mint"],
    ] {
        let e = fails(&dir, &args);
        assert!(e.contains("no chain yet"), "{args:?}: {e}");
    }
    // `status` reports the missing chain, and no command above made one.
    assert!(ok(&dir, &["status"]).starts_with("height: none (no chain yet)\n"));
    assert!(!node(&dir).dir().join("chain").exists());
}

#[test]
fn difficulty_out_of_range_is_refused() {
    let dir = TempDir::new().unwrap();
    let a = new_address(&dir);
    for d in ["0", "65", "1000"] {
        let e = fails(
            &dir,
            &["createblockchain", "--address", &a, "--difficulty", d],
        );
        assert!(e.contains("difficulty"), "{d}: {e}");
    }
    // Nothing was created.
    assert!(ok(&dir, &["status"]).starts_with("height: none (no chain yet)\n"));
}

#[test]
fn help_describes_every_command_and_flag() {
    let dir = TempDir::new().unwrap();
    let top = ok(&dir, &["--help"]);
    for cmd in [
        "createwallet",
        "listaddresses",
        "createblockchain",
        "getbalance",
        "send",
        "printchain",
        "reindexutxo",
        "checkchain",
        "status",
        "startnode",
    ] {
        assert!(top.contains(cmd), "--help lists {cmd}");
    }
    for flag in ["--port", "--datadir", "--cache-mb"] {
        assert!(top.contains(flag), "--help shows {flag}");
    }
    // The exit code table.
    for code in [
        "0  success",
        "2  usage",
        "3  not_running",
        "4  not_found",
        "5  rejected",
    ] {
        assert!(top.contains(code), "--help lists exit {code}: {top}");
    }
    let cases: &[(&str, &[&str])] = &[
        ("createwallet", &[]),
        ("listaddresses", &[]),
        ("createblockchain", &["--address", "--difficulty"]),
        ("getbalance", &["--address"]),
        (
            "send",
            &["--from", "--to", "--amount", "--fee", "--mint", "--seed"],
        ),
        ("printchain", &["--json", "--verify"]),
        ("reindexutxo", &[]),
        ("checkchain", &[]),
        ("status", &[]),
        (
            "startnode",
            &[
                "--minter",
                "--seed",
                "--bind",
                "--external-addr",
                "--mint-threshold",
            ],
        ),
    ];
    for (cmd, flags) in cases {
        let out = ok(&dir, &[cmd, "--help"]);
        assert!(out.contains("Usage:"), "{cmd} --help: {out}");
        for flag in ["--port", "--datadir"].iter().chain(flags.iter()) {
            assert!(out.contains(flag), "{cmd} --help mentions {flag}: {out}");
        }
        // Each flag line carries a description, not only the name.
        for flag in *flags {
            let line = out
                .lines()
                .find(|l| l.trim_start().starts_with(flag))
                .unwrap_or_else(|| panic!("{cmd} --help has a line for {flag}"));
            let described = line.split_whitespace().count() > 2
                || out
                    .lines()
                    .skip_while(|l| !l.trim_start().starts_with(flag))
                    .nth(1)
                    .is_some_and(|next| !next.trim().is_empty());
            assert!(described, "{cmd} {flag} is described: {out}");
        }
    }
    // No data directory is needed, nor created, for help.
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}
