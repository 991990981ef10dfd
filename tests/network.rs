//! Multi-node tests: real `node` processes on loopback, each on a free port
//! with its data in a temporary directory. Nodes are stopped with signals and
//! killed when a test fails; a failing test prints the tails of their logs.

use std::collections::HashSet;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Proof-of-work difficulty of every test chain (1 in 256 hashes).
const DIFFICULTY: &str = "8";
/// Longest wait for a condition that should hold within a second or two.
const WAIT: Duration = Duration::from_secs(30);
/// Coins a block pays its minter (no fees in these tests).
const SUBSIDY: u64 = 20;

// ---------------------------------------------------------------- harness

fn node_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_node"))
}

/// The `genchain` example, built on first use if missing.
fn genchain_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let bin = root.join("target/debug/examples/genchain");
        if !bin.exists() {
            let st = Command::new(env!("CARGO"))
                .args(["build", "--example", "genchain"])
                .current_dir(root)
                .status()
                .expect("run cargo build --example genchain");
            assert!(st.success(), "cargo build --example genchain failed");
        }
        bin
    })
    .clone()
}

/// A port nobody listens on, never handed out twice by this process.
fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind an ephemeral port")
            .port();
        if given.insert(port) {
            return port;
        }
    }
}

/// Polls `cond` every 100 ms until it holds; panics after `timeout`.
fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The fields of `node status`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Status {
    height: u64,
    tip: String,
    mempool: usize,
    peers: usize,
}

fn parse_status(text: &str) -> Option<Status> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    Some(Status {
        height: field("height:")?.parse().ok()?,
        tip: field("tip:")?,
        mempool: field("mempool:")?.parse().ok()?,
        peers: field("peers:")?.parse().ok()?,
    })
}

/// One node: its port in a shared data directory, and its process while it runs.
struct Node {
    name: &'static str,
    port: u16,
    datadir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn new(net: &TempDir, name: &'static str) -> Node {
        Node {
            name,
            port: free_port(),
            datadir: net.path().to_path_buf(),
            log: net.path().join(format!("{name}.log")),
            child: None,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn control(&self) -> PathBuf {
        self.datadir
            .join(self.port.to_string())
            .join("control.sock")
    }

    /// Runs `node --datadir D --port P ARGS...` to completion.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(node_bin())
            .arg("--datadir")
            .arg(&self.datadir)
            .arg("--port")
            .arg(self.port.to_string())
            .args(args)
            .env_remove("NODE_ID")
            .output()
            .expect("run node")
    }

    /// Runs a command that must succeed; returns its trimmed stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} `{}` failed: {}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8 output")
            .trim_end()
            .to_string()
    }

    fn status(&self) -> Option<Status> {
        let out = self.run(&["status"]);
        if !out.status.success() {
            return None;
        }
        parse_status(&String::from_utf8_lossy(&out.stdout))
    }

    fn height(&self) -> Option<u64> {
        self.status().map(|s| s.height)
    }

    fn balance(&self, addr: &str) -> u64 {
        let text = self.ok(&["getbalance", "--address", addr]);
        text.rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("bad getbalance output: {text}"))
    }

    fn create_wallet(&self) -> String {
        self.ok(&["createwallet"])
    }

    /// A new chain whose genesis pays a new key of this node; returns that address.
    fn create_chain(&self) -> String {
        let addr = self.create_wallet();
        self.ok(&[
            "createblockchain",
            "--address",
            &addr,
            "--difficulty",
            DIFFICULTY,
        ]);
        addr
    }

    /// Mints a block here (node stopped) holding a payment of `amount`.
    fn mint_send(&self, from: &str, to: &str, amount: u64) {
        self.ok(&[
            "send",
            "--from",
            from,
            "--to",
            to,
            "--amount",
            &amount.to_string(),
            "--mint",
        ]);
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Starts `startnode` with `--seed seed` and `extra` flags and waits for
    /// its control socket.
    fn start(&mut self, seed: &str, extra: &[&str]) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let child = Command::new(node_bin())
            .arg("--datadir")
            .arg(&self.datadir)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["startnode", "--seed", seed])
            .args(extra)
            .env_remove("NODE_ID")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn node");
        self.child = Some(child);
        let sock = self.control();
        let name = self.name;
        wait_until(WAIT, &format!("{name} to open its control socket"), || {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("{name} exited at start with {st}");
            }
            std::os::unix::net::UnixStream::connect(&sock).is_ok()
        });
    }

    /// Starts a node that is its own seed (the central node).
    fn start_central(&mut self, extra: &[&str]) {
        let me = self.addr();
        self.start(&me, extra);
    }

    /// Sends `signal` (`INT`, `TERM`) and waits up to `timeout` for the exit.
    fn stop_with(&mut self, signal: &str, timeout: Duration) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("node is running");
        let start = Instant::now();
        let st = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{signal} {} failed", child.id());
        loop {
            if let Some(st) = child.try_wait().expect("wait for node") {
                return (st, start.elapsed());
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not exit within {timeout:?} of SIG{signal}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops with SIGINT and asserts a clean exit.
    fn stop(&mut self) {
        let (st, _) = self.stop_with("INT", Duration::from_secs(10));
        assert!(st.success(), "{} exited with {st}", self.name);
    }

    fn wait_height(&self, height: u64) {
        wait_until(
            WAIT,
            &format!("{} to reach height {height}", self.name),
            || self.height() == Some(height),
        );
    }

    fn wait_log(&self, needle: &str) {
        wait_until(WAIT, &format!("{} to log {needle:?}", self.name), || {
            self.log_text().contains(needle)
        });
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let text = self.log_text();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "--- {} (port {}) log tail ---\n{}",
                self.name,
                self.port,
                lines[lines.len().saturating_sub(30)..].join("\n")
            );
        }
    }
}

/// Waits until every node is at `height` with one tip; returns the tip.
fn wait_same_tip(nodes: &[&Node], height: u64) -> String {
    for n in nodes {
        n.wait_height(height);
    }
    let tips: Vec<String> = nodes
        .iter()
        .map(|n| n.status().expect("status").tip)
        .collect();
    assert!(
        tips.iter().all(|t| *t == tips[0]),
        "tips differ at height {height}: {tips:?}"
    );
    tips[0].clone()
}

// ---------------------------------------------------------------- tests

#[test]
fn fresh_node_syncs_whole_chain_from_seed() {
    let net = TempDir::new().unwrap();
    let mut seed = Node::new(&net, "seed");
    let mut fresh = Node::new(&net, "fresh");
    let g = seed.create_chain();
    let w = seed.create_wallet();
    seed.mint_send(&g, &w, 5);
    seed.mint_send(&g, &w, 6);
    let want = seed.status().unwrap();
    assert_eq!(want.height, 2);
    seed.start_central(&[]);
    assert!(fresh.status().is_none(), "the fresh node has no chain yet");
    fresh.start(&seed.addr(), &[]);
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
    let mut seed = Node::new(&net, "seed");
    let mut peer = Node::new(&net, "peer");
    let g = seed.create_chain();
    let w = peer.create_wallet();
    seed.mint_send(&g, &w, 3);
    seed.start_central(&[]);
    peer.start(&seed.addr(), &[]);
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
    peer.start(&seed.addr(), &[]);
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
    let mut central = Node::new(&net, "central");
    let mut wallet = Node::new(&net, "wallet");
    let mut minter = Node::new(&net, "minter");
    let g = central.create_chain();
    let w1 = wallet.create_wallet();
    let w2 = wallet.create_wallet();
    let w3 = wallet.create_wallet();
    let w4 = wallet.create_wallet();
    central.mint_send(&g, &w1, 10);
    central.mint_send(&g, &w2, 10);
    let m = minter.create_wallet();
    central.start_central(&[]);
    wallet.start(&central.addr(), &[]);
    minter.start(&central.addr(), &["--minter", &m]);
    wait_same_tip(&[&central, &wallet, &minter], 2);
    wait_until(WAIT, "both nodes to connect to the central node", || {
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
    let mut node = Node::new(&net, "minter");
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
    let st = node.status().unwrap();
    assert_eq!(st.mempool, 0);
    assert_eq!(node.balance(&m), SUBSIDY + 2);
    node.stop();
}

#[test]
fn two_sends_in_a_row_spend_unconfirmed_change_and_both_get_mined() {
    let net = TempDir::new().unwrap();
    let mut central = Node::new(&net, "central");
    let mut minter = Node::new(&net, "minter");
    // The genesis coin (20) is the only coin of `g`: the second payment can
    // only be funded by the first one's change.
    let g = central.create_chain();
    let b = central.create_wallet();
    let c = central.create_wallet();
    let m = minter.create_wallet();
    central.start_central(&[]);
    minter.start(&central.addr(), &["--minter", &m, "--mint-threshold", "2"]);
    wait_same_tip(&[&central, &minter], 0);
    wait_until(WAIT, "the minter to connect", || {
        central.status().is_some_and(|s| s.peers >= 1)
    });

    let t1 = central.ok(&["send", "--from", &g, "--to", &b, "--amount", "3"]);
    let t2 = central.ok(&["send", "--from", &g, "--to", &c, "--amount", "4"]);
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
    let mut node = Node::new(&net, "node");
    let g = node.create_chain();
    let a = node.create_wallet();
    node.mint_send(&g, &a, 7);
    node.mint_send(&a, &g, 2);
    let snapshot = |n: &Node| -> Vec<String> {
        vec![
            n.ok(&["status"]),
            n.ok(&["getbalance", "--address", &g]),
            n.ok(&["getbalance", "--address", &a]),
            n.ok(&["printchain"]),
            n.ok(&["printchain", "--json"]),
            n.ok(&["checkchain"]),
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
    let mut seed = Node::new(&net, "seed");
    let mut peer = Node::new(&net, "peer");
    let g = seed.create_chain();
    let w = seed.create_wallet();
    seed.mint_send(&g, &w, 5);
    seed.start_central(&[]);
    peer.start(&seed.addr(), &[]);
    let tip = wait_same_tip(&[&seed, &peer], 1);
    wait_until(WAIT, "the peers to connect", || {
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
    let mut seed = Node::new(&net, "seed");
    let mut fresh = Node::new(&net, "fresh");
    let out = Command::new(genchain_bin())
        .arg("--datadir")
        .arg(net.path())
        .args(["--port", &seed.port.to_string()])
        .args([
            "--blocks",
            &BLOCKS.to_string(),
            "--txs",
            "3",
            "--difficulty",
            "4",
        ])
        .output()
        .expect("run genchain");
    assert!(
        out.status.success(),
        "genchain: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = seed.status().unwrap();
    assert_eq!(want.height, BLOCKS);
    seed.start_central(&[]);
    let start = Instant::now();
    fresh.start(&seed.addr(), &[]);
    wait_until(Duration::from_secs(60), "the fresh node to sync", || {
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
    let mut seed = Node::new(&net, "seed");
    let mut other = Node::new(&net, "other");
    let g = seed.create_chain();
    seed.mint_send(&g, &g, 1);
    seed.mint_send(&g, &g, 1);
    other.create_chain();
    let ours = seed.status().unwrap();
    let theirs = other.status().unwrap();
    assert_ne!(ours.tip, theirs.tip);
    seed.start_central(&[]);
    other.start(&seed.addr(), &[]);
    wait_until(WAIT, "a log to say different network", || {
        seed.log_text().contains("different network")
            || other.log_text().contains("different network")
    });
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
    let mut central = Node::new(&net, "central");
    let mut wallet = Node::new(&net, "wallet");
    let mut minter = Node::new(&net, "minter");
    let g = central.create_chain();
    let w = wallet.create_wallet();
    let to = wallet.create_wallet();
    central.mint_send(&g, &w, 9);
    let m = minter.create_wallet();
    central.start_central(&[]);
    // The wallet node syncs once, then stops.
    wallet.start(&central.addr(), &[]);
    wait_same_tip(&[&central, &wallet], 1);
    wallet.stop();
    minter.start(&central.addr(), &["--minter", &m, "--mint-threshold", "1"]);
    wait_same_tip(&[&central, &minter], 1);
    wait_until(WAIT, "the minter to connect", || {
        central.status().is_some_and(|s| s.peers >= 1)
    });

    let txid = wallet.ok(&[
        "send",
        "--from",
        &w,
        "--to",
        &to,
        "--amount",
        "4",
        "--seed",
        &central.addr(),
    ]);
    wait_same_tip(&[&central, &minter], 2);
    central.wait_log(&format!("accepted transaction {txid}"));
    assert!(central.ok(&["printchain"]).contains(&txid));
    assert_eq!(central.balance(&to), 4);
    assert_eq!(central.balance(&w), 5);
    assert_eq!(central.balance(&m), SUBSIDY);
    minter.stop();
    central.stop();
}
