//! Blocks, block headers, the merkle root and proof of work.
//!
//! # Block header (80 bytes, Bitcoin's layout)
//! | field | bytes |
//! |---|---|
//! | version | u32 little-endian |
//! | prev_block_hash | 32 |
//! | merkle_root | 32 |
//! | timestamp | u32 little-endian, seconds since the Unix epoch |
//! | bits | u32 little-endian, required leading zero bits of the block hash |
//! | nonce | u32 little-endian |
//!
//! The block hash is `sha256d` of these 80 bytes. The header's bincode
//! encoding is the same 80 bytes.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::encode::encoded_len;
use super::hash::{BlockHash, Hash256, Txid, sha256d};
use super::tx::Transaction;

/// Length of an encoded block header.
pub const HEADER_LEN: usize = 80;

/// A block header (layout in the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Format version.
    pub version: u32,
    /// Hash of the parent block; zero for genesis.
    pub prev_block_hash: BlockHash,
    /// Merkle root ([`merkle_root`]) of the block's wtxids
    /// ([`Transaction::wtxid`]: witness included), so the header commits to
    /// every signature.
    pub merkle_root: Hash256,
    /// Seconds since the Unix epoch, as the minter's clock read it.
    pub timestamp: u32,
    /// Proof-of-work difficulty: leading zero bits the hash must have.
    pub bits: u32,
    /// Varied by the minter until the hash meets the target.
    pub nonce: u32,
}

impl BlockHeader {
    /// The 80-byte encoding (module docs).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.version.to_le_bytes());
        b[4..36].copy_from_slice(self.prev_block_hash.as_bytes());
        b[36..68].copy_from_slice(self.merkle_root.as_bytes());
        b[68..72].copy_from_slice(&self.timestamp.to_le_bytes());
        b[72..76].copy_from_slice(&self.bits.to_le_bytes());
        b[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        b
    }

    /// `sha256d` of the 80-byte encoding.
    pub fn hash(&self) -> BlockHash {
        BlockHash(sha256d(&self.encode()))
    }

    /// True when the hash has at least `bits` leading zero bits, i.e. the hash
    /// read as a 256-bit big-endian number is ≤ the target `2^(256-bits) - 1`.
    pub fn meets_target(&self) -> bool {
        self.hash().0.leading_zero_bits() >= self.bits
    }
}

/// A block: header, height, and transactions (coinbase first).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Block {
    /// The header; its hash is the block's hash.
    pub header: BlockHeader,
    /// Height in the chain: genesis is 0. Committed through the coinbase's
    /// `coinbase_height`, which the merkle root covers.
    pub height: u64,
    /// Transactions; the first is the coinbase.
    pub transactions: Vec<Transaction>,
}

impl Block {
    /// The block hash (hash of the header).
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// Size of the block's bincode encoding, in bytes.
    pub fn encoded_size(&self) -> u64 {
        encoded_len(self)
    }

    /// Txids of all transactions, in block order.
    pub fn txids(&self) -> Vec<Txid> {
        self.transactions.iter().map(Transaction::txid).collect()
    }
}

impl Block {
    /// An unsolved block (nonce 0) at `height` on top of `prev`: a coinbase
    /// paying `reward` (subsidy + fees, whole coins) to `coinbase_to`, then
    /// `txs` in order, with the merkle root filled in. Solve it with
    /// [`solve_header`] on `block.header`.
    pub fn template(
        prev: BlockHash,
        height: u64,
        bits: u32,
        timestamp: u32,
        coinbase_to: [u8; 20],
        reward: u64,
        txs: Vec<Transaction>,
    ) -> Block {
        let mut transactions = Vec::with_capacity(txs.len() + 1);
        transactions.push(Transaction::coinbase(height, coinbase_to, reward));
        transactions.extend(txs);
        let mut block = Block {
            header: BlockHeader {
                version: super::params::BLOCK_VERSION,
                prev_block_hash: prev,
                merkle_root: Hash256::ZERO,
                timestamp,
                bits,
                nonce: 0,
            },
            height,
            transactions,
        };
        block.header.merkle_root = block.compute_merkle_root();
        block
    }

    /// Merkle root of the transactions' wtxids (what the header must hold).
    pub fn compute_merkle_root(&self) -> Hash256 {
        let w: Vec<Txid> = self.transactions.iter().map(|t| Txid(t.wtxid())).collect();
        merkle_root(&w)
    }
}

/// Work a block of difficulty `bits` represents: the expected number of
/// hashes to find it, `2^bits` (capped at `2^127` for bits ≥ 127).
pub fn block_work(bits: u32) -> u128 {
    1u128 << bits.min(127)
}

/// Bitcoin's merkle root of `txids`: hash pairs with `sha256d(left ‖ right)`
/// level by level, duplicating the last hash of a level with an odd count.
/// One txid is its own root; an empty list gives [`Hash256::ZERO`].
///
/// Duplication means `[a, b, c]` and `[a, b, c, c]` share a root
/// (CVE-2012-2459); block validation rejects duplicate txids for that reason.
pub fn merkle_root(txids: &[Txid]) -> Hash256 {
    if txids.is_empty() {
        return Hash256::ZERO;
    }
    let mut level: Vec<Hash256> = txids.iter().map(|t| t.0).collect();
    let mut buf = [0u8; 64];
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            let left = pair[0];
            let right = pair.get(1).copied().unwrap_or(left);
            buf[..32].copy_from_slice(left.as_bytes());
            buf[32..].copy_from_slice(right.as_bytes());
            next.push(sha256d(&buf));
        }
        level = next;
    }
    level[0]
}

/// SHA-256's initial state.
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Leading zero bits of a SHA-256 state read as its big-endian digest.
fn state_leading_zero_bits(state: &[u32; 8]) -> u32 {
    let mut n = 0;
    for w in state {
        if *w != 0 {
            return n + w.leading_zeros();
        }
        n += 32;
    }
    n
}

/// Searches nonces `start, start + stride, …` below `end` for one that makes
/// `header` meet its target. Returns the first found, or `None` when the range
/// is exhausted or `cancel()` returns true (polled every 4,096 hashes).
///
/// The first 64 bytes of the header do not change with the nonce, so their
/// SHA-256 state (the midstate) is computed once. Each attempt then costs two
/// compression-function calls on pre-padded blocks (the header's last 16
/// bytes, then the 32-byte first digest) instead of three plus the hasher's
/// buffering, which is what makes the minting loop faster than hashing
/// headers one by one.
pub fn search_nonce(
    header: &BlockHeader,
    start: u32,
    stride: u32,
    end: u32,
    cancel: &dyn Fn() -> bool,
) -> Option<u32> {
    use sha2::block_api::compress256;
    let bytes = header.encode();
    let mut mid = SHA256_IV;
    let mut first = [0u8; 64];
    first.copy_from_slice(&bytes[..64]);
    compress256(&mut mid, &[first]);
    // Second block of the header: its last 16 bytes, padding, length 640 bits.
    let mut tail = [0u8; 64];
    tail[..16].copy_from_slice(&bytes[64..]);
    tail[16] = 0x80;
    tail[56..].copy_from_slice(&(HEADER_LEN as u64 * 8).to_be_bytes());
    // The outer hash's only block: the 32-byte digest, padding, 256 bits.
    let mut outer = [0u8; 64];
    outer[32] = 0x80;
    outer[56..].copy_from_slice(&256u64.to_be_bytes());
    let need = header.bits;
    let stride = stride.max(1);
    let mut nonce = start;
    let mut count: u32 = 0;
    while nonce < end {
        tail[12..16].copy_from_slice(&nonce.to_le_bytes());
        let mut s = mid;
        compress256(&mut s, &[tail]);
        for (i, w) in s.iter().enumerate() {
            outer[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        let mut d = SHA256_IV;
        compress256(&mut d, &[outer]);
        if state_leading_zero_bits(&d) >= need {
            return Some(nonce);
        }
        count = count.wrapping_add(1);
        if count.is_multiple_of(4096) && cancel() {
            return None;
        }
        nonce = nonce.checked_add(stride)?;
    }
    None
}

/// Solves proof of work for `header` on `threads` threads (nonces split by
/// stride): sets the nonce so the header meets its target, advancing the
/// timestamp by one second and starting over whenever all 2^32 nonces fail.
/// Returns false, leaving the header unsolved, if `cancel` becomes true first.
pub fn solve_header(header: &mut BlockHeader, threads: usize, cancel: &AtomicBool) -> bool {
    let threads = threads.clamp(1, 256) as u32;
    loop {
        let found = AtomicBool::new(false);
        let stop = || cancel.load(Ordering::Relaxed) || found.load(Ordering::Relaxed);
        let h = *header;
        let result = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (stop, found) = (&stop, &found);
                    s.spawn(move || {
                        let r = search_nonce(&h, t, threads, u32::MAX, stop);
                        if r.is_some() {
                            found.store(true, Ordering::Relaxed);
                        }
                        r
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().ok().flatten())
                .min()
        });
        if let Some(nonce) = result {
            header.nonce = nonce;
            return true;
        }
        if cancel.load(Ordering::Relaxed) {
            return false;
        }
        header.timestamp = header.timestamp.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(i: u8) -> Txid {
        Txid(sha256d(&[i]))
    }

    #[test]
    fn merkle_single_and_pair() {
        assert_eq!(merkle_root(&[t(1)]), t(1).0);
        let mut b = Vec::new();
        b.extend_from_slice(t(1).as_bytes());
        b.extend_from_slice(t(2).as_bytes());
        assert_eq!(merkle_root(&[t(1), t(2)]), sha256d(&b));
    }

    #[test]
    fn merkle_duplication_gives_same_root() {
        assert_eq!(
            merkle_root(&[t(1), t(2), t(3)]),
            merkle_root(&[t(1), t(2), t(3), t(3)])
        );
    }

    #[test]
    fn header_encoding_is_80_bytes_and_matches_bincode() {
        let h = BlockHeader {
            version: 1,
            prev_block_hash: BlockHash(sha256d(b"p")),
            merkle_root: sha256d(b"m"),
            timestamp: 0x01020304,
            bits: 16,
            nonce: 0xdeadbeef,
        };
        let e = h.encode();
        assert_eq!(&e[68..72], &[4, 3, 2, 1]);
        assert_eq!(&e[76..80], &[0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(crate::core::encode::encode(&h), e.to_vec());
    }

    #[test]
    fn search_agrees_with_header_hash() {
        let mut h = BlockHeader {
            version: 3,
            prev_block_hash: BlockHash(sha256d(b"q")),
            merkle_root: sha256d(b"r"),
            timestamp: 77,
            bits: 6,
            nonce: 0,
        };
        for start in [0u32, 1000, u32::MAX - 200] {
            if let Some(n) = search_nonce(&h, start, 3, u32::MAX, &|| false) {
                let first = (start..=n)
                    .step_by(3)
                    .find(|m| {
                        h.nonce = *m;
                        h.meets_target()
                    })
                    .unwrap();
                assert_eq!(first, n);
            }
        }
    }

    #[test]
    fn search_finds_a_nonce_meeting_the_target() {
        let mut h = BlockHeader {
            version: 1,
            prev_block_hash: BlockHash::ZERO,
            merkle_root: sha256d(b"m"),
            timestamp: 1,
            bits: 10,
            nonce: 0,
        };
        let n = search_nonce(&h, 0, 1, u32::MAX, &|| false).unwrap();
        h.nonce = n;
        assert!(h.meets_target());
        // every earlier nonce fails
        for m in 0..n {
            h.nonce = m;
            assert!(!h.meets_target());
        }
        let mut h2 = h;
        assert!(solve_header(&mut h2, 2, &AtomicBool::new(false)));
        assert!(h2.meets_target());
    }
}
