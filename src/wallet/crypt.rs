//! Encryption at rest of the wallet's secrets: a 32-byte key from the
//! passphrase by Argon2id (RFC 9106, version 0x13), then XChaCha20-Poly1305
//! (RFC 8439 with a 24-byte nonce) over the secrets, through the `argon2` and
//! `chacha20poly1305` crates.
//!
//! The salt (16 bytes) and nonce (24 bytes) are fresh from the OS RNG at
//! every encryption. The Argon2 cost parameters are stored with the
//! ciphertext, so a later change of [`DEFAULT_COST`] still opens old files.
//! A wrong passphrase fails the Poly1305 tag check: [`CryptError::WrongPassphrase`].

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Argon2id cost: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub passes: u32,
    /// Degree of parallelism.
    pub lanes: u32,
}

/// The cost new encryptions use: 64 MiB, 3 passes, 1 lane (about 0.2 s on
/// one core of a current machine).
pub const DEFAULT_COST: Cost = Cost {
    memory_kib: 64 * 1024,
    passes: 3,
    lanes: 1,
};

/// Largest memory cost a wallet file may ask for (256 MiB, four times
/// [`DEFAULT_COST`]): a damaged or hostile file cannot make unlocking
/// allocate more.
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// Most passes a wallet file may ask for.
pub const MAX_PASSES: u32 = 16;

/// Most lanes a wallet file may ask for.
pub const MAX_LANES: u32 = 16;

/// Largest total work a wallet file may ask for, in KiB-passes (memory ×
/// passes: 1 GiB-pass, about five times [`DEFAULT_COST`], a few seconds):
/// a file cannot combine the largest memory with the most passes and make
/// unlocking spin for minutes.
pub const MAX_WORK_KIB_PASSES: u64 = 1024 * 1024;

/// Checks `cost` against the limits above.
///
/// Errors: [`CryptError::Params`] naming the cost.
pub fn check_cost(cost: Cost) -> Result<(), CryptError> {
    let work = u64::from(cost.memory_kib) * u64::from(cost.passes);
    if cost.memory_kib > MAX_MEMORY_KIB
        || cost.passes > MAX_PASSES
        || cost.lanes > MAX_LANES
        || work > MAX_WORK_KIB_PASSES
    {
        return Err(CryptError::Params(format!(
            "{cost:?} is above the limits ({MAX_MEMORY_KIB} KiB, {MAX_PASSES} passes, \
             {MAX_LANES} lanes, {MAX_WORK_KIB_PASSES} KiB-passes)"
        )));
    }
    Ok(())
}

/// Secrets encrypted under a passphrase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Argon2id cost used.
    pub cost: Cost,
    /// Argon2id salt.
    pub salt: [u8; 16],
    /// XChaCha20-Poly1305 nonce.
    pub nonce: [u8; 24],
    /// Ciphertext with its 16-byte tag at the end.
    pub ciphertext: Vec<u8>,
}

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    /// The passphrase does not open the secrets (or the ciphertext was
    /// altered: the tag cannot tell the two apart).
    #[error("wrong passphrase: it does not decrypt this wallet")]
    WrongPassphrase,
    /// The stored cost parameters are out of bounds or rejected by Argon2.
    #[error("bad key-derivation parameters: {0}")]
    Params(String),
    /// The OS random number generator failed.
    #[error("cannot read the OS random number generator: {0}")]
    Rng(String),
}

fn derive_key(
    passphrase: &[u8],
    salt: &[u8; 16],
    cost: Cost,
) -> Result<Zeroizing<[u8; 32]>, CryptError> {
    check_cost(cost)?;
    let params = Params::new(cost.memory_kib, cost.passes, cost.lanes, Some(32))
        .map_err(|e| CryptError::Params(e.to_string()))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, &mut key[..])
        .map_err(|e| CryptError::Params(e.to_string()))?;
    Ok(key)
}

/// Encrypts `plain` under `passphrase` at `cost`; `aad` (not secret) is
/// authenticated with it and must be given again to [`open`].
///
/// Errors: [`CryptError::Rng`], [`CryptError::Params`].
pub fn seal(plain: &[u8], passphrase: &[u8], aad: &[u8], cost: Cost) -> Result<Sealed, CryptError> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut salt).map_err(|e| CryptError::Rng(e.to_string()))?;
    getrandom::fill(&mut nonce).map_err(|e| CryptError::Rng(e.to_string()))?;
    let key = derive_key(passphrase, &salt, cost)?;
    let cipher = XChaCha20Poly1305::new(key.as_slice().into());
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
        .map_err(|_| CryptError::Params("encryption failed".to_string()))?;
    Ok(Sealed {
        cost,
        salt,
        nonce,
        ciphertext,
    })
}

/// Decrypts `sealed` with `passphrase` and the same `aad` as [`seal`].
///
/// Errors: [`CryptError::WrongPassphrase`], [`CryptError::Params`].
pub fn open(
    sealed: &Sealed,
    passphrase: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptError> {
    let key = derive_key(passphrase, &sealed.salt, sealed.cost)?;
    let cipher = XChaCha20Poly1305::new(key.as_slice().into());
    cipher
        .decrypt(
            XNonce::from_slice(&sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptError::WrongPassphrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Cost = Cost {
        memory_kib: 64,
        passes: 1,
        lanes: 1,
    };

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let s = seal(b"secret seed", b"pass", b"aad", FAST).unwrap();
        assert!(!s.ciphertext.windows(6).any(|w| w == b"secret"));
        assert_eq!(&open(&s, b"pass", b"aad").unwrap()[..], b"secret seed");
        assert!(matches!(
            open(&s, b"pasS", b"aad"),
            Err(CryptError::WrongPassphrase)
        ));
        assert!(matches!(
            open(&s, b"pass", b"other"),
            Err(CryptError::WrongPassphrase)
        ));
        let mut t = s.clone();
        t.ciphertext[0] ^= 1;
        assert!(matches!(
            open(&t, b"pass", b"aad"),
            Err(CryptError::WrongPassphrase)
        ));
        // Fresh salt and nonce every time.
        let s2 = seal(b"secret seed", b"pass", b"aad", FAST).unwrap();
        assert_ne!(s.salt, s2.salt);
        assert_ne!(s.nonce, s2.nonce);
    }

    #[test]
    fn hostile_cost_is_refused_without_allocating() {
        let mut s = seal(b"x", b"p", b"", FAST).unwrap();
        s.cost.memory_kib = u32::MAX;
        assert!(matches!(open(&s, b"p", b""), Err(CryptError::Params(_))));
        // 1 GiB of memory, or the largest memory with the most passes: each
        // refused at once (not seconds of hashing and then a tag failure).
        for cost in [
            Cost {
                memory_kib: 1024 * 1024,
                passes: 1,
                lanes: 1,
            },
            Cost {
                memory_kib: 256 * 1024,
                passes: 16,
                lanes: 1,
            },
        ] {
            s.cost = cost;
            assert!(
                matches!(open(&s, b"p", b""), Err(CryptError::Params(_))),
                "{cost:?}"
            );
        }
        // The default cost is within the limits.
        check_cost(DEFAULT_COST).unwrap();
    }
}
