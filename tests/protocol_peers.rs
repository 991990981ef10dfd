//! Peer choices keyed by a local secret, driven by hand (no sockets): the
//! eviction ranking cannot be predicted from the nonce a node sends in
//! `version`.

use std::net::SocketAddr;

use sledchain::protocol::eviction::{Candidate, netgroup, select_victim};
use sledchain::protocol::{DisconnectReason, Input, Output};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{PROTOCOL_VERSION, Version};

mod sans_io;
use sans_io::protocol;

const T0: u64 = 1_700_000_000_000;

#[test]
fn the_eviction_ranking_is_not_keyed_by_the_version_nonce() {
    let mut p = protocol(vec![]);
    // The nonce every peer sees.
    let shown = p.nonce();
    // 40 inbound peers, one per /16, the same in every respect but their
    // netgroup and connection time: netgroup protection decides.
    let mut candidates = Vec::new();
    for i in 0..40u64 {
        let addr = SocketAddr::from(([10, i as u8, 0, 1], 4000));
        let at = T0 + i;
        p.step(
            Input::Connected {
                peer: i + 1,
                addr,
                inbound: true,
            },
            at,
        );
        let v = Version {
            version: PROTOCOL_VERSION,
            best_height: 0,
            addr_from: String::new(),
            genesis: None,
            nonce: 1_000 + i,
        };
        p.step(
            Input::Received {
                peer: i + 1,
                message: Message::Version(v),
            },
            at,
        );
        candidates.push(Candidate {
            peer: i + 1,
            netgroup: netgroup(&addr),
            connected_at: at,
            handshaked: true,
            min_ping: None,
            last_block: 0,
            last_tx: 0,
        });
    }
    let evicted = |out: &[Output]| {
        out.iter().find_map(|o| match o {
            Output::Disconnect {
                peer,
                reason: DisconnectReason::Evicted,
            } => Some(*peer),
            _ => None,
        })
    };
    // What an attacker who keys the ranking by the nonce it was shown
    // predicts, for each newcomer: with a secret key, it is wrong at
    // least once.
    let mut wrong = 0;
    for k in 0..10u64 {
        let predicted = select_victim(&candidates, shown);
        let out = p.step(
            Input::InboundFull {
                addr: SocketAddr::from(([192, 0, 2, k as u8], 1)),
            },
            T0 + 1_000 + k,
        );
        let victim = evicted(&out).expect("a victim");
        if Some(victim) != predicted {
            wrong += 1;
        }
        candidates.retain(|c| c.peer != victim);
    }
    assert!(
        wrong > 0,
        "every eviction was predicted from the version nonce"
    );
}
