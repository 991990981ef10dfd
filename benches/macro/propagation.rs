//! Block propagation per hop: `BENCH_PROP_NODES` [5] release nodes on
//! loopback in a line (node i's only connections are i-1 and i+1: node 1
//! is its own seed with `--max-outbound 0`, node i is seeded by node i-1
//! with `--max-outbound 1`), checked through each node's peer list before
//! and after the run; the bench fails when it is not a line.
//!
//! Node 1 mints (`--minter`, `--mint-threshold` = the batch size). Each of
//! `BENCH_PROP_BLOCKS` [20] rounds submits `BENCH_PROP_TXS` [100] signed
//! 1-input payments to the far end (node N), waits for the block to
//! reach node N, then reads the times from the nodes' logs (target
//! `sledchain::net::log` at INFO; the log timestamps are the system clock
//! in microseconds, written as the event is handled, so no polling blurs
//! them). Submitting at the far end is the realistic case: a node relays a
//! payment only once it accepted it, so the payments cross every node
//! before node 1 holds the whole batch and mints, and the block then finds
//! them in every mempool (signature cache hits). The bench counts, per
//! node, the batch's payments accepted before the block connected and
//! notes the smallest count.
//!
//! Rows: per-hop block time = (connected on node N - connected on node 1)
//! / (N - 1), median over the rounds; the payments' relay per hop = (last
//! payment accepted on node 1 - last accepted on node N) / (N - 1),
//! median.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use sledchain::api::schema;
use sledchain::core::address::Address;
use sledchain::core::hash::sha256d;
use sledchain::core::tx::Transaction;
use sledchain::net::control::{GetAnswer, Request};

use crate::harness::{
    Probe, Shape, Table, env, genchain, median, start_logging, timeout, wait_until,
};
use crate::relay::build_payments;
use crate::support::{Node, free_port};

/// `RUST_LOG` of the nodes: block and transaction lines only.
const FILTER: &str = "warn,sledchain::net::log=info";

/// The two rows.
pub fn run(table: &mut Table, root: &Path) -> Result<()> {
    let n = env("BENCH_PROP_NODES", 5).max(2) as usize;
    let rounds = env("BENCH_PROP_BLOCKS", 20);
    let per = env("BENCH_PROP_TXS", 100).max(1);
    eprintln!("propagation: {n} nodes in a line, {rounds} blocks x {per} txs");
    let dir = root.join("prop");
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    // One spendable coinbase per block, one payment per coin.
    let shape = Shape {
        blocks: rounds * per + 1,
        txs: 0,
        inputs: 2,
        foreign: 0,
    };
    genchain(&dir, ports[0], &shape)?;
    let (payments, _, _) = build_payments(&dir, ports[0], (rounds * per) as usize)?;
    ensure!(payments.len() as u64 == rounds * per, "too few coins");
    let nodes = start_line(&dir, &ports, per, shape.blocks)?;
    check_line(&nodes, &ports)?;
    let (mut hop, mut relay, mut held) = (Vec::new(), Vec::new(), usize::MAX);
    let mut unmeasured = 0;
    for (r, batch) in payments.chunks(per as usize).enumerate() {
        let height = shape.blocks + r as u64 + 1;
        match round(&nodes, batch, height)? {
            Ok(m) => {
                hop.push(m.hop_ms);
                relay.push(m.relay_ms);
                held = held.min(m.held);
            }
            Err(missing) => {
                eprintln!("  round {r}: {missing}; not counted");

                unmeasured += 1;
            }
        }
    }
    check_line(&nodes, &ports)?;
    for mut node in nodes {
        node.stop();
    }
    let (lo, hi) = (min(&hop), max(&hop));
    let note = format!(
        "{rounds} blocks of {per} txs, {} hops, min {lo:.2} max {hi:.2}; \
         each node held >= {held} of {per} before the block{}",
        n - 1,
        if unmeasured > 0 {
            format!("; {unmeasured} rounds without the log lines, not counted")
        } else {
            String::new()
        }
    );
    let name = "block propagation per hop";
    table.row(name, median(&mut hop), "ms", None, "<= 3", note);
    let note = format!("{per} txs submitted at the far end, median of {rounds}");
    let name = "tx relay per hop (batch tail)";
    table.row(name, median(&mut relay), "ms", None, "", note);
    Ok(())
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// Starts node 1 (the minter, its own seed, no outbound) and then each
/// next node seeded by the one before, once that one reached `height`.
fn start_line(dir: &Path, ports: &[u16], per: u64, height: u64) -> Result<Vec<Node>> {
    let minter = Address(sha256d(b"minter").as_bytes()[..20].try_into()?).to_string();
    let threshold = per.to_string();
    let mut nodes: Vec<Node> = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        let node = if i == 0 {
            let args = [
                "--minter",
                &minter,
                "--mint-threshold",
                &threshold,
                "--max-outbound",
                "0",
            ];
            start_logging(dir, port, port, &args, FILTER)?
        } else {
            let args = ["--max-outbound", "1"];
            start_logging(dir, port, ports[i - 1], &args, FILTER)?
        };
        wait_until(timeout(), || Ok(node.height() == Some(height)))
            .with_context(|| format!("node {} syncing to {height}", i + 1))?;
        nodes.push(node);
    }
    Ok(nodes)
}

/// Fails unless the nodes form the line: node i has exactly one outbound
/// peer, node i-1, and node i one inbound peer for i < N (none at N); as
/// every outbound lands on the node before, these N-1 inbound peers are
/// the N-1 outbound ones. `status` must count the same peers.
fn check_line(nodes: &[Node], ports: &[u16]) -> Result<()> {
    for (i, node) in nodes.iter().enumerate() {
        let answer = node.req(&Request::Get("/api/node/peers".to_string()))?;
        let text = serde_json::from_str::<GetAnswer>(&answer)?.body;
        let peers: Vec<schema::Peer> = serde_json::from_str(&text)?;
        let dir = |p: &schema::Peer, d: &str| p.direction == d;
        let outbound: Vec<&str> = peers
            .iter()
            .filter(|p| dir(p, "outbound"))
            .map(|p| p.addr.as_str())
            .collect();
        let inbound = peers.iter().filter(|p| dir(p, "inbound")).count();
        let want_out: Vec<String> = match i {
            0 => vec![],
            _ => vec![format!("127.0.0.1:{}", ports[i - 1])],
        };
        let want_in = usize::from(i + 1 < nodes.len());
        let count = node.status().map(|s| s.peers);
        if outbound != want_out || inbound != want_in || count != Some(want_out.len() + want_in) {
            bail!(
                "propagation: the nodes are not a line: node {} has outbound {outbound:?} \
                 (want {want_out:?}), {inbound} inbound (want {want_in}), status peers \
                 {count:?}:\n{text}",
                i + 1
            );
        }
    }
    Ok(())
}

/// One round's figures.
struct Round {
    hop_ms: f64,
    relay_ms: f64,
    /// Fewest of the batch's payments any node accepted before the block.
    held: usize,
}

/// Submits `batch` to the last node, waits until it is at `height`, and
/// reads the times from the logs written meanwhile; `Ok(Err(why))` when a
/// node's log lacks the block's or the payments' lines.
fn round(nodes: &[Node], batch: &[Transaction], height: u64) -> Result<Result<Round, String>> {
    let marks: Vec<usize> = nodes.iter().map(|n| n.log_text().len()).collect();
    let last = &nodes[nodes.len() - 1];
    for tx in batch {
        last.req(&Request::SubmitTx(tx.clone()))?;
    }
    wait_until(timeout(), || Ok(last.height() == Some(height)))
        .with_context(|| format!("block {height} reaching the far end"))?;
    // The height is the store's; the log line comes a moment later, from
    // the reactor.
    let needle = format!(" connected at height {height} (");
    let logged = |n: &Node, mark: usize| {
        n.log_text()
            .get(mark..)
            .is_some_and(|t| t.contains(&needle))
    };
    let _ = wait_until(5, || {
        Ok(nodes.iter().zip(&marks).all(|(n, m)| logged(n, *m)))
    });
    let hops = (nodes.len() - 1) as f64;
    let mut times = Vec::new();
    for (i, (node, mark)) in nodes.iter().zip(marks).enumerate() {
        let text = node.log_text();
        let round = text.get(mark..).unwrap_or_default();
        match node_times(round, height) {
            Some(t) => times.push(t),
            None => {
                let what = if round.contains(&format!(" connected at height {height} (")) {
                    "no payment line"
                } else {
                    "no line for the block"
                };
                let log = node.log.display();
                return Ok(Err(format!("node {i}: {what} at height {height} in {log}")));
            }
        }
    }
    let (t1, tn) = (&times[0], &times[times.len() - 1]);
    Ok(Ok(Round {
        hop_ms: (tn.block - t1.block) as f64 / 1e3 / hops,
        relay_ms: (t1.last_tx - tn.last_tx) as f64 / 1e3 / hops,
        held: times.iter().map(|t| t.txs_before_block).min().unwrap_or(0),
    }))
}

/// What one node's log says about a round, times in µs since the epoch.
struct NodeTimes {
    block: i64,
    last_tx: i64,
    txs_before_block: usize,
}

/// Scans `log` (the lines written during the round) for the block at
/// `height` and the payments accepted; `None` without both.
fn node_times(log: &str, height: u64) -> Option<NodeTimes> {
    let needle = format!(" connected at height {height} (");
    let (mut block, mut last_tx, mut txs) = (None, None, 0);
    for line in log.lines() {
        if line.contains("accepted transaction ") {
            last_tx = Some(log_micros(line)?);
            if block.is_none() {
                txs += 1;
            }
        } else if block.is_none() && line.contains(&needle) {
            block = Some(log_micros(line)?);
        }
    }
    Some(NodeTimes {
        block: block?,
        last_tx: last_tx?,
        txs_before_block: txs,
    })
}

/// The timestamp opening a log line (`2024-05-01T10:00:00.123456Z`, UTC),
/// in µs since the Unix epoch.
fn log_micros(line: &str) -> Option<i64> {
    let ts = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.')?;
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    let micros: i64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    let secs = days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + s;
    Some(secs * 1_000_000 + micros)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
