//! Transactions, outpoints, the txid and the sighash.
//!
//! # Txid
//! `txid = sha256d(txid preimage)`, where the preimage is the transaction
//! *without its witness* (signatures and public keys), laid out as:
//!
//! | field | bytes |
//! |---|---|
//! | version | u32 little-endian |
//! | input count | u32 little-endian |
//! | per input: previous txid ‖ vout | 32 ‖ u32 little-endian |
//! | output count | u32 little-endian |
//! | per output: value ‖ pubkey hash | u64 little-endian ‖ 20 |
//! | coinbase height | u64 little-endian |
//!
//! Because the witness is outside the txid, nobody who relays a transaction
//! can change its txid by re-encoding a signature (Bitcoin's malleability
//! problem, fixed the way segwit fixed it).
//!
//! # Sighash
//! Input `i` signs `sighash = sha256d(txid ‖ i as u32 LE ‖ spent value u64 LE
//! ‖ spent pubkey hash)`. The txid already commits to every input's outpoint
//! and every output, so changing any output after signing invalidates every
//! signature; the spent output's value and owner are committed as well.
//! The signature is ECDSA over P-256 with SHA-256 of the 32-byte sighash as
//! the message, encoded as IEEE P1363 `r ‖ s` (64 bytes).

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature as EcdsaSignature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_big_array::BigArray;

use super::hash::{Hash256, Txid, hash160, sha256d};
use super::params::TX_VERSION;

/// Length of a SEC1 uncompressed P-256 public key: `0x04 ‖ x ‖ y`.
pub const PUBKEY_LEN: usize = 65;
/// Length of an IEEE P1363 P-256 signature: `r ‖ s`, each 32 bytes big-endian.
pub const SIGNATURE_LEN: usize = 64;

/// A reference to one output of an earlier transaction: `txid:vout`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct OutPoint {
    /// The transaction holding the output.
    pub txid: Txid,
    /// The output's index in that transaction.
    pub vout: u32,
}

impl OutPoint {
    /// The null outpoint a coinbase input carries: zero txid, vout `u32::MAX`.
    pub const NULL: OutPoint = OutPoint {
        txid: Txid::ZERO,
        vout: u32::MAX,
    };

    /// True for [`OutPoint::NULL`].
    pub fn is_null(&self) -> bool {
        *self == Self::NULL
    }

    /// 36-byte key: txid (32) ‖ vout (u32 big-endian, so keys sort by vout).
    pub fn to_key(&self) -> [u8; 36] {
        let mut k = [0u8; 36];
        k[..32].copy_from_slice(self.txid.as_bytes());
        k[32..].copy_from_slice(&self.vout.to_be_bytes());
        k
    }

    /// Inverse of [`OutPoint::to_key`]; `None` unless `key` is 36 bytes.
    pub fn from_key(key: &[u8]) -> Option<OutPoint> {
        let txid: [u8; 32] = key.get(..32)?.try_into().ok()?;
        let vout: [u8; 4] = key.get(32..36)?.try_into().ok()?;
        if key.len() != 36 {
            return None;
        }
        Some(OutPoint {
            txid: Txid(Hash256(txid)),
            vout: u32::from_be_bytes(vout),
        })
    }
}

impl std::fmt::Display for OutPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.txid, self.vout)
    }
}

impl std::fmt::Debug for OutPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A transaction input: the outpoint it spends and its witness.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxIn {
    /// The output being spent ([`OutPoint::NULL`] in a coinbase).
    pub prev_out: OutPoint,
    /// P-256 ECDSA signature `r ‖ s` over this input's sighash (zeros in a coinbase).
    #[serde(with = "BigArray")]
    pub signature: [u8; SIGNATURE_LEN],
    /// SEC1 uncompressed public key of the spent output's owner (zeros in a coinbase).
    #[serde(with = "BigArray")]
    pub pubkey: [u8; PUBKEY_LEN],
}

impl std::fmt::Debug for TxIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxIn")
            .field("prev_out", &self.prev_out)
            .field("signature", &hex::encode(self.signature))
            .field("pubkey", &hex::encode(self.pubkey))
            .finish()
    }
}

impl TxIn {
    /// An unsigned input spending `prev_out`.
    pub fn unsigned(prev_out: OutPoint) -> TxIn {
        TxIn {
            prev_out,
            signature: [0; SIGNATURE_LEN],
            pubkey: [0; PUBKEY_LEN],
        }
    }
}

/// A transaction output: an amount locked to a public-key hash.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TxOut {
    /// Amount in whole coins.
    pub value: u64,
    /// hash160 of the owner's SEC1 uncompressed public key.
    pub pubkey_hash: [u8; 20],
}

/// A transaction. See the module docs for the txid and sighash layouts.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Transaction {
    /// Format version ([`TX_VERSION`]).
    pub version: u32,
    /// Inputs; a coinbase has exactly one, spending [`OutPoint::NULL`].
    pub inputs: Vec<TxIn>,
    /// Outputs, indexed by `vout`.
    pub outputs: Vec<TxOut>,
    /// For a coinbase: the height of its block (as BIP 34 requires, so no two
    /// coinbases share a txid). Zero in every other transaction.
    pub coinbase_height: u64,
}

/// Why a signature could not be made or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// The input index is past the end of the inputs.
    #[error("input {0} does not exist")]
    NoSuchInput(usize),
    /// The public key is not a valid SEC1 uncompressed P-256 point.
    #[error("public key is not a valid P-256 point")]
    BadPubkey,
    /// The signature bytes are not a valid `r ‖ s` (e.g. r or s zero or ≥ n).
    #[error("signature is malformed")]
    BadSignatureEncoding,
    /// The signature does not verify for this key and message.
    #[error("signature does not verify")]
    Invalid,
}

impl Transaction {
    /// A coinbase for a block at `height` paying `value` to `pubkey_hash`.
    pub fn coinbase(height: u64, pubkey_hash: [u8; 20], value: u64) -> Transaction {
        Transaction {
            version: TX_VERSION,
            inputs: vec![TxIn::unsigned(OutPoint::NULL)],
            outputs: vec![TxOut { value, pubkey_hash }],
            coinbase_height: height,
        }
    }

    /// True when this is shaped like a coinbase: exactly one input, spending
    /// the null outpoint.
    pub fn is_coinbase(&self) -> bool {
        self.inputs.len() == 1 && self.inputs[0].prev_out.is_null()
    }

    /// The txid preimage (module docs), appended to `out`.
    pub fn write_txid_preimage(&self, out: &mut Vec<u8>) {
        out.reserve(16 + self.inputs.len() * 36 + self.outputs.len() * 28);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.inputs.len() as u32).to_le_bytes());
        for i in &self.inputs {
            out.extend_from_slice(i.prev_out.txid.as_bytes());
            out.extend_from_slice(&i.prev_out.vout.to_le_bytes());
        }
        out.extend_from_slice(&(self.outputs.len() as u32).to_le_bytes());
        for o in &self.outputs {
            out.extend_from_slice(&o.value.to_le_bytes());
            out.extend_from_slice(&o.pubkey_hash);
        }
        out.extend_from_slice(&self.coinbase_height.to_le_bytes());
    }

    /// `sha256d` of the txid preimage: the witness is not covered.
    pub fn txid(&self) -> Txid {
        let mut buf = Vec::new();
        self.write_txid_preimage(&mut buf);
        Txid(sha256d(&buf))
    }

    /// `sha256d` of the full bincode encoding, witness included. The block's
    /// merkle root is built from these, so a block hash commits to every
    /// signature and public key in it and nobody relaying a block can alter
    /// a witness without changing the block's hash.
    pub fn wtxid(&self) -> Hash256 {
        sha256d(&crate::core::encode::encode(self))
    }

    /// The outputs this transaction creates, as (outpoint, output), given
    /// its `txid` (passed in so callers that have it do not hash again).
    pub fn created_outputs(&self, txid: Txid) -> impl Iterator<Item = (OutPoint, TxOut)> + '_ {
        self.outputs.iter().enumerate().map(move |(vout, o)| {
            (
                OutPoint {
                    txid,
                    vout: vout as u32,
                },
                *o,
            )
        })
    }

    /// Applies this transaction to an in-memory UTXO set: removes the
    /// outputs it spends (none for a coinbase), adds those it creates.
    ///
    /// Errors: the first spent outpoint missing from `set` (the set is left
    /// partly updated).
    pub fn apply_to(
        &self,
        set: &mut std::collections::HashMap<OutPoint, TxOut>,
    ) -> Result<(), OutPoint> {
        if !self.is_coinbase() {
            for i in &self.inputs {
                set.remove(&i.prev_out).ok_or(i.prev_out)?;
            }
        }
        set.extend(self.created_outputs(self.txid()));
        Ok(())
    }

    /// Sum of output values; `None` on u64 overflow.
    pub fn output_sum(&self) -> Option<u64> {
        self.outputs
            .iter()
            .try_fold(0u64, |acc, o| acc.checked_add(o.value))
    }

    /// Signs input `index`, which spends `spent`, with `key`, filling in the
    /// input's signature and public key. Errors: [`SigError::NoSuchInput`].
    pub fn sign_input(
        &mut self,
        index: usize,
        spent: &TxOut,
        key: &SigningKey,
    ) -> Result<(), SigError> {
        let txid = self.txid();
        let msg = sighash(&txid, index as u32, spent);
        let sig: EcdsaSignature = key.sign(msg.as_bytes());
        let pubkey = pubkey_bytes(key.verifying_key());
        let input = self
            .inputs
            .get_mut(index)
            .ok_or(SigError::NoSuchInput(index))?;
        input.signature.copy_from_slice(&sig.to_bytes());
        input.pubkey = pubkey;
        Ok(())
    }
}

/// The message input `index` signs (module docs).
pub fn sighash(txid: &Txid, index: u32, spent: &TxOut) -> Hash256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(txid.as_bytes());
    buf[32..36].copy_from_slice(&index.to_le_bytes());
    buf[36..44].copy_from_slice(&spent.value.to_le_bytes());
    buf[44..64].copy_from_slice(&spent.pubkey_hash);
    sha256d(&buf)
}

/// SEC1 uncompressed encoding (65 bytes) of a verifying key.
pub fn pubkey_bytes(key: &VerifyingKey) -> [u8; PUBKEY_LEN] {
    let point = key.to_sec1_point(false);
    let mut out = [0u8; PUBKEY_LEN];
    out.copy_from_slice(point.as_bytes());
    out
}

/// hash160 of a SEC1 uncompressed public key: what an output locks to.
pub fn pubkey_hash(pubkey: &[u8; PUBKEY_LEN]) -> [u8; 20] {
    hash160(pubkey)
}

/// Signature verification lives in [`crate::core::ecdsa`]; re-exported
/// here, where transactions are signed.
pub use crate::core::ecdsa::verify_signature;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    #[test]
    fn txid_ignores_witness() {
        let mut tx = Transaction {
            version: 1,
            inputs: vec![TxIn::unsigned(OutPoint {
                txid: Txid(sha256d(b"a")),
                vout: 0,
            })],
            outputs: vec![TxOut {
                value: 5,
                pubkey_hash: [1; 20],
            }],
            coinbase_height: 0,
        };
        let before = tx.txid();
        let spent = TxOut {
            value: 5,
            pubkey_hash: pubkey_hash(&pubkey_bytes(key(1).verifying_key())),
        };
        tx.sign_input(0, &spent, &key(1)).unwrap();
        assert_eq!(tx.txid(), before);
        tx.outputs[0].value = 4;
        assert_ne!(tx.txid(), before);
    }

    #[test]
    fn txid_preimage_layout_is_as_documented() {
        let tx = Transaction::coinbase(7, [0xab; 20], 20);
        let mut b = Vec::new();
        tx.write_txid_preimage(&mut b);
        let mut want = Vec::new();
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(&[0u8; 32]);
        want.extend_from_slice(&u32::MAX.to_le_bytes());
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(&20u64.to_le_bytes());
        want.extend_from_slice(&[0xab; 20]);
        want.extend_from_slice(&7u64.to_le_bytes());
        assert_eq!(b, want);
        assert_ne!(
            Transaction::coinbase(8, [0xab; 20], 20).txid(),
            tx.txid(),
            "coinbases at different heights must differ"
        );
    }

    #[test]
    fn signature_round_trip_and_tamper() {
        let k = key(3);
        let pk = pubkey_bytes(k.verifying_key());
        let sig: EcdsaSignature = k.sign(b"hello");
        assert!(verify_signature(&pk, b"hello", &sig.to_bytes()).is_ok());
        assert_eq!(
            verify_signature(&pk, b"hellO", &sig.to_bytes()),
            Err(SigError::Invalid)
        );
        assert_eq!(
            verify_signature(&[0u8; 65], b"hello", &sig.to_bytes()),
            Err(SigError::BadPubkey)
        );
        assert_eq!(
            verify_signature(&pk, b"hello", &[0u8; 64]),
            Err(SigError::BadSignatureEncoding)
        );
    }

    #[test]
    fn outpoint_key_round_trip() {
        let op = OutPoint {
            txid: Txid(sha256d(b"x")),
            vout: 513,
        };
        assert_eq!(OutPoint::from_key(&op.to_key()), Some(op));
        assert_eq!(OutPoint::from_key(&[0u8; 35]), None);
        assert_eq!(OutPoint::from_key(&[0u8; 37]), None);
    }
}
