//! Encryption at rest of a wallet's secrets ([`crypt`](super::crypt)):
//! unlocking with the passphrase, encrypting a plain wallet, and sealing
//! changed secrets the way they were sealed before.

use zeroize::Zeroizing;

use super::file::{SecretBox, Secrets};
use super::{MAGIC, WalletError, Wallets, corrupt, crypt};
use crate::core::encode;

impl Wallets {
    /// Unlocks an encrypted wallet with `passphrase` for as long as this
    /// value lives (nothing is written). A plain wallet is unlocked already.
    ///
    /// Errors: [`WalletError::WrongPassphrase`]; [`WalletError::Corrupt`]
    /// if the decrypted secrets do not match the addresses;
    /// [`WalletError::Crypt`] for bad parameters.
    pub fn unlock(&mut self, passphrase: &[u8]) -> Result<(), WalletError> {
        let SecretBox::Sealed(sealed) = &self.stored.secrets else {
            return Ok(());
        };
        if self.secrets.is_some() {
            return Ok(());
        }
        let plain = crypt::open(sealed, passphrase, &MAGIC).map_err(|e| match e {
            crypt::CryptError::WrongPassphrase => WalletError::WrongPassphrase {
                path: self.path.clone(),
            },
            other => WalletError::Crypt(other.to_string()),
        })?;
        let secrets = encode::decode::<Secrets>(&plain, plain.len() as u64)
            .map_err(|e| corrupt(&self.path, format!("decrypted secrets: {e}")))?;
        self.install(secrets)?;
        self.passphrase = Some(Zeroizing::new(passphrase.to_vec()));
        Ok(())
    }

    /// Encrypts the secrets under `passphrase` (Argon2id at `cost`,
    /// XChaCha20-Poly1305) and saves. The wallet stays unlocked in memory.
    ///
    /// Errors: [`WalletError::AlreadyEncrypted`], [`WalletError::NotExclusive`],
    /// [`WalletError::Crypt`], and those of [`Wallets::save`].
    pub fn encrypt(&mut self, passphrase: &[u8], cost: crypt::Cost) -> Result<(), WalletError> {
        self.need_exclusive()?;
        if self.is_encrypted() {
            return Err(WalletError::AlreadyEncrypted {
                path: self.path.clone(),
            });
        }
        let secrets = self.secrets.as_ref().ok_or_else(|| self.locked())?;
        let plain = Zeroizing::new(encode::encode(secrets));
        let sealed = crypt::seal(&plain, passphrase, &MAGIC, cost)
            .map_err(|e| WalletError::Crypt(e.to_string()))?;
        let old = std::mem::replace(&mut self.stored.secrets, SecretBox::Sealed(sealed));
        if let Err(e) = self.save() {
            self.stored.secrets = old;
            return Err(e);
        }
        self.passphrase = Some(Zeroizing::new(passphrase.to_vec()));
        Ok(())
    }

    /// The secrets boxed the same way as now: plain, or sealed under the
    /// passphrase the wallet was unlocked with, at the same cost.
    pub(super) fn seal_like_before(&self, secrets: &Secrets) -> Result<SecretBox, WalletError> {
        match (&self.stored.secrets, &self.passphrase) {
            (SecretBox::Plain(_), _) => Ok(SecretBox::Plain(encode::encode(secrets))),
            (SecretBox::Sealed(old), Some(pass)) => {
                let plain = Zeroizing::new(encode::encode(secrets));
                crypt::seal(&plain, pass, &MAGIC, old.cost)
                    .map(SecretBox::Sealed)
                    .map_err(|e| WalletError::Crypt(e.to_string()))
            }
            (SecretBox::Sealed(_), None) => Err(self.locked()),
        }
    }
}
