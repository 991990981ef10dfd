//! A wallet's pending payments ([`Pending`]): transactions it made that
//! are not yet mined or conflicted, whose inputs stay locked against reuse
//! until they are forgotten.

use std::collections::BTreeSet;

use super::{MAX_PENDING, Pending, WalletError, Wallets};
use crate::core::hash::Txid;
use crate::core::tx::{OutPoint, Transaction};

impl Wallets {
    /// Records a payment this wallet made, spending `spent` whole coins of
    /// its own (its inputs become locked), made at `now` (seconds since the
    /// Unix epoch), and saves. A txid already pending is not added twice.
    ///
    /// Errors: [`WalletError::Full`], [`WalletError::NotExclusive`], and
    /// those of [`Wallets::save`].
    pub fn add_pending(
        &mut self,
        tx: Transaction,
        spent: u64,
        now: u64,
    ) -> Result<(), WalletError> {
        self.need_exclusive()?;
        let txid = tx.txid();
        if self.stored.pending.iter().any(|p| p.tx.txid() == txid) {
            return Ok(());
        }
        if self.stored.pending.len() >= MAX_PENDING {
            return Err(WalletError::Full {
                path: self.path.clone(),
                what: format!("{MAX_PENDING} pending payments"),
            });
        }
        self.stored.pending.push(Pending {
            tx,
            spent,
            created: now,
        });
        if let Err(e) = self.save() {
            self.stored.pending.pop();
            return Err(e);
        }
        Ok(())
    }

    /// Forgets the pending payments whose txids are in `txids` (mined,
    /// conflicted or refused) and saves if any was pending.
    ///
    /// Errors: [`WalletError::NotExclusive`], those of [`Wallets::save`].
    pub fn remove_pending(&mut self, txids: &[Txid]) -> Result<(), WalletError> {
        self.need_exclusive()?;
        let before = self.stored.pending.len();
        self.stored
            .pending
            .retain(|p| !txids.contains(&p.tx.txid()));
        if self.stored.pending.len() != before {
            self.save()?;
        }
        Ok(())
    }

    /// Leaves the pending payments whose txids are in `txids` out of this
    /// value without saving (for reads that must not write).
    pub fn forget_pending_unsaved(&mut self, txids: &[Txid]) {
        self.stored
            .pending
            .retain(|p| !txids.contains(&p.tx.txid()));
    }

    /// The pending payments, oldest first.
    pub fn pending(&self) -> &[Pending] {
        &self.stored.pending
    }

    /// Outpoints spent by pending payments: not to be spent again.
    pub fn locked_outpoints(&self) -> BTreeSet<OutPoint> {
        self.stored
            .pending
            .iter()
            .flat_map(|p| p.tx.inputs.iter().map(|i| i.prev_out))
            .collect()
    }
}
