//! [`WalletError`]: why a wallet operation failed.

use std::io;
use std::path::PathBuf;

use super::file::FORMAT_VERSION;
use super::hd;

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
    /// The file does not start with [`MAGIC`](super::MAGIC): it is not a wallet file.
    #[error("{} is not a wallet file (bad magic bytes)", path.display())]
    NotAWallet {
        /// The file.
        path: PathBuf,
    },
    /// The file is a wallet of a format version this code does not read.
    #[error(
        "{} has wallet format version {version}, this program reads versions 1 and {FORMAT_VERSION}",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        version: u32,
    },
    /// The file is damaged: truncated, checksum mismatch, undecodable
    /// contents, invalid or duplicate key, addresses that do not match the
    /// keys.
    #[error("wallet file {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The wallet already holds [`MAX_KEYS`](super::MAX_KEYS) keys or [`MAX_PENDING`](super::MAX_PENDING)
    /// pending payments.
    #[error("wallet {} is full ({what})", path.display())]
    Full {
        /// The wallet file.
        path: PathBuf,
        /// What reached its limit.
        what: String,
    },
    /// The operating system's random number generator failed.
    #[error("cannot read the OS random number generator: {0}")]
    Rng(getrandom::Error),
    /// The wallet has no seed yet (`createwallet` makes one).
    #[error("wallet {} has no seed phrase yet: run `createwallet` or `restorewallet`", path.display())]
    NoSeed {
        /// The wallet file.
        path: PathBuf,
    },
    /// The wallet already has a seed; a second one is refused.
    #[error("wallet {} already has a seed phrase; restore into another --port or move the file away first", path.display())]
    HasSeed {
        /// The wallet file.
        path: PathBuf,
    },
    /// The wallet is encrypted and was not unlocked.
    #[error("wallet {} is encrypted: give its passphrase (--passphrase-file FILE, or type it at the prompt on a terminal)", path.display())]
    Locked {
        /// The wallet file.
        path: PathBuf,
    },
    /// The passphrase does not decrypt the wallet. The file is unchanged.
    #[error("wrong passphrase for wallet {} (the file is unchanged)", path.display())]
    WrongPassphrase {
        /// The wallet file.
        path: PathBuf,
    },
    /// `encryptwallet` on a wallet that is already encrypted.
    #[error("wallet {} is already encrypted", path.display())]
    AlreadyEncrypted {
        /// The wallet file.
        path: PathBuf,
    },
    /// A change was attempted on a wallet not opened with
    /// [`Wallets::open_exclusive`](super::Wallets::open_exclusive).
    #[error("wallet {} was not opened for changes", path.display())]
    NotExclusive {
        /// The wallet file.
        path: PathBuf,
    },
    /// A seed phrase was refused.
    #[error(transparent)]
    Phrase(#[from] hd::PhraseError),
    /// Encryption failed (bad parameters in the file, RNG failure).
    #[error("wallet encryption: {0}")]
    Crypt(String),
}
