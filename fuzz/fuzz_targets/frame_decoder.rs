//! Arbitrary bytes from a peer through `FrameCodec::decode`, then every frame
//! through `Message::from_frame`.
//!
//! Input: byte 0 picks the read size (how many bytes arrive per socket read,
//! 0 meaning all at once); the rest is the byte stream. Checks, besides not
//! panicking:
//! * the frames (and whether the stream failed) do not depend on how the
//!   bytes were split across reads;
//! * no frame's payload exceeds its command's limit;
//! * a message that decodes re-encodes to exactly the frame it came from
//!   (the wire encoding is canonical).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sledchain::wire::frame::{Frame, FrameCodec};
use sledchain::wire::message::Message;
use tokio_util::codec::Decoder;

/// Feeds `stream` to the decoder `step` bytes at a time (all at once when
/// `step` is 0) and returns the frames read and whether it failed.
fn run(stream: &[u8], step: usize) -> (Vec<Frame>, bool) {
    let mut codec = FrameCodec::for_messages();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let chunk = if step == 0 { stream.len().max(1) } else { step };
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match codec.decode(&mut buf) {
                Ok(Some(f)) => {
                    assert!(buf.len() < before, "a frame consumed nothing");
                    frames.push(f);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                    break;
                }
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let (frames, failed) = run(stream, usize::from(step));
    let (whole, whole_failed) = run(stream, 0);
    assert_eq!(frames, whole, "frames depend on how reads were split");
    assert_eq!(failed, whole_failed);
    for f in &frames {
        assert!(f.payload.len() as u64 <= u64::from(Message::max_payload(&f.command)));
        if let Ok(m) = Message::from_frame(f) {
            assert_eq!(
                &m.to_frame(),
                f,
                "decoded message does not re-encode to its frame"
            );
        }
    }
});
