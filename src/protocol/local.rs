//! Local requests about the node itself (from the control socket and the
//! HTTP API): its figures and peers, a peer to dial or drop now, a block to
//! mint now.

use std::net::SocketAddr;

use super::types::{LocalReply, LocalRequest, NodeInfo, Output, PeerInfo, ReplyId};
use super::{DisconnectReason, Protocol};

impl Protocol {
    /// Answers [`LocalRequest::Info`], [`LocalRequest::AddPeer`],
    /// [`LocalRequest::Disconnect`] and [`LocalRequest::Mint`] (the others
    /// are answered in `on_local`).
    pub(super) fn on_local_node(&mut self, id: ReplyId, request: LocalRequest) {
        let reply = match request {
            LocalRequest::Info => match self.node_info() {
                Ok(info) => LocalReply::Info(info),
                Err(e) => {
                    self.event(super::Event::ChainReadFailed(e.to_string()));
                    super::unreadable()
                }
            },
            LocalRequest::AddPeer(addr) => self.add_peer(addr),
            LocalRequest::Disconnect(addr) => self.drop_peer(addr),
            LocalRequest::Mint => self.mint_now(),
            LocalRequest::Status | LocalRequest::SubmitTx(_) => {
                LocalReply::Rejected("not a node request".to_string())
            }
        };
        self.out.push(Output::Reply(id, reply));
    }

    /// The node's figures and peers, all of one moment: the tip as the
    /// chain's events last reported it ([`Protocol::reported_tip`]), with
    /// the mempool as those events left it and the peers' heights shown
    /// against that tip.
    ///
    /// Errors: the [`super::BlockReader`]'s, when the tip cannot be read.
    pub fn node_info(&self) -> Result<NodeInfo, crate::store::StoreError> {
        let tip = self.reported_tip()?;
        let ours = tip.map_or(0, |t| t.height);
        let peers: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(id, p)| PeerInfo {
                peer: *id,
                addr: p.addr,
                inbound: p.inbound,
                ready: p.is_ready(),
                height: self.sync.peer(*id).map_or(0, |s| s.shown_height(ours)),
                ping_ms: p.ping_rtt,
                score: p.score,
                connected_at: p.connected_at,
                bytes_in: None,
                bytes_out: None,
            })
            .collect();
        let best_peer_height = peers
            .iter()
            .filter(|p| p.ready)
            .map(|p| p.height)
            .max()
            .unwrap_or(0);
        Ok(NodeInfo {
            height: tip.map_or(0, |t| t.height),
            tip: tip.map(|t| t.hash),
            mempool: self.txs.mempool().len(),
            mempool_bytes: self.txs.mempool_bytes(),
            peers,
            best_peer_height,
            minter: self.config.minter.is_some(),
            side_held_bytes: self.sync.side().bytes(),
        })
    }

    fn add_peer(&mut self, addr: SocketAddr) -> LocalReply {
        if addr == self.config.me {
            return LocalReply::Rejected(format!("{addr} is this node"));
        }
        if self.peers.values().any(|p| !p.inbound && p.addr == addr) {
            return LocalReply::Rejected(format!("already connected to {addr}"));
        }
        self.addrs.book.pin([addr]);
        self.addrs.book.dialing(addr);
        self.out.push(Output::Connect(addr));
        LocalReply::Done(format!("dialling {addr}"))
    }

    fn drop_peer(&mut self, addr: SocketAddr) -> LocalReply {
        let ids: Vec<_> = self
            .peers
            .iter()
            .filter(|(_, p)| p.addr == addr)
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return LocalReply::Rejected(format!("no peer at {addr}"));
        }
        for peer in ids {
            self.disconnect(peer, DisconnectReason::Requested);
        }
        LocalReply::Done(format!("disconnected {addr}"))
    }

    fn mint_now(&mut self) -> LocalReply {
        let Some(minter) = self.config.minter else {
            return LocalReply::Rejected(
                "this node does not mint: start it with --minter ADDRESS".to_string(),
            );
        };
        let Some(tip) = self.read_tip() else {
            return super::unreadable();
        };
        let Some(tip) = tip else {
            return LocalReply::Rejected("no chain yet".to_string());
        };
        if self.txs.mempool().is_empty() {
            return LocalReply::Rejected("the mempool is empty: nothing to mint".to_string());
        }
        if self.mint_pending {
            return LocalReply::Rejected("a block is being minted already".to_string());
        }
        self.mint_pending = true;
        let time = u32::try_from(self.now / 1000).unwrap_or(u32::MAX);
        self.out.push(Output::Mint {
            minter,
            time,
            threshold: 0,
        });
        LocalReply::Done(format!(
            "minting a block at height {} with {} mempool transaction(s)",
            tip.height + 1,
            self.txs.mempool().len()
        ))
    }
}
