//! Signature checks: collected by the context checks, verified in parallel,
//! remembered in a [`SigCache`].

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::core::hash::{Hash256, sha256};
use crate::core::tx::{SigError, verify_signature};

/// One signature to verify: input `input` of transaction `tx_index`.
#[derive(Clone, Debug)]
pub struct SigCheck {
    /// Position of the transaction (in its block, or 0 for a lone transaction).
    pub tx_index: usize,
    /// Input index within the transaction.
    pub input: usize,
    /// SEC1 public key from the input.
    pub pubkey: [u8; 65],
    /// The sighash the input signs.
    pub sighash: Hash256,
    /// `r ‖ s`.
    pub signature: [u8; 64],
}

impl SigCheck {
    /// Signature-cache key: SHA-256 of `sighash ‖ pubkey ‖ signature`.
    pub fn cache_key(&self) -> [u8; 32] {
        let mut b = [0u8; 32 + 65 + 64];
        b[..32].copy_from_slice(self.sighash.as_bytes());
        b[32..97].copy_from_slice(&self.pubkey);
        b[97..].copy_from_slice(&self.signature);
        sha256(&b)
    }

    /// Verifies this one signature.
    pub fn verify(&self) -> Result<(), SigError> {
        verify_signature(&self.pubkey, self.sighash.as_bytes(), &self.signature)
    }
}

/// The cache's keys as a set, and the same keys in insertion order for eviction.
type CacheEntries = (HashSet<[u8; 32]>, VecDeque<[u8; 32]>);

/// A bounded set of signature checks already known to pass (Bitcoin Core's
/// signature cache). Oldest entries leave first when it is full.
pub struct SigCache {
    inner: Mutex<CacheEntries>,
    capacity: usize,
}

impl SigCache {
    /// An empty cache holding at most `capacity` entries (32 bytes each plus overhead).
    pub fn new(capacity: usize) -> SigCache {
        SigCache {
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
            capacity,
        }
    }

    /// True if `key` was inserted and not yet evicted.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        self.inner
            .lock()
            .map(|g| g.0.contains(key))
            .unwrap_or(false)
    }

    /// Remembers a passing check.
    pub fn insert(&self, key: [u8; 32]) {
        if let Ok(mut g) = self.inner.lock()
            && g.0.insert(key)
        {
            g.1.push_back(key);
            while g.1.len() > self.capacity {
                if let Some(old) = g.1.pop_front() {
                    g.0.remove(&old);
                }
            }
        }
    }

    /// The checks of `checks` not in the cache, each with its key, in
    /// order (one lock for all).
    pub fn missing<'a>(&self, checks: &'a [SigCheck]) -> Vec<(&'a SigCheck, [u8; 32])> {
        let mut keyed: Vec<_> = checks.iter().map(|c| (c, c.cache_key())).collect();
        if let Ok(g) = self.inner.lock() {
            keyed.retain(|(_, k)| !g.0.contains(k));
        }
        keyed
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.0.len()).unwrap_or(0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Verifies `checks` in parallel (rayon), skipping those in `cache` and adding
/// those that pass to it. The cache is looked up first, under one lock:
/// when at most one check is left (a block whose payments all passed
/// mempool entry), it is verified on the calling thread, without waking
/// the pool.
///
/// Errors: the failing check's `(tx_index, input, reason)`; which failure is
/// reported when several fail is unspecified.
pub fn verify_sig_checks(
    checks: &[SigCheck],
    cache: Option<&SigCache>,
) -> Result<(), (usize, usize, SigError)> {
    let verify = |c: &SigCheck| c.verify().map_err(|e| (c.tx_index, c.input, e));
    let Some(cache) = cache else {
        return if checks.len() < 2 {
            checks.iter().try_for_each(verify)
        } else {
            checks.par_iter().try_for_each(verify)
        };
    };
    let misses = cache.missing(checks);
    let run = |(c, key): &(&SigCheck, [u8; 32])| {
        verify(c)?;
        cache.insert(*key);
        Ok(())
    };
    if misses.len() < 2 {
        misses.iter().try_for_each(run)
    } else {
        misses.par_iter().try_for_each(run)
    }
}
