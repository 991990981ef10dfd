//! Helpers for the multi-process tests: running `node` commands, starting and
//! killing nodes, building chains, and a raw wire-protocol client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use sledchain::core::block::{Block, solve_header};
use sledchain::core::hash::BlockHash;
use sledchain::core::tx::Transaction;
use sledchain::wire::frame::FrameCodec;
use sledchain::wire::message::Message;
use tokio_util::codec::{Decoder, Encoder};

/// The `node` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_node"))
}

/// The `genchain` example, built next to the binary (`cargo test` builds
/// examples); built on demand when missing.
pub fn genchain_bin() -> PathBuf {
    let p = bin()
        .parent()
        .expect("binary has a directory")
        .join("examples")
        .join("genchain");
    if !p.exists() {
        let ok = Command::new(env!("CARGO"))
            .args(["build", "--example", "genchain"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo");
        assert!(ok.success(), "cannot build the genchain example");
    }
    p
}

/// A port free at the time of the call.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
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

/// `node --datadir DIR --port PORT ARGS...`, waited for.
pub fn cli(dir: &Path, port: u16, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--datadir")
        .arg(dir)
        .arg("--port")
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run node")
}

/// Trimmed stdout of a successful command; panics with stderr otherwise.
pub fn cli_ok(dir: &Path, port: u16, args: &[&str]) -> String {
    let out = cli(dir, port, args);
    assert!(
        out.status.success(),
        "node {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Starts `node startnode ARGS...` with its log in `DIR/PORT.log`.
pub fn start(dir: &Path, port: u16, args: &[&str]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(dir, port))
        .expect("open log");
    Command::new(bin())
        .arg("--datadir")
        .arg(dir)
        .arg("--port")
        .arg(port.to_string())
        .arg("startnode")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start node")
}

pub fn log_path(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!("{port}.log"))
}

pub fn log_text(dir: &Path, port: u16) -> String {
    std::fs::read_to_string(log_path(dir, port)).unwrap_or_default()
}

/// SIGKILL and reap.
pub fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGINT (clean shutdown) and wait; returns true when it exited 0.
pub fn stop(child: &mut Child) -> bool {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return st.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    kill9(child);
    false
}

/// Kills the children still running when dropped (a failed test leaves no
/// node behind).
pub struct Reaper(pub Vec<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for c in &mut self.0 {
            kill9(c);
        }
    }
}

/// Parsed `node status` of a running node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub height: u64,
    pub tip: String,
    pub mempool: usize,
    pub peers: usize,
}

/// `node status` of a running node; `None` when no node runs on `port`
/// (never opens the store itself, which would lock a starting node out).
pub fn status(dir: &Path, port: u16) -> Option<Status> {
    if !running(dir, port) {
        return None;
    }
    let out = cli(dir, port, &["status"]);
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    Some(Status {
        height: field("height:")?.parse().ok()?,
        tip: field("tip:")?,
        mempool: field("mempool:")?.parse().ok()?,
        peers: field("peers:")?.parse().ok()?,
    })
}

/// True when a node answers on `port`'s control socket.
pub fn running(dir: &Path, port: u16) -> bool {
    sledchain::net::control::is_running(&dir.join(port.to_string()).join("control.sock"))
}

/// Polls `f` every 100 ms until it is true or `secs` pass.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// `node checkchain` on a stopped node: (exit ok, stdout, stderr).
pub fn checkchain(dir: &Path, port: u16) -> (bool, String, String) {
    let out = cli(dir, port, &["checkchain"]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// Builds a chain of `blocks` blocks with `txs` payments each in
/// `DIR/PORT/`; returns (tip hash, height).
pub fn genchain(dir: &Path, port: u16, blocks: u64, txs: usize) -> (String, u64) {
    let out = Command::new(genchain_bin())
        .arg("--datadir")
        .arg(dir)
        .args(["--port", &port.to_string()])
        .args(["--blocks", &blocks.to_string()])
        .args(["--txs", &txs.to_string()])
        .args(["--difficulty", "4"])
        .output()
        .expect("run genchain");
    assert!(
        out.status.success(),
        "genchain failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let tip = it.next().expect("tip").to_string();
    let height = it.next().expect("height").parse().expect("height");
    (tip, height)
}

/// A block on `prev` at `height`, solved at difficulty `bits`.
pub fn mine(
    prev: BlockHash,
    height: u64,
    bits: u32,
    time: u32,
    to: [u8; 20],
    reward: u64,
    txs: Vec<Transaction>,
) -> Block {
    let mut b = Block::template(prev, height, bits, time, to, reward, txs);
    assert!(solve_header(&mut b.header, 1, &AtomicBool::new(false)));
    b
}

/// A raw peer speaking the wire protocol over a blocking socket.
pub struct RawPeer {
    stream: TcpStream,
    buf: BytesMut,
}

impl RawPeer {
    pub fn connect(port: u16) -> RawPeer {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to node");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        RawPeer {
            stream,
            buf: BytesMut::new(),
        }
    }

    pub fn send(&mut self, m: &Message) {
        let mut out = BytesMut::new();
        FrameCodec::for_messages()
            .encode(m, &mut out)
            .expect("encode");
        self.stream.write_all(&out).expect("write to node");
    }

    /// The next message, or `None` after about 200 ms without one.
    pub fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(frame) = FrameCodec::for_messages()
                .decode(&mut self.buf)
                .expect("valid frame")
            {
                return Message::from_frame(&frame).ok();
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }
}
