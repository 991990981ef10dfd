//! Chains for the multi-process tests: built through the CLI on a stopped
//! [`Node`] (`createwallet`, `createblockchain`, `send --mint`), by the
//! `genchain` example, or written straight into a node's store.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

use sledchain::core::block::{Block, solve_header};
use sledchain::core::hash::BlockHash;
use sledchain::core::tx::Transaction;
use sledchain::store::ChainStore;

use super::{Node, genchain_bin};

/// Difficulty of the chains [`Node::create_chain`] makes (1 in 256 hashes).
pub const CLI_DIFFICULTY: &str = "8";

/// True for 64 hex digits (a block hash or txid as printed).
/// The txid in `send`'s output (`txid: HEX`); panics on anything else.
pub fn sent_txid(out: &str) -> String {
    let txid = out.trim().strip_prefix("txid: ").unwrap_or_default();
    assert!(is_hash(txid), "send prints `txid: HEX`: {out:?}");
    txid.to_string()
}

pub fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Node {
    /// `createwallet`: the new address (checked to be the one line printed).
    pub fn create_wallet(&self) -> String {
        let out = self.stdout(&["createwallet"]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "createwallet prints one address: {out:?}");
        lines[0].to_string()
    }

    /// `listaddresses`, one address a line.
    pub fn addresses(&self) -> Vec<String> {
        self.ok(&["listaddresses"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `createblockchain` paying `address` at `difficulty`: the genesis hash
    /// (checked to be the one line printed).
    pub fn create_blockchain(&self, address: &str, difficulty: &str) -> String {
        let out = self.stdout(&[
            "createblockchain",
            "--address",
            address,
            "--difficulty",
            difficulty,
        ]);
        let genesis = out.trim_end().to_string();
        assert!(is_hash(&genesis), "createblockchain prints a hash: {out:?}");
        assert_eq!(out.lines().count(), 1);
        genesis
    }

    /// A new chain at [`CLI_DIFFICULTY`] whose genesis pays a new key of
    /// this node; returns that address.
    pub fn create_chain(&self) -> String {
        let addr = self.create_wallet();
        self.create_blockchain(&addr, CLI_DIFFICULTY);
        addr
    }

    /// `send --mint` (node stopped) of `amount` with the default fee: the
    /// txid of the payment, in a block minted here.
    pub fn mint_send(&self, from: &str, to: &str, amount: u64) -> String {
        self.mint(&[
            "send",
            "--from",
            from,
            "--to",
            to,
            "--amount",
            &amount.to_string(),
            "--mint",
        ])
    }

    /// [`mint_send`](Self::mint_send) paying `fee`.
    pub fn mint_send_fee(&self, from: &str, to: &str, amount: u64, fee: u64) -> String {
        self.mint(&[
            "send",
            "--from",
            from,
            "--to",
            to,
            "--amount",
            &amount.to_string(),
            "--fee",
            &fee.to_string(),
            "--mint",
        ])
    }

    fn mint(&self, args: &[&str]) -> String {
        let out = self.stdout(args);
        sent_txid(&out)
    }

    /// `getbalance --address ADDR` (`Balance of ADDR: N`): N.
    pub fn balance(&self, addr: &str) -> u64 {
        let out = self.stdout(&["getbalance", "--address", addr]);
        let prefix = format!("Balance of {addr}: ");
        out.trim_end()
            .strip_prefix(&prefix)
            .and_then(|n| n.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected getbalance output {out:?}"))
    }
}

/// `genchain --datadir DIR --port PORT --blocks N --txs N --difficulty D`,
/// for callers that add flags (`--foreign`) or handle failure themselves.
pub fn genchain_cmd(dir: &Path, port: u16, blocks: u64, txs: u64, difficulty: u32) -> Command {
    let mut c = Command::new(genchain_bin());
    c.arg("--datadir")
        .arg(dir)
        .args(["--port", &port.to_string()])
        .args(["--blocks", &blocks.to_string()])
        .args(["--txs", &txs.to_string()])
        .args(["--difficulty", &difficulty.to_string()]);
    c
}

/// Builds a chain of `blocks` blocks with `txs` payments each in
/// `DIR/PORT/` at difficulty 4; returns (tip hash, height).
pub fn genchain(dir: &Path, port: u16, blocks: u64, txs: u64) -> (String, u64) {
    let out = genchain_cmd(dir, port, blocks, txs, 4)
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

/// A block on `prev` at `height`, solved at difficulty `bits`, whose
/// coinbase pays `reward` to `to`, then `txs`.
pub fn mine_on(
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

/// Creates node `port`'s store under `dir` holding `blocks` (genesis
/// first, each coinbase-only block extending the previous).
pub fn init_node(dir: &Path, port: u16, blocks: &[Block]) {
    let store = open_store(dir, port);
    store.init_genesis(&blocks[0]).expect("genesis");
    for b in &blocks[1..] {
        store.connect_block(b, &[]).expect("coinbase-only block");
    }
    store.flush().expect("flush");
}

/// Opens node `port`'s store under `dir` (node stopped) with a 1 MiB cache.
pub fn open_store(dir: &Path, port: u16) -> ChainStore {
    ChainStore::open(&dir.join(port.to_string()).join("chain"), 1 << 20).expect("open store")
}
