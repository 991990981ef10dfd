//! One schema, through the command line and HTTP as a script uses them:
//! every `--json` read command prints the API's body byte for byte (on a
//! running node, and on the stopped node for what the store alone knows),
//! errors under `--json` are one JSON line with a stable `code`, every
//! exit code of the table comes back where documented, and a payment
//! built by `createrawtransaction` round-trips through `POST /api/tx` and
//! `GET /api/tx/:txid/hex`.

mod support;

use serde_json::Value;
use support::http::{get_json, http, http_get};
use support::*;
use tempfile::TempDir;

/// `node ARGS` under `--json`: (exit code, stdout, stderr).
fn run(node: &Node, args: &[&str]) -> (i32, String, String) {
    let out = node.run(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The CLI's stdout of `args`, which must succeed, without its newline.
fn cli(node: &Node, args: &[&str]) -> String {
    let (code, out, err) = run(node, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out.strip_suffix('\n').unwrap_or(&out).to_string()
}

/// The API's 200 body of `path`.
fn api(port: u16, path: &str) -> String {
    let (status, body) = http_get(port, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Asserts exit `code` with one JSON error line naming `name` on stderr.
fn json_error(node: &Node, args: &[&str], code: i32, name: &str) {
    let (got, out, err) = run(node, args);
    assert_eq!(got, code, "{args:?}: exit {got}, stderr {err}");
    assert!(out.is_empty(), "{args:?} printed {out}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    let v: Value =
        serde_json::from_str(err.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {err}"));
    assert_eq!(v["code"], name, "{args:?}: {err}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{err}");
}

#[test]
fn every_json_read_prints_the_api_body_and_every_exit_code_is_as_documented() {
    let tmp = TempDir::new().unwrap();
    let mut node = Node::new(tmp.path(), "n");
    let g = node.create_chain();
    let payee = node.create_wallet();
    let paid = node.mint_send(&g, &payee, 3);
    let tip = cli(&node, &["getblock", "1", "--json"]);
    let tip: Value = serde_json::from_str(&tip).unwrap();
    let tip = tip["id"].as_str().unwrap().to_string();
    let zero = "0".repeat(64);

    // The stopped node: what only its store knows, and the errors.
    let stopped: Vec<(Vec<&str>, String)> = vec![
        (vec!["getblock", "1", "--json"], format!("/api/block/{tip}")),
        (
            vec!["getblock", &tip, "--json"],
            format!("/api/block/{tip}"),
        ),
        (vec!["gettx", &paid, "--json"], format!("/api/tx/{paid}")),
        (
            vec!["listunspent", "--address", &payee, "--json"],
            format!("/api/address/{payee}/utxo"),
        ),
        (
            vec!["getbalance", "--address", &payee, "--json"],
            format!("/api/address/{payee}"),
        ),
    ];
    let before: Vec<String> = stopped.iter().map(|(a, _)| cli(&node, a)).collect();
    json_error(&node, &["gettx", &zero, "--json"], 4, "not_found");
    json_error(&node, &["getblock", "9", "--json"], 4, "not_found");
    json_error(&node, &["getblock", "zz", "--json"], 2, "usage");
    json_error(&node, &["peers", "--json"], 3, "not_running");
    json_error(&node, &["mempool", "--json"], 3, "not_running");
    json_error(
        &node,
        &["getbalance", "--address", "1111", "--json"],
        2,
        "usage",
    );
    json_error(&node, &["status", "--no-such-flag", "--json"], 2, "usage");
    // No node directory on that port: exit 3, and nothing is created.
    let ghost = Node::at(tmp.path(), free_port());
    json_error(&ghost, &["status", "--json"], 3, "not_running");
    assert!(!ghost.dir().exists());
    // No node to take a transaction: exit 3.
    let raw = cli(
        &node,
        &[
            "createrawtransaction",
            "--from",
            &payee,
            "--to",
            &g,
            "--amount",
            "1",
        ],
    );
    json_error(
        &node,
        &["sendrawtransaction", &raw, "--json"],
        3,
        "not_running",
    );
    // Text errors keep one line and the same codes.
    let (code, _, err) = run(&node, &["gettx", &zero]);
    assert_eq!(code, 4, "{err}");
    assert!(err.starts_with("error: "), "{err}");

    let port = free_port();
    let http_addr = format!("127.0.0.1:{port}");
    node.start_central(&[
        "--minter",
        &g,
        "--mint-threshold",
        "100",
        "--http",
        &http_addr,
    ]);
    wait_for(WAIT, "the HTTP API", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    // What the store gave while stopped is what the running API gives.
    for ((args, path), text) in stopped.iter().zip(&before) {
        assert_eq!(text, &api(port, path), "{args:?} stopped vs GET {path}");
    }

    // createrawtransaction + POST /api/tx, read back as hex.
    let (status, txid) = http(
        port,
        "POST",
        "/api/tx",
        &[("Content-Type", "text/plain")],
        &raw,
    );
    assert_eq!(status, 200, "{txid}");
    assert_eq!(api(port, &format!("/api/tx/{txid}/hex")), raw);
    // decoderawtransaction: the API's transaction, minus what the hex
    // cannot say (spent outputs, fee, place).
    let decoded: Value =
        serde_json::from_str(&cli(&node, &["decoderawtransaction", &raw])).unwrap();
    let served: Value = serde_json::from_str(&api(port, &format!("/api/tx/{txid}"))).unwrap();
    assert_eq!(decoded["txid"], served["txid"]);
    assert_eq!(decoded["vout"], served["vout"]);
    assert_eq!(decoded["size"], served["size"]);
    assert_eq!(decoded["vin"][0]["sequence"], 4294967295u64);
    assert_eq!(served["vout"][0]["scriptpubkey_type"], "p2pkh");
    // The same payment again is refused by the node: exit 5.
    json_error(
        &node,
        &["sendrawtransaction", &raw, "--json"],
        5,
        "rejected",
    );

    // Every read command against the running node: the API's bytes.
    let running: Vec<(Vec<&str>, String)> = vec![
        (vec!["status", "--json"], "/api/node/status".to_string()),
        (vec!["peers", "--json"], "/api/node/peers".to_string()),
        (vec!["mempool", "--json"], "/api/node/mempool".to_string()),
        (vec!["getblock", "1", "--json"], format!("/api/block/{tip}")),
        (
            vec!["getblock", "0", "--json"],
            format!("/api/block/{}", api(port, "/api/block-height/0")),
        ),
        (vec!["gettx", &paid, "--json"], format!("/api/tx/{paid}")),
        (vec!["gettx", &txid, "--json"], format!("/api/tx/{txid}")),
        (
            vec!["listunspent", "--address", &payee, "--json"],
            format!("/api/address/{payee}/utxo"),
        ),
        (
            vec!["getbalance", "--address", &g, "--json"],
            format!("/api/address/{g}"),
        ),
    ];
    for (args, path) in &running {
        let from_cli = cli(&node, args);
        let mut from_api = api(port, path);
        if args[0] == "status" {
            // The one field that moves between two calls.
            let strip = |s: &str| {
                let mut v: Value = serde_json::from_str(s).unwrap();
                v["uptime_s"] = Value::Null;
                v
            };
            assert_eq!(strip(&from_cli), strip(&from_api), "{args:?}");
            from_api = from_cli.clone();
        }
        assert_eq!(from_cli, from_api, "{args:?} vs GET {path}");
    }
    let status: Value = serde_json::from_str(&cli(&node, &["status", "--json"])).unwrap();
    assert_eq!(
        (
            status["running"].as_bool(),
            status["mempool"]["count"].as_u64()
        ),
        (Some(true), Some(1))
    );
    json_error(&node, &["gettx", &zero, "--json"], 4, "not_found");
    // A node with an empty mempool to mint: refused, exit 5.
    let (code, _, err) = run(&node, &["mint"]);
    assert_eq!(code, 0, "{err}");
    wait_for(WAIT, "the mint", || {
        get_json(port, "/api/mempool")["count"] == 0
    });
    let (code, _, err) = run(&node, &["mint"]);
    assert_eq!(code, 5, "{err}");
    node.stop();
}

#[test]
fn a_read_polled_while_the_node_starts_answers_instead_of_waiting_for_the_lock() {
    let tmp = TempDir::new().unwrap();
    let node = Node::new(tmp.path(), "n");
    node.create_chain();
    let mut child = std::process::Command::new(bin())
        .arg("--datadir")
        .arg(tmp.path())
        .args([
            "--port",
            &node.port.to_string(),
            "startnode",
            "--http",
            "off",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // From the first moment: every poll answers (from the store before the
    // node takes it, from the node once its control socket is up), none
    // fails on the database the starting node holds.
    let mut answers = Vec::new();
    while answers.last() != Some(&true) {
        let (code, out, err) = run(&node, &["status", "--json"]);
        assert_eq!(code, 0, "status while the node starts: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["height"], 0);
        answers.push(v["running"] == true);
        assert!(answers.len() < 1000, "the node never answered");
    }
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn startnode_reads_its_config_file_and_flags_override_it() {
    let tmp = TempDir::new().unwrap();
    let mut node = Node::new(tmp.path(), "n");
    let g = node.create_chain();
    let port = free_port();
    std::fs::write(
        node.dir().join("sledchain.toml"),
        format!(
            "minter = \"{g}\"\nmint_threshold = 7\nhttp = \"127.0.0.1:{port}\"\nseed = [\"{}\"]\nmax-inbound = 9\n",
            node.addr()
        ),
    )
    .unwrap();
    // The file's HTTP address (the harness adds --http only when asked).
    node.start(&[
        "--mint-threshold",
        "5",
        "--http",
        &format!("127.0.0.1:{port}"),
    ]);
    wait_for(WAIT, "the HTTP API", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let status = get_json(port, "/api/node/status");
    assert_eq!(status["minter"], g.as_str(), "from the file");
    assert_eq!(status["mint_threshold"], 5, "the flag wins");

    // Below the mint threshold, --confirmations reports its progress and
    // gives up at --timeout instead of waiting silently for ever.
    let (code, out, err) = run(
        &node,
        &[
            "send",
            "--from",
            &g,
            "--to",
            &g,
            "--amount",
            "1",
            "--confirmations",
            "1",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("txid: "), "{out}");
    assert!(err.contains("0 confirmations of 1, waiting"), "{err}");
    assert!(err.contains("gave up after 1 s"), "{err}");
    node.stop();

    // --config FILE, and an unknown option is a usage error naming it.
    let other = tmp.path().join("other.toml");
    std::fs::write(&other, "no-such-option = 1\n").unwrap();
    let (code, _, err) = run(&node, &["startnode", "--config", other.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no-such-option") && err.contains("other.toml"),
        "{err}"
    );
}

#[test]
fn the_program_is_also_installed_as_sledchain() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sledchain"))
        .args(["decoderawtransaction", "zz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["code"], "usage");
}
