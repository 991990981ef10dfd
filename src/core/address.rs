//! Addresses: Base58Check of a version byte and a public-key hash.
//!
//! `address = Base58(0x00 ‖ hash160(pubkey) ‖ checksum)`, where `checksum` is
//! the first 4 bytes of `sha256d(0x00 ‖ hash160(pubkey))` (Bitcoin's P2PKH
//! address format, 25 bytes before Base58).

use std::fmt;
use std::str::FromStr;

use super::hash::sha256d;

/// Version byte of an address (Bitcoin mainnet P2PKH).
pub const ADDRESS_VERSION: u8 = 0x00;

/// An address: the hash160 of the owner's public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 20]);

/// Why a string is not an address. Each rule has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// A character outside the Base58 alphabet.
    #[error("invalid address {0:?}: not Base58")]
    NotBase58(String),
    /// Decoded to other than 25 bytes.
    #[error("invalid address {0:?}: decodes to {1} bytes, expected 25")]
    BadLength(String, usize),
    /// The 4-byte checksum does not match.
    #[error("invalid address {0:?}: checksum mismatch")]
    BadChecksum(String),
    /// The version byte is not [`ADDRESS_VERSION`].
    #[error("invalid address {0:?}: version byte {1:#04x}, expected 0x00")]
    BadVersion(String, u8),
}

/// Base58Check encoding of `payload`: Base58(payload ‖ first 4 bytes of sha256d(payload)).
pub fn base58check_encode(payload: &[u8]) -> String {
    let mut v = payload.to_vec();
    v.extend_from_slice(&sha256d(payload).0[..4]);
    bs58::encode(v).into_string()
}

impl Address {
    /// The public-key hash.
    pub fn pubkey_hash(&self) -> [u8; 20] {
        self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut p = [0u8; 21];
        p[0] = ADDRESS_VERSION;
        p[1..].copy_from_slice(&self.0);
        f.write_str(&base58check_encode(&p))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Address {
    type Err = AddressError;

    /// Errors, checked in this order: [`AddressError::NotBase58`],
    /// [`AddressError::BadLength`], [`AddressError::BadChecksum`],
    /// [`AddressError::BadVersion`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = bs58::decode(s)
            .into_vec()
            .map_err(|_| AddressError::NotBase58(s.to_string()))?;
        if bytes.len() != 25 {
            return Err(AddressError::BadLength(s.to_string(), bytes.len()));
        }
        let (payload, check) = bytes.split_at(21);
        if sha256d(payload).0[..4] != *check {
            return Err(AddressError::BadChecksum(s.to_string()));
        }
        if payload[0] != ADDRESS_VERSION {
            return Err(AddressError::BadVersion(s.to_string(), payload[0]));
        }
        let mut h = [0u8; 20];
        h.copy_from_slice(&payload[1..]);
        Ok(Address(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_bitcoin_address_decodes() {
        // Bitcoin's genesis coinbase address.
        let a: Address = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa".parse().unwrap();
        assert_eq!(hex::encode(a.0), "62e907b15cbf27d5425399ebf6f0fb50ebb88f18");
        assert_eq!(a.to_string(), "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
    }

    #[test]
    fn each_fault_has_its_own_error() {
        assert!(matches!(
            "0OIl".parse::<Address>(),
            Err(AddressError::NotBase58(_))
        ));
        assert!(matches!(
            "1A1zP1eP".parse::<Address>(),
            Err(AddressError::BadLength(..))
        ));
        assert!(matches!(
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb".parse::<Address>(),
            Err(AddressError::BadChecksum(_))
        ));
        let mut p = [0u8; 21];
        p[0] = 0x05;
        let s = base58check_encode(&p);
        assert!(matches!(
            s.parse::<Address>(),
            Err(AddressError::BadVersion(_, 5))
        ));
    }
}
