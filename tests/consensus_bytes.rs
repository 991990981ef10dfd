//! Consensus bytes pinned: golden txid, wtxid, sighash, merkle-root and
//! block-hash vectors for fixed transactions and blocks, and the bincode
//! encodings that the wtxid and the stored and relayed bytes are made of.
//!
//! The wtxid (and so every merkle root and block hash) is `sha256d` of the
//! transaction's bincode 1.3 encoding (`core::encode`), and the txid is a
//! hand-written preimage: nothing but these vectors stops a dependency,
//! serde attribute or storage change from moving them. A failure here means
//! a consensus change; never update a vector to make it pass.

use sledchain::core::block::{Block, BlockHeader, merkle_root};
use sledchain::core::encode::encode;
use sledchain::core::hash::{BlockHash, Hash256, Txid, sha256d};
use sledchain::core::tx::{OutPoint, Transaction, TxIn, TxOut, sighash};

/// A fixed payment: two inputs with patterned witness bytes, two outputs.
fn payment() -> Transaction {
    let input = |n: u8| TxIn {
        prev_out: OutPoint {
            txid: Txid(Hash256([n; 32])),
            vout: u32::from(n) * 3,
        },
        signature: std::array::from_fn(|i| (i as u8).wrapping_mul(7).wrapping_add(n)),
        pubkey: std::array::from_fn(|i| (i as u8).wrapping_mul(13).wrapping_add(n)),
    };
    Transaction {
        version: 1,
        inputs: vec![input(0x11), input(0x22)],
        outputs: vec![
            TxOut {
                value: 12,
                pubkey_hash: [0xab; 20],
            },
            TxOut {
                value: 7_000_000_000,
                pubkey_hash: std::array::from_fn(|i| i as u8),
            },
        ],
        coinbase_height: 0,
    }
}

/// A fixed block at height 5: a coinbase paying 27 coins and [`payment`].
fn block() -> Block {
    let mut b = Block::template(
        BlockHash(Hash256([0x5a; 32])),
        5,
        16,
        1_700_000_000,
        [0xcd; 20],
        27,
        vec![payment()],
    );
    b.header.nonce = 0x0102_0304;
    b
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn transaction_ids_are_pinned() {
    let tx = payment();
    let cb = Transaction::coinbase(5, [0xcd; 20], 27);
    let got = [
        tx.txid().0.to_hex(),
        tx.wtxid().to_hex(),
        cb.txid().0.to_hex(),
        cb.wtxid().to_hex(),
        sighash(&tx.txid(), 1, &tx.outputs[1]).to_hex(),
    ];
    assert_eq!(
        got,
        [
            "9fd44f39ea662f07434444e1cc6f7f9d2185ad8f92c5664b183e17ba26673e6d",
            "35365676abe242db892fd3eb9fb34f813c5bc252f6dc9082fbaa64492144a3a9",
            "2c2d08d7056343748a1d93734cf18f57bf55dade20cf6471c929339cf1695a3c",
            "93629b1e670083b893fb03508eb59de85750b27e48cedca5a6a24c35947fe6c0",
            "d82517148205cecfe65bee196e976b09430e1267bd5664b54be506e1b981bb51",
        ]
    );
}

#[test]
fn transaction_encoding_is_pinned() {
    let bytes = encode(&payment());
    assert_eq!(bytes.len(), 414, "encoded length");
    // version u32 LE, input count u64 LE, each input (txid, vout u32 LE,
    // 64 signature bytes, 65 public key bytes), output count u64 LE, each
    // output (value u64 LE, pubkey hash), coinbase height u64 LE.
    assert_eq!(
        hex(&bytes),
        concat!(
            "0100000002000000000000001111111111111111111111111111111111111111",
            "1111111111111111111111113300000011181f262d343b424950575e656c737a",
            "81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a",
            "61686f767d848b9299a0a7aeb5bcc3ca111e2b3845525f6c798693a0adbac7d4",
            "e1eefb0815222f3c495663707d8a97a4b1becbd8e5f2ff0c192633404d5a6774",
            "818e9ba8b5c2cfdce9f603101d2a374451222222222222222222222222222222",
            "222222222222222222222222222222222266000000222930373e454c535a6168",
            "6f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a4148",
            "4f565d646b727980878e959ca3aab1b8bfc6cdd4db222f3c495663707d8a97a4",
            "b1becbd8e5f2ff0c192633404d5a6774818e9ba8b5c2cfdce9f603101d2a3744",
            "515e6b7885929facb9c6d3e0edfa0714212e3b48556202000000000000000c00",
            "000000000000abababababababababababababababababababab00863ba10100",
            "0000000102030405060708090a0b0c0d0e0f101112130000000000000000",
        )
    );
    assert_eq!(sha256d(&bytes), payment().wtxid());
}

#[test]
fn merkle_roots_and_block_hash_are_pinned() {
    let b = block();
    let ids = |n: u8| -> Vec<Txid> { (1..=n).map(|i| Txid(Hash256([i; 32]))).collect() };
    let got = [
        merkle_root(&ids(1)).to_hex(),
        merkle_root(&ids(2)).to_hex(),
        merkle_root(&ids(3)).to_hex(),
        merkle_root(&ids(5)).to_hex(),
        b.header.merkle_root.to_hex(),
        b.hash().0.to_hex(),
        hex(&b.header.encode()),
    ];
    assert_eq!(
        got,
        [
            "0101010101010101010101010101010101010101010101010101010101010101",
            "39ce20bede82c96b8908bec4a157b09c549b3db90b9b474bda9ae9b9030310b4",
            "223e023fadf1f053df26988871f893c821c28edf77d64a955e6c2a02d547bdac",
            "26e2870f72368b3f8baef83fa26282d95d9c194e1f33d90a12932e0f6022e5d3",
            "ad048764207a69510ef2b41f86957666668cfc5c89548e2520b9522202ae6ada",
            "f08b97c0947fe2bd1d1d899e8f12e7d0e3d8c26bc7ea3208c8d2360870581555",
            concat!(
                "010000005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
                "5a5a5a5aad048764207a69510ef2b41f86957666668cfc5c89548e2520b95222",
                "02ae6ada00f153651000000004030201"
            ),
        ]
    );
    assert_eq!(merkle_root(&[]), Hash256::ZERO);
    let header: BlockHeader = b.header;
    assert_eq!(
        encode(&header),
        header.encode().to_vec(),
        "bincode header = 80 bytes"
    );
    let bytes = encode(&b);
    assert_eq!(
        (bytes.len(), sha256d(&bytes).to_hex()),
        (
            731,
            "7a23c28032c31b005fa53571e559480ccb869adfb84904767d8aacacf778a3b4".to_string()
        )
    );
}
