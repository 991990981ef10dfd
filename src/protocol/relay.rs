//! Relay: transactions (`inv` -> `getdata` -> `tx`), the mempool as the chain layer reports it, local submissions, and the
//! decision to mint.

use std::sync::Arc;

use super::types::{LocalReply, Output};
use super::{Misbehavior, PeerId, Protocol};
use crate::chain::MempoolError;
use crate::core::hash::{Hash256, Txid};
use crate::core::tx::Transaction;
use crate::core::validation::TxError;
use crate::wire::message::Message;
use crate::wire::payload::{Inv, InvKind, MAX_INV_ITEMS};

impl Protocol {
    pub(super) fn on_tx_inv(&mut self, peer: PeerId, items: Vec<Hash256>) {
        let now = self.now;
        if self.out_of_budget(peer) {
            return;
        }
        let wanted: Vec<Hash256> = items
            .into_iter()
            .filter(|h| {
                let t = Txid(*h);
                !self.mempool.contains_key(&t)
                    && !self.txs_requested.contains_key(&t)
                    && !self.rejects.contains(&t)
                    && !self.removed.contains(&t)
            })
            .collect();
        for h in &wanted {
            self.txs_requested.insert(Txid(*h), now);
        }
        if !wanted.is_empty() {
            self.getdata(peer, InvKind::Tx, wanted);
        }
    }

    pub(super) fn on_tx(&mut self, peer: PeerId, tx: Transaction) {
        let txid = tx.txid();
        self.txs_requested.remove(&txid);
        // Left the mempool lately (mostly mined): a late copy from another
        // peer would only fail for missing inputs and spend that peer's
        // budget, then drop its next, new transactions.
        if self.mempool.contains_key(&txid)
            || self.removed.contains(&txid)
            || self.out_of_budget(peer)
        {
            return;
        }
        if let Some(points) = self.rejects.get(&txid) {
            // Refused since the tip last changed: not validated again.
            if points > 0 {
                self.misbehaving(peer, Misbehavior::RejectedTxAgain(txid, points));
            }
            return;
        }
        self.out.push(Output::AcceptTx {
            tx,
            from: Some(peer),
        });
    }

    /// True when `peer` has spent its budget of missing-input refusals
    /// ([`super::txflood`]): its transactions are dropped unvalidated.
    fn out_of_budget(&mut self, peer: PeerId) -> bool {
        let now = self.now;
        self.peers
            .get_mut(&peer)
            .is_some_and(|p| p.missing_inputs.is_empty(now))
    }

    /// Sends the `inv`s of the transactions accepted during this step:
    /// one `inv` per ready peer listing every one of them it did not send
    /// us (in chunks of [`MAX_INV_ITEMS`]), instead of one `inv` per
    /// transaction. Runs at the end of each step, so it adds no delay.
    pub(super) fn flush_tx_invs(&mut self) {
        if self.tx_invs.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.tx_invs);
        let targets: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.is_ready())
            .map(|(id, _)| *id)
            .collect();
        for peer in targets {
            let items: Vec<Hash256> = pending
                .iter()
                .filter(|(_, from)| *from != Some(peer))
                .map(|(txid, _)| txid.0)
                .collect();
            for chunk in items.chunks(MAX_INV_ITEMS) {
                let inv = Inv {
                    addr_from: self.config.me.to_string(),
                    kind: InvKind::Tx,
                    items: chunk.to_vec(),
                };
                self.send(peer, Message::Inv(inv));
            }
        }
    }

    pub(super) fn tx_accepted(&mut self, tx: Arc<Transaction>, from: Option<PeerId>) {
        let txid = tx.txid();
        self.mempool.insert(txid, tx);
        for id in self.replies.remove(&txid).unwrap_or_default() {
            self.out.push(Output::Reply(id, LocalReply::Accepted(txid)));
        }
        // Announced at the end of the step, with the others accepted in it.
        self.tx_invs.push((txid, from));
        self.maybe_mint();
    }

    /// `txid` left the mempool: remembered so a late announcement of it
    /// is not fetched again (see [`Protocol::on_tx`]).
    pub(super) fn tx_removed(&mut self, txid: Txid) {
        if self.mempool.remove(&txid).is_some() {
            self.removed.insert(txid, 0);
        }
    }

    /// A missing input is what an honest peer sends when the transaction
    /// was mined, or its parent not yet seen, while it was being relayed:
    /// not held against the peer, but taken from its budget. Other rule
    /// breaks cost 10 points. Refusals the txid determines go to the reject
    /// filter ([`super::txflood`]).
    pub(super) fn tx_rejected(&mut self, txid: Txid, from: Option<PeerId>, error: &MempoolError) {
        for id in self.replies.remove(&txid).unwrap_or_default() {
            self.out
                .push(Output::Reply(id, LocalReply::Rejected(error.to_string())));
        }
        let now = self.now;
        match error {
            MempoolError::Invalid {
                error: TxError::MissingInput { .. },
                ..
            } => {
                if let Some(p) = from.and_then(|p| self.peers.get_mut(&p)) {
                    p.missing_inputs.take(now);
                }
            }
            MempoolError::Invalid { error: e, .. } => {
                // Signatures and keys are not covered by the txid.
                if !matches!(e, TxError::BadSignature(..) | TxError::WrongOwner(_)) {
                    self.rejects.insert(txid, 10);
                }
                if let Some(peer) = from {
                    self.misbehaving(peer, Misbehavior::InvalidTx(txid, e.to_string()));
                }
            }
            MempoolError::Conflict { .. } => self.rejects.insert(txid, 0),
            _ => {}
        }
    }

    /// Asks for a block to be minted when this node mints, has a chain,
    /// is not minting already and the mempool holds enough transactions.
    pub(super) fn maybe_mint(&mut self) {
        let Some(minter) = self.config.minter else {
            return;
        };
        let threshold = self.config.mint_threshold.max(1);
        if self.mint_pending || self.mempool.len() < threshold || self.tip().is_none() {
            return;
        }
        self.mint_pending = true;
        let time = u32::try_from(self.now / 1000).unwrap_or(u32::MAX);
        self.out.push(Output::Mint {
            minter,
            time,
            threshold,
        });
    }
}
