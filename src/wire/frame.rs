//! Message framing: Bitcoin's 24-byte message header, then the payload.
//!
//! # Frame layout
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | magic, [`MAGIC`] |
//! | 4 | 12 | command: ASCII name, NUL-padded on the right (e.g. `inv\0\0\0\0\0\0\0\0\0`) |
//! | 16 | 4 | payload length in bytes, u32 little-endian |
//! | 20 | 4 | checksum: first 4 bytes of `sha256d(payload)` |
//! | 24 | length | payload: the message's bincode encoding ([`crate::core::encode`]) |
//!
//! [`FrameCodec`] reads and writes frames for `tokio_util::codec::Framed`.
//! The decoder checks the magic and the payload length against the command's
//! limit ([`max_payload_for`]) from the header alone, before it reserves any
//! memory for the payload; either failure is fatal ([`FrameError`]). The
//! checksum, the command name and the payload are checked later, per message,
//! by [`Message::from_frame`]; those failures are not fatal.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::message::{Command, Message};
use crate::core::hash::sha256d;
use crate::core::params::{MAX_BLOCK_SIZE, MAX_TX_SIZE};

/// Network magic: the first 4 bytes of every frame. Peers on another network
/// (or speaking another protocol) are refused with [`FrameError::BadMagic`].
pub const MAGIC: [u8; 4] = [0xf9, 0xbe, 0x5c, 0x01];

/// Length of the frame header: magic (4) ‖ command (12) ‖ length (4) ‖ checksum (4).
pub const HEADER_LEN: usize = 24;

/// Length of the command field in the header, in bytes.
pub const COMMAND_LEN: usize = 12;

/// Largest payload of any frame, in bytes, whatever its command. Every
/// per-command limit ([`max_payload_for`]) is at most this.
pub const MAX_PAYLOAD: u32 = 4_000_000;

/// Extra bytes allowed on top of a block's or transaction's own size limit
/// for the rest of the message (the sender's address string).
const ENVELOPE: u32 = 1024;

/// `block`: a block of at most [`MAX_BLOCK_SIZE`] bytes plus the envelope.
const BLOCK_LIMIT: u32 = MAX_BLOCK_SIZE as u32 + ENVELOPE;
/// `tx`: a transaction of at most [`MAX_TX_SIZE`] bytes plus the envelope.
const TX_LIMIT: u32 = MAX_TX_SIZE as u32 + ENVELOPE;
/// `inv`, `getdata`, `notfound`: [`super::message::MAX_INV_ITEMS`] hashes of 32 bytes.
const INV_LIMIT: u32 = super::message::MAX_INV_ITEMS as u32 * 32 + ENVELOPE;
/// `getblocks`: a block locator of [`super::message::MAX_LOCATOR`] hashes and the stop hash.
const GETBLOCKS_LIMIT: u32 = super::message::MAX_LOCATOR as u32 * 32 + ENVELOPE;
/// `addr`: [`super::message::MAX_ADDRS`] strings of at most
/// [`super::message::MAX_ADDR_LEN`] bytes, each with its u64 length prefix.
const ADDR_LIMIT: u32 =
    super::message::MAX_ADDRS as u32 * (super::message::MAX_ADDR_LEN as u32 + 8) + 64;
/// `version`: a few integers, a genesis hash and an address string.
const VERSION_LIMIT: u32 = 1024;
/// `ping`, `pong`: one u64 nonce.
const PING_LIMIT: u32 = 64;

/// The largest payload, in bytes, a frame with header command `command` may
/// carry. Checked from the header before the payload is read, so an oversize
/// payload never gets memory:
///
/// | command | limit |
/// |---|---|
/// | `block`, `tx` | `MAX_BLOCK_SIZE` + 1,024 = 1,001,024 |
/// | `inv`, `getdata`, `notfound` | 50,000 × 32 + 1,024 = 1,601,024 |
/// | `getblocks` | 101 × 32 + 1,024 = 4,256 |
/// | `addr` | 1,000 × (256 + 8) + 64 = 264,064 |
/// | `version` | 1,024 |
/// | `ping`, `pong` | 64 |
/// | anything else | [`MAX_PAYLOAD`] (the frame is read, then refused as an unknown command) |
pub fn max_payload_for(command: &[u8; COMMAND_LEN]) -> u32 {
    match Command::parse(command) {
        Some(Command::Block) => BLOCK_LIMIT,
        Some(Command::Tx) => TX_LIMIT,
        Some(Command::Inv | Command::GetData | Command::NotFound) => INV_LIMIT,
        Some(Command::GetBlocks) => GETBLOCKS_LIMIT,
        Some(Command::Addr) => ADDR_LIMIT,
        Some(Command::Version) => VERSION_LIMIT,
        Some(Command::Ping | Command::Pong) => PING_LIMIT,
        None => MAX_PAYLOAD,
    }
}

/// The checksum of a payload: the first 4 bytes of `sha256d(payload)`
/// (Bitcoin's message checksum).
pub fn checksum(payload: &[u8]) -> [u8; 4] {
    let h = sha256d(payload);
    let mut c = [0u8; 4];
    for (dst, src) in c.iter_mut().zip(h.0) {
        *dst = src;
    }
    c
}

/// The 12-byte command field for `name`: its bytes, NUL-padded on the right.
/// Bytes past the 12th are cut off (every command this node knows is shorter).
pub fn command_bytes(name: &str) -> [u8; COMMAND_LEN] {
    let mut c = [0u8; COMMAND_LEN];
    for (dst, src) in c.iter_mut().zip(name.bytes()) {
        *dst = src;
    }
    c
}

/// Printable text of a command field for logs and errors: trailing NULs
/// dropped, every other byte ASCII-escaped (`\x00`, `\xff`, `\\`, …).
pub fn command_text(command: &[u8; COMMAND_LEN]) -> String {
    let end = command
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i.saturating_add(1));
    command
        .iter()
        .take(end)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}

/// One frame: a header's command and checksum, and the payload it announced.
/// The magic and length are implied (the decoder checked them; the encoder
/// writes [`MAGIC`] and `payload.len()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Command field as received: ASCII, NUL-padded. Not validated by the
    /// decoder; [`Message::from_frame`] refuses unknown commands.
    pub command: [u8; COMMAND_LEN],
    /// The payload bytes (bincode encoding of the message body).
    pub payload: Bytes,
    /// Checksum field as received. Not validated by the decoder;
    /// [`Message::from_frame`] compares it with [`checksum`] of the payload.
    pub checksum: [u8; 4],
}

impl Frame {
    /// A frame carrying `payload` under `command`, with the checksum computed.
    pub fn new(command: [u8; COMMAND_LEN], payload: Bytes) -> Frame {
        let checksum = checksum(&payload);
        Frame {
            command,
            payload,
            checksum,
        }
    }

    /// The frame for `message` (same as [`Message::to_frame`]).
    pub fn from_message(message: &Message) -> Frame {
        message.to_frame()
    }

    /// True when the checksum field matches the payload.
    pub fn checksum_ok(&self) -> bool {
        self.checksum == checksum(&self.payload)
    }

    /// Printable command name ([`command_text`]).
    pub fn command_text(&self) -> String {
        command_text(&self.command)
    }
}

/// Why the byte stream cannot be framed. Every variant is fatal: once the
/// decoder returns an error the stream is out of step (or hostile), and the
/// caller disconnects the peer.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The first 4 bytes of a header are not [`MAGIC`]: another network, another
    /// protocol, or a stream that lost its place.
    #[error("bad network magic {0:02x?} (expected {MAGIC:02x?})")]
    BadMagic([u8; 4]),
    /// The header announces a payload longer than its command allows
    /// ([`max_payload_for`]). Returned by the decoder before any memory is
    /// reserved for the payload, and by the encoder instead of sending a frame
    /// the peer would refuse.
    #[error("{command:?} payload of {len} bytes exceeds its limit of {max} bytes")]
    Oversize {
        /// Printable command ([`command_text`]).
        command: String,
        /// Announced payload length, in bytes.
        len: u32,
        /// The command's limit, in bytes.
        max: u32,
    },
    /// Reading or writing the socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// A parsed 24-byte header.
struct Header {
    command: [u8; COMMAND_LEN],
    len: u32,
    checksum: [u8; 4],
}

/// Checks and parses the header at the front of `src`: `Ok(None)` while fewer
/// than 24 bytes are buffered, [`FrameError::BadMagic`] as soon as 4 wrong
/// bytes are, [`FrameError::Oversize`] when the length exceeds the command's
/// limit.
fn parse_header(src: &[u8]) -> Result<Option<Header>, FrameError> {
    let Some((magic, rest)) = src.split_first_chunk::<4>() else {
        return Ok(None);
    };
    if *magic != MAGIC {
        return Err(FrameError::BadMagic(*magic));
    }
    let Some((command, rest)) = rest.split_first_chunk::<COMMAND_LEN>() else {
        return Ok(None);
    };
    let Some((len, rest)) = rest.split_first_chunk::<4>() else {
        return Ok(None);
    };
    let Some((checksum, _)) = rest.split_first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_le_bytes(*len);
    let max = max_payload_for(command);
    if len > max {
        return Err(FrameError::Oversize {
            command: command_text(command),
            len,
            max,
        });
    }
    Ok(Some(Header {
        command: *command,
        len,
        checksum: *checksum,
    }))
}

/// Reads and writes [`Frame`]s (layout in the module docs). Stateless.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameCodec;

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    /// `Ok(Some(frame))` once a whole frame is buffered, `Ok(None)` while more
    /// bytes are needed (reserving room for the payload only after the header
    /// passed its checks). Errors: [`FrameError::BadMagic`],
    /// [`FrameError::Oversize`]; both fatal.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(header) = parse_header(src)? else {
            return Ok(None);
        };
        // The length is at most MAX_PAYLOAD here, so this cannot overflow.
        let total = HEADER_LEN.saturating_add(header.len as usize);
        if src.len() < total {
            src.reserve(total.saturating_sub(src.len()));
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        let payload = src.split_to(header.len as usize).freeze();
        Ok(Some(Frame {
            command: header.command,
            payload,
            checksum: header.checksum,
        }))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    /// Writes the header and payload. The checksum is written as the frame
    /// carries it (build frames with [`Frame::new`] to have it computed).
    /// Errors: [`FrameError::Oversize`] when the payload is longer than the
    /// command's limit; nothing is written then.
    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let max = max_payload_for(&frame.command);
        let len = u32::try_from(frame.payload.len()).unwrap_or(u32::MAX);
        if len > max {
            return Err(FrameError::Oversize {
                command: command_text(&frame.command),
                len,
                max,
            });
        }
        dst.reserve(HEADER_LEN.saturating_add(frame.payload.len()));
        dst.put_slice(&MAGIC);
        dst.put_slice(&frame.command);
        dst.put_u32_le(len);
        dst.put_slice(&frame.checksum);
        dst.put_slice(&frame.payload);
        Ok(())
    }
}

impl Encoder<&Message> for FrameCodec {
    type Error = FrameError;

    /// Encodes `message.to_frame()`; errors as for `Encoder<Frame>`.
    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode(message.to_frame(), dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::{GetData, InvKind, MessageError};
    use proptest::prelude::*;

    fn header(command: &str, len: u32, checksum: [u8; 4]) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&MAGIC);
        h.extend_from_slice(&command_bytes(command));
        h.extend_from_slice(&len.to_le_bytes());
        h.extend_from_slice(&checksum);
        h
    }

    fn encoded(m: &Message) -> Vec<u8> {
        let mut b = BytesMut::new();
        FrameCodec.encode(m, &mut b).unwrap();
        b.to_vec()
    }

    /// Decodes every frame in `src`, stopping at the first `Ok(None)` or error.
    fn drain(src: &mut BytesMut) -> (Vec<Frame>, Option<FrameError>) {
        let mut frames = Vec::new();
        loop {
            match FrameCodec.decode(src) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => return (frames, None),
                Err(e) => return (frames, Some(e)),
            }
        }
    }

    #[test]
    fn limits_match_the_documented_table() {
        assert_eq!(max_payload_for(&command_bytes("block")), 1_001_024);
        assert_eq!(max_payload_for(&command_bytes("tx")), 1_001_024);
        for c in ["inv", "getdata", "notfound"] {
            assert_eq!(max_payload_for(&command_bytes(c)), 1_601_024);
        }
        assert_eq!(max_payload_for(&command_bytes("getblocks")), 4_256);
        assert_eq!(max_payload_for(&command_bytes("addr")), 264_064);
        assert_eq!(max_payload_for(&command_bytes("version")), 1_024);
        assert_eq!(max_payload_for(&command_bytes("ping")), 64);
        assert_eq!(max_payload_for(&command_bytes("pong")), 64);
        assert_eq!(max_payload_for(&command_bytes("blocks")), MAX_PAYLOAD);
        assert_eq!(max_payload_for(&[0xff; 12]), MAX_PAYLOAD);
        for l in [
            BLOCK_LIMIT,
            TX_LIMIT,
            INV_LIMIT,
            GETBLOCKS_LIMIT,
            ADDR_LIMIT,
            VERSION_LIMIT,
            PING_LIMIT,
        ] {
            assert!(l <= MAX_PAYLOAD);
        }
    }

    #[test]
    fn command_text_escapes_and_trims() {
        assert_eq!(command_text(&command_bytes("inv")), "inv");
        let mut c = command_bytes("in");
        c[3] = b'v';
        assert_eq!(command_text(&c), "in\\x00v");
        assert_eq!(command_text(&[0xff; 12]), "\\xff".repeat(12));
        assert_eq!(command_text(&[0; 12]), "");
    }

    #[test]
    fn header_split_across_reads_byte_by_byte() {
        let bytes = encoded(&Message::Ping(7));
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            buf.put_u8(*b);
            let r = FrameCodec.decode(&mut buf).unwrap();
            if i + 1 < bytes.len() {
                assert!(r.is_none(), "frame before byte {i}");
            } else {
                let f = r.unwrap();
                assert_eq!(Message::from_frame(&f).unwrap(), Message::Ping(7));
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn two_frames_in_one_buffer_then_a_partial_one() {
        let mut all = encoded(&Message::Ping(1));
        all.extend(encoded(&Message::Pong(2)));
        let third = encoded(&Message::Ping(3));
        all.extend_from_slice(&third[..10]);
        let mut buf = BytesMut::from(&all[..]);
        let (frames, err) = drain(&mut buf);
        assert!(err.is_none());
        let msgs: Vec<_> = frames
            .iter()
            .map(|f| Message::from_frame(f).unwrap())
            .collect();
        assert_eq!(msgs, vec![Message::Ping(1), Message::Pong(2)]);
        assert_eq!(&buf[..], &third[..10]);
        buf.extend_from_slice(&third[10..]);
        let f = FrameCodec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(Message::from_frame(&f).unwrap(), Message::Ping(3));
    }

    #[test]
    fn wrong_magic_is_refused_after_four_bytes() {
        let mut buf = BytesMut::from(&b"GET"[..]);
        assert!(FrameCodec.decode(&mut buf).unwrap().is_none());
        buf.put_u8(b' ');
        match FrameCodec.decode(&mut buf) {
            Err(FrameError::BadMagic(m)) => assert_eq!(&m, b"GET "),
            other => panic!("expected BadMagic, got {other:?}"),
        }
        let mut bytes = encoded(&Message::Ping(1));
        bytes[3] ^= 1;
        let mut buf = BytesMut::from(&bytes[..]);
        assert!(matches!(
            FrameCodec.decode(&mut buf),
            Err(FrameError::BadMagic([0xf9, 0xbe, 0x5c, 0x00]))
        ));
    }

    #[test]
    fn oversize_is_refused_from_the_header_without_reserving() {
        for (command, len) in [
            ("block", 1_001_025),
            ("tx", 1_001_025),
            ("inv", 1_601_025),
            ("getblocks", 4_257),
            ("addr", 264_065),
            ("version", 1_025),
            ("ping", 65),
            ("bogus", MAX_PAYLOAD + 1),
            ("block", u32::MAX),
        ] {
            let mut buf = BytesMut::with_capacity(HEADER_LEN);
            buf.extend_from_slice(&header(command, len, [0; 4]));
            let cap = buf.capacity();
            match FrameCodec.decode(&mut buf) {
                Err(FrameError::Oversize {
                    command: c,
                    len: l,
                    max,
                }) => {
                    assert_eq!(c, command);
                    assert_eq!(l, len);
                    assert!(max < len);
                }
                other => panic!("expected Oversize for {command}, got {other:?}"),
            }
            assert_eq!(buf.capacity(), cap, "{command}");
            assert!(buf.capacity() < 64);
        }
    }

    #[test]
    fn room_for_the_payload_is_reserved_once_the_header_passes() {
        let mut buf = BytesMut::with_capacity(HEADER_LEN);
        buf.extend_from_slice(&header("block", 1_001_024, [0; 4]));
        assert!(FrameCodec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() >= HEADER_LEN + 1_001_024);
        assert_eq!(buf.len(), HEADER_LEN);
    }

    #[test]
    fn unknown_command_frames_are_read_whole_and_refused_later() {
        let mut bytes = header("bogus", 3, checksum(b"abc"));
        bytes.extend_from_slice(b"abc");
        bytes.extend(encoded(&Message::Ping(9)));
        let mut buf = BytesMut::from(&bytes[..]);
        let (frames, err) = drain(&mut buf);
        assert!(err.is_none());
        assert_eq!(frames.len(), 2);
        assert!(matches!(
            Message::from_frame(&frames[0]),
            Err(MessageError::UnknownCommand(c)) if c == "bogus"
        ));
        assert_eq!(Message::from_frame(&frames[1]).unwrap(), Message::Ping(9));
    }

    #[test]
    fn bad_checksum_passes_the_decoder_and_fails_the_message() {
        let mut bytes = encoded(&Message::Pong(5));
        bytes[20] ^= 0xff;
        let mut buf = BytesMut::from(&bytes[..]);
        let f = FrameCodec.decode(&mut buf).unwrap().unwrap();
        assert!(!f.checksum_ok());
        assert!(matches!(
            Message::from_frame(&f),
            Err(MessageError::BadChecksum { command: "pong" })
        ));
    }

    #[test]
    fn encoder_refuses_oversize_frames() {
        let f = Frame::new(command_bytes("ping"), Bytes::from(vec![0u8; 65]));
        let mut dst = BytesMut::new();
        assert!(matches!(
            FrameCodec.encode(f, &mut dst),
            Err(FrameError::Oversize {
                len: 65,
                max: 64,
                ..
            })
        ));
        assert!(dst.is_empty());
        // 50,001 items fit the frame limit but the receiver refuses them.
        let m = Message::GetData(GetData {
            addr_from: String::new(),
            kind: InvKind::Tx,
            items: vec![Default::default(); 50_001],
        });
        assert!(FrameCodec.encode(&m, &mut dst).is_ok());
        let f = FrameCodec.decode(&mut dst).unwrap().unwrap();
        assert!(matches!(
            Message::from_frame(&f),
            Err(MessageError::TooManyItems {
                command: "getdata",
                count: 50_001,
                max: 50_000
            })
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut buf = BytesMut::from(&bytes[..]);
            let (frames, _) = drain(&mut buf);
            for f in &frames {
                let _ = Message::from_frame(f);
            }
        }

        #[test]
        fn random_frames_after_a_good_magic_never_panic(
            command in prop::sample::select(vec![
                "version", "getblocks", "inv", "getdata", "block", "tx", "addr",
                "notfound", "ping", "pong", "bogus", "",
            ]),
            len in 0u32..300,
            checksum in any::<[u8; 4]>(),
            body in prop::collection::vec(any::<u8>(), 0..400),
        ) {
            let mut bytes = header(command, len, checksum);
            bytes.extend_from_slice(&body);
            let mut buf = BytesMut::from(&bytes[..]);
            let (frames, err) = drain(&mut buf);
            prop_assert!(err.is_none() || frames.len() <= 1);
            for f in &frames {
                let _ = Message::from_frame(f);
            }
        }
    }
}
