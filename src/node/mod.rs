//! The node's state machine: chain state (accept, connect, reorg), mempool
//! and minting. Driven by calls; no sockets.

pub mod chain;
pub mod mempool;
pub mod query;

pub use chain::{BlockOutcome, ChainError, ChainState};
pub use mempool::{Mempool, MempoolError};
