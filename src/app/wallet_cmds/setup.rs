//! Making a wallet: `createwallet` (alias `getnewaddress`),
//! `restorewallet` and `encryptwallet`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use zeroize::Zeroizing;

use super::chain_view::view;
use super::listing::wallet_balance;
use super::secrets::{read_secret_file, unlock, write_private};
use super::to_json;
use crate::app::cli::Ctx;
use crate::app::exit::{Exit, fail};
use crate::wallet::hd::SeedPhrase;
use crate::wallet::ledger;
use crate::wallet::{Chain, Wallets, crypt, derive_address};

/// Arguments of `createwallet`.
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Words in the seed phrase of a new wallet: 12 or 24 (ignored once the
    /// wallet has a seed).
    #[arg(long, default_value_t = 12)]
    pub words: usize,
    /// Write the new wallet's seed phrase to this file (mode 0600) instead
    /// of showing it on standard error.
    #[arg(long)]
    pub mnemonic_file: Option<PathBuf>,
    /// File holding an optional BIP39 passphrase for a new wallet's seed
    /// (its first line). Without it the seed has no passphrase.
    #[arg(long)]
    pub seed_passphrase_file: Option<PathBuf>,
    /// File holding the wallet's passphrase (its first line), needed only
    /// when an encrypted wallet of imported keys takes its first seed;
    /// without it the passphrase is asked at a terminal.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Print JSON instead of text: `address`, `created`, and a new wallet's
    /// seed phrase in `mnemonic` (null with --mnemonic-file), on standard
    /// output instead of standard error.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `restorewallet`.
#[derive(Args, Debug, Clone)]
pub struct RestoreArgs {
    /// File holding the seed phrase. Without it the phrase is read from
    /// standard input (hidden at a terminal prompt).
    #[arg(long)]
    pub mnemonic_file: Option<PathBuf>,
    /// File holding the BIP39 passphrase given when the wallet was created.
    #[arg(long)]
    pub seed_passphrase_file: Option<PathBuf>,
    /// Unused addresses in a row after which the scan of a chain stops
    /// (1 to 10000). Restoring the same phrase again with a larger limit
    /// finds addresses handed out further ahead.
    #[arg(long, default_value_t = ledger::GAP_LIMIT)]
    pub gap_limit: u32,
    /// File holding the wallet's passphrase (its first line), needed only
    /// when an encrypted wallet of imported keys takes the seed; without
    /// it the passphrase is asked at a terminal.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `encryptwallet`.
#[derive(Args, Debug, Clone)]
pub struct EncryptArgs {
    /// File holding the new passphrase (its first line). Without it the
    /// passphrase is asked twice at the terminal.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
/// `createwallet` / `getnewaddress`: creates the wallet's seed on first use
/// (showing the phrase once), then hands out the next receive address.
///
/// Errors: the wallet file's; a bad `--words` ([`Exit::Usage`]); an
/// unwritable `--mnemonic-file`.
pub fn createwallet(ctx: &Ctx, args: &CreateArgs) -> Result<()> {
    let mut w = Wallets::open_exclusive(&ctx.paths.wallet)?;
    let mut phrase_shown = None;
    if !w.has_seed() {
        // An encrypted wallet of imported keys seals its new seed under its
        // passphrase: unlock it before a phrase is shown.
        unlock(&mut w, args.passphrase_file.as_deref())?;
        let phrase = SeedPhrase::generate(args.words)
            .map_err(|e| fail(Exit::Usage, format!("--words: {e}")))?;
        let pass = match &args.seed_passphrase_file {
            Some(f) => read_secret_file(f, "seed passphrase")?,
            None => Zeroizing::new(String::new()),
        };
        // The phrase is shown (or written) before the seed is saved: a
        // seed on disk was always shown, even if the process dies here.
        match &args.mnemonic_file {
            Some(f) => write_private(f, &format!("{}\n", *phrase.words()))?,
            None if !args.json => eprintln!(
                "New wallet {}. Its seed phrase, shown only this once: write it down and keep it safe;\n\
                 anyone who has it can spend the coins, and `restorewallet` rebuilds the wallet from it:\n\n    {}\n",
                ctx.paths.wallet.display(),
                *phrase.words()
            ),
            None => {
                // --json: the whole answer goes out before the seed is
                // saved, for the same reason. A wallet without a seed has
                // no derived address, so its first is index 0.
                let first = derive_address(&ledger::account_of(&phrase, &pass), Chain::Receive, 0);
                let v = serde_json::json!({
                    "address": first.to_string(),
                    "created": true,
                    "mnemonic": phrase.words().as_str(),
                });
                crate::app::out(to_json(&v)?)?;
                w.set_seed(&phrase, &pass)?;
                let address = w.new_address(Chain::Receive)?;
                if address != first {
                    bail!("the wallet handed out {address}, not the {first} printed");
                }
                return Ok(());
            }
        }
        w.set_seed(&phrase, &pass)?;
        phrase_shown = Some(phrase);
    }
    let address = w.new_address(Chain::Receive)?;
    drop(w);
    let mnemonic = phrase_shown
        .as_ref()
        .filter(|_| args.mnemonic_file.is_none())
        .map(|p| p.words());
    if args.json {
        let v = serde_json::json!({
            "address": address.to_string(),
            "created": phrase_shown.is_some(),
            "mnemonic": mnemonic.as_deref().map(|m| m.as_str()),
        });
        crate::app::out(to_json(&v)?)?;
        return Ok(());
    }
    if let (Some(_), Some(f)) = (&phrase_shown, &args.mnemonic_file) {
        eprintln!("New wallet; its seed phrase is in {}", f.display());
    }
    crate::app::out(address)?;
    Ok(())
}
/// `restorewallet`: the seed from the phrase, every used address found by
/// a gap-limit scan of the address index, and the balance.
///
/// Errors: a bad phrase ([`Exit::Usage`]); a wallet that has a seed
/// already; the chain's.
pub fn restorewallet(ctx: &Ctx, args: &RestoreArgs) -> Result<()> {
    let text = match &args.mnemonic_file {
        Some(f) => Zeroizing::new(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the seed phrase file {}", f.display()))?,
        ),
        None if std::io::stdin().is_terminal() => {
            Zeroizing::new(rpassword::prompt_password("Seed phrase: ")?)
        }
        None => {
            let mut s = Zeroizing::new(String::new());
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut s)
                .context("reading the seed phrase from standard input")?;
            s
        }
    };
    let phrase = SeedPhrase::parse(&text).map_err(|e| fail(Exit::Usage, e))?;
    let pass = match &args.seed_passphrase_file {
        Some(f) => read_secret_file(f, "seed passphrase")?,
        None => Zeroizing::new(String::new()),
    };
    let view = view(ctx)?;
    let mut w = Wallets::open_exclusive(&ctx.paths.wallet)?;
    if !w.has_seed() {
        unlock(&mut w, args.passphrase_file.as_deref())?;
    }
    let (receive, change) = ledger::restore(&mut w, &phrase, &pass, view.as_ref(), args.gap_limit)?;
    let b = wallet_balance(&w, &view)?;
    drop(w);
    if args.json {
        let v = serde_json::json!({
            "receive_addresses": receive,
            "change_addresses": change,
            "balance": b,
        });
        return Ok(crate::app::out(to_json(&v)?)?);
    }
    crate::app::out(format_args!(
        "restored {receive} receive and {change} change addresses with history\n{}",
        b.text()
    ))?;
    Ok(())
}

/// `encryptwallet`: encrypts the seed and imported keys under a new
/// passphrase.
///
/// Errors: no passphrase source, mismatched prompts or an empty
/// passphrase ([`Exit::Usage`]); already encrypted; the wallet file's.
pub fn encryptwallet(ctx: &Ctx, args: &EncryptArgs) -> Result<()> {
    let pass = match &args.passphrase_file {
        Some(f) => read_secret_file(f, "passphrase")?,
        None if std::io::stdin().is_terminal() => {
            let a = Zeroizing::new(rpassword::prompt_password("New wallet passphrase: ")?);
            let b = Zeroizing::new(rpassword::prompt_password("Repeat the passphrase: ")?);
            if *a != *b {
                return Err(fail(
                    Exit::Usage,
                    "the two passphrases differ; the wallet is unchanged",
                ));
            }
            a
        }
        None => {
            return Err(fail(
                Exit::Usage,
                "encryptwallet needs --passphrase-file FILE (no terminal to ask on)",
            ));
        }
    };
    if pass.is_empty() {
        return Err(fail(
            Exit::Usage,
            "the passphrase is empty; the wallet is unchanged",
        ));
    }
    let mut w = Wallets::open_exclusive(&ctx.paths.wallet)?;
    if w.is_empty() && !w.has_seed() {
        bail!(
            "wallet {} is empty: run createwallet first",
            ctx.paths.wallet.display()
        );
    }
    w.encrypt(pass.as_bytes(), crypt::DEFAULT_COST)?;
    // Backups of a migrated version-1 file still hold its keys in plain
    // form: encrypting the wallet does not cover them.
    let plain: Vec<String> = w
        .v1_backups()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    drop(w);
    if !plain.is_empty() {
        eprintln!(
            "warning: {} still hold this wallet's imported keys UNENCRYPTED (backups of its \
             version-1 file): anyone who reads them can spend those coins. Move them to safe \
             offline storage, or delete them; the encrypted wallet holds the same keys.",
            plain.join(", ")
        );
    }
    if args.json {
        let v = serde_json::json!({
            "encrypted": true,
            "wallet": ctx.paths.wallet.display().to_string(),
            "unencrypted_backups": plain,
        });
        return Ok(crate::app::out(to_json(&v)?)?);
    }
    crate::app::out(format_args!(
        "wallet {} is encrypted; commands that sign ask for the passphrase (or take --passphrase-file)",
        ctx.paths.wallet.display()
    ))?;
    Ok(())
}
