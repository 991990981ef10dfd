//! ECDSA P-256 / SHA-256 signature verification, the consensus check of
//! every input's signature.
//!
//! # What is verified
//! `verify_signature(pubkey, msg, signature)` accepts when `signature` is a
//! 64-byte IEEE P1363 `r ‖ s` (big-endian, each 32 bytes) of SHA-256(`msg`)
//! under `pubkey`, a 65-byte SEC1 uncompressed point `0x04 ‖ x ‖ y` on P-256.
//! For transactions `msg` is the input's 32-byte sighash (see
//! [`crate::core::tx`]). Both `r` and `s` must lie in `[1, n-1]`; a high `s`
//! (greater than n/2) is accepted, as it always was: transactions do not
//! need low-S because signatures are outside the txid.
//!
//! # Two backends, one answer
//! Verification runs on [`ring`] (about four times faster than the `p256`
//! crate on this project's machines); `p256` still makes the keys and
//! signatures and stays here as the reference ([`verify_p256`]). The two
//! agree on every Project Wycheproof P-256 P1363 case, on random and mutated
//! inputs (high-S, `r`/`s` of 0, n-1, n and above n, keys off the curve) and
//! under a differential fuzz target, so consensus does not depend on the
//! backend. ring only says yes or no; when it says no, the reason
//! ([`SigError`]) is found with p256's cheap parsers, so both functions
//! return the same `Result` for the same input.

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature as EcdsaSignature, VerifyingKey};
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

use crate::core::tx::{PUBKEY_LEN, SigError};

/// A signature verification implementation (for tests and benchmarks; the
/// node always uses [`verify_signature`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigBackend {
    /// `ring`, the consensus path.
    Ring,
    /// The `p256` crate, the reference.
    P256,
}

impl SigBackend {
    /// Verifies with this backend: [`verify_signature`] or [`verify_p256`].
    pub fn verify(self, pubkey: &[u8], msg: &[u8], signature: &[u8]) -> Result<(), SigError> {
        match self {
            SigBackend::Ring => verify_signature(pubkey, msg, signature),
            SigBackend::P256 => verify_p256(pubkey, msg, signature),
        }
    }
}

/// Verifies an ECDSA P-256 / SHA-256 signature `r ‖ s` (64 bytes) of `msg`
/// by the 65-byte SEC1 uncompressed public key `pubkey`, with ring.
///
/// Errors, checked in this order once ring rejects: [`SigError::BadPubkey`]
/// when `pubkey` is not 65 bytes or not a point on the curve,
/// [`SigError::BadSignatureEncoding`] when `signature` is not 64 bytes or
/// `r` or `s` is 0 or ≥ n, else [`SigError::Invalid`].
pub fn verify_signature(pubkey: &[u8], msg: &[u8], signature: &[u8]) -> Result<(), SigError> {
    if UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pubkey)
        .verify(msg, signature)
        .is_ok()
    {
        return Ok(());
    }
    Err(match parse(pubkey, signature) {
        Err(e) => e,
        Ok(_) => SigError::Invalid,
    })
}

/// The same check as [`verify_signature`] with the `p256` crate: the
/// reference the fast path is compared against.
///
/// Errors: as [`verify_signature`].
pub fn verify_p256(pubkey: &[u8], msg: &[u8], signature: &[u8]) -> Result<(), SigError> {
    let (key, sig) = parse(pubkey, signature)?;
    key.verify(msg, &sig).map_err(|_| SigError::Invalid)
}

/// Parses the key (65-byte uncompressed SEC1 only) and the `r ‖ s` bytes.
fn parse(pubkey: &[u8], signature: &[u8]) -> Result<(VerifyingKey, EcdsaSignature), SigError> {
    if pubkey.len() != PUBKEY_LEN {
        return Err(SigError::BadPubkey);
    }
    let key = VerifyingKey::from_sec1_bytes(pubkey).map_err(|_| SigError::BadPubkey)?;
    let sig = EcdsaSignature::from_slice(signature).map_err(|_| SigError::BadSignatureEncoding)?;
    Ok((key, sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tx::pubkey_bytes;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;

    fn signed(msg: &[u8]) -> ([u8; 65], [u8; 64]) {
        let key = SigningKey::from_slice(&[3; 32]).expect("scalar");
        let sig: EcdsaSignature = key.sign(msg);
        (pubkey_bytes(key.verifying_key()), sig.to_bytes().into())
    }

    #[test]
    fn both_backends_accept_a_good_signature_and_name_the_same_errors() {
        let (pk, sig) = signed(b"msg");
        for b in [SigBackend::Ring, SigBackend::P256] {
            assert_eq!(b.verify(&pk, b"msg", &sig), Ok(()), "{b:?}");
            assert_eq!(b.verify(&pk, b"msG", &sig), Err(SigError::Invalid));
            assert_eq!(b.verify(&[0; 65], b"msg", &sig), Err(SigError::BadPubkey));
            assert_eq!(b.verify(&pk[..33], b"msg", &sig), Err(SigError::BadPubkey));
            assert_eq!(
                b.verify(&pk, b"msg", &[0; 64]),
                Err(SigError::BadSignatureEncoding)
            );
            assert_eq!(
                b.verify(&pk, b"msg", &sig[..63]),
                Err(SigError::BadSignatureEncoding)
            );
        }
    }

    #[test]
    fn a_compressed_key_is_refused_by_both() {
        let key = SigningKey::from_slice(&[3; 32]).expect("scalar");
        let (_, sig) = signed(b"msg");
        let compressed = key.verifying_key().to_sec1_point(true);
        for b in [SigBackend::Ring, SigBackend::P256] {
            assert_eq!(
                b.verify(compressed.as_bytes(), b"msg", &sig),
                Err(SigError::BadPubkey),
                "{b:?}"
            );
        }
    }
}
