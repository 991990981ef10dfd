//! Peer records: tree `peers`, keyed by `host:port` (a ban of an IP with
//! no known address: `ip:0`). Written whole from the address book
//! ([`crate::protocol::AddrBook::records`]) every minute, soon after each
//! ban (the protocol's `Output::SavePeers`, carried out on the chain
//! worker by [`crate::exec`]) and at shutdown, and read back at start, so
//! failure counts, last contacts and running bans survive a restart, even
//! one after a kill -9; what the book forgot (and expired bans) is
//! removed, so the tree stays as bounded as the book
//! ([`crate::protocol::addrbook::MAX_BANS`] bans and the two tables).

use super::{ChainStore, PeerRecord, StoreError, corrupt};
use crate::core::encode::{decode, encode};

impl ChainStore {
    /// Known peers and what is remembered of each.
    pub fn peers(&self) -> Result<Vec<(String, PeerRecord)>, StoreError> {
        let mut v = Vec::new();
        for kv in self.peers.iter() {
            let (k, val) = kv?;
            let addr = String::from_utf8_lossy(&k).into_owned();
            v.push((addr, decode(&val, 64).map_err(corrupt)?));
        }
        Ok(v)
    }

    /// Saves what is known of peer `addr`.
    pub fn put_peer(&self, addr: &str, rec: &PeerRecord) -> Result<(), StoreError> {
        self.peers.insert(addr.as_bytes(), encode(rec))?;
        Ok(())
    }

    /// What is known of peer `addr`.
    pub fn peer(&self, addr: &str) -> Result<Option<PeerRecord>, StoreError> {
        self.peers
            .get(addr.as_bytes())?
            .map(|v| decode(&v, 64).map_err(corrupt))
            .transpose()
    }
}

impl ChainStore {
    /// Replaces every peer record with `records` in one batch (keys not
    /// among them are removed) and flushes it to disk, so a node killed
    /// right after keeps them.
    ///
    /// Errors: [`StoreError`] when sled cannot read, write or flush the
    /// tree.
    pub fn replace_peers(&self, records: &[(String, PeerRecord)]) -> Result<(), StoreError> {
        let keep: std::collections::HashSet<&[u8]> =
            records.iter().map(|(a, _)| a.as_bytes()).collect();
        let mut batch = sled::Batch::default();
        for kv in self.peers.iter() {
            let (k, _) = kv?;
            if !keep.contains(&k[..]) {
                batch.remove(k);
            }
        }
        for (addr, rec) in records {
            batch.insert(addr.as_bytes(), encode(rec));
        }
        self.peers.apply_batch(batch)?;
        self.peers.flush()?;
        Ok(())
    }
}
