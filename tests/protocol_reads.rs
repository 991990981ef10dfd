//! A chain read that fails is never taken for an answer: with a
//! `BlockReader` whose reads fail, the protocol reports the failure
//! (`Event::ChainReadFailed`) and answers an error or does nothing, never
//! "no chain yet", height 0 or a `version` without our genesis.

mod sans_io;

use std::net::SocketAddr;

use sledchain::core::block::Block;
use sledchain::core::hash::BlockHash;
use sledchain::protocol::{BlockReader, Event, Input, LocalReply, LocalRequest, Output, Protocol};
use sledchain::store::{BlockMeta, StoreError, Tip};
use sledchain::wire::message::Message;

const T0: u64 = 1_700_000_000_000;

/// Every read fails.
struct Broken;

fn broken<T>() -> Result<T, StoreError> {
    Err(StoreError::Corrupt("disk gone".into()))
}

impl BlockReader for Broken {
    fn tip(&self) -> Result<Option<Tip>, StoreError> {
        broken()
    }
    fn genesis(&self) -> Result<Option<BlockHash>, StoreError> {
        broken()
    }
    fn difficulty(&self) -> Result<Option<u32>, StoreError> {
        broken()
    }
    fn block(&self, _: &BlockHash) -> Result<Option<Block>, StoreError> {
        broken()
    }
    fn block_meta(&self, _: &BlockHash) -> Result<Option<BlockMeta>, StoreError> {
        broken()
    }
    fn locator(&self) -> Result<Vec<BlockHash>, StoreError> {
        broken()
    }
    fn hashes_after(
        &self,
        _: &[BlockHash],
        _: &BlockHash,
        _: usize,
    ) -> Result<Vec<BlockHash>, StoreError> {
        broken()
    }
}

fn protocol(minter: bool) -> Protocol {
    let mut config = sans_io::config(vec![]);
    if minter {
        config.minter = Some([1; 20]);
    }
    Protocol::with_reader(config, Box::new(Broken), vec![])
}

fn read_failed(out: &[Output]) -> bool {
    out.iter()
        .any(|o| matches!(o, Output::Event(Event::ChainReadFailed(_))))
}

fn reply(out: &[Output]) -> Option<&LocalReply> {
    out.iter().find_map(|o| match o {
        Output::Reply(_, r) => Some(r),
        _ => None,
    })
}

#[test]
fn the_tip_of_an_unreadable_chain_is_an_error_not_no_chain() {
    let p = protocol(false);
    assert!(p.tip().is_err(), "a failed read taken for no chain");
}

#[test]
fn status_info_and_mint_answer_an_error() {
    let mut p = protocol(true);
    for request in [LocalRequest::Status, LocalRequest::Info, LocalRequest::Mint] {
        let name = format!("{request:?}");
        let out = p.step(Input::Local(1, request), T0);
        assert!(read_failed(&out), "{name}: not reported: {out:?}");
        match reply(&out) {
            Some(LocalReply::ChainUnreadable) => {}
            other => panic!("{name}: answered {other:?} on a failed read"),
        }
    }
}

#[test]
fn no_version_goes_out_claiming_no_chain() {
    let mut p = protocol(false);
    let seed: SocketAddr = "198.51.100.1:8333".parse().expect("addr");
    let out = p.step(
        Input::Connected {
            peer: 1,
            addr: seed,
            inbound: false,
        },
        T0,
    );
    assert!(read_failed(&out), "not reported: {out:?}");
    let version = out.iter().any(|o| {
        matches!(
            o,
            Output::Send {
                message: Message::Version(_),
                ..
            }
        )
    });
    assert!(!version, "a version with no genesis and height 0 went out");
}
