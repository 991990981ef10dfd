//! The one harness of the multi-process tests and benchmarks: the `node`
//! binary and the `genchain` example, free ports, polling, and
//!
//! - [`node`]: [`Node`], one `node startnode` process (start, status, logs,
//!   signals; killed on drop);
//! - [`peer`]: [`RawPeer`], a blocking client speaking the wire protocol;
//! - [`chain`]: chains built through the CLI (`createwallet`,
//!   `createblockchain`, `send --mint`), `genchain`, stores seeded with
//!   blocks;
//! - [`fixtures`]: keys, an in-memory UTXO set, signed transactions and
//!   blocks mined at low difficulty (no process at all).
//!
//! Each test binary uses a subset: `mod support;` (benches:
//! `#[path = "../tests/support/mod.rs"] mod support;`).
#![allow(dead_code, unused_imports)]

pub mod chain;
pub mod fixtures;
pub mod http;
pub mod node;
pub mod peer;

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use chain::*;
pub use fixtures::*;
pub use node::*;
pub use peer::*;

/// How often the wait helpers poll.
pub const POLL: Duration = Duration::from_millis(25);

/// The `node` binary under test (a release build under `cargo bench`).
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_node"))
}

/// The `genchain` example next to [`bin`] (`cargo test` builds examples);
/// built on first use when missing, in the same profile as the binary.
pub fn genchain_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = bin()
            .parent()
            .expect("binary has a directory")
            .to_path_buf();
        let p = dir.join("examples").join("genchain");
        if !p.exists() {
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args(["build", "--example", "genchain"]);
            if dir.ends_with("release") {
                cargo.arg("--release");
            }
            let ok = cargo
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo");
            assert!(ok.success(), "cannot build the genchain example");
        }
        p
    })
    .clone()
}

/// A TCP port on 127.0.0.1 that nothing listens on, never handed out twice
/// by this process.
///
/// Drawn below the kernel's ephemeral range (`ip_local_port_range`), so that
/// the source port of an outbound connection (another node dialing out
/// meanwhile) cannot take it before the node binds it, and from a start
/// point that differs between processes, so that test binaries running at
/// the same time rarely probe the same ports. [`Node::start`] still retries
/// when the port turns out taken.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let ephemeral_lo = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (lo, hi) = (10_000u16, ephemeral_lo.min(60_000));
    if hi > lo + 1000 {
        let span = u32::from(hi - lo);
        let mut x = Lcg::from_time().0 ^ u64::from(std::process::id()).wrapping_mul(0x9e37_79b9);
        for _ in 0..span {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let port = lo + ((x >> 33) % u64::from(span)) as u16;
            if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                given.insert(port);
                return port;
            }
        }
    }
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

/// Polls `f` until it is true or `secs` seconds pass; the last answer of `f`.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(POLL);
    }
    f()
}

/// Polls `cond` until it holds; panics naming `what` after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// Small deterministic PRNG (64-bit LCG), seeded from the clock unless given.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn from_time() -> Lcg {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Lcg(t | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// `node --datadir DIR --port PORT ARGS...`, waited for (see [`Node::run`]).
pub fn cli(dir: &Path, port: u16, args: &[&str]) -> Output {
    Node::at(dir, port).run(args)
}

/// Trimmed stdout of a successful command; panics with stderr otherwise.
pub fn cli_ok(dir: &Path, port: u16, args: &[&str]) -> String {
    Node::at(dir, port).ok(args)
}

/// `node checkchain` on a stopped node: (exit ok, stdout, stderr), trimmed.
pub fn checkchain(dir: &Path, port: u16) -> (bool, String, String) {
    let out = cli(dir, port, &["checkchain"]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// The sled database at `path`, opened raw, once the store that had it
/// open is dropped. sled may still hold the file lock for a moment after
/// its last handle goes (a background write of its log finishing), so
/// the open waits up to 10 s for the lock, and only for the lock: any
/// other error panics at once.
pub fn open_raw(path: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("raw open of {}: {e}", path.display()),
        }
    }
}
