//! Command-line interface: argument parsing and the commands' top level.
//! The work is done by [`crate::node`], [`crate::store`], [`crate::wallet`]
//! and [`crate::net`]; this file wires them to arguments and output.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};

use crate::core::address::Address;
use crate::core::block::{Block, solve_header};
use crate::core::params::{self, DEFAULT_DIFFICULTY, MAX_DIFFICULTY, MIN_DIFFICULTY, SUBSIDY};
use crate::core::validation::SigCache;
use crate::net::control;
use crate::node::mempool::Mempool;
use crate::node::{ChainState, query};
use crate::store::{ChainStore, StoreError};
use crate::wallet::Wallets;
use crate::wallet::send::build_payment;

/// Default page cache of the sled database, in MiB.
pub const DEFAULT_CACHE_MB: u64 = 64;

/// A small Bitcoin-style node with an embedded sled store.
///
/// Each node is identified by its port: its data lives in DATADIR/PORT/
/// (the chain database `chain/`, the wallet file `wallets.dat` and, while it
/// runs, the control socket `control.sock`).
#[derive(Parser, Debug)]
#[command(name = "node", version, about, long_about = None)]
pub struct Cli {
    /// Port of the node to act on (and to listen on for `startnode`).
    #[arg(long, global = true, env = "NODE_ID", default_value_t = 3000)]
    pub port: u16,
    /// Directory holding every node's data.
    #[arg(long, global = true, default_value = "./data")]
    pub datadir: PathBuf,
    /// sled page cache size in MiB.
    #[arg(long, global = true, default_value_t = DEFAULT_CACHE_MB)]
    pub cache_mb: u64,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new key in this node's wallet and print its address.
    Createwallet,
    /// List the addresses in this node's wallet, one per line.
    Listaddresses,
    /// Create a new chain whose genesis coinbase pays the subsidy to ADDRESS.
    Createblockchain {
        /// Address to receive the genesis subsidy.
        #[arg(long)]
        address: String,
        /// Proof-of-work difficulty in leading zero bits of the block hash (1..=64).
        #[arg(long, default_value_t = DEFAULT_DIFFICULTY)]
        difficulty: u32,
    },
    /// Print the confirmed balance of ADDRESS in whole coins.
    Getbalance {
        /// The address.
        #[arg(long)]
        address: String,
    },
    /// Pay AMOUNT coins from FROM (a key in this wallet) to TO.
    ///
    /// With --mint, mint a block holding the payment right here (the node
    /// must be stopped). Without it, the payment goes to the running node on
    /// --port, or, if none runs, to the seed node over the network.
    Send {
        /// Paying address; its key must be in this node's wallet.
        #[arg(long)]
        from: String,
        /// Receiving address.
        #[arg(long)]
        to: String,
        /// Amount in whole coins (at least 1).
        #[arg(long)]
        amount: u64,
        /// Fee in whole coins, left to the minter.
        #[arg(long, default_value_t = 0)]
        fee: u64,
        /// Mint a block with the payment locally, paying subsidy + fee to FROM.
        #[arg(long)]
        mint: bool,
        /// Seed node to send the payment to when no node runs on --port.
        #[arg(long, default_value = "127.0.0.1:3000")]
        seed: String,
    },
    /// Print the best chain from tip to genesis.
    Printchain {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the UTXO set from the blocks (the node must be stopped).
    Reindexutxo,
    /// Verify every block from genesis to tip and compare the UTXO set with a
    /// rebuild; print OK or the first discrepancy.
    Checkchain,
    /// Print height, tip, mempool size and peer count.
    Status,
    /// Run the node until Ctrl-C or SIGTERM.
    Startnode(crate::net::NodeArgs),
}

/// Paths of one node's data.
#[derive(Debug, Clone)]
pub struct NodePaths {
    /// DATADIR/PORT
    pub dir: PathBuf,
    /// DATADIR/PORT/chain (sled)
    pub chain: PathBuf,
    /// DATADIR/PORT/wallets.dat
    pub wallet: PathBuf,
    /// DATADIR/PORT/control.sock
    pub control: PathBuf,
}

impl NodePaths {
    /// Paths for node `port` under `datadir`.
    pub fn new(datadir: &std::path::Path, port: u16) -> NodePaths {
        let dir = datadir.join(port.to_string());
        NodePaths {
            chain: dir.join("chain"),
            wallet: dir.join("wallets.dat"),
            control: dir.join("control.sock"),
            dir,
        }
    }
}

fn parse_address(s: &str) -> Result<Address> {
    Ok(s.parse::<Address>()?)
}

fn open_store(cli: &Cli, paths: &NodePaths) -> Result<ChainStore> {
    Ok(ChainStore::open(&paths.chain, cli.cache_mb << 20)?)
}

fn open_chain(cli: &Cli, paths: &NodePaths) -> Result<ChainState> {
    let store = open_store(cli, paths)?;
    Ok(ChainState::new(store, Arc::new(SigCache::new(100_000)))?)
}

/// Runs the parsed command, printing its output. Errors are for `main` to
/// print as one line.
pub fn run(cli: Cli) -> Result<()> {
    let paths = NodePaths::new(&cli.datadir, cli.port);
    // Commands that a running node answers through its control socket.
    let running = control::is_running(&paths.control);
    match &cli.command {
        Command::Createwallet => {
            let mut w = Wallets::load(&paths.wallet)?;
            println!("{}", w.create_key()?);
        }
        Command::Listaddresses => {
            for a in Wallets::load(&paths.wallet)?.addresses() {
                println!("{a}");
            }
        }
        Command::Createblockchain {
            address,
            difficulty,
        } => {
            let addr = parse_address(address)?;
            if !(MIN_DIFFICULTY..=MAX_DIFFICULTY).contains(difficulty) {
                bail!("difficulty must be between {MIN_DIFFICULTY} and {MAX_DIFFICULTY} bits");
            }
            if running {
                bail!("the node on port {} is running: stop it first", cli.port);
            }
            let store = open_store(&cli, &paths)?;
            if store.genesis_hash()?.is_some() {
                return Err(StoreError::ChainExists.into());
            }
            let mut genesis = Block::template(
                crate::core::hash::BlockHash::ZERO,
                0,
                *difficulty,
                params::now_secs() as u32,
                addr.0,
                SUBSIDY,
                Vec::new(),
            );
            solve_header(&mut genesis.header, threads(), &Default::default());
            store.init_genesis(&genesis)?;
            store.flush()?;
            println!("{}", genesis.hash());
        }
        Command::Getbalance { address } => {
            let addr = parse_address(address)?;
            if running {
                println!(
                    "{}",
                    control::request(&paths.control, &control::Request::Balance(addr.to_string()))?
                );
            } else {
                let store = open_store(&cli, &paths)?;
                store.tip()?;
                println!("{}", query::balance_text(&store, &addr)?);
            }
        }
        Command::Send {
            from,
            to,
            amount,
            fee,
            mint,
            seed,
        } => {
            let from_addr = parse_address(from)?;
            let to_addr = parse_address(to)?;
            if *amount == 0 {
                bail!("amount must be at least 1 coin");
            }
            let wallets = Wallets::load(&paths.wallet)?;
            let key = wallets.key(&from_addr).ok_or_else(|| {
                anyhow!(
                    "address {from_addr} is not in this node's wallet ({})",
                    paths.wallet.display()
                )
            })?;
            if running {
                if *mint {
                    bail!(
                        "the node on port {} is running: --mint needs it stopped (without --mint the running node relays the payment)",
                        cli.port
                    );
                }
                let coins = control::coins(&paths.control, &from_addr)?;
                let tx = build_payment(key, &coins, to_addr.0, *amount, *fee)?;
                let txid = control::request(&paths.control, &control::Request::SubmitTx(tx))?;
                println!("{txid}");
                return Ok(());
            }
            let chain = open_chain(&cli, &paths)?;
            let mut mempool = Mempool::new();
            let coins = query::spendable_coins(chain.store(), &mempool, &from_addr.0)?;
            let tx = build_payment(key, &coins, to_addr.0, *amount, *fee)?;
            let txid = tx.txid();
            if *mint {
                let (_, paid_fee) = mempool.accept(tx, chain.store(), chain.sig_cache())?;
                let tip = chain.tip()?;
                let (txs, _) = mempool.select(params::MAX_BLOCK_SIZE - 10_000);
                let mut block = Block::template(
                    tip.hash,
                    tip.height + 1,
                    chain.params().difficulty,
                    params::now_secs() as u32,
                    from_addr.0,
                    SUBSIDY + paid_fee,
                    txs,
                );
                solve_header(&mut block.header, threads(), &Default::default());
                chain.accept_block(&block)?;
                chain.store().flush()?;
            } else {
                crate::net::send_tx_to(seed, &tx)
                    .with_context(|| format!("cannot reach seed node {seed}"))?;
            }
            println!("{txid}");
        }
        Command::Printchain { json } => {
            if running {
                println!(
                    "{}",
                    control::request(&paths.control, &control::Request::PrintChain(*json))?
                );
            } else {
                let store = open_store(&cli, &paths)?;
                store.tip()?;
                println!("{}", query::printchain_text(&store, *json)?);
            }
        }
        Command::Reindexutxo => {
            if running {
                bail!(
                    "the node on port {} is running: stop it before reindexutxo",
                    cli.port
                );
            }
            let store = open_store(&cli, &paths)?;
            store.tip()?;
            let (txs, outs) = store.reindex_utxo()?;
            println!(
                "Done! There are {txs} transactions with {outs} unspent outputs in the UTXO set."
            );
        }
        Command::Checkchain => {
            let text = if running {
                control::request(&paths.control, &control::Request::CheckChain)?
            } else {
                query::checkchain_text(&open_store(&cli, &paths)?)?
            };
            println!("{text}");
            if text != "OK" {
                bail!("chain check failed");
            }
        }
        Command::Status => {
            if running {
                println!(
                    "{}",
                    control::request(&paths.control, &control::Request::Status)?
                );
            } else {
                let store = open_store(&cli, &paths)?;
                println!("{}", query::status_text(&store, 0, 0)?);
            }
        }
        Command::Startnode(args) => {
            crate::net::run_node(&cli, &paths, args)?;
        }
    }
    Ok(())
}

/// Threads used for proof of work: every core.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
