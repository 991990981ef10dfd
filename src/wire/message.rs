//! The peer-to-peer messages, their per-command payload limits, and their
//! conversion from and to a [`Frame`].
//!
//! Each message travels in one frame whose header command names it
//! (`version`, `getblocks`, `inv`, `getdata`, `block`, `tx`, `addr`,
//! `notfound`, `ping`, `pong`, `getheaders`, `headers`) and whose payload is the bincode encoding of
//! the message body; the payloads, their encoding and their bounds are in
//! [`super::payload`].
//!
//! This module builds on [`super::frame`], never the other way round: the
//! frame codec learns each command's limit through the [`PayloadLimit`]
//! function it is given, and [`FrameCodec::for_messages`] gives it
//! [`Message::max_payload`].
//!
//! [`PayloadLimit`]: super::frame::PayloadLimit

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio_util::codec::Encoder;

use super::bound;
use super::frame::{
    COMMAND_LEN, Frame, FrameCodec, FrameError, MAX_PAYLOAD, command_bytes, command_text,
};
use super::payload::{
    Addr, BlockMsg, GetBlocks, GetData, GetHeaders, Headers, Inv, MAX_ADDR_LEN, MAX_ADDRS,
    MAX_HEADERS, MAX_INV_ITEMS, MAX_LOCATOR, NotFound, TxMsg, Version,
};
use crate::core::block::HEADER_LEN;
use crate::core::encode::{DecodeError, decode, encode};
use crate::core::params::{MAX_BLOCK_SIZE, MAX_TX_SIZE};

/// Extra bytes allowed on top of a block's or transaction's own size limit
/// for the rest of the message (the sender's address string).
const ENVELOPE: u32 = 1024;

/// `block`: a block of at most [`MAX_BLOCK_SIZE`] bytes plus the envelope.
const BLOCK_LIMIT: u32 = MAX_BLOCK_SIZE as u32 + ENVELOPE;
/// `tx`: a transaction of at most [`MAX_TX_SIZE`] bytes plus the envelope.
const TX_LIMIT: u32 = MAX_TX_SIZE as u32 + ENVELOPE;
/// `inv`, `getdata`, `notfound`: [`MAX_INV_ITEMS`] hashes of 32 bytes.
const INV_LIMIT: u32 = MAX_INV_ITEMS as u32 * 32 + ENVELOPE;
/// `getblocks`: a block locator of [`MAX_LOCATOR`] hashes and the stop hash.
const GETBLOCKS_LIMIT: u32 = MAX_LOCATOR as u32 * 32 + ENVELOPE;
/// `getheaders`: as `getblocks`.
const GETHEADERS_LIMIT: u32 = GETBLOCKS_LIMIT;
/// `headers`: [`MAX_HEADERS`] headers of 80 bytes.
const HEADERS_LIMIT: u32 = MAX_HEADERS as u32 * HEADER_LEN as u32 + ENVELOPE;
/// `addr`: [`MAX_ADDRS`] strings of at most [`MAX_ADDR_LEN`] bytes, each
/// with its u64 length prefix.
const ADDR_LIMIT: u32 = MAX_ADDRS as u32 * (MAX_ADDR_LEN as u32 + 8) + 64;
/// `version`: a few integers, a genesis hash and an address string.
const VERSION_LIMIT: u32 = 1024;
/// `ping`, `pong`: one u64 nonce.
const PING_LIMIT: u32 = 64;

/// A peer-to-peer message. On the wire the frame's command selects the
/// variant and the payload is the variant's content alone (no enum tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// `version` (handshake).
    Version(Version),
    /// `getblocks` (ask for block hashes after a block locator).
    GetBlocks(GetBlocks),
    /// `inv` (announce blocks or transactions).
    Inv(Inv),
    /// `getdata` (ask for blocks or transactions).
    GetData(GetData),
    /// `block` (one block).
    Block(BlockMsg),
    /// `tx` (one transaction).
    Tx(TxMsg),
    /// `addr` (peer addresses).
    Addr(Addr),
    /// `notfound` (items of a `getdata` the sender lacks).
    NotFound(NotFound),
    /// `ping` with a nonce (u64 little-endian); answered by `pong` with the same nonce.
    Ping(u64),
    /// `pong`: the nonce of the `ping` it answers.
    Pong(u64),
    /// `getheaders` (ask for block headers after a block locator).
    GetHeaders(GetHeaders),
    /// `headers` (block headers in chain order).
    Headers(Headers),
}

/// Why a frame does not hold a usable message. None is fatal: the caller
/// logs it and drops the message (it may count it against the peer).
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The checksum field is not the first 4 bytes of `sha256d(payload)`.
    #[error("{command}: payload checksum mismatch")]
    BadChecksum {
        /// The message's command.
        command: &'static str,
    },
    /// The command is not one this node knows, is not ASCII, or has bytes
    /// other than NUL after its first NUL. Carries the escaped command text
    /// ([`command_text`]).
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// The payload is not a valid encoding of the command's message: too
    /// short, bad enum tag or UTF-8, longer than the command's limit, or
    /// bytes left over after the message.
    #[error("{command}: {source}")]
    Decode {
        /// The message's command.
        command: &'static str,
        /// The decoder's reason.
        #[source]
        source: DecodeError,
    },
    /// A list's length prefix exceeds its bound ([`MAX_INV_ITEMS`],
    /// [`MAX_LOCATOR`], [`MAX_ADDRS`]). Found before any item is read.
    #[error("{command}: {count} items exceed the limit of {max}")]
    TooManyItems {
        /// The message's command.
        command: &'static str,
        /// Items announced by the length prefix.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// An address string is longer than [`MAX_ADDR_LEN`] bytes.
    #[error("{command}: address of {len} bytes exceeds the limit of {max}")]
    AddrTooLong {
        /// The message's command.
        command: &'static str,
        /// The string's length in bytes.
        len: usize,
        /// The bound ([`MAX_ADDR_LEN`]).
        max: usize,
    },
}

/// The commands this node knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Version,
    GetBlocks,
    Inv,
    GetData,
    Block,
    Tx,
    Addr,
    NotFound,
    Ping,
    Pong,
    GetHeaders,
    Headers,
}

impl Command {
    /// Every command, in the order of [`Message`]'s variants.
    pub(crate) const ALL: [Command; 12] = [
        Command::Version,
        Command::GetBlocks,
        Command::Inv,
        Command::GetData,
        Command::Block,
        Command::Tx,
        Command::Addr,
        Command::NotFound,
        Command::Ping,
        Command::Pong,
        Command::GetHeaders,
        Command::Headers,
    ];

    /// The ASCII name in the frame header.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Command::Version => "version",
            Command::GetBlocks => "getblocks",
            Command::Inv => "inv",
            Command::GetData => "getdata",
            Command::Block => "block",
            Command::Tx => "tx",
            Command::Addr => "addr",
            Command::NotFound => "notfound",
            Command::Ping => "ping",
            Command::Pong => "pong",
            Command::GetHeaders => "getheaders",
            Command::Headers => "headers",
        }
    }

    /// The largest payload of this command, in bytes (the table in
    /// [`Message::max_payload`]).
    pub(crate) fn max_payload(self) -> u32 {
        match self {
            Command::Block => BLOCK_LIMIT,
            Command::Tx => TX_LIMIT,
            Command::Inv | Command::GetData | Command::NotFound => INV_LIMIT,
            Command::GetBlocks => GETBLOCKS_LIMIT,
            Command::GetHeaders => GETHEADERS_LIMIT,
            Command::Headers => HEADERS_LIMIT,
            Command::Addr => ADDR_LIMIT,
            Command::Version => VERSION_LIMIT,
            Command::Ping | Command::Pong => PING_LIMIT,
        }
    }

    /// The command whose NUL-padded name is exactly `field`; `None` for
    /// anything else (unknown names, non-ASCII, bytes after the padding).
    pub(crate) fn parse(field: &[u8; COMMAND_LEN]) -> Option<Command> {
        Command::ALL
            .into_iter()
            .find(|c| command_bytes(c.name()) == *field)
    }
}

impl Message {
    fn kind(&self) -> Command {
        match self {
            Message::Version(_) => Command::Version,
            Message::GetBlocks(_) => Command::GetBlocks,
            Message::Inv(_) => Command::Inv,
            Message::GetData(_) => Command::GetData,
            Message::Block(_) => Command::Block,
            Message::Tx(_) => Command::Tx,
            Message::Addr(_) => Command::Addr,
            Message::NotFound(_) => Command::NotFound,
            Message::Ping(_) => Command::Ping,
            Message::Pong(_) => Command::Pong,
            Message::GetHeaders(_) => Command::GetHeaders,
            Message::Headers(_) => Command::Headers,
        }
    }

    /// The largest payload, in bytes, a frame with header command `command`
    /// may carry (each command's own MaxPayloadLength). The frame decoder
    /// checks it from the header before the payload is read
    /// ([`FrameCodec::for_messages`]), so an oversize payload never gets
    /// memory:
    ///
    /// | command | limit |
    /// |---|---|
    /// | `block`, `tx` | `MAX_BLOCK_SIZE` + 1,024 = 1,001,024 |
    /// | `inv`, `getdata`, `notfound` | 50,000 × 32 + 1,024 = 1,601,024 |
    /// | `getblocks`, `getheaders` | 101 × 32 + 1,024 = 4,256 |
    /// | `headers` | 2,000 × 80 + 1,024 = 161,024 |
    /// | `addr` | 1,000 × (256 + 8) + 64 = 264,064 |
    /// | `version` | 1,024 |
    /// | `ping`, `pong` | 64 |
    /// | anything else | [`MAX_PAYLOAD`] (the frame is read, then refused as an unknown command) |
    pub fn max_payload(command: &[u8; COMMAND_LEN]) -> u32 {
        Command::parse(command).map_or(MAX_PAYLOAD, Command::max_payload)
    }

    /// The command name in the frame header: `"version"`, `"getblocks"`,
    /// `"inv"`, `"getdata"`, `"block"`, `"tx"`, `"addr"`, `"notfound"`,
    /// `"ping"`, `"pong"`, `"getheaders"` or `"headers"`.
    pub fn command(&self) -> &'static str {
        self.kind().name()
    }

    /// The frame carrying this message: its command, the bincode encoding of
    /// its content as payload, and the payload's checksum. Does not check the
    /// bounds; a message over them is refused by the receiver (or, past the
    /// command's payload limit, by [`FrameCodec::for_messages`]'s encoder).
    pub fn to_frame(&self) -> Frame {
        let payload = match self {
            Message::Version(m) => encode(m),
            Message::GetBlocks(m) => encode(m),
            Message::Inv(m) => encode(m),
            Message::GetData(m) => encode(m),
            Message::Block(m) => encode(m),
            Message::Tx(m) => encode(m),
            Message::Addr(m) => encode(m),
            Message::NotFound(m) => encode(m),
            Message::Ping(n) | Message::Pong(n) => encode(n),
            Message::GetHeaders(m) => encode(m),
            Message::Headers(m) => encode(m),
        };
        Frame::new(command_bytes(self.command()), Bytes::from(payload))
    }

    /// The message in `frame`. Checks, in order: the command is known
    /// ([`MessageError::UnknownCommand`]), the checksum matches
    /// ([`MessageError::BadChecksum`]), the payload is within the command's
    /// limit ([`Message::max_payload`], else [`MessageError::Decode`]), then
    /// decodes the payload, refusing lists over their bound
    /// ([`MessageError::TooManyItems`]) and address strings over
    /// [`MAX_ADDR_LEN`] ([`MessageError::AddrTooLong`]) as soon as their length
    /// is read, and anything else malformed, including trailing bytes
    /// ([`MessageError::Decode`]).
    pub fn from_frame(frame: &Frame) -> Result<Message, MessageError> {
        let Some(cmd) = Command::parse(&frame.command) else {
            return Err(MessageError::UnknownCommand(command_text(&frame.command)));
        };
        let command = cmd.name();
        if !frame.checksum_ok() {
            return Err(MessageError::BadChecksum { command });
        }
        // bincode 1.3 does not apply its byte limit when decoding from a slice,
        // so the command's limit is checked here (the frame decoder has
        // already checked it for frames read from a peer).
        let limit = u64::from(cmd.max_payload());
        if u64::try_from(frame.payload.len()).map_or(true, |len| len > limit) {
            return Err(MessageError::Decode {
                command,
                source: DecodeError {
                    what: "message payload",
                    source: Box::new(bincode::ErrorKind::SizeLimit),
                },
            });
        }
        let p = &frame.payload[..];
        bound::clear();
        let decoded = match cmd {
            Command::Version => decode(p, limit).map(Message::Version),
            Command::GetBlocks => decode(p, limit).map(Message::GetBlocks),
            Command::Inv => decode(p, limit).map(Message::Inv),
            Command::GetData => decode(p, limit).map(Message::GetData),
            Command::Block => decode(p, limit).map(Message::Block),
            Command::Tx => decode(p, limit).map(Message::Tx),
            Command::Addr => decode(p, limit).map(Message::Addr),
            Command::NotFound => decode(p, limit).map(Message::NotFound),
            Command::Ping => decode(p, limit).map(Message::Ping),
            Command::Pong => decode(p, limit).map(Message::Pong),
            Command::GetHeaders => decode(p, limit).map(Message::GetHeaders),
            Command::Headers => decode(p, limit).map(Message::Headers),
        };
        let breach = bound::take();
        decoded.map_err(|source| match breach {
            Some(bound::Breach::TooMany { count, max }) => MessageError::TooManyItems {
                command,
                count,
                max,
            },
            Some(bound::Breach::TooLong { len, max }) => {
                MessageError::AddrTooLong { command, len, max }
            }
            None => MessageError::Decode { command, source },
        })
    }
}

impl FrameCodec {
    /// The node's codec: each command's payload limited to
    /// [`Message::max_payload`], so `Framed::new(stream,
    /// FrameCodec::for_messages())` reads and writes the peer-to-peer
    /// messages.
    pub fn for_messages() -> FrameCodec {
        FrameCodec::new(Message::max_payload)
    }
}

impl Encoder<&Message> for FrameCodec {
    type Error = FrameError;

    /// Encodes `message.to_frame()`; errors as for `Encoder<Frame>`
    /// ([`FrameError::Oversize`] past this codec's limit for the command).
    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode(message.to_frame(), dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tx::{OutPoint, TxIn, TxOut};
    use crate::core::{Block, BlockHash, BlockHeader, Hash256, Transaction, Txid};
    use crate::wire::frame::MAGIC;
    use crate::wire::payload::*;
    use bytes::BytesMut;
    use proptest::prelude::*;
    use tokio_util::codec::{Decoder, Encoder};

    fn codec() -> FrameCodec {
        FrameCodec::for_messages()
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn h(b: u8) -> Hash256 {
        Hash256([b; 32])
    }

    /// One example message and its complete frame, byte by byte.
    struct Case {
        msg: Message,
        frame: Vec<u8>,
    }

    fn cases() -> Vec<Case> {
        vec![
            Case {
                msg: Message::Version(Version {
                    version: 1,
                    best_height: 5,
                    addr_from: "a:1".into(),
                    genesis: Some(BlockHash(h(0xaa))),
                    nonce: 0x0102_0304_0506_0708,
                }),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],                         // magic
                    b"version\0\0\0\0\0",      // command, NUL-padded to 12 bytes
                    &[0x40, 0x00, 0x00, 0x00], // payload length 64 (u32 LE)
                    &[0xc8, 0x52, 0x83, 0xd0], // checksum: sha256d(payload)[..4]
                    &[0x01, 0x00, 0x00, 0x00], // version 1 (u32 LE)
                    &[0x05, 0, 0, 0, 0, 0, 0, 0], // best_height 5 (u64 LE)
                    &[0x03, 0, 0, 0, 0, 0, 0, 0], // addr_from length 3 (u64 LE)
                    b"a:1",                    // addr_from bytes
                    &[0x01],                   // genesis: Some
                    &[0xaa; 32],               // genesis hash
                    &[0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01], // nonce (u64 LE)
                ]),
            },
            Case {
                msg: Message::Version(Version {
                    version: 1,
                    best_height: 0,
                    addr_from: String::new(),
                    genesis: None,
                    nonce: 0xff,
                }),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],    // magic
                    b"version\0\0\0\0\0",         // command
                    &[0x1d, 0x00, 0x00, 0x00],    // payload length 29
                    &[0x97, 0xa6, 0x49, 0xfb],    // checksum: sha256d(payload)[..4]
                    &[0x01, 0x00, 0x00, 0x00],    // version 1
                    &[0; 8],                      // best_height 0
                    &[0; 8],                      // addr_from length 0, no bytes
                    &[0x00],                      // genesis: None (no chain yet)
                    &[0xff, 0, 0, 0, 0, 0, 0, 0], // nonce 255
                ]),
            },
            Case {
                msg: Message::GetBlocks(GetBlocks {
                    addr_from: "a:1".into(),
                    locator: vec![BlockHash(h(0x11)), BlockHash(h(0x22))],
                    stop: BlockHash::ZERO,
                }),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],    // magic
                    b"getblocks\0\0\0",           // command
                    &[0x73, 0x00, 0x00, 0x00],    // payload length 115
                    &[0x3b, 0x76, 0x46, 0x51],    // checksum: sha256d(payload)[..4]
                    &[0x03, 0, 0, 0, 0, 0, 0, 0], // addr_from length 3
                    b"a:1",                       // addr_from bytes
                    &[0x02, 0, 0, 0, 0, 0, 0, 0], // block locator: 2 hashes (u64 LE)
                    &[0x11; 32],                  // locator[0], the sender's tip
                    &[0x22; 32],                  // locator[1]
                    &[0x00; 32],                  // stop: zero, as many as allowed
                ]),
            },
            Case {
                msg: Message::Inv(Inv {
                    addr_from: "a:1".into(),
                    kind: InvKind::Block,
                    items: vec![h(0x33)],
                }),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],    // magic
                    b"inv\0\0\0\0\0\0\0\0\0",     // command
                    &[0x37, 0x00, 0x00, 0x00],    // payload length 55
                    &[0xf0, 0xaa, 0x8a, 0xfb],    // checksum: sha256d(payload)[..4]
                    &[0x03, 0, 0, 0, 0, 0, 0, 0], // addr_from length 3
                    b"a:1",                       // addr_from bytes
                    &[0x00, 0x00, 0x00, 0x00],    // kind: Block (u32 LE 0)
                    &[0x01, 0, 0, 0, 0, 0, 0, 0], // 1 item
                    &[0x33; 32],                  // block hash
                ]),
            },
            Case {
                msg: Message::GetData(GetData {
                    addr_from: "a:1".into(),
                    kind: InvKind::Tx,
                    items: vec![h(0x44)],
                }),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],    // magic
                    b"getdata\0\0\0\0\0",         // command
                    &[0x37, 0x00, 0x00, 0x00],    // payload length 55
                    &[0x42, 0x13, 0x03, 0x6b],    // checksum: sha256d(payload)[..4]
                    &[0x03, 0, 0, 0, 0, 0, 0, 0], // addr_from length 3
                    b"a:1",                       // addr_from bytes
                    &[0x01, 0x00, 0x00, 0x00],    // kind: Tx (u32 LE 1)
                    &[0x01, 0, 0, 0, 0, 0, 0, 0], // 1 item
                    &[0x44; 32],                  // txid
                ]),
            },
            Case {
                msg: Message::Block(BlockMsg {
                    addr_from: "a:1".into(),
                    block: Block {
                        header: BlockHeader {
                            version: 1,
                            prev_block_hash: BlockHash(h(0x55)),
                            merkle_root: h(0x66),
                            timestamp: 0x5f5e_1000,
                            bits: 16,
                            nonce: 0xdead_beef,
                        },
                        height: 7,
                        transactions: vec![],
                    },
                }),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],    // magic
                    b"block\0\0\0\0\0\0\0",       // command
                    &[0x6b, 0x00, 0x00, 0x00],    // payload length 107
                    &[0x3e, 0x6c, 0x65, 0xdb],    // checksum: sha256d(payload)[..4]
                    &[0x03, 0, 0, 0, 0, 0, 0, 0], // addr_from length 3
                    b"a:1",                       // addr_from bytes
                    &[0x01, 0x00, 0x00, 0x00],    // header.version 1 (u32 LE)
                    &[0x55; 32],                  // header.prev_block_hash
                    &[0x66; 32],                  // header.merkle_root
                    &[0x00, 0x10, 0x5e, 0x5f],    // header.timestamp 0x5f5e1000 (u32 LE)
                    &[0x10, 0x00, 0x00, 0x00],    // header.bits 16 (u32 LE)
                    &[0xef, 0xbe, 0xad, 0xde],    // header.nonce 0xdeadbeef (u32 LE)
                    &[0x07, 0, 0, 0, 0, 0, 0, 0], // height 7 (u64 LE)
                    &[0x00, 0, 0, 0, 0, 0, 0, 0], // 0 transactions
                ]),
            },
            Case {
                msg: Message::Tx(TxMsg {
                    addr_from: "a:1".into(),
                    transaction: Transaction {
                        version: 1,
                        inputs: vec![TxIn {
                            prev_out: OutPoint {
                                txid: Txid(h(0x77)),
                                vout: 2,
                            },
                            signature: [0x88; 64],
                            pubkey: {
                                let mut k = [0x99; 65];
                                k[0] = 0x04;
                                k
                            },
                        }],
                        outputs: vec![TxOut {
                            value: 50,
                            pubkey_hash: [0xab; 20],
                        }],
                        coinbase_height: 0,
                    },
                }),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],    // magic
                    b"tx\0\0\0\0\0\0\0\0\0\0",    // command
                    &[0xe8, 0x00, 0x00, 0x00],    // payload length 232
                    &[0xa1, 0xba, 0xf8, 0x13],    // checksum: sha256d(payload)[..4]
                    &[0x03, 0, 0, 0, 0, 0, 0, 0], // addr_from length 3
                    b"a:1",                       // addr_from bytes
                    &[0x01, 0x00, 0x00, 0x00],    // tx version 1 (u32 LE)
                    &[0x01, 0, 0, 0, 0, 0, 0, 0], // 1 input
                    &[0x77; 32],                  // input 0: previous txid
                    &[0x02, 0x00, 0x00, 0x00],    // input 0: vout 2 (u32 LE)
                    &[0x88; 64],                  // input 0: signature r ‖ s (no length prefix)
                    &[0x04],                      // input 0: pubkey, SEC1 uncompressed tag
                    &[0x99; 64],                  // input 0: pubkey x ‖ y
                    &[0x01, 0, 0, 0, 0, 0, 0, 0], // 1 output
                    &[0x32, 0, 0, 0, 0, 0, 0, 0], // output 0: value 50 (u64 LE)
                    &[0xab; 20],                  // output 0: pubkey hash
                    &[0x00, 0, 0, 0, 0, 0, 0, 0], // coinbase_height 0
                ]),
            },
            Case {
                msg: Message::Addr(Addr {
                    addrs: vec!["a:1".into(), "b:22".into()],
                }),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],    // magic
                    b"addr\0\0\0\0\0\0\0\0",      // command
                    &[0x1f, 0x00, 0x00, 0x00],    // payload length 31
                    &[0xe2, 0x14, 0x99, 0x68],    // checksum: sha256d(payload)[..4]
                    &[0x02, 0, 0, 0, 0, 0, 0, 0], // 2 addresses
                    &[0x03, 0, 0, 0, 0, 0, 0, 0], // addrs[0] length 3
                    b"a:1",                       // addrs[0] bytes
                    &[0x04, 0, 0, 0, 0, 0, 0, 0], // addrs[1] length 4
                    b"b:22",                      // addrs[1] bytes
                ]),
            },
            Case {
                msg: Message::NotFound(NotFound {
                    kind: InvKind::Tx,
                    items: vec![h(0x44)],
                }),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],    // magic
                    b"notfound\0\0\0\0",          // command
                    &[0x2c, 0x00, 0x00, 0x00],    // payload length 44
                    &[0x8e, 0xbd, 0x50, 0xa0],    // checksum: sha256d(payload)[..4]
                    &[0x01, 0x00, 0x00, 0x00],    // kind: Tx
                    &[0x01, 0, 0, 0, 0, 0, 0, 0], // 1 item
                    &[0x44; 32],                  // txid
                ]),
            },
            Case {
                msg: Message::Ping(0x0123_4567_89ab_cdef),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],                         // magic
                    b"ping\0\0\0\0\0\0\0\0",                           // command
                    &[0x08, 0x00, 0x00, 0x00],                         // payload length 8
                    &[0x33, 0xbc, 0x15, 0xe5], // checksum: sha256d(payload)[..4]
                    &[0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01], // nonce (u64 LE)
                ]),
            },
            Case {
                msg: Message::Pong(0x0123_4567_89ab_cdef),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],                         // magic
                    b"pong\0\0\0\0\0\0\0\0",                           // command
                    &[0x08, 0x00, 0x00, 0x00],                         // payload length 8
                    &[0x33, 0xbc, 0x15, 0xe5], // checksum: sha256d(payload)[..4]
                    &[0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01], // nonce (u64 LE)
                ]),
            },
            Case {
                msg: Message::GetHeaders(GetHeaders {
                    addr_from: "a:1".into(),
                    locator: vec![BlockHash(h(0x11))],
                    stop: BlockHash::ZERO,
                }),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],    // magic
                    b"getheaders\0\0",            // command
                    &[0x53, 0x00, 0x00, 0x00],    // payload length 83
                    &[0x04, 0xe9, 0x1c, 0xa0],    // checksum: sha256d(payload)[..4]
                    &[0x03, 0, 0, 0, 0, 0, 0, 0], // addr_from length 3
                    b"a:1",                       // addr_from bytes
                    &[0x01, 0, 0, 0, 0, 0, 0, 0], // 1 locator hash
                    &[0x11; 32],                  // locator[0]
                    &[0x00; 32],                  // stop: zero
                ]),
            },
            Case {
                msg: Message::Headers(Headers {
                    headers: vec![BlockHeader {
                        version: 1,
                        prev_block_hash: BlockHash(h(0x22)),
                        merkle_root: h(0x33),
                        timestamp: 1_700_000_000,
                        bits: 8,
                        nonce: 7,
                    }],
                }),
                frame: cat(&[
                    &[0xf9, 0xbe, 0x5c, 0x01],    // magic
                    b"headers\0\0\0\0\0",         // command
                    &[0x58, 0x00, 0x00, 0x00],    // payload length 88
                    &[0x9d, 0xbc, 0xb0, 0x93],    // checksum: sha256d(payload)[..4]
                    &[0x01, 0, 0, 0, 0, 0, 0, 0], // 1 header
                    &[0x01, 0x00, 0x00, 0x00],    // version 1
                    &[0x22; 32],                  // prev_block_hash
                    &[0x33; 32],                  // merkle_root
                    &[0x00, 0xf1, 0x53, 0x65],    // timestamp 1,700,000,000
                    &[0x08, 0x00, 0x00, 0x00],    // bits 8
                    &[0x07, 0x00, 0x00, 0x00],    // nonce 7
                ]),
            },
        ]
    }

    #[test]
    fn byte_tables() {
        let cases = cases();
        let mut commands: Vec<_> = cases.iter().map(|c| c.msg.command()).collect();
        commands.dedup();
        assert_eq!(commands.len(), Command::ALL.len(), "a case per command");
        for c in cases {
            let name = c.msg.command();
            let mut out = BytesMut::new();
            codec().encode(&c.msg, &mut out).unwrap();
            assert_eq!(&out[..], &c.frame[..], "encoding of {name}");
            let mut buf = BytesMut::from(&c.frame[..]);
            let frame = codec().decode(&mut buf).unwrap().unwrap();
            assert!(buf.is_empty(), "{name}");
            assert_eq!(frame, c.msg.to_frame(), "{name}");
            assert_eq!(Message::from_frame(&frame).unwrap(), c.msg, "{name}");
        }
    }

    /// A frame with a correct checksum for `payload`.
    fn frame(command: &str, payload: Vec<u8>) -> Frame {
        Frame::new(command_bytes(command), Bytes::from(payload))
    }

    fn u64le(n: u64) -> [u8; 8] {
        n.to_le_bytes()
    }

    #[test]
    fn bad_checksum_is_its_own_error() {
        let mut f = Message::Ping(1).to_frame();
        f.checksum[0] ^= 1;
        let e = Message::from_frame(&f).unwrap_err();
        assert!(matches!(e, MessageError::BadChecksum { command: "ping" }));
        assert_eq!(e.to_string(), "ping: payload checksum mismatch");
    }

    #[test]
    fn unknown_commands() {
        let mut after_nul = command_bytes("inv");
        after_nul[5] = b'x';
        let mut unpadded = [b'g'; 12];
        unpadded[..7].copy_from_slice(b"getdata");
        for (field, text) in [
            (command_bytes("bogus"), "bogus"),
            (command_bytes("INV"), "INV"),
            (command_bytes("inv "), "inv "),
            ([0u8; 12], ""),
            ([0xffu8; 12], &"\\xff".repeat(12)[..]),
            (after_nul, "inv\\x00\\x00x"),
            (unpadded, "getdataggggg"),
        ] {
            let f = Frame::new(field, Bytes::new());
            match Message::from_frame(&f) {
                Err(MessageError::UnknownCommand(c)) => assert_eq!(c, text),
                other => panic!("expected UnknownCommand for {text}, got {other:?}"),
            }
        }
    }

    #[test]
    fn trailing_bytes_are_a_decode_error() {
        let mut p = u64le(7).to_vec();
        p.push(0);
        assert!(matches!(
            Message::from_frame(&frame("ping", p)),
            Err(MessageError::Decode {
                command: "ping",
                ..
            })
        ));
        let mut p = Message::Addr(Addr { addrs: vec![] })
            .to_frame()
            .payload
            .to_vec();
        p.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(
            Message::from_frame(&frame("addr", p)),
            Err(MessageError::Decode {
                command: "addr",
                ..
            })
        ));
    }

    #[test]
    fn undecodable_payloads_are_decode_errors() {
        let bad_kind = cat(&[&u64le(0), &[7, 0, 0, 0], &u64le(0)]);
        let bad_utf8 = cat(&[&u64le(1), &u64le(2), &[0xc3, 0x28]]);
        let bad_option = cat(&[&[1, 0, 0, 0], &u64le(0), &u64le(0), &[2], &u64le(0)]);
        let short_string = cat(&[&u64le(1), &u64le(200), b"abc"]);
        let short_tx = cat(&[&u64le(0), &[1, 0, 0, 0], &u64le(1), &[0; 40]]);
        for (command, payload) in [
            ("inv", bad_kind),
            ("addr", bad_utf8),
            ("version", bad_option),
            ("addr", short_string),
            ("tx", short_tx),
            ("ping", vec![1, 2, 3]),
            ("block", vec![]),
            ("getblocks", vec![0xff; 16]),
            ("notfound", vec![0; 3]),
        ] {
            match Message::from_frame(&frame(command, payload)) {
                Err(MessageError::Decode { command: c, .. }) => assert_eq!(c, command),
                other => panic!("expected Decode for {command}, got {other:?}"),
            }
        }
    }

    #[test]
    fn payload_over_the_command_limit_is_refused_by_the_decoder() {
        // A hand-built frame skips the frame decoder's length check;
        // from_frame checks the command's payload limit again.
        let p = cat(&[&u64le(0), &[0, 0, 0, 0], &u64le(33), &[0u8; 33 * 32]]);
        assert!(Message::from_frame(&frame("inv", p)).is_ok());
        assert!(matches!(
            Message::from_frame(&frame("ping", vec![0; 65])),
            Err(MessageError::Decode {
                command: "ping",
                ..
            })
        ));
        let p = cat(&[&u64le(2000), &[b'a'; 2000], &[0; 40]]);
        let r = Message::from_frame(&frame("version", cat(&[&[1, 0, 0, 0], &u64le(0), &p])));
        assert!(matches!(
            r,
            Err(MessageError::Decode {
                command: "version",
                ..
            })
        ));
    }

    #[test]
    fn inv_lists_over_50000_are_refused_from_the_length_prefix() {
        // Only the prefix: 50,001 items announced, none sent.
        let with_addr = cat(&[&u64le(0), &[0, 0, 0, 0], &u64le(50_001)]);
        let without_addr = cat(&[&[1, 0, 0, 0], &u64le(50_001)]);
        for (command, p) in [
            ("inv", with_addr.clone()),
            ("getdata", with_addr),
            ("notfound", without_addr),
        ] {
            assert!(p.len() < 32);
            let e = Message::from_frame(&frame(command, p)).unwrap_err();
            match e {
                MessageError::TooManyItems {
                    command: c,
                    count: 50_001,
                    max: 50_000,
                } => assert_eq!(c, command),
                other => panic!("expected TooManyItems for {command}, got {other:?}"),
            }
        }
        let p = cat(&[&u64le(0), &[0, 0, 0, 0], &u64le(u64::MAX)]);
        assert!(matches!(
            Message::from_frame(&frame("inv", p)),
            Err(MessageError::TooManyItems { .. } | MessageError::Decode { .. })
        ));
    }

    #[test]
    fn exactly_50000_inv_items_are_accepted() {
        let m = Message::Inv(Inv {
            addr_from: "x".repeat(MAX_ADDR_LEN),
            kind: InvKind::Tx,
            items: vec![h(1); MAX_INV_ITEMS],
        });
        let mut buf = BytesMut::new();
        codec().encode(&m, &mut buf).unwrap();
        let f = codec().decode(&mut buf).unwrap().unwrap();
        assert_eq!(Message::from_frame(&f).unwrap(), m);
    }

    #[test]
    fn block_locator_over_101_is_refused() {
        let p = cat(&[&u64le(0), &u64le(102)]);
        let e = Message::from_frame(&frame("getblocks", p)).unwrap_err();
        assert!(matches!(
            e,
            MessageError::TooManyItems {
                command: "getblocks",
                count: 102,
                max: 101
            }
        ));
        assert_eq!(
            e.to_string(),
            "getblocks: 102 items exceed the limit of 101"
        );
        let ok = Message::GetBlocks(GetBlocks {
            addr_from: "x".repeat(MAX_ADDR_LEN),
            locator: vec![BlockHash(h(3)); MAX_LOCATOR],
            stop: BlockHash(h(4)),
        });
        assert_eq!(Message::from_frame(&ok.to_frame()).unwrap(), ok);
    }

    #[test]
    fn addr_over_1000_is_refused() {
        let e = Message::from_frame(&frame("addr", u64le(1_001).to_vec())).unwrap_err();
        assert!(matches!(
            e,
            MessageError::TooManyItems {
                command: "addr",
                count: 1_001,
                max: 1_000
            }
        ));
        let ok = Message::Addr(Addr {
            addrs: vec!["y".repeat(MAX_ADDR_LEN); MAX_ADDRS],
        });
        let f = ok.to_frame();
        assert!(f.payload.len() <= Message::max_payload(&f.command) as usize);
        assert_eq!(Message::from_frame(&f).unwrap(), ok);
    }

    #[test]
    fn address_strings_over_256_bytes_are_refused() {
        let long = "z".repeat(300);
        let p = cat(&[&u64le(1), &u64le(300), long.as_bytes()]);
        let e = Message::from_frame(&frame("addr", p)).unwrap_err();
        assert!(matches!(
            e,
            MessageError::AddrTooLong {
                command: "addr",
                len: 300,
                max: 256
            }
        ));
        assert_eq!(
            e.to_string(),
            "addr: address of 300 bytes exceeds the limit of 256"
        );
        // addr_from is bounded the same way in every message that has one.
        let inv = Message::Inv(Inv {
            addr_from: long.clone(),
            kind: InvKind::Block,
            items: vec![],
        });
        let version = Message::Version(Version {
            version: 1,
            best_height: 0,
            addr_from: long,
            genesis: None,
            nonce: 0,
        });
        for m in [inv, version] {
            assert!(matches!(
                Message::from_frame(&m.to_frame()),
                Err(MessageError::AddrTooLong { len: 300, .. })
            ));
        }
        let ok = Message::Addr(Addr {
            addrs: vec!["é".repeat(128)],
        });
        assert_eq!(Message::from_frame(&ok.to_frame()).unwrap(), ok);
    }

    #[test]
    fn a_breach_does_not_leak_into_the_next_decode() {
        assert!(Message::from_frame(&frame("addr", u64le(1_001).to_vec())).is_err());
        assert!(matches!(
            Message::from_frame(&frame("ping", vec![1])),
            Err(MessageError::Decode { .. })
        ));
    }

    #[test]
    fn limits_match_the_documented_table() {
        assert_eq!(Message::max_payload(&command_bytes("block")), 1_001_024);
        assert_eq!(Message::max_payload(&command_bytes("tx")), 1_001_024);
        for c in ["inv", "getdata", "notfound"] {
            assert_eq!(Message::max_payload(&command_bytes(c)), 1_601_024);
        }
        assert_eq!(Message::max_payload(&command_bytes("getblocks")), 4_256);
        assert_eq!(Message::max_payload(&command_bytes("getheaders")), 4_256);
        assert_eq!(Message::max_payload(&command_bytes("headers")), 161_024);
        assert_eq!(Message::max_payload(&command_bytes("addr")), 264_064);
        assert_eq!(Message::max_payload(&command_bytes("version")), 1_024);
        assert_eq!(Message::max_payload(&command_bytes("ping")), 64);
        assert_eq!(Message::max_payload(&command_bytes("pong")), 64);
        assert_eq!(Message::max_payload(&command_bytes("blocks")), MAX_PAYLOAD);
        assert_eq!(Message::max_payload(&[0xff; 12]), MAX_PAYLOAD);
        for l in [
            BLOCK_LIMIT,
            TX_LIMIT,
            INV_LIMIT,
            GETBLOCKS_LIMIT,
            GETHEADERS_LIMIT,
            HEADERS_LIMIT,
            ADDR_LIMIT,
            VERSION_LIMIT,
            PING_LIMIT,
        ] {
            assert!(l <= MAX_PAYLOAD);
        }
    }

    #[test]
    fn frame_and_command_agree_with_the_header_limits() {
        for c in Command::ALL {
            assert_eq!(Command::parse(&command_bytes(c.name())), Some(c));
            assert!(c.name().len() <= COMMAND_LEN);
        }
        assert_eq!(
            &Message::Ping(0).to_frame().command,
            b"ping\0\0\0\0\0\0\0\0"
        );
        assert_eq!(MAGIC, [0xf9, 0xbe, 0x5c, 0x01]);
    }

    // ---- generated messages ----

    fn hash() -> impl Strategy<Value = Hash256> {
        any::<[u8; 32]>().prop_map(Hash256)
    }

    fn text() -> impl Strategy<Value = String> {
        "\\PC{0,40}"
    }

    fn kind() -> impl Strategy<Value = InvKind> {
        prop_oneof![Just(InvKind::Block), Just(InvKind::Tx)]
    }

    fn items() -> impl Strategy<Value = Vec<Hash256>> {
        prop::collection::vec(hash(), 0..=20)
    }

    fn txin() -> impl Strategy<Value = TxIn> {
        (
            hash(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 64),
            prop::collection::vec(any::<u8>(), 65),
        )
            .prop_map(|(txid, vout, sig, key)| TxIn {
                prev_out: OutPoint {
                    txid: Txid(txid),
                    vout,
                },
                signature: sig.try_into().unwrap(),
                pubkey: key.try_into().unwrap(),
            })
    }

    fn transaction() -> impl Strategy<Value = Transaction> {
        (
            any::<u32>(),
            prop::collection::vec(txin(), 0..3),
            prop::collection::vec(
                (any::<u64>(), any::<[u8; 20]>())
                    .prop_map(|(value, pubkey_hash)| TxOut { value, pubkey_hash }),
                0..3,
            ),
            any::<u64>(),
        )
            .prop_map(|(version, inputs, outputs, coinbase_height)| Transaction {
                version,
                inputs,
                outputs,
                coinbase_height,
            })
    }

    fn block() -> impl Strategy<Value = Block> {
        (
            any::<(u32, u32, u32, u32)>(),
            hash(),
            hash(),
            any::<u64>(),
            prop::collection::vec(transaction(), 0..3),
        )
            .prop_map(
                |((version, timestamp, bits, nonce), prev, merkle_root, height, transactions)| {
                    Block {
                        header: BlockHeader {
                            version,
                            prev_block_hash: BlockHash(prev),
                            merkle_root,
                            timestamp,
                            bits,
                            nonce,
                        },
                        height,
                        transactions,
                    }
                },
            )
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (
                any::<u32>(),
                any::<u64>(),
                text(),
                prop::option::of(hash()),
                any::<u64>()
            )
                .prop_map(|(version, best_height, addr_from, genesis, nonce)| {
                    Message::Version(Version {
                        version,
                        best_height,
                        addr_from,
                        genesis: genesis.map(BlockHash),
                        nonce,
                    })
                }),
            (text(), items(), hash()).prop_map(|(addr_from, locator, stop)| {
                Message::GetBlocks(GetBlocks {
                    addr_from,
                    locator: locator.into_iter().map(BlockHash).collect(),
                    stop: BlockHash(stop),
                })
            }),
            (text(), kind(), items()).prop_map(|(addr_from, kind, items)| Message::Inv(Inv {
                addr_from,
                kind,
                items
            })),
            (text(), kind(), items()).prop_map(|(addr_from, kind, items)| {
                Message::GetData(GetData {
                    addr_from,
                    kind,
                    items,
                })
            }),
            (text(), block())
                .prop_map(|(addr_from, block)| Message::Block(BlockMsg { addr_from, block })),
            (text(), transaction()).prop_map(|(addr_from, transaction)| {
                Message::Tx(TxMsg {
                    addr_from,
                    transaction,
                })
            }),
            prop::collection::vec(text(), 0..=20).prop_map(|addrs| Message::Addr(Addr { addrs })),
            (kind(), items()).prop_map(|(kind, items)| Message::NotFound(NotFound { kind, items })),
            any::<u64>().prop_map(Message::Ping),
            any::<u64>().prop_map(Message::Pong),
            (text(), items(), hash()).prop_map(|(addr_from, locator, stop)| {
                Message::GetHeaders(GetHeaders {
                    addr_from,
                    locator: locator.into_iter().map(BlockHash).collect(),
                    stop: BlockHash(stop),
                })
            }),
            prop::collection::vec(block(), 0..4).prop_map(|blocks| Message::Headers(Headers {
                headers: blocks.into_iter().map(|b| b.header).collect(),
            })),
        ]
    }

    proptest! {
        #[test]
        fn round_trip_message_frame_bytes_frame_message(m in message()) {
            let f = m.to_frame();
            let mut buf = BytesMut::new();
            codec().encode(f.clone(), &mut buf).unwrap();
            prop_assert_eq!(buf.len(), 24 + f.payload.len());
            let back = codec().decode(&mut buf).unwrap().unwrap();
            prop_assert!(buf.is_empty());
            prop_assert_eq!(&back, &f);
            prop_assert_eq!(Message::from_frame(&back).unwrap(), m);
        }

        #[test]
        fn random_payloads_never_panic_any_command(
            payload in prop::collection::vec(any::<u8>(), 0..600),
        ) {
            for c in Command::ALL {
                let _ = Message::from_frame(&frame(c.name(), payload.clone()));
            }
        }

        #[test]
        fn corrupted_encodings_never_panic(
            m in message(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut p = m.to_frame().payload.to_vec();
            if !p.is_empty() {
                for (i, x) in &flips {
                    let i = i.index(p.len());
                    p[i] ^= x;
                }
            }
            let cut = cut.index(p.len() + 1);
            for c in Command::ALL {
                let _ = Message::from_frame(&frame(c.name(), p.clone()));
                let _ = Message::from_frame(&frame(c.name(), p[..cut].to_vec()));
            }
        }
    }
}
