//! The protocol's inputs, outputs, configuration and events.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::chain::{ChainEvent, PeerId};
use crate::core::block::Block;
use crate::core::hash::{BlockHash, Txid};
use crate::core::tx::Transaction;
use crate::wire::message::{Message, MessageError};

/// Milliseconds since the Unix epoch: the protocol's only notion of time,
/// passed in with every input.
pub type Millis = u64;

/// Correlates a local request with its reply (chosen by the caller).
pub type ReplyId = u64;

/// Static settings of one node's protocol.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address peers should dial to reach us (sent in `version` and
    /// `addr`).
    pub me: SocketAddr,
    /// Seed nodes, dialled first and re-dialled whenever not connected.
    /// With no chain and no [`Config::genesis`], a genesis block is adopted
    /// only from an outbound peer dialled at one of these addresses.
    pub seeds: Vec<SocketAddr>,
    /// The seeds among [`Config::seeds`] the node picked for itself
    /// because none was given (`startnode` without `--seed`:
    /// `127.0.0.1:3000`): a guess about this machine, so dialled as a seed
    /// but never passed on in `addr`, saved with the peer records, or
    /// learned from a peer ([`super::AddrBook::hide`]).
    pub default_seeds: Vec<SocketAddr>,
    /// The genesis hash of the network to join (`startnode --genesis`).
    /// With no chain, only a genesis block with this hash is adopted, from
    /// any peer; `None`: whatever genesis a seed sends.
    pub genesis: Option<BlockHash>,
    /// Pubkey hash the minter pays; `None`: this node does not mint.
    pub minter: Option<[u8; 20]>,
    /// Mint once the mempool holds at least this many transactions.
    pub mint_threshold: usize,
    /// Drop a peer that sends nothing for this long (ms); pings go out at a
    /// third of it.
    pub idle_timeout: Millis,
    /// Drop a peer that has not sent `version` within this long (ms).
    pub handshake_timeout: Millis,
    /// Most outbound connections.
    pub max_outbound: usize,
    /// Misbehaviour score at which a peer is disconnected and, unless on
    /// loopback, banned.
    pub ban_score: u32,
    /// How long a ban lasts (ms).
    pub ban_time: Millis,
    /// Random seed, never sent as is: our `version` nonce (to detect
    /// connections to ourselves), ping nonces, the eviction key and dial
    /// choices are each derived from it by SHA-256 under a distinct label,
    /// so the nonce peers see does not give away the local secrets.
    pub nonce: u64,
}

/// Something that happened, handed to [`super::Protocol::step`].
#[derive(Debug)]
pub enum Input {
    /// A connection is up: `addr` is the address dialled (outbound) or the
    /// remote address (inbound).
    Connected {
        /// The id the caller gave it.
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// True when the peer dialled us.
        inbound: bool,
    },
    /// A dial asked for by [`Output::Connect`] failed.
    DialFailed {
        /// The address dialled.
        addr: SocketAddr,
    },
    /// A connection closed (by the peer, an I/O error, or after
    /// [`Output::Disconnect`]).
    Disconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A whole, decoded message from a peer.
    Received {
        /// The sender.
        peer: PeerId,
        /// The message.
        message: Message,
    },
    /// A frame from a peer whose payload did not decode.
    Malformed {
        /// The sender.
        peer: PeerId,
        /// Why.
        error: Arc<MessageError>,
    },
    /// `bytes` of block answers (as [`Block::encoded_size`]) were written
    /// to the peer's socket: room for more `getdata` answers.
    Flushed {
        /// The peer.
        peer: PeerId,
        /// Bytes written.
        bytes: u64,
    },
    /// `bytes` of transaction answers (as the transactions' encoded size)
    /// were written to the peer's socket: room for more transaction
    /// `getdata` answers ([`super::txs`]).
    TxFlushed {
        /// The peer.
        peer: PeerId,
        /// Bytes written.
        bytes: u64,
    },
    /// Time passed: timeouts, pings, dials and minting are checked.
    Tick,
    /// A connection from `addr` arrived while every inbound slot is taken:
    /// the protocol may answer with [`Output::Disconnect`] of an inbound
    /// peer ([`DisconnectReason::Evicted`], chosen by
    /// [`super::eviction::select_victim`]) to make room; no answer means
    /// the newcomer is refused.
    InboundFull {
        /// The newcomer's remote address.
        addr: SocketAddr,
    },
    /// What the chain layer did with a block, transaction or mint asked
    /// for by [`Output::ProcessBlock`], [`Output::AcceptTx`] or
    /// [`Output::Mint`].
    Chain(Vec<ChainEvent>),
    /// The mint asked for by [`Output::Mint`] ended (minted, or nothing to
    /// mint, or abandoned because the tip moved).
    MintDone,
    /// A request from the local control socket.
    Local(ReplyId, LocalRequest),
}

/// Requests from the local control socket that the protocol answers.
#[derive(Debug)]
pub enum LocalRequest {
    /// Height, tip, mempool and peers.
    Status,
    /// Accept a signed transaction into the mempool and relay it.
    SubmitTx(Transaction),
    /// The node's figures and its peers: answered with
    /// [`LocalReply::Info`].
    Info,
    /// Dial this address now (pinned in the address book like a seed):
    /// answered with [`LocalReply::Done`], or [`LocalReply::Rejected`] when
    /// it is this node or already connected.
    AddPeer(SocketAddr),
    /// Disconnect every peer at this address: [`LocalReply::Done`], or
    /// [`LocalReply::Rejected`] when none is connected.
    Disconnect(SocketAddr),
    /// A minter mints a block now from its mempool, even below the mint
    /// threshold: answered with [`LocalReply::Done`], or
    /// [`LocalReply::Rejected`] when the node does not mint, has no chain or
    /// is minting already.
    Mint,
}

/// One connected peer, for [`LocalReply::Info`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The connection's id.
    pub peer: PeerId,
    /// Address dialled (outbound) or remote address (inbound).
    pub addr: SocketAddr,
    /// True when it dialled us.
    pub inbound: bool,
    /// True once its `version` arrived.
    pub ready: bool,
    /// Its best height as we know it: what it proved, or a claim being
    /// tested, never more than
    /// [`MAX_CLAIM_AHEAD`](super::sync::mgr::MAX_CLAIM_AHEAD) beyond that
    /// unproven.
    pub height: u64,
    /// Last ping round trip, ms.
    pub ping_ms: Option<Millis>,
    /// Misbehaviour points.
    pub score: u32,
    /// When the connection came up, ms since the Unix epoch.
    pub connected_at: Millis,
    /// Bytes received from it, whole frames. The protocol never sees the
    /// socket, so it answers `None`; the reactor fills it in from the
    /// connection's counters before the reply leaves it.
    pub bytes_in: Option<u64>,
    /// Bytes sent to it, whole frames (filled in as `bytes_in`).
    pub bytes_out: Option<u64>,
}

/// The node's figures, for [`LocalRequest::Info`], all of one moment: the
/// tip as the chain's events last reported it to the protocol, and the
/// mempool and peers as they were then ([`super::Protocol::node_info`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Tip height (0 with no chain).
    pub height: u64,
    /// Tip hash (`None` with no chain).
    pub tip: Option<BlockHash>,
    /// Transactions in the mempool.
    pub mempool: usize,
    /// Their encoded size, bytes.
    pub mempool_bytes: u64,
    /// Connected peers.
    pub peers: Vec<PeerInfo>,
    /// Highest best height among ready peers (0 with none).
    pub best_peer_height: u64,
    /// True when this node mints.
    pub minter: bool,
    /// Bytes of version-1 peers' low-work side blocks held in memory
    /// ([`crate::protocol::sync::side::SideBuffer::bytes`]; at most 64 MiB).
    pub side_held_bytes: u64,
}

/// The protocol's answer to a [`LocalRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalReply {
    /// For [`LocalRequest::Status`].
    Status {
        /// Tip height (0 with no chain).
        height: u64,
        /// Tip hash (`None` with no chain).
        tip: Option<BlockHash>,
        /// Transactions in the mempool.
        mempool: usize,
        /// Connected peers.
        peers: usize,
    },
    /// The transaction was accepted: its txid.
    Accepted(Txid),
    /// The transaction was refused: the rule, as text (also any refused
    /// [`LocalRequest`], with the reason).
    Rejected(String),
    /// For [`LocalRequest::Info`].
    Info(NodeInfo),
    /// A chain read the request needed failed (also reported as
    /// [`Event::ChainReadFailed`], with the store's error): no answer can
    /// be given until the store reads again.
    ChainUnreadable,
    /// A [`LocalRequest::AddPeer`], [`LocalRequest::Disconnect`] or
    /// [`LocalRequest::Mint`] under way or done:
    /// what is being done, as text.
    Done(String),
}

/// Why the protocol drops a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The `version` nonce is our own.
    SelfConnection,
    /// The peer's genesis differs from ours.
    DifferentNetwork {
        /// Our genesis.
        ours: BlockHash,
        /// Theirs.
        theirs: BlockHash,
    },
    /// Nothing received for this many seconds.
    Idle(u64),
    /// No `version` within this many seconds of connecting.
    HandshakeTimeout(u64),
    /// Misbehaviour score reached.
    Misbehaving(u32),
    /// The peer's IP is banned.
    Banned,
    /// Already connected to this address.
    Duplicate,
    /// Blocks sent to it were not flushed for this many seconds: it does
    /// not read.
    NotReading(u64),
    /// It delivered none of the blocks asked of it for this many seconds
    /// ([`super::sync_peer::BLOCK_STALLING_TIMEOUT`]).
    Stalling(u64),
    /// Our `ping` went unanswered (no `pong` with its nonce) for this
    /// many seconds (the idle timeout).
    PingTimeout(u64),
    /// Inbound slots were full and a newcomer took this peer's slot.
    Evicted,
    /// The node's operator asked for it ([`LocalRequest::Disconnect`]).
    Requested,
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SelfConnection => write!(f, "connected to ourselves"),
            Self::DifferentNetwork { ours, theirs } => {
                write!(f, "different network (genesis {theirs}, ours {ours})")
            }
            Self::Idle(s) => write!(f, "idle for {s}s"),
            Self::HandshakeTimeout(s) => write!(f, "no version within {s}s"),
            Self::Misbehaving(score) => write!(f, "misbehavior score {score}"),
            Self::Banned => write!(f, "banned"),
            Self::Duplicate => write!(f, "already connected to this address"),
            Self::NotReading(s) => write!(f, "not reading: getdata answers stalled for {s}s"),
            Self::Stalling(s) => write!(f, "stalling: no block asked of it delivered for {s}s"),
            Self::PingTimeout(s) => write!(f, "ping unanswered for {s}s"),
            Self::Evicted => write!(f, "evicted: inbound slots full, a newcomer took the slot"),
            Self::Requested => write!(f, "disconnected on request"),
        }
    }
}

/// What the caller must do, returned by [`super::Protocol::step`].
#[derive(Debug)]
pub enum Output {
    /// Send `message` to `peer` (dropped if it is gone).
    Send {
        /// The peer.
        peer: PeerId,
        /// The message.
        message: Message,
    },
    /// Dial `addr`; answer with [`Input::Connected`] or
    /// [`Input::DialFailed`].
    Connect(SocketAddr),
    /// Close the connection to `peer`. The protocol has forgotten it
    /// already.
    Disconnect {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: DisconnectReason,
    },
    /// Hand `block` to [`crate::chain::Chain::process_block`] (in order,
    /// off the reactor); answer with [`Input::Chain`].
    ProcessBlock {
        /// The block.
        block: Block,
        /// Who sent it; `None` when minted here.
        from: Option<PeerId>,
    },
    /// Hand `tx` to [`crate::chain::Chain::accept_tx`]; answer with
    /// [`Input::Chain`].
    AcceptTx {
        /// The transaction.
        tx: Transaction,
        /// Who sent it; `None` when submitted locally.
        from: Option<PeerId>,
    },
    /// Build a template with [`crate::chain::Chain::template`], solve it,
    /// and process the block like [`Output::ProcessBlock`] with no sender;
    /// abandon it if the tip moves first. Answer with [`Input::Chain`] for
    /// the block, then [`Input::MintDone`].
    Mint {
        /// Pubkey hash paid.
        minter: [u8; 20],
        /// Header timestamp, seconds since the Unix epoch.
        time: u32,
        /// Least number of mempool transactions to mint.
        threshold: usize,
    },
    /// Replace the store's `peers` tree with these records (the address
    /// book's [`super::AddrBook::records`]), off the reactor: asked for
    /// every [`super::addrs::SAVE_INTERVAL`] and soon after a ban, so a
    /// node killed without a clean shutdown keeps its bans and failure
    /// counts. No answer.
    SavePeers(Vec<(SocketAddr, crate::store::PeerRecord)>),
    /// Answer to a [`Input::Local`] request.
    Reply(ReplyId, LocalReply),
    /// Something worth a log line.
    Event(Event),
}

/// Protocol happenings for logs and progress displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A peer completed the handshake.
    PeerReady {
        /// The peer.
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
        /// Its best height as it said in `version`.
        height: u64,
        /// True when it dialled us.
        inbound: bool,
    },
    /// `peer` answered our `getblocks` with blocks we lack, and we asked
    /// for them.
    Syncing {
        /// The peer.
        peer: PeerId,
        /// Our height.
        ours: u64,
        /// The height this sync aims at: its claimed height, but no
        /// further ahead of ours than the blocks it offered.
        theirs: u64,
    },
    /// A peer earned misbehaviour points.
    Misbehaved {
        /// The peer.
        addr: SocketAddr,
        /// Points added.
        points: u32,
        /// Its score now.
        score: u32,
        /// What it did.
        reason: String,
    },
    /// An IP was banned.
    Banned {
        /// The IP.
        ip: IpAddr,
        /// Until (ms since the Unix epoch).
        until: Millis,
    },
    /// A peer was disconnected for misbehaving but not banned, being on
    /// loopback.
    NotBannedLoopback(SocketAddr),
    /// An inbound peer is on another network: it gets our `version` and is
    /// dropped at the next tick.
    OtherNetwork {
        /// The peer.
        addr: SocketAddr,
        /// Our genesis.
        ours: BlockHash,
        /// Theirs.
        theirs: BlockHash,
    },
    /// An unrequested block was dropped: its sender has
    /// [`super::announce::MAX_UNREQUESTED`] blocks with the chain layer
    /// already (no score).
    UnrequestedDropped {
        /// The sender.
        addr: SocketAddr,
        /// The block's hash.
        hash: BlockHash,
    },
    /// With no chain yet, a genesis block from a peer that may not start
    /// our chain (not a seed we dialled, or not the configured genesis)
    /// was dropped.
    GenesisRefused {
        /// The sender.
        addr: SocketAddr,
        /// The block's hash.
        hash: BlockHash,
    },
    /// The chain could not be read (the store's error as text): what
    /// needed it was not done (no guess such as "no chain" or "have it").
    ChainReadFailed(String),
    /// Addresses from `addr` (or a `version` listen address) ignored: the
    /// sender is over its rate limit or its share of the address book.
    AddrIgnored {
        /// The sender.
        addr: SocketAddr,
        /// How many.
        count: usize,
    },
}
