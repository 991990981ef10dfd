//! Command-line interface: argument parsing and the commands' top level.
//! The work is done by [`crate::chain`], [`crate::store`],
//! [`crate::wallet`] and [`crate::net`]; this file and
//! [`super::commands`] wire them to arguments and output.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

use super::{commands, query};
use crate::core::params::DEFAULT_DIFFICULTY;
use crate::net::control;
use crate::store::{ChainStore, StoreError};
use crate::wallet::Wallets;

/// How long a command on a stopped node waits for the database lock that
/// another command holds.
pub const STORE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

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
    /// Directory holding every node's data. The default `./data` is
    /// relative to the current directory: run every command of one node
    /// from the same directory, or give an absolute path. `startnode`
    /// prints the absolute path it uses.
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
    Listaddresses {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
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
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
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
        /// After the node accepts it, wait until the payment is this many
        /// blocks deep (needs the node on --port running).
        #[arg(long, default_value_t = 0)]
        confirmations: u64,
    },
    /// Print the best chain from tip to genesis, each block with the
    /// validation status recorded when it was connected.
    Printchain {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Verify every input's signature again (in parallel) and print the
        /// result per input.
        #[arg(long)]
        verify: bool,
    },
    /// Rebuild the UTXO set from the blocks (the node must be stopped).
    Reindexutxo,
    /// Verify every block from genesis to tip and compare the UTXO set with a
    /// rebuild; print OK or the first discrepancy.
    Checkchain {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print height, tip, mempool size, peer count and whether the node
    /// runs (and then its uptime, sync state and whether it mints).
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print one block by hash or best-chain height, with its confirmations.
    Getblock {
        /// Block hash (64 hex digits) or height.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print one transaction (mempool of a running node, then the best
    /// chain, scanned from the tip) with its block and confirmations.
    Gettx {
        /// The txid.
        txid: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the confirmed unspent outputs of an address (TXID:VOUT VALUE).
    Listunspent {
        /// The address.
        #[arg(long)]
        address: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the running node's connected peers.
    Peers {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the running node's mempool (txid and fee).
    Mempool {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask the running node to dial HOST:PORT now.
    Addpeer {
        /// The peer's address, HOST:PORT.
        addr: String,
    },
    /// Ask the running node (a minter) to mint a block from its mempool now.
    Mint,
    /// Run the node until Ctrl-C or SIGTERM.
    Startnode(super::startnode::NodeArgs),
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

/// Runs the parsed command, printing its output. Errors are for `main` to
/// print as one line.
pub fn run(cli: Cli) -> Result<()> {
    let paths = NodePaths::new(&cli.datadir, cli.port);
    // Commands that a running node answers through its control socket.
    let running = control::is_running(&paths.control);
    let ctx = Ctx {
        cli: &cli,
        paths: &paths,
        running,
    };
    match &cli.command {
        Command::Createwallet => {
            let mut w = Wallets::load(&paths.wallet)?;
            super::out(w.create_key()?)?;
        }
        Command::Listaddresses { json } => {
            let addrs = Wallets::load(&paths.wallet)?.addresses();
            if *json {
                let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                super::out(serde_json::to_string_pretty(&list)?)?;
            }
            for a in addrs.iter().filter(|_| !*json) {
                super::out(a)?;
            }
        }
        Command::Createblockchain {
            address,
            difficulty,
        } => commands::createblockchain(&ctx, address, *difficulty)?,

        Command::Send {
            from,
            to,
            amount,
            fee,
            mint,
            seed,
            confirmations,
        } => commands::send(
            &ctx,
            (from, to),
            (*amount, *fee),
            *mint,
            seed,
            *confirmations,
        )?,
        Command::Printchain { json, verify } => {
            let req = if *verify {
                control::Request::PrintChainVerified(*json)
            } else {
                control::Request::PrintChain(*json)
            };
            ctx.read(req, |store| {
                Ok(query::printchain_text(store, *json, *verify)?)
            })?;
        }
        Command::Reindexutxo => commands::reindexutxo(&ctx)?,
        Command::Startnode(args) => super::startnode::run(&cli, &paths, args)?,
        other => super::reads::run(&ctx, other)?,
    }
    Ok(())
}

/// What every command needs: the arguments, the node's paths and whether
/// it runs.
pub struct Ctx<'a> {
    /// The parsed command line.
    pub cli: &'a Cli,
    /// The node's paths.
    pub paths: &'a NodePaths,
    /// A node answers on the control socket.
    pub running: bool,
}

impl Ctx<'_> {
    /// Opens the node's store (the node must be stopped), waiting up to
    /// [`STORE_WAIT`] for other commands on the same node to finish with it.
    ///
    /// Errors: the store cannot be opened (corrupt; locked: by the node on
    /// this port if its control socket answers, else by another command).
    pub fn open_store(&self) -> Result<ChainStore> {
        self.open_store_with(ChainStore::open_waiting)
    }

    /// [`Ctx::open_store`] without refusing a damaged store
    /// ([`ChainStore::open_for_repair`]): for `reindexutxo`.
    ///
    /// Errors: as [`Ctx::open_store`], but not for damage.
    pub fn open_store_for_repair(&self) -> Result<ChainStore> {
        self.open_store_with(ChainStore::open_for_repair)
    }

    fn open_store_with(
        &self,
        open: fn(&std::path::Path, u64, std::time::Duration) -> Result<ChainStore, StoreError>,
    ) -> Result<ChainStore> {
        let cache = self.cli.cache_mb << 20;
        match open(&self.paths.chain, cache, STORE_WAIT) {
            Ok(store) => Ok(store),
            Err(StoreError::Locked(path)) if control::is_running(&self.paths.control) => bail!(
                "database {path} is held by the node running on port {}: retry the command (it asks the node while it runs)",
                self.cli.port
            ),
            Err(StoreError::Locked(path)) => bail!(
                "database {path} is still held by another process after {} s (another node command, or a node starting or stopping on port {})",
                STORE_WAIT.as_secs(),
                self.cli.port
            ),
            Err(e) => Err(e.into()),
        }
    }

    /// The text of a read-only command: from the running node through
    /// `request`, else from the store by `local` (which needs a chain).
    ///
    /// Errors: the node's or `local`'s error; no chain.
    pub fn text(
        &self,
        request: control::Request,
        local: impl FnOnce(&ChainStore) -> Result<String>,
    ) -> Result<String> {
        if self.running {
            return control::request(&self.paths.control, &request);
        }
        let store = self.open_store()?;
        store.tip()?;
        local(&store)
    }

    /// Prints [`Ctx::text`].
    ///
    /// Errors: as [`Ctx::text`].
    pub fn read(
        &self,
        request: control::Request,
        local: impl FnOnce(&ChainStore) -> Result<String>,
    ) -> Result<()> {
        super::out(self.text(request, local)?)?;
        Ok(())
    }
}

/// Threads used for proof of work: every core.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
