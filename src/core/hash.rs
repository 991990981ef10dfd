//! Hash functions and typed hash values.
//!
//! * [`sha256d`] is SHA-256 applied twice, as Bitcoin uses for block hashes,
//!   txids and message checksums.
//! * [`hash160`] is RIPEMD-160(SHA-256(x)), as Bitcoin uses for the public-key
//!   hash in an address.
//!
//! Hashes are shown as lowercase hex of their bytes in storage order (no byte
//! reversal, unlike Bitcoin Core's display). Proof of work reads the same bytes
//! as a 256-bit big-endian number, so the leading zero hex digits you see are
//! the leading zero bits the target asks for.

use std::fmt;
use std::str::FromStr;

use ripemd::Ripemd160;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A 32-byte hash, in storage order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Hash256(pub [u8; 32]);

impl Hash256 {
    /// All-zero hash: the "previous block" of genesis and the txid of a
    /// coinbase's null outpoint.
    pub const ZERO: Hash256 = Hash256([0u8; 32]);

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex of the 32 bytes in storage order (64 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Number of leading zero bits when the bytes are read big-endian
    /// (0..=256). Proof of work asks for at least `bits` of them.
    pub fn leading_zero_bits(&self) -> u32 {
        let mut n = 0;
        for b in self.0 {
            if b == 0 {
                n += 8;
            } else {
                return n + b.leading_zeros();
            }
        }
        n
    }
}

/// Error parsing a hash from hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid hash: expected 64 hex characters")]
pub struct ParseHashError;

impl FromStr for Hash256 {
    type Err = ParseHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| ParseHashError)?;
        Ok(Hash256(out))
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

macro_rules! typed_hash {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        pub struct $name(pub Hash256);

        impl $name {
            /// The all-zero value.
            pub const ZERO: $name = $name(Hash256::ZERO);
            /// The raw 32 bytes, in storage order.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0 .0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl FromStr for $name {
            type Err = ParseHashError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

typed_hash!(
    /// A block hash: sha256d of the 80-byte block header encoding
    /// ([`crate::core::block::BlockHeader::encode`]).
    BlockHash
);
typed_hash!(
    /// A transaction id: sha256d of the transaction without its witness
    /// (signatures and public keys); see [`crate::core::tx::Transaction::txid`].
    Txid
);

/// SHA-256 of `data`, once.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Double SHA-256: `SHA-256(SHA-256(data))`.
pub fn sha256d(data: &[u8]) -> Hash256 {
    Hash256(Sha256::digest(Sha256::digest(data)).into())
}

/// `RIPEMD-160(SHA-256(data))`, 20 bytes: the public-key hash of an address.
pub fn hash160(data: &[u8]) -> [u8; 20] {
    Ripemd160::digest(Sha256::digest(data)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256d_of_empty_matches_known_value() {
        // Well-known: sha256d("") = 5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456
        assert_eq!(
            sha256d(b"").to_hex(),
            "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
        );
    }

    #[test]
    fn hash160_of_empty_matches_known_value() {
        // RIPEMD-160(SHA-256("")) = b472a266d0bd89c13706a4132ccfb16f7c3b9fcb
        assert_eq!(
            hex::encode(hash160(b"")),
            "b472a266d0bd89c13706a4132ccfb16f7c3b9fcb"
        );
    }

    #[test]
    fn leading_zero_bits_counts_bits_across_bytes() {
        let mut h = [0xffu8; 32];
        assert_eq!(Hash256(h).leading_zero_bits(), 0);
        h[0] = 0;
        h[1] = 0x0f;
        assert_eq!(Hash256(h).leading_zero_bits(), 12);
        assert_eq!(Hash256::ZERO.leading_zero_bits(), 256);
    }

    #[test]
    fn hex_round_trip_and_rejects_bad_input() {
        let h = sha256d(b"abc");
        assert_eq!(h.to_hex().parse::<Hash256>().unwrap(), h);
        assert!("zz".parse::<Hash256>().is_err());
        assert!("00".repeat(31).parse::<Hash256>().is_err());
    }
}
