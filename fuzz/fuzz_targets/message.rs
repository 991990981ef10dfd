//! Message decoding per command: byte 0 picks the command, the rest is the
//! payload, wrapped in a frame with a correct checksum so decoding is always
//! reached. A message that decodes must re-encode to the same payload, and
//! its frame must pass the encoder's limits.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sledchain::wire::frame::{Frame, FrameCodec, command_bytes};
use sledchain::wire::message::Message;
use tokio_util::codec::{Decoder, Encoder};

const COMMANDS: [&str; 10] = [
    "version",
    "getblocks",
    "inv",
    "getdata",
    "block",
    "tx",
    "addr",
    "notfound",
    "ping",
    "pong",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let command = COMMANDS[usize::from(pick) % COMMANDS.len()];
    let frame = Frame::new(command_bytes(command), Bytes::copy_from_slice(payload));
    let Ok(m) = Message::from_frame(&frame) else {
        return;
    };
    assert_eq!(m.command(), command);
    let again = m.to_frame();
    assert_eq!(
        again, frame,
        "decoded message does not re-encode to its payload"
    );
    let mut codec = FrameCodec::for_messages();
    let mut buf = BytesMut::new();
    codec
        .encode(&m, &mut buf)
        .expect("a message that decoded must fit its frame limit");
    let back = codec.decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    assert_eq!(Message::from_frame(&back).unwrap(), m);
});
