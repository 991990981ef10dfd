//! The mempool cannot be jammed, on real processes: a raw-socket attacker
//! fills a node's 1 MB mempool (`--mempool-mb 1`) with valid zero-fee
//! chained transactions; an honest `node send` without a fee is refused as
//! the mempool is full, `node send --fee 1` is accepted (evicting the
//! attacker's lowest package), relayed to a minter and mined.

mod support;

use std::path::Path;
use std::sync::Arc;

use sledchain::app::cli::NodePaths;
use sledchain::chain::ChainState;
use sledchain::core::address::Address;
use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::core::params::SUBSIDY;
use sledchain::core::tx::{OutPoint, Transaction, TxOut};
use sledchain::core::validation::SigCache;
use sledchain::store::ChainStore;
use sledchain::wire::message::Message;
use sledchain::wire::payload::TxMsg;
use support::{Node, RawPeer, key, now32, owner, sent_txid, signed, solve};

const DIFFICULTY: u32 = 8;
/// Independent coins of the attacker: 12 roots of chains of [`CHAIN`]
/// transactions of about 4 kB (1.2 MB, more than the mempool holds), then
/// one of minimal (221-byte) ones to fill what room is left.
const ROOTS: usize = 13;
const CHAIN: usize = 25;

fn coin(tx: &Transaction, vout: u32) -> (OutPoint, TxOut) {
    (
        OutPoint {
            txid: tx.txid(),
            vout,
        },
        tx.outputs[vout as usize],
    )
}

/// Genesis pays the attacker (key 5), block 1 pays `honest` and splits the
/// genesis coinbase into [`ROOTS`] attacker coins. Returns the genesis hash
/// and those coins.
fn build_chain(dir: &Path, port: u16, honest: [u8; 20]) -> (BlockHash, Vec<(OutPoint, TxOut)>) {
    let paths = NodePaths::new(dir, port);
    std::fs::create_dir_all(&paths.dir).expect("node dir");
    let store = ChainStore::open(&paths.chain, 16 << 20).expect("open store");
    let t0 = now32() - 600;
    let attacker = owner(&key(5));
    let mut genesis = Block::template(
        BlockHash::ZERO,
        0,
        DIFFICULTY,
        t0,
        attacker,
        SUBSIDY,
        vec![],
    );
    solve(&mut genesis);
    store.init_genesis(&genesis).expect("genesis");
    let chain = ChainState::new(store.clone(), Arc::new(SigCache::new(100))).expect("chain");
    let cb0 = coin(&genesis.transactions[0], 0);
    let out = TxOut {
        value: 1,
        pubkey_hash: attacker,
    };
    let split = signed(&[(cb0.0, cb0.1, &key(5))], vec![out; ROOTS]);
    let mut b1 = Block::template(
        genesis.hash(),
        1,
        DIFFICULTY,
        t0 + 1,
        honest,
        SUBSIDY,
        vec![split.clone()],
    );
    solve(&mut b1);
    chain
        .accept_block(&b1, sledchain::core::params::now_secs())
        .expect("block 1");
    store.flush().expect("flush");
    (
        genesis.hash(),
        (0..ROOTS as u32).map(|v| coin(&split, v)).collect(),
    )
}

/// [`CHAIN`] zero-fee transactions of `outputs` outputs (135: 3,973 bytes;
/// 1: 221 bytes) from `root`, each spending the previous one's first output.
fn flood_chain(mut from: (OutPoint, TxOut), outputs: usize) -> Vec<Transaction> {
    let mut v = Vec::with_capacity(CHAIN);
    for _ in 0..CHAIN {
        let mut outputs = vec![
            TxOut {
                value: 0,
                pubkey_hash: owner(&key(5)),
            };
            outputs
        ];
        outputs[0].value = from.1.value;
        let tx = signed(&[(from.0, from.1, &key(5))], outputs);
        from = coin(&tx, 0);
        v.push(tx);
    }
    v
}

#[test]
fn an_honest_fee_payment_is_mined_while_an_attacker_floods_the_mempool() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut victim = Node::new(tmp.path(), "victim");
    let honest = victim.create_wallet();
    let honest_pkh = honest.parse::<Address>().expect("address").0;
    let (genesis, roots) = build_chain(tmp.path(), victim.port, honest_pkh);
    let me = victim.addr();
    victim.start_seeded(&me, &["--mempool-mb", "1"]);

    let mut attacker = RawPeer::connect(victim.port);
    attacker.hello(genesis, 1);
    let mut last = None;
    for (i, root) in roots.into_iter().enumerate() {
        let outputs = if i + 1 < ROOTS { 135 } else { 1 };
        for tx in flood_chain(root, outputs) {
            last = Some(tx.txid());
            attacker.send(&Message::Tx(TxMsg {
                addr_from: String::new(),
                transaction: tx,
            }));
        }
    }
    victim.wait_log("mempool is full");
    // The node handles one peer's transactions in order: once the last is
    // logged, the whole flood has been.
    victim.wait_log(&format!("transaction {}", last.expect("a flood")));

    // No fee: no room.
    let to = Address(owner(&key(9))).to_string();
    let free = victim.run(&["send", "--from", &honest, "--to", &to, "--amount", "1"]);
    let err = String::from_utf8_lossy(&free.stderr);
    assert!(!free.status.success() && err.contains("full"), "{err}");

    // A minter joins, then the honest payment with a fee goes in.
    let mut minter = Node::new(tmp.path(), "minter");
    let minter_addr = Address(owner(&key(8))).to_string();
    minter.start_seeded(&me, &["--minter", &minter_addr, "--mint-threshold", "1"]);
    minter.wait_height(1);
    let paid = sent_txid(&victim.ok(&[
        "send", "--from", &honest, "--to", &to, "--amount", "1", "--fee", "1",
    ]));
    victim.wait_log(&format!("accepted transaction {paid}"));
    victim.wait_height(2);
    assert_eq!(victim.balance(&to), 1);
    victim.assert_alive();
    minter.assert_alive();
}
