//! Transaction `getdata` on a real process, over a raw socket: one
//! `getdata` naming a mempool transaction 50,000 times is answered with
//! that transaction once (each copy was a clone held in memory before
//! anything was sent), and the connection stays up.

mod support;

use std::time::{Duration, Instant};

use sledchain::app::cli::NodePaths;
use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::core::params::SUBSIDY;
use sledchain::core::tx::{OutPoint, TxOut};
use sledchain::store::ChainStore;
use sledchain::wire::message::Message;
use sledchain::wire::payload::{GetData, InvKind, MAX_INV_ITEMS, TxMsg};
use support::{Node, RawPeer, key, now32, owner, signed, solve};

#[test]
fn a_getdata_naming_one_transaction_50000_times_is_answered_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut node = Node::new(tmp.path(), "node");
    let paths = NodePaths::new(tmp.path(), node.port);
    std::fs::create_dir_all(&paths.dir).expect("node dir");
    let mut genesis = Block::template(
        BlockHash::ZERO,
        0,
        8,
        now32() - 600,
        owner(&key(5)),
        SUBSIDY,
        vec![],
    );
    solve(&mut genesis);
    {
        let store = ChainStore::open(&paths.chain, 16 << 20).expect("open store");
        store.init_genesis(&genesis).expect("genesis");
        store.flush().expect("flush");
    }
    let me = node.addr();
    node.start_seeded(&me, &[]);

    let mut peer = RawPeer::connect(node.port);
    peer.hello(genesis.hash(), 0);
    let cb = &genesis.transactions[0];
    let coin = OutPoint {
        txid: cb.txid(),
        vout: 0,
    };
    let out = TxOut {
        value: cb.outputs[0].value,
        pubkey_hash: owner(&key(6)),
    };
    let tx = signed(&[(coin, cb.outputs[0], &key(5))], vec![out]);
    let txid = tx.txid();
    peer.send(&Message::Tx(TxMsg {
        addr_from: String::new(),
        transaction: tx,
    }));
    node.wait_log(&format!("accepted transaction {txid}"));

    peer.send(&Message::GetData(GetData {
        addr_from: String::new(),
        kind: InvKind::Tx,
        items: vec![txid.0; MAX_INV_ITEMS],
    }));
    // The node answers a peer's messages in order: everything it sends for
    // the getdata comes before the pong.
    peer.send(&Message::Ping(0x5eed));
    let mut answers = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "no pong");
        match peer.recv(Duration::from_millis(500)) {
            Some(Message::Tx(t)) if t.transaction.txid() == txid => answers += 1,
            Some(Message::Pong(0x5eed)) => break,
            _ => {}
        }
    }
    assert_eq!(answers, 1);
    node.assert_alive();
}
