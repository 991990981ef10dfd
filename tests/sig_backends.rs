//! The two signature backends (ring, the consensus path, and p256, the
//! reference) must return the same `Result` for every input: random and
//! mutated keys, signatures and messages, high-S signatures and the edge
//! scalars 0, 1, n-1, n, n+1 and 2^256-1 for `r` and `s`.

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use proptest::prelude::*;
use sledchain::core::ecdsa::SigBackend;
use sledchain::core::tx::{SigError, pubkey_bytes};

/// The order n of the P-256 group, big-endian.
const N: [u8; 32] = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
/// The field prime p of P-256, big-endian.
const P: [u8; 32] = hex32("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");

const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'a' + 10,
    }
}

/// `a - b` on 256-bit big-endian numbers (wrapping).
fn sub(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        out[i] = d.rem_euclid(256) as u8;
    }
    out
}

/// `a + b` on 256-bit big-endian numbers (wrapping).
fn add(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        carry = s >> 8;
        out[i] = s as u8;
    }
    out
}

fn small(v: u8) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[31] = v;
    out
}

/// The edge values tried for `r` and `s`.
fn edge(i: usize) -> [u8; 32] {
    match i % 7 {
        0 => [0; 32],
        1 => small(1),
        2 => sub(&N, &small(1)),
        3 => N,
        4 => add(&N, &small(1)),
        5 => P,
        _ => [0xff; 32],
    }
}

/// What is done to a valid (key, message, signature) before verifying.
#[derive(Clone, Debug)]
enum Mutation {
    None,
    HighS,
    EdgeR(usize),
    EdgeS(usize),
    /// r + n or s + n (same residue, out of range).
    PlusN {
        s: bool,
    },
    FlipSigBit(usize),
    FlipMsgBit(usize),
    FlipKeyBit(usize),
    KeyTag(u8),
    /// x or y replaced by p + it or by p itself.
    KeyCoordOutOfField {
        y: bool,
        plus: bool,
    },
    /// y replaced by p - y: the negated point, still on the curve.
    NegateKey,
    OtherKey([u8; 32]),
    Truncate {
        key: bool,
        len: usize,
    },
    RandomSig([u8; 32], [u8; 32]),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::None),
        3 => Just(Mutation::HighS),
        2 => (0..7usize).prop_map(Mutation::EdgeR),
        2 => (0..7usize).prop_map(Mutation::EdgeS),
        1 => any::<bool>().prop_map(|s| Mutation::PlusN { s }),
        2 => (0..512usize).prop_map(Mutation::FlipSigBit),
        1 => (0..512usize).prop_map(Mutation::FlipMsgBit),
        2 => (0..520usize).prop_map(Mutation::FlipKeyBit),
        1 => any::<u8>().prop_map(Mutation::KeyTag),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(y, plus)| Mutation::KeyCoordOutOfField { y, plus }),
        1 => Just(Mutation::NegateKey),
        1 => any::<[u8; 32]>().prop_map(Mutation::OtherKey),
        1 => (any::<bool>(), 0..66usize).prop_map(|(key, len)| Mutation::Truncate { key, len }),
        1 => (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(r, s)| Mutation::RandomSig(r, s)),
    ]
}

/// A signing key from 32 random bytes (retried on the rare invalid scalar).
fn signing_key(seed: [u8; 32]) -> SigningKey {
    let mut bytes = seed;
    loop {
        if let Ok(k) = SigningKey::from_slice(&bytes) {
            return k;
        }
        bytes[31] = bytes[31].wrapping_add(1);
        bytes[0] >>= 1;
    }
}

fn flip(bytes: &mut [u8], bit: usize) {
    let len = bytes.len();
    if len > 0 {
        bytes[(bit / 8) % len] ^= 1 << (bit % 8);
    }
}

/// Applies `m` to a valid triple. Returns (pubkey, msg, signature).
fn apply(m: &Mutation, key: [u8; 65], msg: Vec<u8>, sig: [u8; 64]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (mut key, mut msg, mut sig) = (key.to_vec(), msg, sig.to_vec());
    let r: [u8; 32] = sig[..32].try_into().expect("32");
    let s: [u8; 32] = sig[32..].try_into().expect("32");
    match m {
        Mutation::None => {}
        Mutation::HighS => sig[32..].copy_from_slice(&sub(&N, &s)),
        Mutation::EdgeR(i) => sig[..32].copy_from_slice(&edge(*i)),
        Mutation::EdgeS(i) => sig[32..].copy_from_slice(&edge(*i)),
        Mutation::PlusN { s: false } => sig[..32].copy_from_slice(&add(&r, &N)),
        Mutation::PlusN { s: true } => sig[32..].copy_from_slice(&add(&s, &N)),
        Mutation::FlipSigBit(b) => flip(&mut sig, *b),
        Mutation::FlipMsgBit(b) => flip(&mut msg, *b),
        Mutation::FlipKeyBit(b) => flip(&mut key, *b),
        Mutation::KeyTag(t) => key[0] = *t,
        Mutation::KeyCoordOutOfField { y, plus } => {
            let at = if *y { 33 } else { 1 };
            let c: [u8; 32] = key[at..at + 32].try_into().expect("32");
            let v = if *plus { add(&c, &P) } else { P };
            key[at..at + 32].copy_from_slice(&v);
        }
        Mutation::NegateKey => {
            let y: [u8; 32] = key[33..].try_into().expect("32");
            key[33..].copy_from_slice(&sub(&P, &y));
        }
        Mutation::OtherKey(seed) => key = pubkey_bytes(signing_key(*seed).verifying_key()).to_vec(),
        Mutation::Truncate { key: true, len } => key.truncate(*len),
        Mutation::Truncate { key: false, len } => sig.truncate(*len),
        Mutation::RandomSig(r, s) => {
            sig[..32].copy_from_slice(r);
            sig[32..].copy_from_slice(s);
        }
    }
    (key, msg, sig)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn ring_and_p256_agree_on_mutated_signatures(
        seed in any::<[u8; 32]>(),
        msg in proptest::collection::vec(any::<u8>(), 0..100),
        m in mutation(),
    ) {
        let sk = signing_key(seed);
        let sig: Signature = sk.sign(&msg);
        let (key, msg2, sig2) = apply(&m, pubkey_bytes(sk.verifying_key()), msg, sig.to_bytes().into());
        let ring = SigBackend::Ring.verify(&key, &msg2, &sig2);
        let p256 = SigBackend::P256.verify(&key, &msg2, &sig2);
        prop_assert_eq!(&ring, &p256, "mutation {:?}", m);
        // The untouched and the high-S signature verify on both.
        if matches!(m, Mutation::None | Mutation::HighS) {
            prop_assert_eq!(ring, Ok(()));
        }
    }

    #[test]
    fn ring_and_p256_agree_on_random_bytes(
        key in proptest::collection::vec(any::<u8>(), 65),
        tag4 in any::<bool>(),
        msg in proptest::collection::vec(any::<u8>(), 0..64),
        sig in proptest::collection::vec(any::<u8>(), 64),
    ) {
        let mut key = key;
        if tag4 {
            key[0] = 4;
        }
        let ring = SigBackend::Ring.verify(&key, &msg, &sig);
        prop_assert_eq!(&ring, &SigBackend::P256.verify(&key, &msg, &sig));
        // Random bytes are (all but certainly) not a point on the curve.
        prop_assert_eq!(ring, Err(SigError::BadPubkey));
    }
}

/// The edge scalars on one valid key, every pair of (r, s) edges, and each
/// edge with the valid other half: every one rejected, identically.
#[test]
fn edge_scalars_are_rejected_identically() {
    let sk = signing_key([9; 32]);
    let key = pubkey_bytes(sk.verifying_key());
    let sig: Signature = sk.sign(b"edge");
    let good: [u8; 64] = sig.to_bytes().into();
    for i in 0..7 {
        for j in 0..8 {
            let mut s = good;
            s[..32].copy_from_slice(&edge(i));
            if j < 7 {
                s[32..].copy_from_slice(&edge(j));
            }
            let ring = SigBackend::Ring.verify(&key, b"edge", &s);
            assert_eq!(
                ring,
                SigBackend::P256.verify(&key, b"edge", &s),
                "r {i} s {j}"
            );
            assert!(ring.is_err(), "r edge {i}, s edge {j} accepted");
            let mut t = good;
            t[32..].copy_from_slice(&edge(i));
            let ring = SigBackend::Ring.verify(&key, b"edge", &t);
            assert_eq!(ring, SigBackend::P256.verify(&key, b"edge", &t), "s {i}");
            assert!(ring.is_err(), "s edge {i} accepted");
        }
    }
}

/// The arithmetic helpers the mutations rely on.
#[test]
fn helpers_compute_what_they_say() {
    assert_eq!(add(&sub(&N, &small(1)), &small(1)), N);
    assert_eq!(sub(&small(0), &small(1)), [0xff; 32]);
    assert_eq!(N[0], 0xff);
    assert_eq!(&P[28..], &[0xff; 4]);
}
