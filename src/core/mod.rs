//! Pure types and consensus rules: hashes, transactions, blocks, merkle root,
//! proof of work, addresses, chain parameters, the UTXO view and validation.
//! No I/O.

pub mod address;
pub mod block;
pub mod ecdsa;
pub mod encode;
pub mod hash;
pub mod params;
pub mod tx;
pub mod validation;
pub mod view;

pub use address::Address;
pub use block::{Block, BlockHeader};
pub use hash::{BlockHash, Hash256, Txid};
pub use tx::{OutPoint, Transaction, TxIn, TxOut};
pub use view::{UtxoSource, UtxoView};
