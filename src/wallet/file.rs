//! The wallet file (format version 1): its layout, parsing and writing.
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | magic: ASCII `SLEDWLLT` |
//! | 8 | 4 | format version: u32 little-endian, [`FORMAT_VERSION`] |
//! | 12 | 8 | key count `n`: u64 little-endian (bincode length prefix) |
//! | 20 | 32·n | the secret scalars, 32 bytes big-endian each, in creation order |
//! | 20 + 32·n | 4 | checksum: first 4 bytes of `sha256d` of bytes `0 .. 20 + 32·n` |
//!
//! The count and scalars together are the bincode encoding of a
//! `Vec<[u8; 32]>` in the project's configuration ([`crate::core::encode`]).
//! The checksum detects any flipped byte or truncation; a file that fails any
//! check is reported as an error naming the path and is never overwritten.
//!
//! The file holds secrets in plain form, so it is created with mode `0600`
//! (owner read/write only). It is replaced atomically: the new contents go to
//! a temporary file in the same directory, which is synced, renamed over the
//! wallet file, and then the directory itself is synced.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use p256::ecdsa::SigningKey;

use super::{WalletError, io_err, wipe};
use crate::core::encode;
use crate::core::hash::sha256d;

/// The 8 bytes every wallet file starts with.
pub const MAGIC: [u8; 8] = *b"SLEDWLLT";

/// The wallet file format version this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Most keys a wallet may hold (the file is then about 32 MB).
pub const MAX_KEYS: usize = 1_000_000;

/// Length of the file header: magic (8) ‖ version (4).
pub(super) const HEADER_LEN: usize = MAGIC.len() + 4;
/// Length of the trailing checksum.
pub(super) const CHECKSUM_LEN: usize = 4;
/// Length of the bincode key-count prefix.
pub(super) const COUNT_LEN: usize = 8;
/// Length of a secret scalar.
pub(super) const SECRET_LEN: usize = 32;
/// Largest well-formed wallet file, in bytes.
pub(super) const MAX_FILE_LEN: u64 =
    (HEADER_LEN + COUNT_LEN + SECRET_LEN * MAX_KEYS + CHECKSUM_LEN) as u64;

/// The file contents of a wallet holding `keys`, in order (module docs).
pub(super) fn serialize(keys: &[SigningKey]) -> Vec<u8> {
    let mut secrets: Vec<[u8; SECRET_LEN]> = keys.iter().map(|k| k.to_bytes().into()).collect();
    let mut out =
        Vec::with_capacity(HEADER_LEN + COUNT_LEN + SECRET_LEN * secrets.len() + CHECKSUM_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let mut payload = encode::encode(&secrets);
    out.extend_from_slice(&payload);
    wipe(&mut payload);
    for s in &mut secrets {
        wipe(s);
    }
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

/// Checks and splits a wallet file's bytes into its secret scalars.
pub(super) fn parse(bytes: &[u8]) -> Result<Vec<[u8; SECRET_LEN]>, ParseError> {
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
    let min = HEADER_LEN + COUNT_LEN + CHECKSUM_LEN;
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
    if version != FORMAT_VERSION {
        return Err(ParseError::Version(version));
    }
    let payload = body.get(HEADER_LEN..).unwrap_or_default();
    encode::decode::<Vec<[u8; SECRET_LEN]>>(payload, payload.len() as u64)
        .map_err(|e| ParseError::Corrupt(format!("key list: {e}")))
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
