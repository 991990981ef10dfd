//! The simulator's wallet: deterministic keys, one receiving the genesis
//! coinbase and one per minter receiving its coinbases, paying from any
//! node's view of the chain.

use p256::ecdsa::SigningKey;
use sha2::{Digest, Sha256};

use crate::chain::Chain;
use crate::chain::mempool::spendable_coins;
use crate::core::block::Block;
use crate::core::hash::{BlockHash, hash160};
use crate::core::params::SUBSIDY;
use crate::core::tx::{Transaction, pubkey_bytes};
use crate::wallet::send::build_payment;

/// Deterministic keys and their pubkey hashes.
pub struct SimWallet {
    keys: Vec<(SigningKey, [u8; 20])>,
}

fn key(seed: u64, index: u64) -> SigningKey {
    let mut counter = 0u64;
    loop {
        let d = Sha256::new()
            .chain_update(seed.to_le_bytes())
            .chain_update(index.to_le_bytes())
            .chain_update(counter.to_le_bytes())
            .finalize();
        if let Ok(k) = SigningKey::from_slice(&d) {
            return k;
        }
        counter += 1;
    }
}

impl SimWallet {
    /// The wallet for `seed` with `keys` keys (at least one).
    pub fn new(seed: u64, keys: usize) -> SimWallet {
        let keys = (0..keys.max(1) as u64)
            .map(|i| {
                let k = key(seed, i);
                let pkh = hash160(&pubkey_bytes(k.verifying_key()));
                (k, pkh)
            })
            .collect();
        SimWallet { keys }
    }

    /// Pubkey hash of key `i` (key 0 receives the genesis coinbase).
    pub fn pkh(&self, i: usize) -> [u8; 20] {
        self.keys[i.min(self.keys.len() - 1)].1
    }

    /// A genesis block paying key 0, at `bits` and header time `time`
    /// (seconds since the Unix epoch), solved on one thread.
    pub fn genesis(&self, bits: u32, time: u32) -> Block {
        let mut g = Block::template(BlockHash::ZERO, 0, bits, time, self.pkh(0), SUBSIDY, vec![]);
        crate::chain::miner::solve(&mut g, 1, &Default::default());
        g
    }

    /// A payment of `amount` coins to `to` from the first key that can pay
    /// it with the coins `chain` shows (confirmed and unconfirmed change);
    /// `None` when none can.
    pub fn pay(&self, chain: &Chain, to: [u8; 20], amount: u64) -> Option<Transaction> {
        self.pay_with_fee(chain, to, amount, 0)
    }

    /// [`SimWallet::pay`] leaving `fee` whole coins to the minter.
    pub fn pay_with_fee(
        &self,
        chain: &Chain,
        to: [u8; 20],
        amount: u64,
        fee: u64,
    ) -> Option<Transaction> {
        self.keys.iter().find_map(|(key, pkh)| {
            let coins = spendable_coins(chain.store(), chain.mempool(), pkh).ok()?;
            build_payment(key, &coins, to, amount, fee).ok()
        })
    }
}
