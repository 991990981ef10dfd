//! Transaction rules: context-free sanity, and inputs against a [`UtxoView`].

use std::collections::HashSet;

use super::TxError;
use super::sigs::{SigCache, SigCheck, verify_sig_checks};
use crate::core::encode::encoded_len;
use crate::core::hash::hash160;
use crate::core::params::MAX_TX_SIZE;
use crate::core::tx::{OutPoint, Transaction, TxOut, sighash};
use crate::core::view::UtxoView;

/// Context-free checks of a transaction (coinbase or not).
///
/// Errors: [`TxError::NoInputs`], [`TxError::NoOutputs`], [`TxError::TooLarge`],
/// [`TxError::OutputOverflow`], [`TxError::DuplicateInput`],
/// [`TxError::NullInput`], [`TxError::NonZeroCoinbaseHeight`].
pub fn check_tx_sanity(tx: &Transaction) -> Result<(), TxError> {
    if tx.inputs.is_empty() {
        return Err(TxError::NoInputs);
    }
    if tx.outputs.is_empty() {
        return Err(TxError::NoOutputs);
    }
    let size = encoded_len(tx);
    if size > MAX_TX_SIZE {
        return Err(TxError::TooLarge(size));
    }
    tx.output_sum().ok_or(TxError::OutputOverflow)?;
    if tx.is_coinbase() {
        return Ok(());
    }
    if tx.coinbase_height != 0 {
        return Err(TxError::NonZeroCoinbaseHeight(tx.coinbase_height));
    }
    let mut seen = HashSet::with_capacity(tx.inputs.len());
    for (i, input) in tx.inputs.iter().enumerate() {
        if input.prev_out.is_null() {
            return Err(TxError::NullInput(i));
        }
        if !seen.insert(input.prev_out) {
            return Err(TxError::DuplicateInput(input.prev_out));
        }
    }
    Ok(())
}

/// What checking a transaction's inputs found.
#[derive(Debug, Clone)]
pub struct InputsChecked {
    /// Inputs minus outputs, in whole coins.
    pub fee: u64,
    /// The outputs the inputs spend, in input order (undo data).
    pub spent: Vec<TxOut>,
    /// Signatures still to verify.
    pub sig_checks: Vec<SigCheck>,
}

/// Checks a non-coinbase transaction against the outputs it spends:
/// every input's outpoint is in `view` (absent = missing or spent), the
/// input's public key hashes to the spent output's owner, and inputs ≥
/// outputs. `tx_index` is the transaction's position in its block (0 for a
/// lone transaction), recorded in each [`SigCheck`]. Signatures are returned
/// as [`SigCheck`]s, not verified.
///
/// Errors: [`TxError::UnexpectedCoinbase`], [`TxError::MissingInput`],
/// [`TxError::WrongOwner`], [`TxError::InputOverflow`],
/// [`TxError::OutputOverflow`], [`TxError::InsufficientInputs`].
pub fn check_tx_inputs(
    tx: &Transaction,
    tx_index: usize,
    view: &UtxoView,
) -> Result<InputsChecked, TxError> {
    inputs_with(tx, tx_index, |op| view.get(op).copied())
}

/// [`check_tx_inputs`] with the spent outputs resolved by `lookup` (`None` =
/// missing or spent), so a block can resolve outputs created earlier in it.
pub(super) fn inputs_with<F>(
    tx: &Transaction,
    tx_index: usize,
    mut lookup: F,
) -> Result<InputsChecked, TxError>
where
    F: FnMut(&OutPoint) -> Option<TxOut>,
{
    if tx.is_coinbase() {
        return Err(TxError::UnexpectedCoinbase);
    }
    let txid = tx.txid();
    let mut total_in: u64 = 0;
    let mut spent = Vec::with_capacity(tx.inputs.len());
    let mut sig_checks = Vec::with_capacity(tx.inputs.len());
    for (i, input) in tx.inputs.iter().enumerate() {
        let out = lookup(&input.prev_out).ok_or(TxError::MissingInput {
            index: i,
            outpoint: input.prev_out,
        })?;
        if hash160(&input.pubkey) != out.pubkey_hash {
            return Err(TxError::WrongOwner(i));
        }
        total_in = total_in
            .checked_add(out.value)
            .ok_or(TxError::InputOverflow)?;
        sig_checks.push(SigCheck {
            tx_index,
            input: i,
            pubkey: input.pubkey,
            sighash: sighash(&txid, i as u32, &out),
            signature: input.signature,
        });
        spent.push(out);
    }
    let total_out = tx.output_sum().ok_or(TxError::OutputOverflow)?;
    if total_out > total_in {
        return Err(TxError::InsufficientInputs {
            inputs: total_in,
            outputs: total_out,
        });
    }
    Ok(InputsChecked {
        fee: total_in - total_out,
        spent,
        sig_checks,
    })
}

/// Fully checks a lone transaction for the mempool: sanity, not a coinbase,
/// inputs against `view` (see [`UtxoView::for_tx`]), and signatures (using
/// `cache`).
///
/// Errors: any [`TxError`].
pub fn check_transaction(
    tx: &Transaction,
    view: &UtxoView,
    cache: Option<&SigCache>,
) -> Result<InputsChecked, TxError> {
    check_tx_sanity(tx)?;
    if tx.is_coinbase() {
        return Err(TxError::UnexpectedCoinbase);
    }
    let checked = check_tx_inputs(tx, 0, view)?;
    verify_sig_checks(&checked.sig_checks, cache)
        .map_err(|(_, i, e)| TxError::BadSignature(i, e))?;
    Ok(checked)
}
