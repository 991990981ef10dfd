//! The `startnode` config file: `DATADIR/PORT/sledchain.toml`, or the
//! file `--config FILE` names. Every `startnode` option (and the global
//! `cache-mb`) may be set there under its flag's name without the dashes
//! (`mint-threshold = 2`, `mint_threshold` works too); a list option takes
//! an array (`seed = ["10.0.0.1:3000", "seed.example:3000"]`). A flag on
//! the command line overrides the file's value for that option (for a list,
//! the command line's values replace the file's).
//!
//! ```toml
//! minter = "1KgfmkfJHHihLogsDfiuqGPxGLrwehhUAo"
//! seed = ["192.0.2.10:3000"]
//! bind = "0.0.0.0"
//! external-addr = "node1.example"
//! http = "127.0.0.1:8000"
//! mempool-mb = 100
//! ```

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;
use clap::CommandFactory;

use super::cli::{Cli, Command, NodePaths};
use super::exit::{Exit, fail};

/// The config file's name inside the node's directory.
pub const FILE_NAME: &str = "sledchain.toml";

/// The config file `startnode` reads: `--config FILE`, else
/// `DATADIR/PORT/sledchain.toml` when it exists; `None` for other commands
/// or without a file.
pub fn path(cli: &Cli) -> Option<PathBuf> {
    let Command::Startnode(args) = &cli.command else {
        return None;
    };
    if let Some(p) = &args.config {
        return Some(p.clone());
    }
    let p = NodePaths::new(&cli.datadir, cli.port).dir.join(FILE_NAME);
    p.is_file().then_some(p)
}

/// The long flag names a config file may set.
fn allowed() -> Vec<String> {
    let cmd = Cli::command();
    let mut names: Vec<String> = cmd
        .find_subcommand("startnode")
        .map(|s| {
            s.get_arguments()
                .filter_map(|a| a.get_long())
                .filter(|l| *l != "config" && *l != "help")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    names.push("cache-mb".to_string());
    names
}

/// `argv` with the config file's options (those the command line does not
/// give) inserted right after `startnode`; `None` when no file applies.
///
/// Errors: the file cannot be read, is not TOML, or sets an unknown option
/// or a value of the wrong shape ([`Exit::Usage`], naming the file).
pub fn merge(argv: &[OsString], cli: &Cli) -> Result<Option<Vec<OsString>>> {
    let Some(file) = path(cli) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| fail(Exit::Usage, format!("config file {}: {e}", file.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| fail(Exit::Usage, format!("config file {}: {e}", file.display())))?;
    let allowed = allowed();
    let given = |flag: &str| {
        argv.iter().any(|a| {
            let a = a.to_string_lossy();
            a == flag || a.starts_with(&format!("{flag}="))
        })
    };
    let mut extra: Vec<OsString> = Vec::new();
    for (key, value) in &table {
        let name = key.replace('_', "-");
        if !allowed.contains(&name) {
            return Err(fail(
                Exit::Usage,
                format!(
                    "config file {}: unknown option {key:?} (known: {})",
                    file.display(),
                    allowed.join(", ")
                ),
            ));
        }
        let flag = format!("--{name}");
        if given(&flag) {
            continue;
        }
        let values = match value {
            toml::Value::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
            v => scalar(v).map(|s| vec![s]),
        }
        .ok_or_else(|| {
            fail(
                Exit::Usage,
                format!(
                    "config file {}: {key} must be a string, a number or a list of them",
                    file.display()
                ),
            )
        })?;
        for v in values {
            extra.push(flag.clone().into());
            extra.push(v.into());
        }
    }
    let at = argv
        .iter()
        .position(|a| a == "startnode")
        .map_or(argv.len(), |i| i + 1);
    let mut out = argv[..at].to_vec();
    out.extend(extra);
    out.extend_from_slice(&argv[at..]);
    Ok(Some(out))
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}
