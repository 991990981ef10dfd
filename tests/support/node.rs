//! [`Node`]: one `node` of a test, its data under `DATADIR/PORT/`, its log
//! in `DATADIR/NAME.log`, and its `startnode` process while it runs.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use sledchain::net::control;

use super::{POLL, bin, free_port, wait_for};

/// Longest wait for a condition that should hold within a second or two.
pub const WAIT: Duration = Duration::from_secs(30);

/// The fields of `node status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub height: u64,
    pub tip: String,
    pub mempool: usize,
    pub peers: usize,
}

impl Status {
    /// Parses `height: H\ntip: HASH\nmempool: N ...\npeers: N` (the first
    /// word after each name); `None` when a field is missing or not a
    /// number.
    pub fn parse(text: &str) -> Option<Status> {
        let field = |name: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|v| v.split_whitespace().next())
                    .map(str::to_string)
            })
        };
        Some(Status {
            height: field("height:")?.parse().ok()?,
            tip: field("tip:")?,
            mempool: field("mempool:")?.parse().ok()?,
            peers: field("peers:")?.parse().ok()?,
        })
    }
}

/// One node: a port in a data directory, and its process while it runs.
/// Dropping it kills the process (SIGKILL) and, when the test is failing,
/// prints the tail of its log.
pub struct Node {
    pub name: String,
    pub port: u16,
    pub datadir: PathBuf,
    pub log: PathBuf,
    /// `RUST_LOG` of the started process (`info` unless changed).
    pub log_filter: String,
    child: Option<Child>,
}

impl Node {
    /// A node called `name` on a fresh [`free_port`], not started.
    pub fn new(datadir: &Path, name: &str) -> Node {
        let mut n = Node::at(datadir, free_port());
        n.name = name.to_string();
        n.log = datadir.join(format!("{name}.log"));
        n
    }

    /// The node on `port` (named after it, log `DATADIR/PORT.log`), not started.
    pub fn at(datadir: &Path, port: u16) -> Node {
        Node {
            name: port.to_string(),
            port,
            datadir: datadir.to_path_buf(),
            log: datadir.join(format!("{port}.log")),
            log_filter: "info".to_string(),
            child: None,
        }
    }

    /// `127.0.0.1:PORT`, as `--seed` takes it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `DATADIR/PORT/`.
    pub fn dir(&self) -> PathBuf {
        self.datadir.join(self.port.to_string())
    }

    pub fn control(&self) -> PathBuf {
        self.dir().join("control.sock")
    }

    /// `DATADIR/PORT/chain`, the node's store.
    pub fn chain_path(&self) -> PathBuf {
        self.dir().join("chain")
    }

    pub fn wallet_path(&self) -> PathBuf {
        self.dir().join("wallets.dat")
    }

    fn command(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("--datadir")
            .arg(&self.datadir)
            .arg("--port")
            .arg(self.port.to_string())
            .env_remove("NODE_ID")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null());
        c
    }

    /// Runs `node --datadir D --port P ARGS...` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run node")
    }

    /// Runs a command that must succeed; returns its stdout as printed.
    pub fn stdout(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} `{}` failed: {}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs a command that must succeed; returns its trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.stdout(args).trim().to_string()
    }

    /// Spawns `startnode ARGS...` without waiting for it (its stderr appended
    /// to the log).
    pub fn spawn(&mut self, args: &[&str]) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let child = self
            .command()
            .arg("startnode")
            .args(args)
            // Tests never want the HTTP API on a derived port that another
            // test node may have been handed; tests/api.rs passes --http.
            .args(if args.contains(&"--http") {
                &[][..]
            } else {
                &["--http", "off"][..]
            })
            .env("RUST_LOG", &self.log_filter)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn node");
        self.child = Some(child);
    }

    /// Starts `startnode ARGS...` and waits until its control socket
    /// answers (so its P2P port is bound too). A start refused because the
    /// port or the store is still in use (a process that just let go of
    /// it) is tried again; any other early exit panics with the log tail.
    pub fn start(&mut self, args: &[&str]) {
        for _ in 0..50 {
            let mark = self.log_text().len();
            self.spawn(args);
            if self.wait_started(mark) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{}: port or store still in use:\n{}",
            self.name,
            self.tail(20)
        );
    }

    /// True once started; false when it exited saying something is in use.
    fn wait_started(&mut self, mark: usize) -> bool {
        let start = Instant::now();
        loop {
            if self.running() {
                return true;
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                let text = self.log_text();
                let new = text.get(mark..).unwrap_or_default();
                assert!(
                    new.contains("in use"),
                    "{} exited at start with {st}:\n{}",
                    self.name,
                    self.tail(20)
                );
                return false;
            }
            assert!(
                start.elapsed() < WAIT,
                "{} did not open its control socket:\n{}",
                self.name,
                self.tail(20)
            );
            std::thread::sleep(POLL);
        }
    }

    /// Starts with `--seed SEED` and `extra` flags.
    pub fn start_seeded(&mut self, seed: &str, extra: &[&str]) {
        let mut args = vec!["--seed", seed];
        args.extend_from_slice(extra);
        self.start(&args);
    }

    /// Starts a node that is its own seed (the central node).
    pub fn start_central(&mut self, extra: &[&str]) {
        let me = self.addr();
        self.start_seeded(&me, extra);
    }

    /// True when a node answers on this port's control socket.
    pub fn running(&self) -> bool {
        control::is_running(&self.control())
    }

    /// True while the started process has not exited.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Still running, and no panic in the log.
    pub fn assert_alive(&mut self) {
        assert!(
            self.alive(),
            "{} exited; log tail:\n{}",
            self.name,
            self.tail(40)
        );
        assert!(
            !self.log_text().contains("panicked"),
            "{} panicked; log tail:\n{}",
            self.name,
            self.tail(40)
        );
    }

    /// Process id of the running node; 0 when stopped.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// `node status`. While this harness runs the node: asked over the
    /// control socket, `None` until it answers (never opening the store,
    /// which would lock a starting node out). Stopped: the CLI on the store,
    /// `None` when it fails (no chain yet).
    pub fn status(&self) -> Option<Status> {
        if self.child.is_some() {
            let text = control::request(&self.control(), &control::Request::Status).ok()?;
            return Status::parse(&text);
        }
        let out = self.run(&["status"]);
        if !out.status.success() {
            return None;
        }
        Status::parse(&String::from_utf8_lossy(&out.stdout))
    }

    pub fn height(&self) -> Option<u64> {
        self.status().map(|s| s.height)
    }

    /// Waits ([`WAIT`] at most) for `height`.
    pub fn wait_height(&self, height: u64) {
        wait_for(
            WAIT,
            &format!("{} to reach height {height}", self.name),
            || self.height() == Some(height),
        );
    }

    /// Sends `signal` (`INT`, `TERM`) and waits up to `timeout` for the
    /// exit: (exit status, time taken). Panics (after SIGKILL) on timeout.
    pub fn stop_with(&mut self, signal: &str, timeout: Duration) -> (ExitStatus, Duration) {
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
                    "{} did not exit within {timeout:?} of SIG{signal}:\n{}",
                    self.name,
                    self.tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops with SIGINT (20 s at most) and asserts a clean exit (status 0).
    pub fn stop(&mut self) {
        let (st, _) = self.stop_with("INT", Duration::from_secs(20));
        assert!(
            st.success(),
            "{} exited with {st}:\n{}",
            self.name,
            self.tail(40)
        );
    }

    /// SIGKILL and reap; nothing when not running.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn tail(&self, n: usize) -> String {
        let t = self.log_text();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits ([`WAIT`] at most) for a log line containing every one of
    /// `parts`; returns that line.
    pub fn wait_log_all(&self, parts: &[&str]) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self
                .log_text()
                .lines()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                return l.to_string();
            }
            assert!(
                start.elapsed() < WAIT,
                "{} never logged a line with {parts:?}; log tail:\n{}",
                self.name,
                self.tail(40)
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits for a log line containing `part`; returns that line.
    pub fn wait_log(&self, part: &str) -> String {
        self.wait_log_all(&[part])
    }

    /// Open descriptors of the running process (`/proc/PID/fd`).
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// Resident set of the running process in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        self.proc_status_kib("VmRSS:")
    }

    /// Peak resident set of the running process in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        self.proc_status_kib("VmHWM:")
    }

    fn proc_status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(field))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() && self.log.exists() {
            eprintln!(
                "--- {} (port {}) log tail ---\n{}",
                self.name,
                self.port,
                self.tail(40)
            );
        }
    }
}

/// Waits until every node is at `height` with one tip; returns the tip.
pub fn wait_same_tip(nodes: &[&Node], height: u64) -> String {
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

impl Node {
    /// Sends `r` over the control socket of the running node: its answer.
    ///
    /// Errors: the node's own error text, or an I/O error reaching it.
    pub fn request(&self, r: &control::Request) -> anyhow::Result<String> {
        control::request(&self.control(), r)
    }
}
