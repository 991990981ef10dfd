//! [`RawPeer`]: a client speaking the wire protocol to a node over a
//! blocking socket, for tests that play a peer (honest or hostile).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use sledchain::core::block::Block;
use sledchain::core::hash::{BlockHash, Hash256};
use sledchain::wire::frame::{Frame, FrameCodec, MAGIC};
use sledchain::wire::message::Message;
use sledchain::wire::payload::{
    BlockMsg, GetBlocks, GetHeaders, HEADERS_VERSION, Headers, Inv, InvKind, MAX_HEADERS, Version,
};
use tokio_util::codec::{Decoder, Encoder};

/// A raw peer connected to a node on 127.0.0.1. By default it says
/// protocol version 1 (the `getblocks` flow: it answers no `getheaders`);
/// [`RawPeer::headers_first`] makes it a version-2 peer that answers
/// `getheaders` from the blocks it serves.
pub struct RawPeer {
    stream: TcpStream,
    buf: BytesMut,
    version: u32,
}

impl RawPeer {
    pub fn connect(port: u16) -> RawPeer {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to node");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        RawPeer {
            stream,
            buf: BytesMut::new(),
            version: 1,
        }
    }

    /// Says protocol version `HEADERS_VERSION` (2) in its `version`, and
    /// [`RawPeer::serve_blocks`] answers `getheaders` too, so the node
    /// syncs from it headers first.
    pub fn headers_first(mut self) -> RawPeer {
        self.version = HEADERS_VERSION;
        self
    }

    /// The protocol version it says (1, or 2 after
    /// [`RawPeer::headers_first`]).
    pub fn protocol_version(&self) -> u32 {
        self.version
    }

    /// Answers `g` from `blocks` (one chain, in order) as a node whose
    /// best chain ends with them does: the headers after the first
    /// locator hash among them (all of them when the locator names none
    /// of them), at most [`MAX_HEADERS`]. False once the node closed the
    /// connection.
    pub fn answer_getheaders(&mut self, g: &GetHeaders, blocks: &[Block]) -> bool {
        let hashes: Vec<BlockHash> = blocks.iter().map(Block::hash).collect();
        let start = g
            .locator
            .iter()
            .find_map(|l| hashes.iter().position(|h| h == l).map(|i| i + 1))
            .unwrap_or(0);
        let headers = blocks[start..]
            .iter()
            .take(MAX_HEADERS)
            .map(|b| b.header)
            .collect();
        self.try_send(&Message::Headers(Headers { headers }))
    }

    /// The address the node sees for this client (`127.0.0.1:PORT`).
    pub fn me(&self) -> String {
        self.stream.local_addr().expect("local addr").to_string()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to node");
    }

    pub fn send_frame(&mut self, f: Frame) {
        let mut b = BytesMut::new();
        FrameCodec::for_messages()
            .encode(f, &mut b)
            .expect("encode frame");
        self.send_raw(&b);
    }

    pub fn send(&mut self, m: &Message) {
        self.send_frame(m.to_frame());
    }

    /// Delivers `blocks` as an honest peer does: announces the ones not
    /// yet sent by `inv` and answers each `getdata` with the blocks it
    /// names, announcing again after a quiet second (a node asks for at
    /// most 500 blocks of one peer at once, and takes only a few
    /// unrequested ones), until every block went out or the node closed
    /// the connection. A [`RawPeer::headers_first`] peer also answers
    /// `getheaders` ([`RawPeer::answer_getheaders`]). Panics after
    /// `timeout` without either.
    pub fn serve_blocks(&mut self, blocks: &[Block], timeout: Duration) {
        use std::collections::HashSet;
        let deadline = Instant::now() + timeout;
        let mut sent: HashSet<Hash256> = HashSet::new();
        while sent.len() < blocks.len() {
            assert!(Instant::now() < deadline, "blocks not all asked for");
            let items: Vec<Hash256> = blocks
                .iter()
                .map(|b| b.hash().0)
                .filter(|h| !sent.contains(h))
                .collect();
            self.send(&Message::Inv(Inv {
                addr_from: String::new(),
                kind: InvKind::Block,
                items,
            }));
            while let Some(m) = self.recv(Duration::from_secs(1)) {
                if let Message::GetHeaders(g) = &m {
                    if !self.answer_getheaders(g, blocks) {
                        return;
                    }
                    continue;
                }
                let Message::GetData(g) = m else { continue };
                for b in blocks.iter().filter(|b| g.items.contains(&b.hash().0)) {
                    let m = Message::Block(BlockMsg {
                        addr_from: String::new(),
                        block: b.clone(),
                    });
                    if !self.try_send(&m) {
                        return; // dropped, e.g. for an invalid block
                    }
                    sent.insert(b.hash().0);
                }
                if sent.len() == blocks.len() {
                    break; // the node may now rightly drop us
                }
            }
        }
    }

    /// [`RawPeer::send`] that reports a connection the node has closed
    /// (false) instead of panicking: for a stream of messages the node may
    /// rightly cut short, e.g. after a misbehaviour disconnect.
    pub fn try_send(&mut self, m: &Message) -> bool {
        let mut b = BytesMut::new();
        FrameCodec::for_messages()
            .encode(m.to_frame(), &mut b)
            .expect("encode frame");
        self.stream.write_all(&b).is_ok()
    }

    /// The next message other than `ping` (answered with `pong`, as a live
    /// peer does) within `timeout`; `None` on timeout. Panics when the node
    /// closes the connection or sends a bad frame or message.
    pub fn recv(&mut self, timeout: Duration) -> Option<Message> {
        self.recv_open(timeout)
            .unwrap_or_else(|e| panic!("connection closed by the node: {e}"))
    }

    /// [`RawPeer::recv`] that reports a connection the node has closed
    /// (`Err`) instead of panicking: for a peer the node may rightly drop.
    /// Panics on a bad frame or message.
    pub fn recv_open(&mut self, timeout: Duration) -> std::io::Result<Option<Message>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = FrameCodec::for_messages()
                .decode(&mut self.buf)
                .expect("node sent a bad frame")
            {
                match Message::from_frame(&f).expect("node sent a bad message") {
                    Message::Ping(n) => {
                        if !self.try_send(&Message::Pong(n)) {
                            return Err(ErrorKind::BrokenPipe.into());
                        }
                    }
                    m => return Ok(Some(m)),
                }
                continue;
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// True once the node closed the connection (within `timeout`).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 65536];
        while Instant::now() < deadline {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }

    /// `version` from [`me`](Self::me) at height 0, no genesis (nonce 7),
    /// protocol version 1 unless [`RawPeer::headers_first`].
    pub fn version(&mut self) {
        let me = self.me();
        self.send(&Message::Version(Version {
            version: self.version,
            best_height: 0,
            addr_from: me,
            genesis: None,
            nonce: 7,
        }));
    }

    /// `version` on the chain of `genesis` at `best_height`, with no address
    /// to dial back (nonce 42), protocol version 1 unless
    /// [`RawPeer::headers_first`].
    pub fn hello(&mut self, genesis: BlockHash, best_height: u64) {
        self.send(&Message::Version(Version {
            version: self.version,
            best_height,
            addr_from: String::new(),
            genesis: Some(genesis),
            nonce: 42,
        }));
    }

    /// [`version`](Self::version), then `getblocks` from genesis; returns the
    /// hashes of the block `inv` that answers it (10 s at most, else panics).
    pub fn fetch_inv(&mut self) -> Vec<Hash256> {
        self.version();
        let me = self.me();
        self.send(&Message::GetBlocks(GetBlocks {
            addr_from: me,
            locator: vec![],
            stop: BlockHash::ZERO,
        }));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Message::Inv(inv)) = self.recv(Duration::from_millis(500))
                && inv.kind == InvKind::Block
            {
                return inv.items;
            }
        }
        panic!("no inv in answer to getblocks");
    }
}

/// A 24-byte frame header: magic, `command`, payload length `len` (LE),
/// `checksum`; for frames the codec would refuse to build.
pub fn frame_header(command: &[u8; 12], len: u32, checksum: [u8; 4]) -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend_from_slice(command);
    h.extend_from_slice(&len.to_le_bytes());
    h.extend_from_slice(&checksum);
    h
}
