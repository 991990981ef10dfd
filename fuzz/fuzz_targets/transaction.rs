//! Transaction decoding and `check_tx_sanity`. Any transaction that decodes
//! must re-encode to the same bytes; its txid, wtxid and output sum must be
//! computable without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sledchain::core::Transaction;
use sledchain::core::encode::{decode, encode, encoded_len};
use sledchain::core::params::MAX_TX_SIZE;
use sledchain::core::validation::check_tx_sanity;

fuzz_target!(|data: &[u8]| {
    let Ok(tx) = decode::<Transaction>(data, MAX_TX_SIZE) else {
        return;
    };
    assert_eq!(encode(&tx), data, "transaction encoding is not canonical");
    assert_eq!(encoded_len(&tx), data.len() as u64);
    let _ = tx.txid();
    let _ = tx.wtxid();
    let _ = tx.output_sum();
    let _ = tx.is_coinbase();
    let _ = check_tx_sanity(&tx);
});
