//! Peers and addresses in the deterministic simulator: two nodes keep one
//! connection between them, not one each way, and keep it (no churn).

use sledchain::protocol::DisconnectReason;
use sledchain::sim::{Sim, SimConfig};

/// Connections between each pair of nodes, counted from both ends.
fn links(s: &Sim, n: usize) -> Vec<((usize, usize), usize)> {
    let mut out = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            let count = |x: usize, y: usize| {
                let ip = s.nodes[y].addr.ip();
                s.protocol(x)
                    .peers()
                    .values()
                    .filter(|p| p.is_ready() && p.addr.ip() == ip)
                    .count()
            };
            out.push(((a, b), count(a, b).max(count(b, a))));
        }
    }
    out
}

#[test]
fn three_nodes_keep_one_connection_per_pair_and_do_not_churn() {
    let mut s = Sim::new(SimConfig {
        nodes: 3,
        minters: vec![],
        genesis_everywhere: true,
        ..SimConfig::default()
    })
    .expect("temporary stores");
    s.start_all();
    s.run_for(10_000);
    let pairs = links(&s, 3);
    assert!(pairs.iter().all(|(_, c)| *c == 1), "{pairs:?}");
    // Each node sees two peers, as `status` shows: three links, not four
    // or six.
    let peers: Vec<usize> = (0..3).map(|i| s.protocol(i).peers().len()).collect();
    assert_eq!(peers, [2, 2, 2]);
    let dups = |s: &Sim| {
        s.stats
            .disconnects
            .iter()
            .filter(|d| d.2 == DisconnectReason::Duplicate)
            .count()
    };
    let before = dups(&s);
    s.run_for(120_000);
    assert_eq!(dups(&s), before, "the dropped side dials again and again");
    assert_eq!(links(&s, 3).iter().filter(|(_, c)| *c == 1).count(), 3);
}
