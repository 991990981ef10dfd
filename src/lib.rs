//! sledchain: a small Bitcoin-style peer-to-peer node with an embedded sled
//! key-value store.
//!
//! * [`core`]: pure types and consensus rules (no I/O).
//! * [`store`]: the sled chain store: blocks, block index, UTXO set, undo data.
//! * [`node`]: the node's state machine: chain state, mempool, minting.
//! * [`wire`]: the wire protocol: frames (24-byte header, checksum, codec)
//!   and the messages carried in them. No networking.
//! * [`net`]: peer networking (tokio): the running node and the control socket.
//! * [`wallet`]: P-256 keys and the wallet file.

pub mod cli;
pub mod core;
pub mod net;
pub mod node;
pub mod store;
pub mod wallet;
pub mod wire;
