//! Command-line interface: argument parsing and the commands' top level.
//! The work is done by [`crate::chain`], [`crate::store`],
//! [`crate::wallet`] and [`crate::net`]; this file and
//! [`super::commands`] wire them to arguments and output.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

use super::exit::{EXIT_HELP, Exit, fail};
use super::{commands, query, wallet_cmds};
use crate::core::params::DEFAULT_DIFFICULTY;
use crate::net::control;
use crate::store::{ChainStore, StoreError};

/// How long a command on a stopped node waits for the database lock that
/// another command holds.
pub const STORE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a read command that finds the database locked waits for a
/// starting node's control socket before it waits for the lock instead.
pub const START_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Default page cache of the sled database, in MiB.
pub const DEFAULT_CACHE_MB: u64 = 64;

/// A small Bitcoin-style node with an embedded sled store.
///
/// Each node is identified by its port: its data lives in DATADIR/PORT/
/// (the chain database `chain/`, the wallet file `wallets.dat` and, while it
/// runs, the control socket `control.sock`).
#[derive(Parser, Debug)]
#[command(name = "node", version, about, long_about = None, after_help = EXIT_HELP)]
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
    /// Print a new receive address of this node's wallet. On first use this
    /// creates the wallet from a new seed phrase (BIP39), shown once on
    /// standard error: write it down, it restores every key.
    #[command(alias = "getnewaddress")]
    Createwallet(super::wallet_cmds::CreateArgs),
    /// Rebuild this node's wallet from its seed phrase (read from
    /// --mnemonic-file or standard input, never the command line): every
    /// address with history is found by a gap-limit scan of the address
    /// index; prints the balance. The scan runs before the wallet is
    /// written; running it again with the same phrase rescans and adds the
    /// addresses found (a wallet with another seed is refused).
    Restorewallet(super::wallet_cmds::RestoreArgs),
    /// Encrypt the wallet's seed and keys under a passphrase (Argon2id,
    /// XChaCha20-Poly1305); `send` then asks for it. There is no way back
    /// and no passphrase recovery: the seed phrase stays the backup. Copies
    /// of the plain file made before (and version-1 backups, which it
    /// names) still hold the keys unencrypted.
    Encryptwallet(super::wallet_cmds::EncryptArgs),
    /// List the wallet's transactions (confirmed, then pending) with the
    /// net amount each moved in or out of the wallet.
    Listtransactions(super::wallet_cmds::ReadArgs),
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
    /// Print the wallet's balance in whole coins (confirmed, unconfirmed
    /// and total), or with --address the confirmed balance of ADDRESS.
    Getbalance {
        /// One address (any, not only the wallet's).
        #[arg(long)]
        address: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Pay AMOUNT coins to TO from the wallet's coins, change to a new change
    /// address; with --from, from that address's coins only, change back to it.
    ///
    /// The payment is recorded as pending (its coins locked) until mined or
    /// conflicted, so a second send never reuses its coins. With --mint,
    /// mint a block holding the payment right here (the node must be
    /// stopped). Without it, the payment goes to the running node on
    /// --port, or, if none runs, to the seed node over the network.
    Send {
        /// From where, to whom, how much (shared with createrawtransaction).
        #[command(flatten)]
        payment: PaymentFlags,
        /// Mint a block with the payment locally (the node must be stopped),
        /// paying subsidy + fee to FROM, or without --from to the payment's
        /// change address (a new change address when there is no change).
        #[arg(long)]
        mint: bool,
        /// Node to send the payment to over the network when no node runs
        /// on --port (`HOST:PORT`); without it, a stopped node's payment
        /// fails with exit 3.
        #[arg(long)]
        seed: Option<String>,
        /// After the node accepts it, wait until the payment is this many
        /// blocks deep (needs the node on --port running).
        #[arg(long, default_value_t = 0)]
        confirmations: u64,
        /// Give up waiting for --confirmations after this many seconds
        /// (exit 1; the payment stays in the mempool). Default: no limit.
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// Print JSON (`txid`, `amount`, `fee`, `change_address`, `mined`,
        /// and `confirmations` with --confirmations).
        #[arg(long)]
        json: bool,
    },
    /// Build and sign a payment of AMOUNT coins to TO from the wallet's
    /// coins (or with --from one address's), change to a new change
    /// address (or back to FROM), and print its hex; submits nothing and
    /// locks no coins (see `sendrawtransaction` and `POST /api/tx`). Coins
    /// come from the running node (mempool included) or, when it is
    /// stopped, from its store; the wallet's pending payments' coins are
    /// left out.
    Createrawtransaction {
        /// From where, to whom, how much (shared with createrawtransaction).
        #[command(flatten)]
        payment: PaymentFlags,
    },
    /// Submit a signed transaction (hex, as `createrawtransaction` prints
    /// it) to the running node on --port, or, if none runs, to --seed over
    /// the network; prints its txid once accepted. Exit 5 when refused.
    Sendrawtransaction {
        /// The transaction's hex.
        hex: String,
        /// Node to send it to when no node runs on --port.
        #[arg(long)]
        seed: Option<String>,
        /// Print `{"txid": TXID}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a transaction given as hex as the API's JSON (spent outputs
    /// and fee `null`: they are not in the hex).
    Decoderawtransaction {
        /// The transaction's hex.
        hex: String,
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
    /// Print the wallet's spendable outputs (TXID:VOUT VALUE ADDRESS), or
    /// with --address the confirmed unspent outputs of ADDRESS.
    Listunspent {
        /// One address (any, not only the wallet's).
        #[arg(long)]
        address: Option<String>,
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

impl Cli {
    /// True when the command was given `--json` (errors are JSON then).
    pub fn wants_json(&self) -> bool {
        match &self.command {
            Command::Createwallet(super::wallet_cmds::CreateArgs { json, .. })
            | Command::Restorewallet(super::wallet_cmds::RestoreArgs { json, .. })
            | Command::Encryptwallet(super::wallet_cmds::EncryptArgs { json, .. })
            | Command::Listtransactions(super::wallet_cmds::ReadArgs { json })
            | Command::Listaddresses { json }
            | Command::Getbalance { json, .. }
            | Command::Send { json, .. }
            | Command::Printchain { json, .. }
            | Command::Checkchain { json }
            | Command::Status { json }
            | Command::Getblock { json, .. }
            | Command::Gettx { json, .. }
            | Command::Listunspent { json, .. }
            | Command::Peers { json }
            | Command::Mempool { json }
            | Command::Sendrawtransaction { json, .. } => *json,
            Command::Decoderawtransaction { .. } => true,
            _ => false,
        }
    }
}

/// The payment flags `send` and `createrawtransaction` share.
#[derive(clap::Args, Debug)]
pub struct PaymentFlags {
    /// Paying address; its key must be in this node's wallet.
    #[arg(long)]
    pub from: Option<String>,
    /// Receiving address.
    #[arg(long)]
    pub to: String,
    /// Amount in whole coins (at least 1).
    #[arg(long)]
    pub amount: u64,
    /// Fee in whole coins, left to the minter.
    #[arg(long, default_value_t = 0)]
    pub fee: u64,
    /// File holding the passphrase of an encrypted wallet (else asked at
    /// the terminal; without a terminal the command fails).
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
}

impl PaymentFlags {
    /// The flags as the wallet's payment builder takes them.
    pub fn args(&self) -> wallet_cmds::PaymentArgs<'_> {
        wallet_cmds::PaymentArgs {
            from: self.from.as_deref(),
            to: &self.to,
            amount: self.amount,
            fee: self.fee,
            passphrase_file: self.passphrase_file.as_deref(),
        }
    }
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
        Command::Createwallet(args) => wallet_cmds::createwallet(&ctx, args)?,
        Command::Restorewallet(args) => wallet_cmds::restorewallet(&ctx, args)?,
        Command::Encryptwallet(args) => wallet_cmds::encryptwallet(&ctx, args)?,
        Command::Listtransactions(args) => wallet_cmds::listtransactions(&ctx, args.json)?,
        Command::Listaddresses { json } => wallet_cmds::listaddresses(&ctx, *json)?,
        Command::Getbalance {
            address: None,
            json,
        } => wallet_cmds::getbalance(&ctx, *json)?,
        Command::Listunspent {
            address: None,
            json,
        } => wallet_cmds::listunspent(&ctx, *json)?,
        Command::Createblockchain {
            address,
            difficulty,
        } => commands::createblockchain(&ctx, address, *difficulty)?,

        Command::Send {
            payment,
            mint,
            seed,
            confirmations,
            timeout,
            json,
        } => wallet_cmds::send(
            &ctx,
            &wallet_cmds::SendArgs {
                payment: payment.args(),
                mint: *mint,
                seed: seed.as_deref(),
                confirmations: *confirmations,
                timeout: *timeout,
                json: *json,
            },
        )?,
        Command::Createrawtransaction { payment } => super::rawtx::create(&ctx, &payment.args())?,
        Command::Sendrawtransaction { hex, seed, json } => {
            super::rawtx::send(&ctx, hex, seed.as_deref(), *json)?
        }
        Command::Decoderawtransaction { hex } => super::rawtx::decode(hex)?,
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

/// Where a read command's answer comes from.
pub enum Source {
    /// The running node, over its control socket.
    Node,
    /// The stopped node's store.
    Store(ChainStore),
}

impl Ctx<'_> {
    /// Errors unless the node's directory holds a chain database: read
    /// commands never create one.
    ///
    /// Errors: no node directory ([`Exit::NotRunning`], naming the
    /// directory and `--datadir`); a node directory without a chain
    /// ([`Exit::NotFound`], [`StoreError::NoChain`]'s text).
    pub fn need_store(&self) -> Result<()> {
        if self.paths.chain.is_dir() {
            return Ok(());
        }
        if self.paths.dir.is_dir() {
            return Err(fail(
                Exit::NotFound,
                format!("{} (in {})", StoreError::NoChain, self.paths.dir.display()),
            ));
        }
        Err(fail(
            Exit::NotRunning,
            format!(
                "no node on port {}: {} does not exist (check --datadir, now {}, and --port; `createblockchain` or `startnode` make it)",
                self.cli.port,
                self.paths.dir.display(),
                self.cli.datadir.display()
            ),
        ))
    }

    /// Opens the node's store (the node must be stopped), waiting up to
    /// [`STORE_WAIT`] for other commands on the same node to finish with it.
    ///
    /// Errors: the store cannot be opened (corrupt; locked: by the node on
    /// this port if its control socket answers, else by another command).
    pub fn open_store(&self) -> Result<ChainStore> {
        self.open_store_with(ChainStore::open_waiting)
    }

    /// [`Ctx::open_store`] without refusing a damaged store
    /// and without sled's background flusher
    /// ([`ChainStore::open_for_reindex`]): for `reindexutxo`.
    ///
    /// Errors: as [`Ctx::open_store`], but not for damage.
    pub fn open_store_for_repair(&self) -> Result<ChainStore> {
        self.open_store_with(ChainStore::open_for_reindex)
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

    /// Where a read's answer comes from: the running node, else the store.
    /// A node that starts while this waits for the database lock (its
    /// control socket appears within [`START_WAIT`]) answers instead.
    ///
    /// Errors: no chain database ([`Ctx::need_store`]); the store cannot
    /// be opened ([`Ctx::open_store`]).
    pub fn source(&self) -> Result<Source> {
        if self.running {
            return Ok(Source::Node);
        }
        self.need_store()?;
        let cache = self.cli.cache_mb << 20;
        let start = std::time::Instant::now();
        while start.elapsed() < START_WAIT {
            match ChainStore::open_waiting(
                &self.paths.chain,
                cache,
                std::time::Duration::from_millis(50),
            ) {
                Ok(store) => return Ok(Source::Store(store)),
                Err(StoreError::Locked(_)) => {
                    if control::is_running(&self.paths.control) {
                        return Ok(Source::Node);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Source::Store(self.open_store()?))
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
        match self.source()? {
            Source::Node => control::request(&self.paths.control, &request),
            Source::Store(store) => {
                store.tip()?;
                local(&store)
            }
        }
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
