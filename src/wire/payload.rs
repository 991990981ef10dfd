//! The payloads of the peer-to-peer messages and their bounds.
//!
//! A payload is the bincode encoding of the message body
//! ([`crate::core::encode`]), which is:
//!
//! * integers: fixed width, little-endian (`u32` 4 bytes, `u64` 8 bytes);
//! * `String`: length in bytes as u64 little-endian, then the UTF-8 bytes;
//! * `Vec<T>`: item count as u64 little-endian, then the items;
//! * `Option<T>`: one byte, `0` for `None` or `1` followed by the value;
//! * enums ([`InvKind`]): variant index as u32 little-endian (`Block` = 0, `Tx` = 1);
//! * hashes: their 32 bytes in storage order;
//! * structs: their fields in declaration order, nothing in between.
//!
//! So `inv` is `addr_from ‖ kind ‖ count ‖ count × 32 hash bytes`, and
//! `ping`/`pong` are a bare u64 nonce.
//!
//! # Bounds
//! Lists are bounded ([`MAX_INV_ITEMS`], [`MAX_LOCATOR`], [`MAX_ADDRS`],
//! [`MAX_HEADERS`]) and so
//! are address strings ([`MAX_ADDR_LEN`]). Decoding checks a list's length
//! prefix before it reads or allocates any item, and a string's length before
//! copying it, so a peer cannot make the node allocate for items it did not
//! send. The payload as a whole is bounded per command by the frame header
//! ([`Message::max_payload`]).
//!
//! Senders must respect the same bounds (e.g. split an `inv` into chunks of at
//! most [`MAX_INV_ITEMS`]); the receiver refuses the whole message otherwise.
//!
//! [`Message::max_payload`]: super::message::Message::max_payload

use serde::{Deserialize, Deserializer, Serialize};

use super::bound::{self, BoundedString};
use crate::core::{Block, BlockHash, BlockHeader, Hash256, Transaction};

/// Protocol version this node speaks, sent in [`Version::version`]: 2,
/// headers-first sync ([`HEADERS_VERSION`]).
pub const PROTOCOL_VERSION: u32 = 2;

/// The first protocol version that speaks `getheaders` and `headers`
/// ([`GetHeaders`], [`Headers`]). A peer whose `version` is below it is
/// synced by `getblocks` (the version-1 flow), and a version-1 node syncs
/// from us the same way: `getblocks` is still answered.
pub const HEADERS_VERSION: u32 = 2;

/// Most block headers in one `headers` message (Bitcoin's
/// `MAX_HEADERS_RESULTS`, 2,000). An answer this long means the sender may
/// have more: it is asked again from the last one.
pub const MAX_HEADERS: usize = 2_000;

/// Most hashes in one `inv`, `getdata` or `notfound` (Bitcoin's
/// `MAX_INV_SZ`, 50,000).
pub const MAX_INV_ITEMS: usize = 50_000;

/// Most hashes in a block locator ([`GetBlocks::locator`]), Bitcoin's
/// `MAX_LOCATOR_SZ`, 101: enough for a chain of 2^90 blocks with exponential
/// back-off after the first ten.
pub const MAX_LOCATOR: usize = 101;

/// Most address strings in one `addr` (Bitcoin's `MAX_ADDR_TO_SEND`, 1,000).
pub const MAX_ADDRS: usize = 1_000;

/// Most block hashes in an `inv` sent in answer to `getblocks` (Bitcoin's
/// 500). The answering peer sends the next batch when asked again with an
/// updated locator.
pub const MAX_BLOCKS_PER_INV: usize = 500;

/// Longest address string, in bytes: a `"host:port"` in
/// [`Addr::addrs`] or any message's `addr_from`.
pub const MAX_ADDR_LEN: usize = 256;

/// What an inventory hash names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InvKind {
    /// A block hash. Encoded as u32 little-endian 0.
    Block,
    /// A txid. Encoded as u32 little-endian 1.
    Tx,
}

/// `version`: the first message each side sends after connecting (the
/// handshake). Payload: `version` u32 ‖ `best_height` u64 ‖ `addr_from`
/// string ‖ `genesis` option of 32 bytes ‖ `nonce` u64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The sender's protocol version ([`PROTOCOL_VERSION`]).
    pub version: u32,
    /// Height of the sender's best chain tip (genesis is 0; 0 also when the
    /// sender has no chain, see `genesis`).
    pub best_height: u64,
    /// The sender's listening address, `"host:port"`, at most
    /// [`MAX_ADDR_LEN`] bytes.
    #[serde(deserialize_with = "addr_string")]
    pub addr_from: String,
    /// Hash of the sender's genesis block; `None` when the sender has no
    /// chain yet. Peers on different genesis blocks are on different chains.
    pub genesis: Option<BlockHash>,
    /// Random per-connection value; receiving one's own nonce means the node
    /// connected to itself.
    pub nonce: u64,
}

/// `getblocks`: asks for the hashes of the blocks after the first locator
/// hash the receiver has on its best chain, answered with an `inv` of at most
/// [`MAX_BLOCKS_PER_INV`] block hashes. Payload: `addr_from` string ‖
/// `locator` count u64 ‖ 32 bytes each ‖ `stop` 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBlocks {
    /// The sender's listening address (at most [`MAX_ADDR_LEN`] bytes).
    #[serde(deserialize_with = "addr_string")]
    pub addr_from: String,
    /// Block locator: hashes of the sender's best chain from the tip back
    /// (dense first, then doubling steps, genesis last), at most
    /// [`MAX_LOCATOR`].
    #[serde(deserialize_with = "locator")]
    pub locator: Vec<BlockHash>,
    /// Last block hash wanted; [`BlockHash::ZERO`] asks for as many as the
    /// answer allows.
    pub stop: BlockHash,
}

/// `getheaders`: asks for the headers of the blocks after the first
/// locator hash the receiver has on its best chain, answered with one
/// `headers` of at most [`MAX_HEADERS`] headers (empty when it has none
/// after it). Payload as [`GetBlocks`]: `addr_from` string ‖ `locator`
/// count u64 ‖ 32 bytes each ‖ `stop` 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetHeaders {
    /// The sender's listening address (at most [`MAX_ADDR_LEN`] bytes).
    #[serde(deserialize_with = "addr_string")]
    pub addr_from: String,
    /// Block locator, as in [`GetBlocks::locator`] (at most
    /// [`MAX_LOCATOR`]); the sender may put its best known header first.
    #[serde(deserialize_with = "locator")]
    pub locator: Vec<BlockHash>,
    /// Last header wanted; [`BlockHash::ZERO`] asks for as many as the
    /// answer allows.
    pub stop: BlockHash,
}

/// `headers`: block headers in chain order, each the parent of the next,
/// the first a child of a block the receiver's locator named. Payload:
/// count u64 ‖ 80 bytes each (the block header's layout, `core::block`),
/// at most [`MAX_HEADERS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers {
    /// The headers, at most [`MAX_HEADERS`].
    #[serde(deserialize_with = "headers")]
    pub headers: Vec<BlockHeader>,
}

/// `inv`: announces blocks or transactions the sender has. Payload:
/// `addr_from` string ‖ `kind` u32 ‖ `items` count u64 ‖ 32 bytes each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inv {
    /// The sender's listening address (at most [`MAX_ADDR_LEN`] bytes).
    #[serde(deserialize_with = "addr_string")]
    pub addr_from: String,
    /// Whether `items` are block hashes or txids.
    pub kind: InvKind,
    /// The hashes, at most [`MAX_INV_ITEMS`].
    #[serde(deserialize_with = "inv_items")]
    pub items: Vec<Hash256>,
}

/// `getdata`: asks for the blocks or transactions named, answered with one
/// `block` or `tx` per item found and a `notfound` for the rest. Payload as
/// [`Inv`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetData {
    /// The sender's listening address (at most [`MAX_ADDR_LEN`] bytes).
    #[serde(deserialize_with = "addr_string")]
    pub addr_from: String,
    /// Whether `items` are block hashes or txids.
    pub kind: InvKind,
    /// The hashes, at most [`MAX_INV_ITEMS`].
    #[serde(deserialize_with = "inv_items")]
    pub items: Vec<Hash256>,
}

/// `block`: one block. Payload: `addr_from` string ‖ the block's encoding
/// (80-byte header ‖ height u64 ‖ transactions). At most
/// `MAX_BLOCK_SIZE` + 1,024 bytes ([`Message::max_payload`]).
///
/// [`Message::max_payload`]: super::message::Message::max_payload
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMsg {
    /// The sender's listening address (at most [`MAX_ADDR_LEN`] bytes).
    #[serde(deserialize_with = "addr_string")]
    pub addr_from: String,
    /// The block.
    pub block: Block,
}

/// `tx`: one transaction. Payload: `addr_from` string ‖ the transaction's
/// encoding. At most `MAX_TX_SIZE` + 1,024 bytes ([`Message::max_payload`]).
///
/// [`Message::max_payload`]: super::message::Message::max_payload
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxMsg {
    /// The sender's listening address (at most [`MAX_ADDR_LEN`] bytes).
    #[serde(deserialize_with = "addr_string")]
    pub addr_from: String,
    /// The transaction.
    pub transaction: Transaction,
}

/// `addr`: listening addresses of known peers. Payload: count u64 ‖ strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addr {
    /// `"host:port"` strings, at most [`MAX_ADDRS`], each at most
    /// [`MAX_ADDR_LEN`] bytes.
    #[serde(deserialize_with = "addrs")]
    pub addrs: Vec<String>,
}

/// `notfound`: the items of a `getdata` the sender does not have. Payload:
/// `kind` u32 ‖ `items` count u64 ‖ 32 bytes each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotFound {
    /// Whether `items` are block hashes or txids.
    pub kind: InvKind,
    /// The hashes, at most [`MAX_INV_ITEMS`].
    #[serde(deserialize_with = "inv_items")]
    pub items: Vec<Hash256>,
}

/// An address string of at most [`MAX_ADDR_LEN`] bytes.
fn addr_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    bound::string(d, MAX_ADDR_LEN)
}

/// At most [`MAX_ADDRS`] address strings of at most [`MAX_ADDR_LEN`] bytes.
fn addrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v: Vec<BoundedString<MAX_ADDR_LEN>> = bound::seq(d, MAX_ADDRS)?;
    Ok(v.into_iter().map(|a| a.0).collect())
}

/// At most [`MAX_INV_ITEMS`] inventory hashes.
fn inv_items<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash256>, D::Error> {
    bound::seq(d, MAX_INV_ITEMS)
}

/// At most [`MAX_HEADERS`] block headers.
fn headers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BlockHeader>, D::Error> {
    bound::seq(d, MAX_HEADERS)
}

/// A block locator of at most [`MAX_LOCATOR`] hashes.
fn locator<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BlockHash>, D::Error> {
    bound::seq(d, MAX_LOCATOR)
}
