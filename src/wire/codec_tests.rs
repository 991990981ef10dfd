//! The frame codec as the node builds it ([`FrameCodec::for_messages`]):
//! framing across reads, the per-command limits checked from the header, and
//! what is left for [`Message::from_frame`] to refuse.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

use super::frame::{
    Frame, FrameCodec, FrameError, HEADER_LEN, MAGIC, MAX_PAYLOAD, checksum, command_bytes,
};
use super::message::{Message, MessageError};
use super::payload::{GetData, InvKind};

fn codec() -> FrameCodec {
    FrameCodec::for_messages()
}

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
    codec().encode(m, &mut b).unwrap();
    b.to_vec()
}

/// Decodes every frame in `src`, stopping at the first `Ok(None)` or error.
fn drain(src: &mut BytesMut) -> (Vec<Frame>, Option<FrameError>) {
    let mut frames = Vec::new();
    loop {
        match codec().decode(src) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}

#[test]
fn header_split_across_reads_byte_by_byte() {
    let bytes = encoded(&Message::Ping(7));
    let mut buf = BytesMut::new();
    for (i, b) in bytes.iter().enumerate() {
        buf.put_u8(*b);
        let r = codec().decode(&mut buf).unwrap();
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
    let f = codec().decode(&mut buf).unwrap().unwrap();
    assert_eq!(Message::from_frame(&f).unwrap(), Message::Ping(3));
}

#[test]
fn wrong_magic_is_refused_after_four_bytes() {
    let mut buf = BytesMut::from(&b"GET"[..]);
    assert!(codec().decode(&mut buf).unwrap().is_none());
    buf.put_u8(b' ');
    match codec().decode(&mut buf) {
        Err(FrameError::BadMagic(m)) => assert_eq!(&m, b"GET "),
        other => panic!("expected BadMagic, got {other:?}"),
    }
    let mut bytes = encoded(&Message::Ping(1));
    bytes[3] ^= 1;
    let mut buf = BytesMut::from(&bytes[..]);
    assert!(matches!(
        codec().decode(&mut buf),
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
        match codec().decode(&mut buf) {
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
    assert!(codec().decode(&mut buf).unwrap().is_none());
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
    let f = codec().decode(&mut buf).unwrap().unwrap();
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
        codec().encode(f, &mut dst),
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
    assert!(codec().encode(&m, &mut dst).is_ok());
    let f = codec().decode(&mut dst).unwrap().unwrap();
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
