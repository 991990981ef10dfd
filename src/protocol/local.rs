//! Local requests beyond status and transactions: the peer list, dialling
//! and dropping a peer on request, and minting now (the HTTP API's node
//! routes).

use super::{DisconnectReason, LocalReply, LocalRequest, Output, PeerSummary, Protocol, ReplyId};

impl Protocol {
    /// Answers [`LocalRequest::Peers`], [`LocalRequest::Connect`],
    /// [`LocalRequest::Disconnect`] and [`LocalRequest::Mint`].
    pub(super) fn on_local_admin(&mut self, id: ReplyId, request: LocalRequest) {
        let reply = match request {
            LocalRequest::Peers => LocalReply::Peers(self.peer_summaries()),
            LocalRequest::Connect(addr) => {
                self.out.push(Output::Connect(addr));
                LocalReply::Done(format!("dialling {addr}"))
            }
            LocalRequest::Disconnect(addr) => {
                let ids: Vec<_> = self
                    .peers
                    .iter()
                    .filter(|(_, p)| p.addr == addr)
                    .map(|(id, _)| *id)
                    .collect();
                if ids.is_empty() {
                    LocalReply::Rejected(format!("no peer at {addr}"))
                } else {
                    for peer in ids {
                        self.disconnect(peer, DisconnectReason::Requested);
                    }
                    LocalReply::Done(format!("disconnected {addr}"))
                }
            }
            LocalRequest::Mint => self.mint_now(),
            LocalRequest::Status | LocalRequest::SubmitTx(_) => return,
        };
        self.out.push(Output::Reply(id, reply));
    }

    fn peer_summaries(&self) -> Vec<PeerSummary> {
        self.peers
            .values()
            .map(|p| PeerSummary {
                addr: p.addr,
                inbound: p.inbound,
                ready: p.version.is_some(),
                height: p.best_height,
                ping_ms: p.ping_rtt,
                score: p.score,
                connected_at: p.connected_at,
            })
            .collect()
    }

    fn mint_now(&mut self) -> LocalReply {
        let Some(minter) = self.config.minter else {
            return LocalReply::Rejected("this node does not mint (no --minter)".into());
        };
        if self.tip().is_none() {
            return LocalReply::Rejected("no chain yet".into());
        }
        if self.mint_pending {
            return LocalReply::Rejected("a mint is already in progress".into());
        }
        self.mint_pending = true;
        let time = u32::try_from(self.now / 1000).unwrap_or(u32::MAX);
        self.out.push(Output::Mint {
            minter,
            time,
            threshold: 1,
        });
        LocalReply::Done("minting".into())
    }
}
