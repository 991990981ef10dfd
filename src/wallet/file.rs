//! The wallet file: its layout, parsing and writing.
//!
//! Every version starts with the same header and ends with the same
//! checksum:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | magic: ASCII `SLEDWLLT` |
//! | 8 | 4 | format version: u32 little-endian |
//! | 12 | n | the body (below) |
//! | 12 + n | 4 | checksum: first 4 bytes of `sha256d` of bytes `0 .. 12 + n` |
//!
//! **Version 2** ([`FORMAT_VERSION`], written today): the body is the
//! bincode encoding ([`crate::core::encode`]) of [`Stored`]: the account's
//! extended public key, the addresses handed out on the receive and change
//! chains and of imported keys, the wallet's pending payments, and the
//! secrets (seed and imported keys, a bincode [`Secrets`]) either in plain
//! form or sealed under a passphrase ([`super::crypt`]).
//!
//! **Version 1** (read only, migrated on the first write): the body is a
//! u64 little-endian key count `n` and `n` secret scalars of 32 bytes
//! big-endian. A wallet of this version becomes a version-2 wallet of
//! imported keys; the version-1 file is first copied to
//! `wallets.dat.v1-backup` next to it.
//!
//! The checksum detects any flipped byte or truncation; a file that fails any
//! check is reported as an error naming the path and is never overwritten.
//!
//! The file is created with mode `0600` (owner read/write only). It is
//! replaced atomically: the new contents go to a temporary file in the same
//! directory, which is synced, renamed over the wallet file, and then the
//! directory itself is synced.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::crypt::Sealed;
use super::{WalletError, io_err};
use crate::core::encode;
use crate::core::hash::sha256d;
use crate::core::tx::Transaction;

/// The 8 bytes every wallet file starts with.
pub const MAGIC: [u8; 8] = *b"SLEDWLLT";

/// The wallet file format version this code writes.
pub const FORMAT_VERSION: u32 = 2;

/// The first format version, read for migration only.
pub const FORMAT_VERSION_1: u32 = 1;

/// Most keys a wallet may hold.
pub const MAX_KEYS: usize = 1_000_000;

/// Most pending payments a wallet tracks.
pub const MAX_PENDING: usize = 10_000;

/// Length of the file header: magic (8) ‖ version (4).
pub(super) const HEADER_LEN: usize = MAGIC.len() + 4;
/// Length of the trailing checksum.
pub(super) const CHECKSUM_LEN: usize = 4;
/// Length of a secret scalar.
pub(super) const SECRET_LEN: usize = 32;
/// Largest wallet file read, in bytes (64 MiB).
pub(super) const MAX_FILE_LEN: u64 = 64 << 20;

/// The secrets of a wallet: the 64-byte BIP39 seed (empty for a wallet of
/// imported keys only) and the imported keys' 32-byte scalars, in the order
/// of [`Stored::imported`]. Wiped on drop.
#[derive(Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Secrets {
    /// BIP39 seed, 64 bytes, or empty.
    pub seed: Vec<u8>,
    /// Imported secret scalars, 32 bytes big-endian each.
    pub imported: Vec<[u8; SECRET_LEN]>,
}

/// How the secrets are stored.
#[derive(Serialize, Deserialize)]
pub enum SecretBox {
    /// bincode of [`Secrets`] in plain form.
    Plain(Vec<u8>),
    /// bincode of [`Secrets`] encrypted ([`super::crypt`]); the associated
    /// data is [`MAGIC`].
    Sealed(Sealed),
}

impl Drop for SecretBox {
    fn drop(&mut self) {
        if let SecretBox::Plain(b) = self {
            b.zeroize();
        }
    }
}

/// A payment this wallet made that is not yet known to be mined or
/// conflicted; its inputs stay locked until then.
#[derive(Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The signed transaction.
    pub tx: Transaction,
    /// Whole coins its inputs spend (the wallet's coins).
    pub spent: u64,
    /// When it was made, seconds since the Unix epoch.
    pub created: u64,
}

/// The body of a version-2 wallet file.
#[derive(Serialize, Deserialize)]
pub struct Stored {
    /// Extended public key of `m/44'/1'/0'` (65 bytes: SEC1 compressed
    /// point ‖ chain code), empty when the wallet has no seed.
    pub account: Vec<u8>,
    /// Receive-chain addresses (pubkey hashes) handed out, index `i` at `i`.
    pub receive: Vec<[u8; 20]>,
    /// Change-chain addresses handed out, index `i` at `i`.
    pub change: Vec<[u8; 20]>,
    /// Addresses of imported keys, in the order of [`Secrets::imported`].
    pub imported: Vec<[u8; 20]>,
    /// The secrets.
    pub secrets: SecretBox,
    /// Pending payments, oldest first.
    pub pending: Vec<Pending>,
}

/// The contents of a wallet file.
pub(super) enum Parsed {
    /// Version 1: the secret scalars.
    V1(Vec<[u8; SECRET_LEN]>),
    /// Version 2.
    V2(Stored),
}

/// The bytes of a version-2 file holding `stored` (module docs).
pub(super) fn serialize(stored: &Stored) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let mut body = encode::encode(stored);
    out.extend_from_slice(&body);
    body.zeroize();
    let check = sha256d(&out);
    out.extend_from_slice(&check.as_bytes()[..CHECKSUM_LEN]);
    out
}

/// A format fault found by [`parse`], before the path is attached.
pub(super) enum ParseError {
    NotAWallet,
    Version(u32),
    Corrupt(String),
}

impl ParseError {
    /// The [`WalletError`] for this fault in the file at `path`.
    pub(super) fn at(self, path: &Path) -> WalletError {
        let path = path.to_path_buf();
        match self {
            ParseError::NotAWallet => WalletError::NotAWallet { path },
            ParseError::Version(version) => WalletError::UnsupportedVersion { path, version },
            ParseError::Corrupt(reason) => WalletError::Corrupt { path, reason },
        }
    }
}

/// Checks a wallet file's bytes and decodes its body.
pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(ParseError::Corrupt(format!(
            "larger than the {MAX_FILE_LEN}-byte maximum"
        )));
    }
    let magic = bytes.get(..MAGIC.len());
    if magic != Some(&MAGIC[..]) {
        // A prefix of the magic is a truncated wallet, anything else is not a wallet.
        return if MAGIC.starts_with(bytes) {
            Err(ParseError::Corrupt(format!(
                "truncated to {} bytes",
                bytes.len()
            )))
        } else {
            Err(ParseError::NotAWallet)
        };
    }
    let min = HEADER_LEN + CHECKSUM_LEN;
    if bytes.len() < min {
        return Err(ParseError::Corrupt(format!(
            "truncated to {} bytes (a wallet has at least {min})",
            bytes.len()
        )));
    }
    let (body, check) = bytes
        .split_at_checked(bytes.len() - CHECKSUM_LEN)
        .ok_or_else(|| ParseError::Corrupt("no checksum".to_string()))?;
    if sha256d(body).as_bytes().get(..CHECKSUM_LEN) != Some(check) {
        return Err(ParseError::Corrupt(
            "checksum mismatch (damaged or truncated)".to_string(),
        ));
    }
    let version_bytes: [u8; 4] = body
        .get(MAGIC.len()..HEADER_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ParseError::Corrupt("no version field".to_string()))?;
    let version = u32::from_le_bytes(version_bytes);
    let payload = body.get(HEADER_LEN..).unwrap_or_default();
    match version {
        FORMAT_VERSION_1 => encode::decode::<Vec<[u8; SECRET_LEN]>>(payload, payload.len() as u64)
            .map(Parsed::V1)
            .map_err(|e| ParseError::Corrupt(format!("key list: {e}"))),
        FORMAT_VERSION => encode::decode::<Stored>(payload, payload.len() as u64)
            .map(Parsed::V2)
            .map_err(|e| ParseError::Corrupt(format!("wallet body: {e}"))),
        v => Err(ParseError::Version(v)),
    }
}

/// Creates `tmp` afresh with mode 0600, writes `bytes` and syncs it.
pub(super) fn write_synced(tmp: &Path, bytes: &[u8]) -> Result<(), WalletError> {
    match fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(io_err("remove stale", tmp, source)),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|source| io_err("create", tmp, source))?;
    // The umask can only clear bits; make the mode exactly 0600 regardless.
    file.set_permissions(Permissions::from_mode(0o600))
        .map_err(|source| io_err("set permissions of", tmp, source))?;
    file.write_all(bytes)
        .map_err(|source| io_err("write", tmp, source))?;
    file.sync_all()
        .map_err(|source| io_err("sync", tmp, source))
}
