//! The reconnect backoff of an unreachable seed, driven by hand: the wait
//! between dials starts at 1 s and doubles per failure up to 60 s.

use std::net::SocketAddr;

use sledchain::protocol::{Input, Output, Protocol};

const T0: u64 = 1_700_000_000_000;

mod sans_io;

fn protocol(seed: SocketAddr) -> Protocol {
    sans_io::protocol(vec![seed])
}

/// Ticks every 100 ms from `now` until the protocol dials `seed`; the time
/// of that dial.
fn next_dial(p: &mut Protocol, seed: SocketAddr, mut now: u64) -> u64 {
    let limit = now + 10 * 60_000;
    while now < limit {
        let out = p.step(Input::Tick, now);
        if out
            .iter()
            .any(|o| matches!(o, Output::Connect(a) if *a == seed))
        {
            return now;
        }
        now += 100;
    }
    panic!("no dial to {seed} within 10 minutes");
}

#[test]
fn an_unreachable_seed_is_dialled_after_1_2_4_up_to_60_seconds() {
    let seed: SocketAddr = "198.18.0.2:8333".parse().unwrap();
    let mut p = protocol(seed);
    let mut at = next_dial(&mut p, seed, T0);
    let mut gaps = Vec::new();
    for _ in 0..9 {
        p.step(Input::DialFailed { addr: seed }, at);
        let next = next_dial(&mut p, seed, at);
        gaps.push(next - at);
        at = next;
    }
    // Each wait within a tick (and the protocol's dial cadence) of its due
    // time: 1, 2, 4, 8, 16, 32, then 60 s.
    let want = [
        1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000,
    ];
    for (gap, want) in gaps.iter().zip(want) {
        assert!(
            *gap >= want && *gap <= want + 1_000,
            "waits between dials {gaps:?}, expected about {want:?}"
        );
    }
}
