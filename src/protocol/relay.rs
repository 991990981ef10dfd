//! Relay: transactions (`inv` -> `getdata` -> `tx`), block announcements,
//! the mempool as the chain layer reports it, local submissions, and the
//! decision to mint.

use std::sync::Arc;

use super::types::{LocalReply, Output};
use super::{PeerId, Protocol};
use crate::chain::MempoolError;
use crate::core::hash::{BlockHash, Hash256, Txid};
use crate::core::tx::Transaction;
use crate::core::validation::TxError;
use crate::wire::message::Message;
use crate::wire::payload::{Inv, InvKind};

impl Protocol {
    pub(super) fn on_tx_inv(&mut self, peer: PeerId, items: Vec<Hash256>) {
        let now = self.now;
        let wanted: Vec<Hash256> = items
            .into_iter()
            .filter(|h| {
                let t = Txid(*h);
                !self.mempool.contains_key(&t) && !self.txs_requested.contains_key(&t)
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
        if self.mempool.contains_key(&txid) {
            return;
        }
        self.out.push(Output::AcceptTx {
            tx,
            from: Some(peer),
        });
    }

    fn announce(&mut self, kind: InvKind, item: Hash256, except: Option<PeerId>) {
        let targets: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, p)| p.is_ready() && Some(**id) != except)
            .map(|(id, _)| *id)
            .collect();
        for peer in targets {
            let inv = Inv {
                addr_from: self.config.me.to_string(),
                kind,
                items: vec![item],
            };
            self.send(peer, Message::Inv(inv));
        }
    }

    /// A block joined the best chain: announced to every peer but its
    /// sender.
    pub(super) fn announce_block(&mut self, hash: BlockHash, from: Option<PeerId>) {
        self.announce(InvKind::Block, hash.0, from);
    }

    pub(super) fn tx_accepted(&mut self, tx: Arc<Transaction>, from: Option<PeerId>) {
        let txid = tx.txid();
        self.mempool.insert(txid, tx);
        for id in self.replies.remove(&txid).unwrap_or_default() {
            self.out.push(Output::Reply(id, LocalReply::Accepted(txid)));
        }
        self.announce(InvKind::Tx, txid.0, from);
        self.maybe_mint();
    }

    /// A missing input is what an honest peer sends when the transaction
    /// was mined, or its parent not yet seen, while it was being relayed:
    /// not held against the peer. Other rule breaks cost 10 points.
    pub(super) fn tx_rejected(&mut self, txid: Txid, from: Option<PeerId>, error: &MempoolError) {
        for id in self.replies.remove(&txid).unwrap_or_default() {
            self.out
                .push(Output::Reply(id, LocalReply::Rejected(error.to_string())));
        }
        let Some(peer) = from else { return };
        if let MempoolError::Invalid { error: e, .. } = error
            && !matches!(e, TxError::MissingInput { .. })
        {
            self.misbehaving(peer, 10, &format!("invalid transaction {txid}: {e}"));
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
