#![warn(missing_docs)]
//! sledchain: a small Bitcoin-style peer-to-peer node in Rust with an
//! embedded sled key-value store.
//!
//! Layers, each importing only those below it (`docs/architecture.md`):
//!
//! * [`app`]: the command line, logging, signals, the control-socket
//!   client and the text of the query commands.
//! * [`net`]: the tokio reactor: sockets, timers and the chain worker
//!   around one [`protocol::Protocol`].
//! * [`sim`]: the deterministic network simulator (drives the same
//!   protocol and chain code over a simulated network and clock).
//! * [`exec`]: the chain work the protocol asks for, carried out the same
//!   way by the node's chain worker and by the simulator.
//! * [`protocol`]: the peer logic as a sans-I/O state machine.
//! * [`chain`]: block processing (genesis, orphans, connect, reorg), the
//!   mempool and the miner.
//! * [`store`]: the sled chain store.
//! * [`wire`]: the frame and the messages.
//! * [`core`]: pure types and consensus rules.
//! * [`wallet`]: P-256 keys, the wallet file, building payments.

pub mod api;
pub mod app;
pub mod chain;
pub mod core;
pub mod exec;
pub mod net;
pub mod protocol;
pub mod sim;
pub mod store;
pub mod wallet;
pub mod wire;
