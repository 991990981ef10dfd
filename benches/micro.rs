//! Micro benchmarks of the hot paths: hashing, the mining loop, signatures,
//! the merkle root, block validation, the sled connect/disconnect, UTXO
//! lookups and the wire codec. `make bench` runs them; each is kept short.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sledchain::core::block::{BlockHeader, merkle_root, search_nonce};
use sledchain::core::ecdsa::SigBackend;
use sledchain::core::hash::{BlockHash, Txid, sha256d};
use sledchain::core::tx::OutPoint;
use sledchain::core::validation::{
    ParentInfo, SigCache, check_block_context, check_block_sanity, verify_sig_checks,
};
use sledchain::core::view::UtxoView;
use sledchain::wire::frame::FrameCodec;
use sledchain::wire::message::Message;
use sledchain::wire::payload::BlockMsg;
use tokio_util::codec::{Decoder, Encoder};

#[path = "../tests/support/mod.rs"]
mod support;

/// Nonces tried per mining-loop iteration.
const NONCES: u32 = 200_000;

fn header() -> BlockHeader {
    BlockHeader {
        version: 1,
        prev_block_hash: BlockHash(sha256d(b"prev")),
        merkle_root: sha256d(b"merkle"),
        timestamp: 1_700_000_000,
        // Unreachable: the search runs the whole range.
        bits: 200,
        nonce: 0,
    }
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    let h = header().encode();
    g.throughput(Throughput::Elements(1));
    g.bench_function("sha256d_80B", |b| b.iter(|| sha256d(black_box(&h))));
    let hd = header();
    g.throughput(Throughput::Elements(u64::from(NONCES)));
    g.bench_function("search_nonce_1core", |b| {
        b.iter(|| search_nonce(black_box(&hd), 0, 1, NONCES, &|| false))
    });
    let n = cores() as u32;
    g.bench_function(format!("search_nonce_{n}cores"), |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for t in 0..n {
                    s.spawn(move || search_nonce(&hd, t, n, NONCES, &|| false));
                }
            })
        })
    });
    let txids: Vec<Txid> = (0..1000u32)
        .map(|i| Txid(sha256d(&i.to_le_bytes())))
        .collect();
    g.throughput(Throughput::Elements(1000));
    g.bench_function("merkle_root_1000", |b| {
        b.iter(|| merkle_root(black_box(&txids)))
    });
    g.finish();
}

fn signatures(c: &mut Criterion) {
    let mut g = c.benchmark_group("sig");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    let key = support::key(1);
    let gen_block = support::genesis_paying(support::owner(&key), 2);
    let blk = support::spending_block(&gen_block, &key, 1);
    let tx = blk.transactions[1].clone();
    let spent = gen_block.transactions[0].outputs[0];
    g.throughput(Throughput::Elements(1));
    g.bench_function("tx_sign_input", |b| {
        b.iter_batched(
            || tx.clone(),
            |mut t| t.sign_input(0, &spent, &key).map(|_| t),
            BatchSize::SmallInput,
        )
    });
    let mut view = UtxoView::new();
    for i in &tx.inputs {
        view.insert(
            i.prev_out,
            gen_block.transactions[0].outputs[i.prev_out.vout as usize],
        );
    }
    let checks = sledchain::core::validation::check_tx_inputs(&tx, 1, &view)
        .expect("inputs")
        .sig_checks;
    // What the node runs (ring), then each backend on the same input.
    g.bench_function("tx_verify_input", |b| b.iter(|| checks[0].verify()));
    let c = &checks[0];
    for (name, backend) in [
        ("tx_verify_input_p256", SigBackend::P256),
        ("tx_verify_input_ring", SigBackend::Ring),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| backend.verify(&c.pubkey, c.sighash.as_bytes(), black_box(&c.signature)))
        });
    }
    g.finish();
}

fn blocks(c: &mut Criterion) {
    let mut g = c.benchmark_group("block100");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(10);
    let key = support::key(2);
    let gen_block = support::genesis_paying(support::owner(&key), 200);
    let blk = support::spending_block(&gen_block, &key, 100);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = support::store_with(dir.path(), &gen_block);
    let parent = ParentInfo {
        hash: gen_block.hash(),
        height: 0,
    };
    g.throughput(Throughput::Elements(100));
    g.bench_function("sanity", |b| {
        b.iter(|| check_block_sanity(black_box(&blk), u64::MAX / 2))
    });
    g.bench_function("view_for_block", |b| {
        b.iter(|| UtxoView::for_block(black_box(&blk), &store).expect("db"))
    });
    let view = UtxoView::for_block(&blk, &store).expect("db");
    g.bench_function("context_nocache", |b| {
        b.iter(|| check_block_context(&blk, &parent, support::BITS, &view, None).expect("valid"))
    });
    let cache = Arc::new(SigCache::new(100_000));
    check_block_context(&blk, &parent, support::BITS, &view, Some(&cache)).expect("valid");
    g.bench_function("context_cached_sigs", |b| {
        b.iter(|| {
            check_block_context(&blk, &parent, support::BITS, &view, Some(&cache)).expect("valid")
        })
    });
    let undo = check_block_context(&blk, &parent, support::BITS, &view, None).expect("valid");
    g.bench_function("sled_connect_disconnect", |b| {
        b.iter(|| {
            store.connect_block(&blk, &undo.spent).expect("connect");
            store.disconnect_tip().expect("disconnect");
        })
    });
    let checks: Vec<_> = blk.transactions[1..]
        .iter()
        .enumerate()
        .flat_map(|(i, tx)| {
            sledchain::core::validation::check_tx_inputs(tx, i + 1, &view)
                .expect("inputs")
                .sig_checks
        })
        .collect();
    g.throughput(Throughput::Elements(checks.len() as u64));
    g.bench_function("verify_200_sigs_parallel", |b| {
        b.iter(|| verify_sig_checks(&checks, None).expect("valid"))
    });
    g.throughput(Throughput::Elements(1));
    let op = OutPoint {
        txid: gen_block.transactions[0].txid(),
        vout: 150,
    };
    g.bench_function("utxo_lookup", |b| {
        b.iter(|| store.utxo(black_box(&op)).expect("db"))
    });
    let msg = Message::Block(BlockMsg {
        addr_from: "127.0.0.1:3000".into(),
        block: blk.clone(),
    });
    let mut codec = FrameCodec::for_messages();
    let mut buf = BytesMut::new();
    codec.encode(&msg, &mut buf).expect("encode");
    let wire = buf.freeze();
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("frame_encode", |b| {
        b.iter(|| {
            let mut out = BytesMut::new();
            codec.encode(black_box(&msg), &mut out).expect("encode");
            out
        })
    });
    g.bench_function("frame_decode", |b| {
        b.iter(|| {
            let mut src = BytesMut::from(&wire[..]);
            let f = codec.decode(&mut src).expect("frame").expect("whole");
            Message::from_frame(&f).expect("message")
        })
    });
    g.finish();
}

criterion_group!(micro, hashing, signatures, blocks);
criterion_main!(micro);
