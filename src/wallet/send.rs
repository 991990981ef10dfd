//! Building and signing a payment from a set of spendable coins (pure).

use p256::ecdsa::SigningKey;

use crate::core::params::TX_VERSION;
use crate::core::tx::{OutPoint, Transaction, TxIn, TxOut, pubkey_bytes, pubkey_hash};

/// Why a payment could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Amount 0.
    #[error("amount must be at least 1 coin")]
    ZeroAmount,
    /// Amount plus fee overflows u64.
    #[error("amount plus fee is too large")]
    Overflow,
    /// Not enough spendable coins.
    #[error("insufficient funds: {available} available, {needed} needed (amount + fee)")]
    Insufficient {
        /// Spendable total of the sender.
        available: u64,
        /// Amount plus fee.
        needed: u64,
    },
    /// A coin is not owned by the signing key.
    #[error("coin {0} is not owned by the sending key")]
    NotOwned(OutPoint),
}

/// Builds a transaction paying `amount` whole coins to `to` with `fee`
/// left to the minter, spending `coins` (each an outpoint and the output it
/// names, all owned by `key`), largest first, with change back to the key's
/// own address. Signs every input.
///
/// Errors: [`SendError::ZeroAmount`], [`SendError::Overflow`],
/// [`SendError::Insufficient`], [`SendError::NotOwned`].
pub fn build_payment(
    key: &SigningKey,
    coins: &[(OutPoint, TxOut)],
    to: [u8; 20],
    amount: u64,
    fee: u64,
) -> Result<Transaction, SendError> {
    let me = pubkey_hash(&pubkey_bytes(key.verifying_key()));
    if let Some(c) = coins.iter().find(|c| c.1.pubkey_hash != me) {
        return Err(SendError::NotOwned(c.0));
    }
    build_wallet_payment(&|_| Some(key), coins, (to, amount), fee, me).map(|(tx, _)| tx)
}

/// Builds a transaction paying `amount` whole coins to `to` with `fee` left
/// to the minter from `coins` owned by several keys (`key_of` gives the key
/// of a pubkey hash), largest coins first, with change to `change`. Signs
/// every input. Returns the transaction and the whole coins its inputs
/// spend.
///
/// Errors: [`SendError::ZeroAmount`], [`SendError::Overflow`],
/// [`SendError::Insufficient`], [`SendError::NotOwned`] (a chosen coin's key
/// is unknown).
pub fn build_wallet_payment<'k>(
    key_of: &dyn Fn(&[u8; 20]) -> Option<&'k SigningKey>,
    coins: &[(OutPoint, TxOut)],
    (to, amount): ([u8; 20], u64),
    fee: u64,
    change: [u8; 20],
) -> Result<(Transaction, u64), SendError> {
    if amount == 0 {
        return Err(SendError::ZeroAmount);
    }
    let needed = amount.checked_add(fee).ok_or(SendError::Overflow)?;
    let mut sorted: Vec<&(OutPoint, TxOut)> = coins.iter().collect();
    sorted.sort_by(|a, b| b.1.value.cmp(&a.1.value).then(a.0.cmp(&b.0)));
    let mut chosen = Vec::new();
    let mut total: u64 = 0;
    for c in sorted {
        if total >= needed {
            break;
        }
        let key = key_of(&c.1.pubkey_hash).ok_or(SendError::NotOwned(c.0))?;
        total = total.saturating_add(c.1.value);
        chosen.push((*c, key));
    }
    if total < needed {
        let available = coins.iter().fold(0u64, |a, c| a.saturating_add(c.1.value));
        return Err(SendError::Insufficient { available, needed });
    }
    let mut outputs = vec![TxOut {
        value: amount,
        pubkey_hash: to,
    }];
    if total > needed {
        outputs.push(TxOut {
            value: total - needed,
            pubkey_hash: change,
        });
    }
    let mut tx = Transaction {
        version: TX_VERSION,
        inputs: chosen
            .iter()
            .map(|((op, _), _)| TxIn::unsigned(*op))
            .collect(),
        outputs,
        coinbase_height: 0,
    };
    for (i, ((_, out), key)) in chosen.iter().enumerate() {
        // Index is in range by construction; the error cannot occur.
        tx.sign_input(i, out, key)
            .map_err(|_| SendError::Overflow)?;
    }
    Ok((tx, total))
}
