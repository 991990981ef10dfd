//! Wallets: P-256 keys and the wallet file.
//!
//! A wallet is an ordered list of P-256 signing keys. Each key's address is
//! `hash160` of its SEC1 uncompressed public key ([`address_of`]); outputs
//! locked to that hash are spendable by the key.
//!
//! The wallet file's byte layout, and how it is written, are in [`file`](mod@file).
//!
//! Secret keys never appear in `Debug` output or log messages.

pub mod file;
pub mod send;

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use p256::ecdsa::SigningKey;

use crate::core::address::Address;
use crate::core::hash::hash160;
use crate::core::tx::pubkey_bytes;

pub use file::{FORMAT_VERSION, MAGIC, MAX_KEYS};
use file::{MAX_FILE_LEN, SECRET_LEN, parse, write_synced};

/// Why a wallet operation failed. Every variant that concerns the wallet file
/// names its path.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// A file-system operation failed (`op` says which: read, create, write,
    /// sync, rename…).
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The file does not start with [`MAGIC`]: it is not a wallet file.
    #[error("{} is not a wallet file (bad magic bytes)", path.display())]
    NotAWallet {
        /// The file.
        path: PathBuf,
    },
    /// The file is a wallet of a format version this code does not read.
    #[error(
        "{} has wallet format version {version}, this program reads version {FORMAT_VERSION}",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        version: u32,
    },
    /// The file is damaged: truncated, checksum mismatch, undecodable key
    /// list, invalid or duplicate key.
    #[error("wallet file {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The wallet already holds [`MAX_KEYS`] keys.
    #[error("wallet {} is full ({MAX_KEYS} keys)", path.display())]
    Full {
        /// The wallet file.
        path: PathBuf,
    },
    /// The operating system's random number generator failed.
    #[error("cannot read the OS random number generator: {0}")]
    Rng(getrandom::Error),
    /// A freshly generated key is one the wallet already holds: the RNG is
    /// broken (the chance of this by accident is negligible).
    #[error("the OS random number generator repeated a key this wallet already holds")]
    RepeatedKey,
}

/// A fresh P-256 signing key from 32 bytes of the operating system's RNG.
///
/// Draws again in the (probability about 2^-224) case that the bytes are zero
/// or not below the group order.
///
/// Errors: [`WalletError::Rng`] if the OS RNG fails.
pub fn generate_key() -> Result<SigningKey, WalletError> {
    let mut bytes = [0u8; SECRET_LEN];
    loop {
        getrandom::fill(&mut bytes).map_err(WalletError::Rng)?;
        let key = SigningKey::from_slice(&bytes);
        wipe(&mut bytes);
        if let Ok(key) = key {
            return Ok(key);
        }
    }
}

/// The address of `key`: `hash160` of its 65-byte SEC1 uncompressed public key.
pub fn address_of(key: &SigningKey) -> Address {
    Address(hash160(&pubkey_bytes(key.verifying_key())))
}

/// Overwrites a buffer that held secret bytes (best effort: the optimizer is
/// kept from dropping the writes as dead).
fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(buf);
}

/// The keys of one wallet file, in creation order.
///
/// `Debug` shows the path and addresses only, never secrets.
pub struct Wallets {
    path: PathBuf,
    keys: Vec<SigningKey>,
    index: HashMap<Address, usize>,
}

impl fmt::Debug for Wallets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallets")
            .field("path", &self.path)
            .field("addresses", &self.addresses())
            .finish()
    }
}

impl Wallets {
    /// Loads the wallet file at `path` (layout in [`file`](mod@file)). A missing
    /// file gives an empty wallet that will be saved to `path`; nothing is
    /// written until a key is created or [`Wallets::save`] is called.
    ///
    /// Errors: [`WalletError::Io`] if the file exists but cannot be read;
    /// [`WalletError::NotAWallet`], [`WalletError::UnsupportedVersion`] or
    /// [`WalletError::Corrupt`] if its contents are not a valid wallet. The
    /// file is never modified by loading.
    pub fn load(path: &Path) -> Result<Wallets, WalletError> {
        let mut wallets = Wallets {
            path: path.to_path_buf(),
            keys: Vec::new(),
            index: HashMap::new(),
        };
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(wallets),
            Err(source) => return Err(io_err("open", path, source)),
        };
        if let Ok(meta) = file.metadata()
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "wallet file {} is readable by other users (mode {:o}); it should be 0600",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
        let mut bytes = Vec::new();
        (&mut file)
            .take(MAX_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| io_err("read", path, source))?;
        let secrets = parse(&bytes).map_err(|e| e.at(path));
        wipe(&mut bytes);
        let mut secrets = secrets?;
        let mut result = Ok(());
        for secret in &secrets {
            match SigningKey::from_slice(secret) {
                Ok(key) => {
                    if let Err(reason) = wallets.push(key) {
                        result = Err(corrupt(path, reason));
                        break;
                    }
                }
                Err(_) => {
                    result = Err(corrupt(
                        path,
                        format!("key {} is not a valid P-256 scalar", wallets.keys.len()),
                    ));
                    break;
                }
            }
        }
        for secret in &mut secrets {
            wipe(secret);
        }
        result.map(|()| wallets)
    }

    /// Generates a new key, appends it and saves the wallet file. The save
    /// holds an exclusive lock on the wallet's directory and first takes
    /// in keys other processes saved since this wallet was loaded, so
    /// concurrent `createwallet` runs never drop each other's keys. On error
    /// the file on disk is as before.
    ///
    /// Returns the new key's address.
    ///
    /// Errors: [`WalletError::Full`], [`WalletError::Rng`],
    /// [`WalletError::RepeatedKey`], and those of
    /// [`Wallets::save`].
    pub fn create_key(&mut self) -> Result<Address, WalletError> {
        if self.keys.len() >= MAX_KEYS {
            return Err(WalletError::Full {
                path: self.path.clone(),
            });
        }
        // Other processes may have added keys since this wallet was loaded:
        // under an exclusive lock, take theirs in before saving, or the
        // rename would drop them.
        let _lock = self.lock()?;
        match Wallets::load(&self.path) {
            Ok(disk) => {
                for key in disk.keys {
                    if !self.index.contains_key(&address_of(&key)) {
                        let _ = self.push(key);
                    }
                }
            }
            // An unreadable path: the save below reports what is wrong.
            Err(WalletError::Io { .. }) => {}
            // Never overwrite a file that is not a valid wallet.
            Err(e) => return Err(e),
        }
        let key = generate_key()?;
        let address = address_of(&key);
        if self.push(key).is_err() {
            return Err(WalletError::RepeatedKey);
        }
        if let Err(e) = self.save() {
            self.keys.pop();
            self.index.remove(&address);
            return Err(e);
        }
        tracing::info!("created wallet key {address}");
        Ok(address)
    }

    /// The wallet file's directory, created with mode 0700 if missing.
    fn ensure_dir(&self) -> Result<PathBuf, WalletError> {
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| io_err("create directory", &dir, source))?;
        Ok(dir)
    }

    /// Takes an exclusive lock on the wallet's directory (created, mode 0700,
    /// if missing); released when the returned handle is closed, including
    /// when the process dies.
    fn lock(&self) -> Result<File, WalletError> {
        let dir = self.ensure_dir()?;
        let handle = File::open(&dir).map_err(|source| io_err("open", &dir, source))?;
        handle
            .lock()
            .map_err(|source| io_err("lock", &dir, source))?;
        Ok(handle)
    }

    /// Writes the wallet file atomically (module docs): creates the parent
    /// directory (mode 0700) if missing, writes a temporary file with mode
    /// 0600 in the same directory, syncs it, renames it over the wallet file
    /// and syncs the directory. The temporary file is removed on failure.
    ///
    /// Errors: [`WalletError::Io`] naming the path and the failed operation.
    pub fn save(&self) -> Result<(), WalletError> {
        let dir = self.ensure_dir()?;
        let name = self
            .path
            .file_name()
            .ok_or_else(|| {
                io_err(
                    "save",
                    &self.path,
                    io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
                )
            })?
            .to_string_lossy();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut bytes = file::serialize(&self.keys);
        let written = write_synced(&tmp, &bytes);
        wipe(&mut bytes);
        let result = written.and_then(|()| {
            fs::rename(&tmp, &self.path).map_err(|source| io_err("rename", &tmp, source))
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| io_err("sync directory", &dir, source))
    }

    /// Addresses of all keys, in creation order.
    pub fn addresses(&self) -> Vec<Address> {
        self.keys.iter().map(address_of).collect()
    }

    /// The key whose address is `address`, if this wallet holds it.
    pub fn key(&self, address: &Address) -> Option<&SigningKey> {
        self.index.get(address).and_then(|&i| self.keys.get(i))
    }

    /// True if this wallet holds the key of `address`.
    pub fn contains(&self, address: &Address) -> bool {
        self.index.contains_key(address)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the wallet holds no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The wallet file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `key`; `Err` with a reason if its address is already held.
    fn push(&mut self, key: SigningKey) -> Result<(), String> {
        let address = address_of(&key);
        if self.index.contains_key(&address) {
            return Err(format!("key {} is a duplicate", self.keys.len()));
        }
        self.index.insert(address, self.keys.len());
        self.keys.push(key);
        Ok(())
    }
}

fn io_err(op: &'static str, path: &Path, source: io::Error) -> WalletError {
    WalletError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, reason: String) -> WalletError {
    WalletError::Corrupt {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use std::fs::Permissions;

    use super::file::{CHECKSUM_LEN, COUNT_LEN, HEADER_LEN};
    use super::*;
    use crate::core::hash::sha256d;

    fn wallet_path(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("sub").join("wallet.dat")
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// A saved wallet of `n` keys; returns its path and addresses.
    fn saved(dir: &tempfile::TempDir, n: usize) -> (PathBuf, Vec<Address>) {
        let path = wallet_path(dir);
        let mut w = Wallets::load(&path).unwrap();
        let addrs: Vec<Address> = (0..n).map(|_| w.create_key().unwrap()).collect();
        (path, addrs)
    }

    #[test]
    fn missing_file_is_an_empty_wallet_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = wallet_path(&dir);
        let w = Wallets::load(&path).unwrap();
        assert!(w.is_empty());
        assert!(w.addresses().is_empty());
        assert!(!path.exists());
    }

    #[test]
    fn keys_survive_reload_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (path, addrs) = saved(&dir, 3);
        assert_eq!(addrs.len(), 3);
        let w = Wallets::load(&path).unwrap();
        assert_eq!(w.addresses(), addrs);
        for a in &addrs {
            assert!(w.contains(a));
            let key = w.key(a).unwrap();
            assert_eq!(address_of(key), *a);
        }
        assert!(!w.contains(&Address([7; 20])));
        assert!(w.key(&Address([7; 20])).is_none());
        // The file has exactly the documented length.
        let len = fs::metadata(&path).unwrap().len();
        assert_eq!(
            len as usize,
            HEADER_LEN + COUNT_LEN + 3 * SECRET_LEN + CHECKSUM_LEN
        );
    }

    #[test]
    fn file_layout_is_as_documented() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = saved(&dir, 2);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"SLEDWLLT");
        assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
        assert_eq!(&bytes[12..20], &2u64.to_le_bytes());
        let w = Wallets::load(&path).unwrap();
        for (i, a) in w.addresses().iter().enumerate() {
            let secret = &bytes[20 + 32 * i..52 + 32 * i];
            assert_eq!(address_of(&SigningKey::from_slice(secret).unwrap()), *a);
        }
        let body = &bytes[..bytes.len() - 4];
        assert_eq!(&bytes[bytes.len() - 4..], &sha256d(body).as_bytes()[..4]);
    }

    #[test]
    fn file_and_new_directory_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = saved(&dir, 1);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode & 0o077, 0);
    }

    #[test]
    fn no_temporary_file_is_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = saved(&dir, 2);
        assert_eq!(dir_entries(path.parent().unwrap()), vec!["wallet.dat"]);
    }

    #[test]
    fn save_replaces_a_wider_mode_file_with_a_0600_one() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = saved(&dir, 1);
        fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        let mut w = Wallets::load(&path).unwrap();
        w.create_key().unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    fn assert_load_fails_untouched(path: &Path, bytes: &[u8]) -> WalletError {
        fs::write(path, bytes).unwrap();
        let err = Wallets::load(path).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "error does not name the path: {err}"
        );
        assert_eq!(fs::read(path).unwrap(), bytes, "file was modified");
        err
    }

    #[test]
    fn every_flipped_byte_is_detected_and_file_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = saved(&dir, 2);
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            let err = assert_load_fails_untouched(&path, &bad);
            if i < 8 {
                assert!(matches!(err, WalletError::NotAWallet { .. }), "{err}");
            } else {
                assert!(matches!(err, WalletError::Corrupt { .. }), "{i}: {err}");
            }
        }
    }

    #[test]
    fn truncation_is_detected_and_file_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = saved(&dir, 2);
        let good = fs::read(&path).unwrap();
        for len in 0..good.len() {
            let err = assert_load_fails_untouched(&path, &good[..len]);
            assert!(matches!(err, WalletError::Corrupt { .. }), "{len}: {err}");
        }
    }

    #[test]
    fn garbage_and_other_formats_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.dat");
        let err = assert_load_fails_untouched(&path, b"{\"keys\": []}\n");
        assert!(matches!(err, WalletError::NotAWallet { .. }), "{err}");
        let err = assert_load_fails_untouched(&path, &[0xa5; 300]);
        assert!(matches!(err, WalletError::NotAWallet { .. }), "{err}");

        // A well-formed file of a future version.
        let mut v2 = MAGIC.to_vec();
        v2.extend_from_slice(&2u32.to_le_bytes());
        v2.extend_from_slice(&0u64.to_le_bytes());
        let c = sha256d(&v2);
        v2.extend_from_slice(&c.as_bytes()[..4]);
        let err = assert_load_fails_untouched(&path, &v2);
        assert!(
            matches!(err, WalletError::UnsupportedVersion { version: 2, .. }),
            "{err}"
        );
    }

    fn with_checksum(mut body: Vec<u8>) -> Vec<u8> {
        let c = sha256d(&body);
        body.extend_from_slice(&c.as_bytes()[..4]);
        body
    }

    #[test]
    fn checksummed_but_inconsistent_contents_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.dat");
        let header = || {
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            b
        };
        // Count says 5 keys, one present.
        let mut b = header();
        b.extend_from_slice(&5u64.to_le_bytes());
        b.extend_from_slice(&[1; 32]);
        let err = assert_load_fails_untouched(&path, &with_checksum(b));
        assert!(matches!(err, WalletError::Corrupt { .. }), "{err}");
        // A huge count must not allocate.
        let mut b = header();
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        let err = assert_load_fails_untouched(&path, &with_checksum(b));
        assert!(matches!(err, WalletError::Corrupt { .. }), "{err}");
        // Trailing bytes after the list.
        let mut b = header();
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&[1; 33]);
        let err = assert_load_fails_untouched(&path, &with_checksum(b));
        assert!(matches!(err, WalletError::Corrupt { .. }), "{err}");
        // A zero scalar is not a key.
        let mut b = header();
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&[0; 32]);
        let err = assert_load_fails_untouched(&path, &with_checksum(b));
        assert!(
            err.to_string().contains("not a valid P-256 scalar"),
            "{err}"
        );
        // The same key twice.
        let mut b = header();
        b.extend_from_slice(&2u64.to_le_bytes());
        b.extend_from_slice(&[1; 32]);
        b.extend_from_slice(&[1; 32]);
        let err = assert_load_fails_untouched(&path, &with_checksum(b));
        assert!(err.to_string().contains("duplicate"), "{err}");
    }

    #[test]
    fn unreadable_path_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be.
        let err = Wallets::load(dir.path()).unwrap_err();
        assert!(matches!(err, WalletError::Io { .. }), "{err}");
    }

    #[test]
    fn failed_save_leaves_wallet_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        // The wallet path is an existing directory: rename must fail.
        let path = dir.path().join("wallet.dat");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("x"), b"x").unwrap();
        let mut w = Wallets {
            path: path.clone(),
            keys: Vec::new(),
            index: HashMap::new(),
        };
        let err = w.create_key().unwrap_err();
        assert!(matches!(err, WalletError::Io { op: "rename", .. }), "{err}");
        assert!(w.is_empty());
        assert_eq!(dir_entries(dir.path()), vec!["wallet.dat"]);
    }

    #[test]
    fn debug_output_shows_no_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let (path, addrs) = saved(&dir, 2);
        let w = Wallets::load(&path).unwrap();
        let dbg = format!("{w:?} {:?}", w.key(&addrs[0]).unwrap());
        for a in &addrs {
            assert!(dbg.contains(&a.to_string()));
            let secret = hex::encode(w.key(a).unwrap().to_bytes());
            assert!(!dbg.contains(&secret));
            assert!(!dbg.to_lowercase().contains(&secret[..16]));
        }
        let bytes = fs::read(&path).unwrap();
        assert!(!dbg.contains(&format!("{:?}", &bytes[20..52])));
    }

    #[test]
    fn generated_keys_differ_and_sign() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(address_of(&a), address_of(&b));
        let mut tx = crate::core::tx::Transaction {
            version: 1,
            inputs: vec![crate::core::tx::TxIn::unsigned(crate::core::OutPoint {
                txid: crate::core::Txid(sha256d(b"x")),
                vout: 0,
            })],
            outputs: vec![crate::core::TxOut {
                value: 1,
                pubkey_hash: [0; 20],
            }],
            coinbase_height: 0,
        };
        let spent = crate::core::TxOut {
            value: 1,
            pubkey_hash: address_of(&a).0,
        };
        tx.sign_input(0, &spent, &a).unwrap();
        assert_eq!(hash160(&tx.inputs[0].pubkey), address_of(&a).0);
    }
}
