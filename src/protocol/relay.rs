//! Relay: transactions (`inv` -> `getdata` -> `tx`) between the wire and
//! the transaction manager ([`super::txs`], which decides), local
//! submissions, and the decision to mint.

use std::sync::Arc;

use super::txs::TxVerdict;
use super::types::{LocalReply, Output};
use super::{PeerId, Protocol};
use crate::chain::MempoolError;
use crate::core::hash::{Hash256, Txid};
use crate::core::tx::Transaction;
use crate::wire::message::Message;
use crate::wire::payload::{Inv, InvKind, MAX_INV_ITEMS, NotFound, TxMsg};

/// Most txids of our mempool announced to a peer as it completes its
/// handshake (`Protocol::announce_mempool`): what one peer may have
/// announced and not settled with us
/// ([`super::txs::MAX_PEER_TX_ANNOUNCEMENTS`]).
pub const MEMPOOL_ANNOUNCE_MAX: usize = super::txs::MAX_PEER_TX_ANNOUNCEMENTS;

impl Protocol {
    /// An `inv` of transactions: each txid we lack is remembered with this
    /// announcer and asked of one announcer at a time ([`super::txs`]).
    pub(super) fn on_tx_inv(&mut self, peer: PeerId, items: Vec<Hash256>) {
        let txids: Vec<Txid> = items.into_iter().map(Txid).collect();
        self.txs.announced(peer, &txids, self.now);
    }

    pub(super) fn on_tx(&mut self, peer: PeerId, tx: Transaction) {
        match self.txs.received(peer, tx.txid(), self.now) {
            TxVerdict::Validate => self.out.push(Output::AcceptTx {
                tx,
                from: Some(peer),
            }),
            TxVerdict::Ignore => {}
            TxVerdict::Blame(fault) => self.misbehaving(peer, fault),
        }
    }

    /// A `notfound` of transactions: each goes to its next announcer.
    pub(super) fn on_tx_notfound(&mut self, peer: PeerId, items: Vec<Hash256>) {
        let txids: Vec<Txid> = items.into_iter().map(Txid).collect();
        self.txs.notfound(peer, &txids, self.now);
    }

    /// Sends the `getdata`s the transaction manager decided on during this
    /// step, one per peer (in chunks of [`MAX_INV_ITEMS`]).
    pub(super) fn flush_tx_requests(&mut self) {
        for (peer, txids) in self.txs.take_requests() {
            let items = txids.into_iter().map(|t| t.0).collect();
            self.getdata(peer, InvKind::Tx, items);
        }
    }

    /// A transaction `getdata`: queued once per txid, then answered
    /// within the byte budget ([`super::txs`]); txids past the peer's
    /// serve queue are ignored.
    pub(super) fn serve_txs(&mut self, peer: PeerId, items: Vec<Hash256>) {
        let _ignored = self.txs.getdata(peer, items.into_iter().map(Txid));
        self.send_txs(peer);
    }

    pub(super) fn on_tx_flushed(&mut self, peer: PeerId, bytes: u64) {
        self.txs.flushed(peer, bytes, self.now);
        self.send_txs(peer);
    }

    /// Sends the queued transaction answers `peer` has room for.
    fn send_txs(&mut self, peer: PeerId) {
        let (send, missing) = self.txs.serve(peer, self.now);
        for tx in send {
            let m = Message::Tx(TxMsg {
                addr_from: self.config.me.to_string(),
                transaction: (*tx).clone(),
            });
            self.send(peer, m);
        }
        self.tx_notfound(peer, missing);
    }

    fn tx_notfound(&mut self, peer: PeerId, missing: Vec<Txid>) {
        if !missing.is_empty() {
            let items = missing.into_iter().map(|t| t.0).collect();
            let kind = InvKind::Tx;
            self.send(peer, Message::NotFound(NotFound { kind, items }));
        }
    }

    /// Sends the `inv`s of the transactions accepted during this step:
    /// one `inv` per ready peer listing every one of them it did not send
    /// us (in chunks of [`MAX_INV_ITEMS`]), instead of one `inv` per
    /// transaction. Runs at the end of each step, so it adds no delay.
    pub(super) fn flush_tx_invs(&mut self) {
        let pending = self.txs.take_accepted();
        if pending.is_empty() {
            return;
        }
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
            self.send_tx_inv(peer, &items);
        }
    }

    /// `peer` completed its handshake claiming `height`: when it is not
    /// behind us, it gets an `inv` of our mempool (at most
    /// [`MEMPOOL_ANNOUNCE_MAX`] txids, in txid order; chunks of
    /// [`MAX_INV_ITEMS`]). Transactions are announced once, as they are
    /// accepted, to the peers ready then: without this a peer that
    /// connected later (it was down, or we restarted) never heard of the
    /// ones waiting in our mempool until a block brought them. A peer
    /// behind us is left out: it could not connect them before it syncs.
    pub(super) fn announce_mempool(&mut self, peer: PeerId, height: u64) {
        if self.txs.mempool().is_empty() || self.height().is_none_or(|ours| height < ours) {
            return;
        }
        let items: Vec<Hash256> = self
            .txs
            .mempool()
            .keys()
            .take(MEMPOOL_ANNOUNCE_MAX)
            .map(|t| t.0)
            .collect();
        self.send_tx_inv(peer, &items);
    }

    /// Sends `items` (txids) to `peer` as transaction `inv`s of at most
    /// [`MAX_INV_ITEMS`] each.
    fn send_tx_inv(&mut self, peer: PeerId, items: &[Hash256]) {
        for chunk in items.chunks(MAX_INV_ITEMS) {
            let inv = Inv {
                addr_from: self.config.me.to_string(),
                kind: InvKind::Tx,
                items: chunk.to_vec(),
            };
            self.send(peer, Message::Inv(inv));
        }
    }

    pub(super) fn tx_accepted(&mut self, tx: Arc<Transaction>, from: Option<PeerId>) {
        let txid = tx.txid();
        // Announced at the end of the step, with the others accepted in it.
        self.txs.accepted(tx, from, self.now);
        for id in self.replies.remove(&txid).unwrap_or_default() {
            self.out.push(Output::Reply(id, LocalReply::Accepted(txid)));
        }
        self.maybe_mint();
    }

    /// The chain layer refused `txid`: the local submitter gets the rule,
    /// a peer that sent it the fault the transaction manager names
    /// ([`super::txs::TxMgr::rejected`]).
    pub(super) fn tx_rejected(&mut self, txid: Txid, from: Option<PeerId>, error: &MempoolError) {
        for id in self.replies.remove(&txid).unwrap_or_default() {
            self.out
                .push(Output::Reply(id, LocalReply::Rejected(error.to_string())));
        }
        if let Some(fault) = self.txs.rejected(txid, from, error, self.now)
            && let Some(peer) = from
        {
            self.misbehaving(peer, fault);
        }
    }

    /// Asks for a block to be minted when this node mints, has a chain
    /// (a failed read, reported, mints nothing), is not minting already
    /// and the mempool holds enough transactions.
    pub(super) fn maybe_mint(&mut self) {
        let Some(minter) = self.config.minter else {
            return;
        };
        let threshold = self.config.mint_threshold.max(1);
        if self.mint_pending
            || self.txs.mempool().len() < threshold
            || self.read_tip().flatten().is_none()
        {
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
