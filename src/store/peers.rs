//! Peer records: tree `peers`, keyed by `host:port`.

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
