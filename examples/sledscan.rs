//! The floor under `node reindexutxo`: opens a stopped node's sled
//! database as `reindexutxo` does (no background flusher) and reads every
//! tree whole, key and value, then exits without tearing sled down.
//! Nothing is decoded or written. `make bench` times this process beside
//! `reindexutxo` on the same store: what sled itself costs to open and
//! read the store, process start included, which no rebuild can beat.
//!
//! ```sh
//! cargo run --release --example sledscan -- --datadir /tmp/d --port 3000
//! ```
//! Prints the trees, entries and bytes read.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use sledchain::app::cli::NodePaths;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    datadir: PathBuf,
    #[arg(long, default_value_t = 3000)]
    port: u16,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let path = NodePaths::new(&args.datadir, args.port).chain;
    let db = sled::Config::new()
        .path(&path)
        .cache_capacity(sledchain::app::cli::DEFAULT_CACHE_MB << 20)
        .flush_every_ms(None)
        .open()
        .with_context(|| format!("opening {}", path.display()))?;
    let (mut trees, mut entries, mut bytes) = (0, 0u64, 0u64);
    for name in db.tree_names() {
        let tree = db.open_tree(&name)?;
        trees += 1;
        for kv in tree.iter() {
            let (k, v) = kv?;
            entries += 1;
            bytes += (k.len() + v.len()) as u64;
        }
    }
    println!("{trees} trees, {entries} entries, {bytes} bytes");
    // As `reindexutxo` exits: sled's page cache is not freed node by node.
    std::process::exit(0)
}
