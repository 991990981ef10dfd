//! The wire protocol: frames and the messages they carry. Sans-I/O: nothing
//! here opens a socket, so the protocol layer and the networking layer
//! ([`crate::net`]) both build on it.
//!
//! # Frame layout
//! Every message travels in one frame: Bitcoin's 24-byte message header,
//! then the payload.
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | magic, [`frame::MAGIC`] (`f9 be 5c 01`) |
//! | 4 | 12 | command: ASCII name, NUL-padded on the right (e.g. `inv\0\0\0\0\0\0\0\0\0`) |
//! | 16 | 4 | payload length in bytes, u32 little-endian |
//! | 20 | 4 | checksum: first 4 bytes of `sha256d(payload)` |
//! | 24 | length | payload: the message's bincode encoding ([`crate::core::encode`]) |
//!
//! # Commands
//! `version` (handshake), `getblocks` (block locator), `inv` (announce),
//! `getdata` (request), `block`, `tx`, `addr` (peer addresses), `notfound`,
//! `ping`, `pong`, and from protocol version 2 `getheaders` (block locator)
//! and `headers` (up to 2,000 block headers). Each has its own payload limit, checked from the header
//! before the payload is read.
//!
//! # Modules
//! * [`frame`]: the header, the checksum, [`frame::Frame`] and
//!   [`frame::FrameCodec`]. Knows nothing of messages.
//! * [`message`]: [`message::Message`], its per-command payload limits
//!   ([`message::Message::max_payload`]), its conversion from and to a frame,
//!   and the node's codec, [`frame::FrameCodec::for_messages`].
//! * [`payload`]: the message payloads, their bincode layout and their
//!   bounds (items per list, bytes per address string).
//! * `bound`: the bounded deserializers the payloads use.
//!
//! Imports go one way: `message` uses `frame`, `payload` and `bound`;
//! `payload` uses `bound`; `frame` and `bound` use neither.

pub mod frame;
pub mod message;
pub mod payload;

mod bound;

#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod protocol_doc_tests;
