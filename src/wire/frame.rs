//! Message framing: Bitcoin's 24-byte message header, then the payload
//! (layout in the [`crate::wire`] docs).
//!
//! [`FrameCodec`] reads and writes frames for `tokio_util::codec::Framed`.
//! The decoder checks the magic and the payload length against the command's
//! limit from the header alone, before it reserves any memory for the
//! payload; either failure is fatal ([`FrameError`]). The limit comes from
//! the [`PayloadLimit`] the codec was built with: this module knows nothing
//! of messages (the message layer supplies the per-command limits, see
//! `FrameCodec::for_messages` in [`crate::wire::message`]). The checksum,
//! the command name and the payload are checked later, per message, by the
//! message layer; those failures are not fatal.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::core::hash::sha256d;

/// Network magic: the first 4 bytes of every frame. Peers on another network
/// (or speaking another protocol) are refused with [`FrameError::BadMagic`].
pub const MAGIC: [u8; 4] = [0xf9, 0xbe, 0x5c, 0x01];

/// Length of the frame header: magic (4) ‖ command (12) ‖ length (4) ‖ checksum (4).
pub const HEADER_LEN: usize = 24;

/// Length of the command field in the header, in bytes.
pub const COMMAND_LEN: usize = 12;

/// Largest payload of any frame, in bytes, whatever its command. A
/// [`FrameCodec`] never allows more, whatever its [`PayloadLimit`] says.
pub const MAX_PAYLOAD: u32 = 4_000_000;

/// The largest payload, in bytes, a frame whose header carries the given
/// command field may announce. Called on every header before its payload
/// is read, so it must not allocate or fail; results above [`MAX_PAYLOAD`]
/// count as [`MAX_PAYLOAD`].
pub type PayloadLimit = fn(&[u8; COMMAND_LEN]) -> u32;

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
    /// decoder; the message layer refuses unknown commands.
    pub command: [u8; COMMAND_LEN],
    /// The payload bytes (bincode encoding of the message body).
    pub payload: Bytes,
    /// Checksum field as received. Not validated by the decoder; the message
    /// layer compares it with [`checksum`] of the payload ([`Frame::checksum_ok`]).
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

    /// True when the checksum field matches the payload.
    pub fn checksum_ok(&self) -> bool {
        self.checksum == checksum(&self.payload)
    }

    /// Printable command name ([`command_text`]).
    pub fn command_text(&self) -> String {
        command_text(&self.command)
    }

    /// The frame's 24-byte header: [`MAGIC`] ‖ command ‖ payload length
    /// (u32 LE) ‖ checksum. Written before the payload; the length is not
    /// checked against any limit here (the [`FrameCodec`] does that).
    pub fn header(&self) -> [u8; HEADER_LEN] {
        let len = u32::try_from(self.payload.len()).unwrap_or(u32::MAX);
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(&MAGIC);
        h[4..16].copy_from_slice(&self.command);
        h[16..20].copy_from_slice(&len.to_le_bytes());
        h[20..].copy_from_slice(&self.checksum);
        h
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
    /// ([`FrameCodec::max_payload`]). Returned by the decoder before any memory is
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
/// limit (`codec.max_payload(command)`).
fn parse_header(src: &[u8], codec: &FrameCodec) -> Result<Option<Header>, FrameError> {
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
    let max = codec.max_payload(command);
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

/// Reads and writes [`Frame`]s (layout in the [`crate::wire`] docs),
/// refusing payloads over the per-command limit it was built with.
/// Stateless apart from that limit; cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    limit: PayloadLimit,
}

impl FrameCodec {
    /// A codec refusing, for each command field, payloads longer than
    /// `limit(command)` bytes (capped at [`MAX_PAYLOAD`]). The node's codec,
    /// with each message's own limit, is `FrameCodec::for_messages()` in
    /// [`crate::wire::message`].
    pub fn new(limit: PayloadLimit) -> FrameCodec {
        FrameCodec { limit }
    }

    /// The largest payload, in bytes, this codec reads or writes under
    /// `command`: the [`PayloadLimit`], at most [`MAX_PAYLOAD`].
    pub fn max_payload(&self, command: &[u8; COMMAND_LEN]) -> u32 {
        (self.limit)(command).min(MAX_PAYLOAD)
    }

    /// The payload length a frame header announces, checked as
    /// [`Decoder::decode`] checks it (the magic, then the command's limit),
    /// without reserving anything: for a reader that waits for room before
    /// it reads the payload.
    ///
    /// Errors: [`FrameError::BadMagic`], [`FrameError::Oversize`].
    pub fn payload_len(&self, header: &[u8; HEADER_LEN]) -> Result<usize, FrameError> {
        let h = parse_header(header, self)?;
        Ok(h.map_or(0, |h| h.len as usize))
    }
}

/// Read-buffer capacity (bytes) above which the buffer is replaced by a
/// small one once a frame has been taken out of it.
const SHRINK_ABOVE: usize = 64 * 1024;

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    /// `Ok(Some(frame))` once a whole frame is buffered, `Ok(None)` while more
    /// bytes are needed (reserving room for the payload only after the header
    /// passed its checks). Errors: [`FrameError::BadMagic`],
    /// [`FrameError::Oversize`]; both fatal.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(header) = parse_header(src, self)? else {
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
        // A large frame grew the read buffer; give that room back once it
        // is no longer needed, so an idle connection holds little memory.
        if src.capacity() > SHRINK_ABOVE && src.len() <= SHRINK_ABOVE / 8 {
            let mut fresh = BytesMut::with_capacity(SHRINK_ABOVE / 8);
            fresh.extend_from_slice(src);
            *src = fresh;
        }
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
        let max = self.max_payload(&frame.command);
        let len = u32::try_from(frame.payload.len()).unwrap_or(u32::MAX);
        if len > max {
            return Err(FrameError::Oversize {
                command: command_text(&frame.command),
                len,
                max,
            });
        }
        dst.reserve(HEADER_LEN.saturating_add(frame.payload.len()));
        dst.put_slice(&frame.header());
        dst.put_slice(&frame.payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A limit unrelated to any message: 10 bytes under `a`, 0 otherwise.
    fn ten_for_a(command: &[u8; COMMAND_LEN]) -> u32 {
        if *command == command_bytes("a") {
            10
        } else {
            0
        }
    }

    fn header(command: &str, len: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&MAGIC);
        h.extend_from_slice(&command_bytes(command));
        h.extend_from_slice(&len.to_le_bytes());
        h.extend_from_slice(&checksum(&[]));
        h
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
    fn the_codec_applies_the_limit_it_is_given() {
        let mut codec = FrameCodec::new(ten_for_a);
        let mut buf = BytesMut::from(&header("a", 10)[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&[7; 10]);
        let f = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.command_text(), "a");
        assert_eq!(&f.payload[..], &[7; 10]);
        for (command, len) in [("a", 11), ("b", 1)] {
            let mut buf = BytesMut::from(&header(command, len)[..]);
            assert!(matches!(
                codec.decode(&mut buf),
                Err(FrameError::Oversize { len: l, .. }) if l == len
            ));
            let f = Frame::new(command_bytes(command), Bytes::from(vec![0; len as usize]));
            let mut out = BytesMut::new();
            assert!(codec.encode(f, &mut out).is_err());
            assert!(out.is_empty());
        }
        let mut out = BytesMut::new();
        codec
            .encode(Frame::new(command_bytes("b"), Bytes::new()), &mut out)
            .unwrap();
        assert_eq!(&out[..], &header("b", 0)[..]);
    }

    #[test]
    fn no_limit_goes_past_max_payload() {
        let mut codec = FrameCodec::new(|_| u32::MAX);
        assert_eq!(codec.max_payload(&command_bytes("a")), MAX_PAYLOAD);
        let mut buf = BytesMut::from(&header("a", MAX_PAYLOAD + 1)[..]);
        match codec.decode(&mut buf) {
            Err(FrameError::Oversize { len, max, .. }) => {
                assert_eq!(len, MAX_PAYLOAD + 1);
                assert_eq!(max, MAX_PAYLOAD);
            }
            other => panic!("expected Oversize, got {other:?}"),
        }
        assert!(buf.capacity() < 64);
    }
}
