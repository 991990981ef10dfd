//! The protocol state machine driven by hand: inputs and a clock in,
//! outputs checked, no sockets (nakamoto's `fsm` test style).

use std::net::SocketAddr;

use sledchain::protocol::{DisconnectReason, Input, Output, Protocol};
use sledchain::store::ChainStore;
use sledchain::wire::message::Message;
use sledchain::wire::payload::{PROTOCOL_VERSION, Version};

const T0: u64 = 1_700_000_000_000;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

mod sans_io;
use sans_io::protocol;

fn version() -> Message {
    Message::Version(Version {
        version: PROTOCOL_VERSION,
        best_height: 0,
        addr_from: "198.18.0.9:8333".into(),
        genesis: None,
        nonce: 77,
    })
}

fn connects(out: &[Output]) -> Vec<SocketAddr> {
    out.iter()
        .filter_map(|o| match o {
            Output::Connect(a) => Some(*a),
            _ => None,
        })
        .collect()
}

#[test]
fn an_outbound_peer_is_greeted_with_version_then_pinged_at_a_third_of_the_idle_timeout() {
    let seed = addr("198.18.0.2:8333");
    let mut p = protocol(vec![seed]);
    assert_eq!(connects(&p.step(Input::Tick, T0)), [seed]);
    let out = p.step(
        Input::Connected {
            peer: 1,
            addr: seed,
            inbound: false,
        },
        T0 + 10,
    );
    assert!(matches!(
        &out[..],
        [Output::Send {
            peer: 1,
            message: Message::Version(_)
        }]
    ));
    let out = p.step(
        Input::Received {
            peer: 1,
            message: version(),
        },
        T0 + 20,
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Send {
            message: Message::Addr(_),
            ..
        }
    )));
    let sends = |out: Vec<Output>| -> Vec<Output> {
        out.into_iter()
            .filter(|o| matches!(o, Output::Send { .. }))
            .collect()
    };
    assert!(sends(p.step(Input::Tick, T0 + 19_000)).is_empty());
    let out = sends(p.step(Input::Tick, T0 + 20_020));
    let nonce = match &out[..] {
        [
            Output::Send {
                peer: 1,
                message: Message::Ping(n),
            },
        ] => *n,
        other => panic!("expected one ping, got {other:?}"),
    };
    p.step(
        Input::Received {
            peer: 1,
            message: Message::Pong(nonce),
        },
        T0 + 20_070,
    );
    assert_eq!(p.peers()[&1].ping_rtt, Some(50));
}

#[test]
fn a_failed_seed_is_dialled_again_after_one_second_then_two() {
    let seed = addr("198.18.0.2:8333");
    let mut p = protocol(vec![seed]);
    assert_eq!(connects(&p.step(Input::Tick, T0)), [seed]);
    assert!(
        connects(&p.step(Input::Tick, T0 + 500)).is_empty(),
        "a dial is under way"
    );
    p.step(Input::DialFailed { addr: seed }, T0 + 600);
    assert!(connects(&p.step(Input::Tick, T0 + 1_500)).is_empty());
    assert_eq!(connects(&p.step(Input::Tick, T0 + 1_600)), [seed]);
    p.step(Input::DialFailed { addr: seed }, T0 + 1_700);
    assert!(connects(&p.step(Input::Tick, T0 + 3_600)).is_empty());
    assert_eq!(connects(&p.step(Input::Tick, T0 + 3_700)), [seed]);
}

#[test]
fn our_own_nonce_and_a_silent_peer_are_disconnected() {
    let mut p = protocol(vec![]);
    p.step(
        Input::Connected {
            peer: 1,
            addr: addr("198.51.100.1:1"),
            inbound: true,
        },
        T0,
    );
    let mut me = version();
    if let Message::Version(v) = &mut me {
        v.nonce = p.nonce();
    }
    let out = p.step(
        Input::Received {
            peer: 1,
            message: me,
        },
        T0 + 1,
    );
    assert!(matches!(
        &out[..],
        [Output::Disconnect {
            peer: 1,
            reason: DisconnectReason::SelfConnection
        }]
    ));
    p.step(
        Input::Connected {
            peer: 2,
            addr: addr("198.51.100.2:1"),
            inbound: true,
        },
        T0,
    );
    let out = p.step(Input::Tick, T0 + 10_001);
    assert!(
        matches!(
            &out[..],
            [Output::Disconnect {
                peer: 2,
                reason: DisconnectReason::HandshakeTimeout(10)
            }]
        ),
        "{out:?}"
    );
    assert!(p.peers().is_empty());
}

#[test]
fn an_inv_of_50000_unknown_blocks_asks_for_500_at_most() {
    use sledchain::core::hash::Hash256;
    use sledchain::wire::payload::{Inv, InvKind};
    // A node with a chain (with none, only a seed's blocks are wanted).
    let store = ChainStore::temporary().expect("store");
    let mut genesis = sledchain::core::block::Block::template(
        sledchain::core::hash::BlockHash::ZERO,
        0,
        1,
        (T0 / 1000) as u32,
        [1; 20],
        20,
        vec![],
    );
    sledchain::chain::miner::solve(&mut genesis, 1, &Default::default());
    store.init_genesis(&genesis).expect("genesis");
    let mut p = Protocol::new(protocol(vec![]).config().clone(), store, vec![]);
    p.step(
        Input::Connected {
            peer: 1,
            addr: addr("198.51.100.1:1"),
            inbound: true,
        },
        T0,
    );
    // A version-1 peer: synced by `getblocks`, its `inv`s asked for.
    let Message::Version(mut v) = version() else {
        unreachable!()
    };
    v.version = 1;
    p.step(
        Input::Received {
            peer: 1,
            message: Message::Version(v),
        },
        T0,
    );
    let items: Vec<Hash256> = (0..50_000u32)
        .map(|i| sledchain::core::hash::sha256d(&i.to_le_bytes()))
        .collect();
    let inv = Inv {
        addr_from: String::new(),
        kind: InvKind::Block,
        items,
    };
    let out = p.step(
        Input::Received {
            peer: 1,
            message: Message::Inv(inv.clone()),
        },
        T0 + 1,
    );
    let asked: usize = out
        .iter()
        .map(|o| match o {
            Output::Send {
                message: Message::GetData(g),
                ..
            } => g.items.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(asked, 500);
    // Until those arrive, the same announcement asks for nothing more.
    let out = p.step(
        Input::Received {
            peer: 1,
            message: Message::Inv(inv),
        },
        T0 + 2,
    );
    assert!(out.iter().all(|o| !matches!(
        o,
        Output::Send {
            message: Message::GetData(_),
            ..
        }
    )));
}

/// The addresses in the `addr` messages among `out`.
fn addrs_sent(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                message: Message::Addr(a),
                ..
            } => Some(a.addrs.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn version_from(listen: &str) -> Message {
    Message::Version(Version {
        version: PROTOCOL_VERSION,
        best_height: 0,
        addr_from: listen.into(),
        genesis: None,
        nonce: 78,
    })
}

#[test]
fn the_default_seed_is_dialled_but_never_passed_on_or_saved() {
    let seed = addr("198.18.0.2:8333");
    let other = "198.18.0.7:8333";
    // As given with --seed, the seed is passed on like any address it
    // reached; as the node's own default, it never is.
    for default in [false, true] {
        let mut config = sans_io::config(vec![seed]);
        if default {
            config.default_seeds = vec![seed];
        }
        let mut p = Protocol::new(config, ChainStore::temporary().expect("store"), vec![]);
        assert_eq!(connects(&p.step(Input::Tick, T0)), [seed], "dialled");
        p.step(
            Input::Connected {
                peer: 1,
                addr: seed,
                inbound: false,
            },
            T0 + 10,
        );
        p.step(
            Input::Received {
                peer: 1,
                message: version_from("198.18.0.2:8333"),
            },
            T0 + 20,
        );
        // A peer gossips the seed's address too, with another one.
        p.step(
            Input::Connected {
                peer: 2,
                addr: addr("198.18.0.3:40000"),
                inbound: true,
            },
            T0 + 30,
        );
        p.step(
            Input::Received {
                peer: 2,
                message: version_from("198.18.0.3:8333"),
            },
            T0 + 40,
        );
        p.step(
            Input::Received {
                peer: 2,
                message: Message::Addr(sledchain::wire::payload::Addr {
                    addrs: vec![seed.to_string(), other.to_string()],
                }),
            },
            T0 + 50,
        );
        // What a newcomer is told, and what is saved for the next run.
        p.step(
            Input::Connected {
                peer: 3,
                addr: addr("198.18.0.4:40000"),
                inbound: true,
            },
            T0 + 60,
        );
        let told = addrs_sent(&p.step(
            Input::Received {
                peer: 3,
                message: version_from("198.18.0.4:8333"),
            },
            T0 + 70,
        ));
        assert!(told.contains(&other.to_string()), "{told:?}");
        let saved: Vec<SocketAddr> = p
            .addrbook()
            .records(T0 + 80)
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        assert_eq!(told.contains(&seed.to_string()), !default, "{told:?}");
        assert_eq!(saved.contains(&seed), !default, "{saved:?}");
        assert!(saved.contains(&addr(other)), "{saved:?}");
    }
}

/// A ready peer (outbound, handshake done at `T0 + 20`) and the nonce of
/// the `ping` sent to it at `T0 + 20_020` (a third of the 60 s idle
/// timeout later).
fn pinged_peer() -> (Protocol, u64) {
    let seed = addr("198.18.0.2:8333");
    let mut p = protocol(vec![seed]);
    p.step(Input::Tick, T0);
    let connected = Input::Connected {
        peer: 1,
        addr: seed,
        inbound: false,
    };
    p.step(connected, T0 + 10);
    let hello = Input::Received {
        peer: 1,
        message: version(),
    };
    p.step(hello, T0 + 20);
    let out = p.step(Input::Tick, T0 + 20_020);
    let nonce = out
        .iter()
        .find_map(|o| match o {
            Output::Send {
                peer: 1,
                message: Message::Ping(n),
            } => Some(*n),
            _ => None,
        })
        .expect("a ping");
    (p, nonce)
}

/// Ticks every second from `from` to `to` (ms since `T0`), the peer
/// sending `each` (if any) every 10 s; the first disconnect of peer 1 and
/// when it came (ms since `T0`), and every ping sent to it meanwhile.
fn run_until_dropped(
    p: &mut Protocol,
    from: u64,
    to: u64,
    each: impl Fn(u64) -> Option<Message>,
) -> (Option<(u64, DisconnectReason)>, Vec<u64>) {
    let mut pings = Vec::new();
    for t in (from..=to).step_by(1_000) {
        let mut out = Vec::new();
        if t % 10_000 == 0
            && let Some(message) = each(t)
        {
            out.extend(p.step(Input::Received { peer: 1, message }, T0 + t));
        }
        out.extend(p.step(Input::Tick, T0 + t));
        for o in out {
            match o {
                Output::Disconnect { peer: 1, reason } => return (Some((t, reason)), pings),
                Output::Send {
                    peer: 1,
                    message: Message::Ping(n),
                } => pings.push(n),
                _ => {}
            }
        }
    }
    (None, pings)
}

#[test]
fn made_up_pongs_do_not_keep_a_peer_alive() {
    let (mut p, nonce) = pinged_peer();
    let (dropped, _) =
        run_until_dropped(&mut p, 21_000, 300_000, |t| Some(Message::Pong(nonce ^ t)));
    // Its last message that counts is its `version` at T0 + 20.
    assert_eq!(dropped, Some((61_000, DisconnectReason::Idle(60))));
}

#[test]
fn a_ping_unanswered_for_the_idle_timeout_drops_the_peer_whatever_else_it_sends() {
    let (mut p, _) = pinged_peer();
    // It talks (pings of its own) but never answers ours.
    let (dropped, pings) = run_until_dropped(&mut p, 21_000, 300_000, |t| Some(Message::Ping(t)));
    assert!(
        pings.is_empty(),
        "pinged again while a ping was outstanding"
    );
    assert_eq!(dropped, Some((81_000, DisconnectReason::PingTimeout(60))));
}

#[test]
fn a_peer_answering_each_ping_with_its_nonce_stays() {
    let (mut p, first) = pinged_peer();
    let mut pending = Some(first);
    for t in (21_000..=300_000u64).step_by(1_000) {
        let mut out = Vec::new();
        if let Some(n) = pending.take() {
            out.extend(p.step(
                Input::Received {
                    peer: 1,
                    message: Message::Pong(n),
                },
                T0 + t,
            ));
        }
        out.extend(p.step(Input::Tick, T0 + t));
        for o in out {
            match o {
                Output::Disconnect { peer: 1, reason } => panic!("dropped at {t}: {reason}"),
                Output::Send {
                    peer: 1,
                    message: Message::Ping(n),
                } => pending = Some(n),
                _ => {}
            }
        }
    }
    assert!(p.peers().contains_key(&1));
}
