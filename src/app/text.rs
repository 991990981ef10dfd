//! The text the read commands print for people, rendered from the same
//! [`crate::api::schema`] objects their `--json` prints: dates in ISO 8601
//! (UTC) with the age, amounts with their unit, aligned tables with a
//! header line, plurals right.

use crate::api::schema::{AddressStats, Block, BlockStatus, MempoolEntry, Peer, Status, Tx, Utxo};

/// `n` and `word`, plural unless `n` is 1 (`1 coin`, `2 coins`).
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// An amount in whole coins with its unit.
pub fn coins(n: u64) -> String {
    plural(n, "coin")
}

/// A duration in seconds as `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Seconds since the Unix epoch as ISO 8601 UTC: `2026-12-05T08:27:48Z`.
pub fn iso(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Seconds since the Unix epoch as ISO 8601 UTC with the age against
/// `now`: `2026-12-05T08:27:48Z (3 min ago)`.
pub fn date(secs: u64, now: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let iso = humantime::format_rfc3339_seconds(t);
    if secs > now {
        format!("{iso} (in {})", duration(secs - now))
    } else {
        format!("{iso} ({} ago)", duration(now - secs))
    }
}

fn now() -> u64 {
    crate::core::params::now_secs()
}

/// Rows under a header, each column padded to its widest cell, two
/// spaces apart (the last column is not padded).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = width.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                s.push_str(&c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `status`.
pub fn status(s: &Status) -> String {
    let mut lines = vec![
        format!(
            "height: {}",
            s.height
                .map_or("none (no chain yet)".into(), |h| h.to_string())
        ),
        format!("tip: {}", s.tip.as_deref().unwrap_or("none")),
        format!("genesis: {}", s.genesis.as_deref().unwrap_or("none")),
    ];
    if let Some(d) = s.difficulty {
        lines.push(format!("difficulty: {} leading zero bits", d));
    }
    lines.push(format!("running: {}", yes(s.running)));
    // A stopped node holds no mempool and no peers.
    let m = s
        .mempool
        .unwrap_or(crate::api::schema::MempoolCount { count: 0, bytes: 0 });
    lines.push(format!(
        "mempool: {} ({} bytes)",
        plural(m.count as u64, "transaction"),
        m.bytes
    ));
    lines.push(format!("peers: {}", s.peers.unwrap_or(0)));
    if let Some(sync) = &s.sync {
        lines.push(format!("sync: {sync}"));
    }
    if let Some(u) = s.uptime_s {
        lines.push(format!("uptime: {}", duration(u)));
    }
    if s.running {
        match (&s.minter, s.mint_threshold) {
            (Some(m), Some(t)) => lines.push(format!(
                "minter: yes, to {m} at {}",
                plural(t as u64, "transaction")
            )),
            _ => lines.push("minter: no".to_string()),
        }
    }
    if let Some(l) = &s.listen {
        lines.push(format!("listen: {l}"));
    }
    lines.join("\n")
}

/// `getblock`: the block, its place and confirmations (`tip` = the best
/// height).
pub fn block(b: &Block, st: &BlockStatus, tip: u64, txids: &[String]) -> String {
    let conf = if st.in_best_chain {
        format!(
            "yes ({})",
            plural(tip.saturating_sub(b.height) + 1, "confirmation")
        )
    } else {
        "no".to_string()
    };
    let mut s = format!(
        "Block {}\nHeight: {}\nTime: {}\nPrev. block: {}\nMerkle root: {}\nBits: {}\nNonce: {}\nSize: {} bytes\nIn best chain: {conf}\nTransactions: {}",
        b.id,
        b.height,
        date(u64::from(b.timestamp), now()),
        b.previousblockhash,
        b.merkle_root,
        b.bits,
        b.nonce,
        b.size,
        b.tx_count,
    );
    for t in txids {
        s.push_str(&format!("\n  {t}"));
    }
    s
}

/// `gettx`, with the best height `tip` for its confirmations.
pub fn tx(t: &Tx, tip: Option<u64>) -> String {
    let coinbase = t.vin.first().is_some_and(|i| i.is_coinbase);
    let mut s = format!(
        "Transaction {}{}\nSize: {} bytes\n",
        t.txid,
        if coinbase { " (coinbase)" } else { "" },
        t.size
    );
    match t.fee {
        Some(f) => s.push_str(&format!("Fee: {}\n", coins(f))),
        None => s.push_str("Fee: unknown (spent outputs unknown)\n"),
    }
    if !coinbase {
        for (i, input) in t.vin.iter().enumerate() {
            let from = input.prevout.as_ref().map_or(String::new(), |p| {
                format!(" ({} from {})", coins(p.value), p.scriptpubkey_address)
            });
            s.push_str(&format!("Input {i}: {}:{}{from}\n", input.txid, input.vout));
        }
    }
    for (i, o) in t.vout.iter().enumerate() {
        s.push_str(&format!(
            "Output {i}: {} to {}\n",
            coins(o.value),
            o.scriptpubkey_address
        ));
    }
    match (&t.status.block_hash, t.status.block_height) {
        (Some(h), Some(height)) => {
            let conf = tip.map_or(String::new(), |tip| {
                format!(
                    ", {}",
                    plural(tip.saturating_sub(height) + 1, "confirmation")
                )
            });
            s.push_str(&format!("Block: {h} at height {height}{conf}"));
            if let Some(bt) = t.status.block_time {
                s.push_str(&format!("\nTime: {}", date(u64::from(bt), now())));
            }
        }
        _ => s.push_str("In the mempool (unconfirmed)"),
    }
    s
}

/// `getbalance`: `Balance of ADDRESS: N coins` (confirmed).
pub fn balance(a: &AddressStats) -> String {
    format!("Balance of {}: {}", a.address, coins(a.balance()))
}

/// `listunspent`.
pub fn utxos(address: &str, list: &[Utxo]) -> String {
    if list.is_empty() {
        return format!("no unspent outputs for {address}");
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|u| {
            vec![
                format!("{}:{}", u.txid, u.vout),
                coins(u.value),
                u.status
                    .block_height
                    .map_or("mempool".into(), |h| h.to_string()),
            ]
        })
        .collect();
    table(&["OUTPOINT", "VALUE", "HEIGHT"], &rows)
}

/// `peers`.
pub fn peers(list: &[Peer]) -> String {
    if list.is_empty() {
        return "no peers".to_string();
    }
    let now = now();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                p.addr.clone(),
                p.direction.clone(),
                p.handshake.clone(),
                p.height.to_string(),
                p.ping_ms.map_or("-".into(), |m| format!("{m} ms")),
                p.score.to_string(),
                duration(now.saturating_sub(p.connected_since)),
            ]
        })
        .collect();
    table(
        &[
            "ADDRESS",
            "DIRECTION",
            "HANDSHAKE",
            "HEIGHT",
            "PING",
            "SCORE",
            "CONNECTED",
        ],
        &rows,
    )
}

/// `mempool`.
pub fn mempool(list: &[MempoolEntry]) -> String {
    if list.is_empty() {
        return "the mempool is empty".to_string();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            vec![
                e.txid.clone(),
                coins(e.fee),
                format!("{} bytes", e.vsize),
                coins(e.value),
            ]
        })
        .collect();
    table(&["TXID", "FEE", "SIZE", "VALUE"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_dates_and_tables() {
        assert_eq!(plural(1, "transaction"), "1 transaction");
        assert_eq!(plural(0, "transaction"), "0 transactions");
        assert_eq!(coins(2), "2 coins");
        assert_eq!(date(0, 125), "1970-01-01T00:00:00Z (2 min ago)");
        let t = table(
            &["A", "B", "C"],
            &[vec!["xx".into(), "y".into(), "z".into()]],
        );
        assert_eq!(t, "A   B  C\nxx  y  z");
    }
}
