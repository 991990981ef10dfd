//! The one table of misbehaviour points: every fault a peer can be blamed
//! for, and what it costs. Nothing else in the protocol picks a number;
//! callers name the [`Misbehavior`] and `Protocol::misbehaving`
//! charges [`Misbehavior::points`] to the peer that sent it.
//!
//! A peer whose score reaches [`super::Config::ban_score`] (100 by
//! default) is disconnected and, unless on loopback, banned. The scale
//! follows Bitcoin Core's `Misbehaving` (`net_processing.cpp`): 100 for a
//! fault no honest node makes (an invalid block), small amounts for faults
//! an honest but slow or differently-configured peer might make once.

use crate::core::hash::{BlockHash, Txid};

/// A fault a peer was caught in, with what identifies it for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misbehavior {
    /// A frame whose payload did not decode (the decoder's error as text).
    Malformed(String),
    /// A message other than `version` before the handshake.
    MessageBeforeVersion,
    /// A second `version` on one connection.
    SecondVersion,
    /// A block that broke a consensus rule (the rule as text).
    InvalidBlock(BlockHash, String),
    /// A transaction that broke a consensus or standardness rule (the rule
    /// as text).
    InvalidTx(Txid, String),
    /// A transaction over the standard size limit (its size in bytes):
    /// honest nodes run the same policy and never relay one.
    NonStandardTx(Txid, u64),
    /// A transaction refused earlier, sent again while its refusal is
    /// remembered, with the points of that refusal.
    RejectedTxAgain(Txid, u32),
}

impl Misbehavior {
    /// Points this fault costs its sender.
    pub fn points(&self) -> u32 {
        match self {
            Misbehavior::Malformed(_) => 20,
            Misbehavior::MessageBeforeVersion => 10,
            Misbehavior::SecondVersion => 20,
            Misbehavior::InvalidBlock(..) => 100,
            Misbehavior::InvalidTx(..) => 10,
            Misbehavior::NonStandardTx(..) => 10,
            Misbehavior::RejectedTxAgain(_, points) => *points,
        }
    }
}

impl std::fmt::Display for Misbehavior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Misbehavior::Malformed(e) => write!(f, "dropped message: {e}"),
            Misbehavior::MessageBeforeVersion => write!(f, "message before version"),
            Misbehavior::SecondVersion => write!(f, "second version"),
            Misbehavior::InvalidBlock(hash, e) => write!(f, "invalid block {hash}: {e}"),
            Misbehavior::InvalidTx(txid, e) => write!(f, "invalid transaction {txid}: {e}"),
            Misbehavior::NonStandardTx(txid, size) => {
                write!(f, "non-standard transaction {txid}: {size} bytes")
            }
            Misbehavior::RejectedTxAgain(txid, _) => {
                write!(f, "invalid transaction {txid} sent again")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_block_alone_reaches_the_default_ban_score() {
        let b = Misbehavior::InvalidBlock(BlockHash::default(), "x".into());
        assert_eq!(b.points(), 100);
        assert!(Misbehavior::MessageBeforeVersion.points() < 100);
        assert_eq!(Misbehavior::RejectedTxAgain(Txid::default(), 7).points(), 7);
        assert_eq!(Misbehavior::SecondVersion.to_string(), "second version");
    }
}
