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
    /// A block whose proof of work does not meet the chain's difficulty
    /// (its hash and the rule, as text), caught before any other check.
    LowProofOfWork(BlockHash, String),
    /// A block sent unasked whose parent we do not know (an orphan pushed
    /// at us), past `sync::mgr::MAX_UNCONNECTING_BLOCKS` in a row: Bitcoin
    /// Core's unconnecting headers.
    UnconnectedBlock(BlockHash),
    /// A block pushed unasked on a side branch that trails our tip by more
    /// than the anti-DoS margin (`sync::SIDE_BRANCH_MARGIN_BLOCKS`): not
    /// stored, and charged so a peer cannot fill our disk with them.
    LowWorkBlock(BlockHash),
    /// A header in a `headers` message that breaks a rule checkable on
    /// headers alone (proof of work below the chain's difficulty, a time
    /// not after its ancestors' median, headers not each the parent of the
    /// next): no honest node sends one.
    InvalidHeader(BlockHash, String),
    /// A `headers` message whose first header's parent is neither a
    /// header nor a block we know: it was not an answer to our locator.
    UnconnectedHeaders(BlockHash),
    /// A header dated more than `MAX_FUTURE_BLOCK_TIME` (2 h) ahead of our
    /// clock (its time, seconds since the Unix epoch): not kept, and
    /// charged less than an invalid one since clocks drift.
    FutureHeader(BlockHash, u32),
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
            Misbehavior::LowProofOfWork(..) => 100,
            Misbehavior::UnconnectedBlock(_) => 10,
            Misbehavior::LowWorkBlock(_) => 20,
            Misbehavior::InvalidHeader(..) => 100,
            Misbehavior::UnconnectedHeaders(_) => 20,
            Misbehavior::FutureHeader(..) => 20,
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
            Misbehavior::LowProofOfWork(hash, bits) => {
                write!(
                    f,
                    "block {hash} with proof of work below the chain's ({bits} bits)"
                )
            }
            Misbehavior::UnconnectedBlock(hash) => {
                write!(
                    f,
                    "unrequested block {hash} does not connect to any block we know"
                )
            }
            Misbehavior::LowWorkBlock(hash) => {
                write!(
                    f,
                    "unrequested block {hash} on a side branch with too little work"
                )
            }
            Misbehavior::InvalidHeader(hash, e) => write!(f, "invalid header {hash}: {e}"),
            Misbehavior::UnconnectedHeaders(hash) => {
                write!(f, "headers from {hash} do not connect to any block we know")
            }
            Misbehavior::FutureHeader(hash, time) => {
                write!(f, "header {hash} dated {time}, too far in the future")
            }
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

    /// The variant's name, matched exhaustively so that a new fault does
    /// not compile until it is listed here (and so in docs/protocol.md).
    fn name(m: &Misbehavior) -> &'static str {
        match m {
            Misbehavior::Malformed(_) => "Malformed",
            Misbehavior::MessageBeforeVersion => "MessageBeforeVersion",
            Misbehavior::SecondVersion => "SecondVersion",
            Misbehavior::InvalidBlock(..) => "InvalidBlock",
            Misbehavior::InvalidTx(..) => "InvalidTx",
            Misbehavior::LowProofOfWork(..) => "LowProofOfWork",
            Misbehavior::UnconnectedBlock(_) => "UnconnectedBlock",
            Misbehavior::LowWorkBlock(_) => "LowWorkBlock",
            Misbehavior::InvalidHeader(..) => "InvalidHeader",
            Misbehavior::UnconnectedHeaders(_) => "UnconnectedHeaders",
            Misbehavior::FutureHeader(..) => "FutureHeader",
            Misbehavior::NonStandardTx(..) => "NonStandardTx",
            Misbehavior::RejectedTxAgain(..) => "RejectedTxAgain",
        }
    }

    #[test]
    fn docs_protocol_lists_every_fault_with_its_points() {
        let doc = include_str!("../../docs/protocol.md");
        let (b, t) = (BlockHash::default(), Txid::default());
        let faults = [
            Misbehavior::Malformed(String::new()),
            Misbehavior::MessageBeforeVersion,
            Misbehavior::SecondVersion,
            Misbehavior::InvalidBlock(b, String::new()),
            Misbehavior::InvalidTx(t, String::new()),
            Misbehavior::LowProofOfWork(b, String::new()),
            Misbehavior::UnconnectedBlock(b),
            Misbehavior::LowWorkBlock(b),
            Misbehavior::InvalidHeader(b, String::new()),
            Misbehavior::UnconnectedHeaders(b),
            Misbehavior::FutureHeader(b, 0),
            Misbehavior::NonStandardTx(t, 0),
        ];
        for f in &faults {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}`:", name(f))))
                .unwrap_or_else(|| panic!("docs/protocol.md lacks a row for {}", name(f)));
            assert!(
                row.ends_with(&format!("| {} |", f.points())),
                "docs/protocol.md gives {} other points than {}",
                name(f),
                f.points()
            );
        }
        let again = Misbehavior::RejectedTxAgain(t, 0);
        assert!(doc.contains(&format!("| `{}`:", name(&again))));
    }
}
