//! The node state machine: chain state, mempool, minting.
