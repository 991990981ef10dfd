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
/// handshake (`Protocol::announce_mempool`): a fifth of what one peer may
/// have announced and not settled with us
/// ([`super::txs::MAX_PEER_TX_ANNOUNCEMENTS`]), so the receiver keeps room
/// for the announcements that follow, and one handshake costs us at most
/// ~32 KB of `inv`.
pub const MEMPOOL_ANNOUNCE_MAX: usize = super::txs::MAX_PEER_TX_ANNOUNCEMENTS / 5;

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
    /// [`MEMPOOL_ANNOUNCE_MAX`] txids, parents before children, as
    /// Core's `CompareInvMempoolOrder` keeps them; chunks of
    /// [`MAX_INV_ITEMS`]). A child announced before its parent would be
    /// fetched first and refused for its missing input, which costs the
    /// sender (us) the receiver's missing-input budget. Transactions are
    /// announced once, as they are accepted, to the peers ready then:
    /// without this a peer that connected later (it was down, or we
    /// restarted) never heard of the ones waiting in our mempool until a
    /// block brought them. A peer behind us is left out: it could not
    /// connect them before it syncs.
    pub(super) fn announce_mempool(&mut self, peer: PeerId, height: u64) {
        if self.txs.mempool().is_empty() || self.height().is_none_or(|ours| height < ours) {
            return;
        }
        let items = parents_first(self.txs.mempool(), MEMPOOL_ANNOUNCE_MAX);
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

/// Up to `max` txids of `pool`, each after every parent it has in `pool`
/// (a parent: the transaction of an outpoint one of its inputs spends).
/// Linear in the pool's inputs; a cycle (impossible in a valid mempool)
/// cannot loop, since each txid is visited once.
fn parents_first(
    pool: &std::collections::BTreeMap<Txid, Arc<Transaction>>,
    max: usize,
) -> Vec<Hash256> {
    use std::collections::HashSet;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for root in pool.keys() {
        // Depth first: a transaction goes out once its parents have.
        let mut stack = vec![(*root, false)];
        while let Some((txid, parents_done)) = stack.pop() {
            if out.len() >= max {
                return out;
            }
            if parents_done {
                out.push(txid.0);
                continue;
            }
            if !seen.insert(txid) {
                continue;
            }
            stack.push((txid, true));
            if let Some(tx) = pool.get(&txid) {
                for input in &tx.inputs {
                    let parent = input.prev_out.txid;
                    if pool.contains_key(&parent) && !seen.contains(&parent) {
                        stack.push((parent, false));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tx::{OutPoint, TxIn, TxOut};
    use std::collections::BTreeMap;

    /// A payment spending output 0 of `parent`.
    fn spend(parent: Txid, value: u64) -> Transaction {
        Transaction {
            version: 1,
            inputs: vec![TxIn {
                prev_out: OutPoint {
                    txid: parent,
                    vout: 0,
                },
                signature: [0; 64],
                pubkey: [0; 65],
            }],
            outputs: vec![TxOut {
                value,
                pubkey_hash: [7; 20],
            }],
            coinbase_height: 0,
        }
    }

    #[test]
    fn a_mempool_is_announced_parents_first_and_capped() {
        // A chain of 8 payments and 4 loose ones: in txid order some child
        // comes before its parent.
        let mut chain = vec![spend(Txid(Hash256([1; 32])), 50)];
        for i in 1..8 {
            chain.push(spend(chain[i - 1].txid(), 50 - i as u64));
        }
        let mut pool = BTreeMap::new();
        for tx in chain
            .iter()
            .cloned()
            .chain((0..4).map(|i| spend(Txid(Hash256([9; 32])), i)))
        {
            pool.insert(tx.txid(), Arc::new(tx));
        }
        let keys: Vec<Hash256> = pool.keys().map(|t| t.0).collect();
        let pos =
            |order: &[Hash256], tx: &Transaction| order.iter().position(|h| *h == tx.txid().0);
        assert!(
            chain
                .windows(2)
                .any(|w| pos(&keys, &w[1]) < pos(&keys, &w[0])),
            "the test needs a child whose txid sorts before its parent's"
        );
        let order = parents_first(&pool, 100);
        assert_eq!(order.len(), 12);
        for w in chain.windows(2) {
            assert!(
                pos(&order, &w[0]) < pos(&order, &w[1]),
                "a child before its parent"
            );
        }
        assert_eq!(parents_first(&pool, 5).len(), 5);
    }
}
