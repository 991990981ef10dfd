//! Differential check of the two signature backends: ring (what consensus
//! runs) and p256 (the reference) must return the same `Result` for every
//! (public key, message, signature).
//!
//! Input layout: byte 0 picks the mode. Even: the rest is a raw 65-byte key
//! (its tag forced to 0x04 when bit 1 is set), a 64-byte signature and the
//! message. Odd: bytes 1..33 seed a p256 signing key that signs the message
//! (the bytes after 65), then bits 1..4 of byte 0 pick a mutation that uses
//! bytes 33..65: none, high-S (s negated mod n), r or s overwritten, one
//! byte of the signature, key or message changed, a key coordinate
//! overwritten, or the key truncated; so the fuzzer reaches the accepting
//! path as well as every rejection.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use sledchain::core::ecdsa::SigBackend;
use sledchain::core::tx::pubkey_bytes;

/// (key, message, signature) from raw bytes.
fn raw(mode: u8, rest: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let key = rest.get(..65)?;
    let sig = rest.get(65..129)?;
    let msg = rest.get(129..)?;
    let mut key = key.to_vec();
    if mode & 2 != 0 {
        key[0] = 4;
    }
    Some((key, msg.to_vec(), sig.to_vec()))
}

/// A valid (key, message, signature) made by p256, then mutated.
fn signed(mode: u8, rest: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let seed = rest.get(..32)?;
    let extra: [u8; 32] = rest.get(32..64)?.try_into().ok()?;
    let msg = rest.get(64..)?.to_vec();
    let sk = SigningKey::from_slice(seed).ok()?;
    let sig: Signature = sk.sign(&msg);
    let mut key = pubkey_bytes(sk.verifying_key()).to_vec();
    let mut sig_bytes = sig.to_bytes().to_vec();
    let mut msg = msg;
    let at = usize::from(extra[0]);
    match (mode >> 1) & 0x0f {
        0 => {}
        1 => {
            let (r, s) = sig.split_scalars();
            let high = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).ok()?;
            sig_bytes = high.to_bytes().to_vec();
        }
        2 => sig_bytes[..32].copy_from_slice(&extra),
        3 => sig_bytes[32..].copy_from_slice(&extra),
        4 => sig_bytes[at % 64] ^= extra[1] | 1,
        5 => key[at % 65] ^= extra[1] | 1,
        6 if !msg.is_empty() => {
            let len = msg.len();
            msg[at % len] ^= extra[1] | 1;
        }
        7 => key[1..33].copy_from_slice(&extra),
        8 => key[33..65].copy_from_slice(&extra),
        9 => key.truncate(at % 65),
        10 => sig_bytes.truncate(at % 64),
        _ => {}
    }
    Some((key, msg, sig_bytes))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let made = if mode & 1 == 0 {
        raw(mode, rest)
    } else {
        signed(mode, rest)
    };
    let Some((key, msg, sig)) = made else {
        return;
    };
    let ring = SigBackend::Ring.verify(&key, &msg, &sig);
    let p256 = SigBackend::P256.verify(&key, &msg, &sig);
    assert_eq!(
        ring,
        p256,
        "backends differ: key {}, msg {}, sig {}",
        hex(&key),
        hex(&msg),
        hex(&sig)
    );
});

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
