//! Wallets: one BIP39 seed phrase, P-256 keys derived from it by SLIP-0010,
//! imported keys, pending payments, and the wallet file.
//!
//! A wallet holds:
//! - a seed (64 bytes, from a BIP39 phrase; [`hd`]), from which the
//!   receive addresses `m/44'/1'/0'/0/i` and change addresses
//!   `m/44'/1'/0'/1/i` are derived. The account's extended public key is
//!   stored in plain form, so new addresses are derived without the
//!   secrets (an encrypted wallet hands out addresses while locked);
//! - imported keys (the keys of a version-1 wallet file, migrated);
//! - its pending payments ([`Pending`]): transactions it made that are not
//!   yet mined or conflicted; their inputs are locked against reuse.
//!
//! Each key's address is `hash160` of its SEC1 uncompressed public key
//! ([`address_of`]); outputs locked to that hash are spendable by the key.
//!
//! The secrets are in plain form or encrypted under a passphrase
//! ([`crypt`]); an encrypted wallet must be unlocked ([`Wallets::unlock`])
//! before it signs. The file's byte layout, and how it is written, are in
//! [`file`](mod@file).
//!
//! Concurrency: changes are made on a wallet opened with
//! [`Wallets::open_exclusive`], which holds an exclusive lock on the wallet's
//! directory from load to drop, so two processes never overwrite each
//! other's changes.
//!
//! Secret keys and the seed never appear in `Debug` output or log messages.

pub mod crypt;
mod encryption;
mod error;
pub mod file;
pub mod hd;
pub mod ledger;
mod pending;
pub mod send;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use p256::ecdsa::SigningKey;
use zeroize::Zeroizing;

use crate::core::address::Address;
use crate::core::encode;
use crate::core::hash::hash160;
use crate::core::tx::pubkey_bytes;

pub use error::WalletError;
pub use file::{FORMAT_VERSION, MAGIC, MAX_KEYS, MAX_PENDING, Pending};
use file::{MAX_FILE_LEN, Parsed, SECRET_LEN, SecretBox, Secrets, Stored, parse, write_synced};
use hd::{ACCOUNT_PATH, CHANGE, ExtendedKey, ExtendedPublicKey, RECEIVE, SeedPhrase};

/// A fresh P-256 signing key from 32 bytes of the operating system's RNG.
///
/// Draws again in the (probability about 2^-224) case that the bytes are zero
/// or not below the group order.
///
/// Errors: [`WalletError::Rng`] if the OS RNG fails.
pub fn generate_key() -> Result<SigningKey, WalletError> {
    let mut bytes = Zeroizing::new([0u8; SECRET_LEN]);
    loop {
        getrandom::fill(&mut bytes[..]).map_err(WalletError::Rng)?;
        if let Ok(key) = SigningKey::from_slice(&bytes[..]) {
            return Ok(key);
        }
    }
}

/// The address of `key`: `hash160` of its 65-byte SEC1 uncompressed public key.
pub fn address_of(key: &SigningKey) -> Address {
    Address(hash160(&pubkey_bytes(key.verifying_key())))
}

/// Which chain of the account an address is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// Receive addresses, `m/44'/1'/0'/0/i`.
    Receive,
    /// Change addresses, `m/44'/1'/0'/1/i`.
    Change,
}

impl Chain {
    fn index(self) -> u32 {
        match self {
            Chain::Receive => RECEIVE,
            Chain::Change => CHANGE,
        }
    }
}

/// One wallet file: its addresses, keys (once unlocked) and pending
/// payments.
///
/// `Debug` shows the path and addresses only, never secrets.
pub struct Wallets {
    path: PathBuf,
    stored: Stored,
    /// The file on disk is version 1: back it up before the first write.
    from_v1: bool,
    /// The account's extended public key, when the wallet has a seed.
    account: Option<ExtendedPublicKey>,
    /// The secrets, when unlocked (plain wallets are unlocked at load).
    secrets: Option<Secrets>,
    /// The account's extended private key, when unlocked and seeded.
    account_key: Option<ExtendedKey>,
    /// Signing keys by address, complete when unlocked.
    keys: HashMap<Address, SigningKey>,
    /// The exclusive lock on the wallet's directory, when opened for changes.
    lock: Option<File>,
    /// The passphrase of an encrypted wallet once unlocked (wiped on drop):
    /// a new seed is sealed under it again.
    passphrase: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for Wallets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallets")
            .field("path", &self.path)
            .field("addresses", &self.addresses())
            .field("encrypted", &self.is_encrypted())
            .finish()
    }
}

fn empty_stored() -> Stored {
    Stored {
        account: Vec::new(),
        receive: Vec::new(),
        change: Vec::new(),
        imported: Vec::new(),
        secrets: SecretBox::Plain(encode::encode(&Secrets::default())),
        pending: Vec::new(),
    }
}

impl Wallets {
    /// Loads the wallet file at `path` (layout in [`file`](mod@file)). A missing
    /// file gives an empty wallet (no seed, no keys). A wallet whose secrets
    /// are in plain form comes back unlocked; an encrypted one locked
    /// (addresses and pending payments only). A version-1 file is read as a
    /// wallet of imported keys. Loading never writes.
    ///
    /// Errors: [`WalletError::Io`] if the file exists but cannot be read;
    /// [`WalletError::NotAWallet`], [`WalletError::UnsupportedVersion`] or
    /// [`WalletError::Corrupt`] if its contents are not a valid wallet.
    pub fn load(path: &Path) -> Result<Wallets, WalletError> {
        let mut w = Wallets {
            path: path.to_path_buf(),
            stored: empty_stored(),
            from_v1: false,
            account: None,
            secrets: Some(Secrets::default()),
            account_key: None,
            keys: HashMap::new(),
            lock: None,
            passphrase: None,
        };
        let Some(bytes) = read_file(path)? else {
            return Ok(w);
        };
        match parse(&bytes).map_err(|e| e.at(path))? {
            Parsed::V1(scalars) => {
                (w.stored.imported, w.stored.secrets) = from_v1(path, scalars)?;
                w.from_v1 = true;
            }
            Parsed::V2(stored) => w.stored = stored,
        }
        w.secrets = None;
        w.check_public()?;
        if let SecretBox::Plain(b) = &w.stored.secrets {
            let secrets = encode::decode::<Secrets>(b, b.len() as u64)
                .map_err(|e| corrupt(path, format!("secrets: {e}")))?;
            w.install(secrets)?;
        }
        Ok(w)
    }

    /// [`Wallets::load`] under an exclusive lock on the wallet's directory
    /// (created with mode 0700 if missing), held until the wallet is
    /// dropped, including when the process dies. Other processes opening
    /// it wait. Only a wallet opened this way can be changed and saved.
    ///
    /// Errors: those of [`Wallets::load`]; [`WalletError::Io`] for the lock.
    pub fn open_exclusive(path: &Path) -> Result<Wallets, WalletError> {
        let dir = ensure_dir(path)?;
        let handle = File::open(&dir).map_err(|source| io_err("open", &dir, source))?;
        handle
            .lock()
            .map_err(|source| io_err("lock", &dir, source))?;
        let mut w = Wallets::load(path)?;
        w.lock = Some(handle);
        Ok(w)
    }

    /// Checks the public parts: sizes, the account key, duplicates.
    fn check_public(&mut self) -> Result<(), WalletError> {
        let s = &self.stored;
        let total = s.receive.len() + s.change.len() + s.imported.len();
        if total > MAX_KEYS || s.pending.len() > MAX_PENDING {
            return Err(corrupt(
                &self.path,
                "more keys or payments than the limits".into(),
            ));
        }
        self.account = if s.account.is_empty() {
            None
        } else {
            Some(
                ExtendedPublicKey::from_bytes(&s.account)
                    .ok_or_else(|| corrupt(&self.path, "account public key".into()))?,
            )
        };
        if self.account.is_none() && !(s.receive.is_empty() && s.change.is_empty()) {
            return Err(corrupt(
                &self.path,
                "derived addresses without a seed".into(),
            ));
        }
        let mut seen = BTreeSet::new();
        for a in s.imported.iter().chain(&s.receive).chain(&s.change) {
            if !seen.insert(*a) {
                return Err(corrupt(
                    &self.path,
                    format!("address {} is a duplicate", Address(*a)),
                ));
            }
        }
        Ok(())
    }

    /// Takes `secrets` in: derives every key and checks each against the
    /// stored addresses.
    fn install(&mut self, secrets: Secrets) -> Result<(), WalletError> {
        let path = self.path.clone();
        if secrets.imported.len() != self.stored.imported.len() {
            return Err(corrupt(
                &path,
                "imported key count differs from the address list".into(),
            ));
        }
        let mut keys = HashMap::new();
        for (i, (s, a)) in secrets
            .imported
            .iter()
            .zip(&self.stored.imported)
            .enumerate()
        {
            let key = SigningKey::from_slice(s)
                .map_err(|_| corrupt(&path, format!("key {i} is not a valid P-256 scalar")))?;
            if address_of(&key).0 != *a {
                return Err(corrupt(
                    &path,
                    format!("imported key {i} does not match its address"),
                ));
            }
            keys.insert(Address(*a), key);
        }
        let mut account_key = None;
        match (&self.account, secrets.seed.len()) {
            (None, 0) => {}
            (Some(account), 64) => {
                let ak = ExtendedKey::master(&secrets.seed).derive(&ACCOUNT_PATH);
                if ak.public() != *account {
                    return Err(corrupt(&path, "seed does not match the account key".into()));
                }
                for (chain, list) in [
                    (RECEIVE, &self.stored.receive),
                    (CHANGE, &self.stored.change),
                ] {
                    let node = ak.child(chain);
                    for (i, a) in list.iter().enumerate() {
                        let key = node.child(i as u32).signing_key();
                        if address_of(&key).0 != *a {
                            return Err(corrupt(
                                &path,
                                format!("address {} does not match the seed", Address(*a)),
                            ));
                        }
                        keys.insert(Address(*a), key);
                    }
                }
                account_key = Some(ak);
            }
            _ => return Err(corrupt(&path, "seed and account key disagree".into())),
        }
        self.keys = keys;
        self.account_key = account_key;
        self.secrets = Some(secrets);
        Ok(())
    }

    /// Gives this wallet the seed of `phrase` with BIP39 `passphrase` ("" for
    /// none) and saves. Keys imported before stay. An encrypted wallet (one
    /// of imported keys, migrated from version 1 and then encrypted) must be
    /// unlocked first: the secrets are sealed again under its passphrase,
    /// at the same cost, with a fresh salt and nonce.
    ///
    /// Errors: [`WalletError::HasSeed`], [`WalletError::Locked`] (an
    /// encrypted wallet must be unlocked), [`WalletError::NotExclusive`],
    /// and those of [`Wallets::save`].
    pub fn set_seed(&mut self, phrase: &SeedPhrase, passphrase: &str) -> Result<(), WalletError> {
        self.need_exclusive()?;
        if self.account.is_some() {
            return Err(WalletError::HasSeed {
                path: self.path.clone(),
            });
        }
        let old = self.secrets.as_ref().ok_or_else(|| self.locked())?;
        let seed = phrase.to_seed(passphrase);
        let secrets = Secrets {
            seed: seed.to_vec(),
            imported: old.imported.clone(),
        };
        let account_key = ExtendedKey::master(&seed[..]).derive(&ACCOUNT_PATH);
        let boxed = self.seal_like_before(&secrets)?;
        self.stored.account = account_key.public().to_bytes();
        self.account = Some(account_key.public());
        self.stored.secrets = boxed;
        self.account_key = Some(account_key);
        self.secrets = Some(secrets);
        self.save()
    }

    /// Derives the next address on `chain` from the account's public key
    /// (no passphrase needed) and saves the wallet. When unlocked, its
    /// signing key is derived too.
    ///
    /// Errors: [`WalletError::NoSeed`], [`WalletError::Full`],
    /// [`WalletError::NotExclusive`], and those of [`Wallets::save`].
    pub fn new_address(&mut self, chain: Chain) -> Result<Address, WalletError> {
        self.need_exclusive()?;
        let account = self.account.clone().ok_or_else(|| WalletError::NoSeed {
            path: self.path.clone(),
        })?;
        if self.len() >= MAX_KEYS {
            return Err(WalletError::Full {
                path: self.path.clone(),
                what: format!("{MAX_KEYS} keys"),
            });
        }
        let list = match chain {
            Chain::Receive => &self.stored.receive,
            Chain::Change => &self.stored.change,
        };
        let index = list.len() as u32;
        let address = derive_address(&account, chain, index);
        let key = self
            .account_key
            .as_ref()
            .map(|ak| ak.child(chain.index()).child(index).signing_key());
        match chain {
            Chain::Receive => self.stored.receive.push(address.0),
            Chain::Change => self.stored.change.push(address.0),
        }
        if let Err(e) = self.save() {
            match chain {
                Chain::Receive => self.stored.receive.pop(),
                Chain::Change => self.stored.change.pop(),
            };
            return Err(e);
        }
        if let Some(key) = key {
            self.keys.insert(address, key);
        }
        tracing::info!("new wallet address {address}");
        Ok(address)
    }

    /// The next receive address, for tools and tests: takes the exclusive
    /// lock if this wallet was not opened with it (reloading the file), and
    /// gives a wallet without a seed a new random one, whose phrase is not
    /// shown (`createwallet` shows it).
    ///
    /// Errors: as [`Wallets::open_exclusive`] and [`Wallets::new_address`];
    /// [`WalletError::Locked`] for a locked wallet without a seed.
    pub fn create_key(&mut self) -> Result<Address, WalletError> {
        if self.lock.is_none() {
            *self = Wallets::open_exclusive(&self.path)?;
        }
        if !self.has_seed() {
            self.set_seed(&SeedPhrase::generate(12)?, "")?;
        }
        self.new_address(Chain::Receive)
    }

    /// Records the addresses `receive` and `change` hand out up to the
    /// given counts (a restore found them used); derives what is missing
    /// and saves.
    ///
    /// Errors: as [`Wallets::new_address`].
    pub fn extend_to(&mut self, receive: u32, change: u32) -> Result<(), WalletError> {
        while (self.stored.receive.len() as u32) < receive {
            self.new_address(Chain::Receive)?;
        }
        while (self.stored.change.len() as u32) < change {
            self.new_address(Chain::Change)?;
        }
        Ok(())
    }

    /// Writes the wallet file atomically (module docs of [`file`](mod@file)):
    /// a temporary file with mode 0600 in the same directory, synced,
    /// renamed over the wallet file, then the directory synced. A version-1
    /// file is first copied to `wallets.dat.v1-backup` (synced). The
    /// temporary file is removed on failure.
    ///
    /// Errors: [`WalletError::NotExclusive`]; [`WalletError::Io`] naming the
    /// path and the failed operation.
    pub fn save(&mut self) -> Result<(), WalletError> {
        self.need_exclusive()?;
        let dir = ensure_dir(&self.path)?;
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
            .to_string_lossy()
            .into_owned();
        if self.from_v1 {
            let old = Zeroizing::new(
                fs::read(&self.path).map_err(|source| io_err("read", &self.path, source))?,
            );
            if let Some(backup) = v1_backup_name(&dir, &name, &old)? {
                let tmp = dir.join(format!(".{name}.v1-backup.{}.tmp", std::process::id()));
                write_synced(&tmp, &old)?;
                fs::rename(&tmp, &backup).map_err(|source| io_err("rename", &tmp, source))?;
                sync_dir(&dir)?;
                tracing::info!("wallet format 1 backed up to {}", backup.display());
            }
        }
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let bytes = Zeroizing::new(file::serialize(&self.stored));
        let written = write_synced(&tmp, &bytes);
        let result = written.and_then(|()| {
            fs::rename(&tmp, &self.path).map_err(|source| io_err("rename", &tmp, source))
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        self.from_v1 = false;
        sync_dir(&dir)
    }

    fn need_exclusive(&self) -> Result<(), WalletError> {
        match self.lock {
            Some(_) => Ok(()),
            None => Err(WalletError::NotExclusive {
                path: self.path.clone(),
            }),
        }
    }

    fn locked(&self) -> WalletError {
        WalletError::Locked {
            path: self.path.clone(),
        }
    }

    /// Every address: imported keys, then receive, then change addresses,
    /// each in creation order.
    pub fn addresses(&self) -> Vec<Address> {
        let s = &self.stored;
        s.imported
            .iter()
            .chain(&s.receive)
            .chain(&s.change)
            .map(|a| Address(*a))
            .collect()
    }

    /// The receive addresses handed out, index `i` at `i`.
    pub fn receive_addresses(&self) -> Vec<Address> {
        self.stored.receive.iter().map(|a| Address(*a)).collect()
    }

    /// The change addresses handed out, index `i` at `i`.
    pub fn change_addresses(&self) -> Vec<Address> {
        self.stored.change.iter().map(|a| Address(*a)).collect()
    }

    /// The imported keys' addresses.
    pub fn imported_addresses(&self) -> Vec<Address> {
        self.stored.imported.iter().map(|a| Address(*a)).collect()
    }

    /// The account's extended public key, when the wallet has a seed.
    pub fn account(&self) -> Option<&ExtendedPublicKey> {
        self.account.as_ref()
    }

    /// The key whose address is `address`, if this wallet holds it and is
    /// unlocked.
    pub fn key(&self, address: &Address) -> Option<&SigningKey> {
        self.keys.get(address)
    }

    /// True if `address` is one of this wallet's.
    pub fn contains(&self, address: &Address) -> bool {
        let a = &address.0;
        self.stored.imported.contains(a)
            || self.stored.receive.contains(a)
            || self.stored.change.contains(a)
    }

    /// True when the wallet has a seed.
    pub fn has_seed(&self) -> bool {
        self.account.is_some()
    }

    /// True when the secrets are stored encrypted.
    pub fn is_encrypted(&self) -> bool {
        matches!(self.stored.secrets, SecretBox::Sealed(_))
    }

    /// True when the keys are available (plain, or encrypted and unlocked).
    pub fn is_unlocked(&self) -> bool {
        self.secrets.is_some()
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        let s = &self.stored;
        s.imported.len() + s.receive.len() + s.change.len()
    }

    /// True when the wallet holds no addresses.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The backups of version-1 files kept next to the wallet
    /// (`NAME.v1-backup`, `NAME.v1-backup.2`, …): they hold imported keys in
    /// plain form, whether or not the wallet is encrypted now.
    pub fn v1_backups(&self) -> Vec<PathBuf> {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return Vec::new();
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let prefix = format!("{}.v1-backup", name.to_string_lossy());
        let mut found: Vec<PathBuf> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n == prefix
                    || n.strip_prefix(&format!("{prefix}."))
                        .is_some_and(|k| k.parse::<u32>().is_ok())
            })
            .map(|e| e.path())
            .collect();
        found.sort();
        found
    }

    /// The wallet file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The address at `index` on `chain` below the account key `account`.
pub fn derive_address(account: &ExtendedPublicKey, chain: Chain, index: u32) -> Address {
    // Non-hardened indexes below 2^31 always derive.
    account
        .child(chain.index())
        .and_then(|c| c.child(index))
        .map(|k| k.address())
        .unwrap_or(Address([0; 20]))
}

/// The bytes of the wallet file at `path` (at most one byte past
/// [`MAX_FILE_LEN`], which the parser then refuses); `None` when there is
/// no file. Warns when other users may read it.
///
/// Errors: [`WalletError::Io`] if it exists but cannot be opened or read.
fn read_file(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, WalletError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
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
    let mut bytes = Zeroizing::new(Vec::new());
    (&mut file)
        .take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| io_err("read", path, source))?;
    Ok(Some(bytes))
}

/// A version-1 file's secret scalars as a wallet of imported keys: their
/// addresses (public part) and the secrets in plain form.
///
/// Errors: [`WalletError::Corrupt`] for more than [`MAX_KEYS`] keys or a
/// scalar that is not a valid P-256 key.
fn from_v1(
    path: &Path,
    scalars: Vec<[u8; SECRET_LEN]>,
) -> Result<(Vec<[u8; 20]>, SecretBox), WalletError> {
    // Checked before deriving any address: a million derivations take
    // minutes.
    if scalars.len() > MAX_KEYS {
        return Err(corrupt(
            path,
            format!("{} keys, more than the limit of {MAX_KEYS}", scalars.len()),
        ));
    }
    let secrets = Secrets {
        seed: Vec::new(),
        imported: scalars,
    };
    let mut imported = Vec::with_capacity(secrets.imported.len());
    for s in &secrets.imported {
        let key = SigningKey::from_slice(s).map_err(|_| {
            corrupt(
                path,
                format!("key {} is not a valid P-256 scalar", imported.len()),
            )
        })?;
        imported.push(address_of(&key).0);
    }
    Ok((imported, SecretBox::Plain(encode::encode(&secrets))))
}

/// Where to back up the version-1 file `name` whose bytes are `old`:
/// `NAME.v1-backup`, or `NAME.v1-backup.2`, `.3`, … when that holds another
/// version-1 file (one migrated before: never overwritten). `None` when a
/// backup with these bytes exists already.
///
/// Errors: [`WalletError::Io`] if an existing backup cannot be read.
fn v1_backup_name(dir: &Path, name: &str, old: &[u8]) -> Result<Option<PathBuf>, WalletError> {
    for n in 1..=MAX_V1_BACKUPS {
        let backup = match n {
            1 => dir.join(format!("{name}.v1-backup")),
            n => dir.join(format!("{name}.v1-backup.{n}")),
        };
        match fs::read(&backup).map(Zeroizing::new) {
            Ok(bytes) if bytes.as_slice() == old => return Ok(None),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(backup)),
            Err(source) => return Err(io_err("read", &backup, source)),
        }
    }
    Err(io_err(
        "back up",
        &dir.join(name),
        io::Error::other(format!("{MAX_V1_BACKUPS} version-1 backups exist already")),
    ))
}

/// Most `.v1-backup` files kept next to a wallet.
const MAX_V1_BACKUPS: u32 = 1000;

/// The wallet file's directory, created with mode 0700 if missing.
fn ensure_dir(path: &Path) -> Result<PathBuf, WalletError> {
    let dir = match path.parent() {
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

fn sync_dir(dir: &Path) -> Result<(), WalletError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io_err("sync directory", dir, source))
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
mod tests;
