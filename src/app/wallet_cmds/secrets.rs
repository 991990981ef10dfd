//! Secrets of the wallet commands: passphrase and seed-phrase files, the
//! terminal prompt, files written readable by their owner only, and
//! unlocking an encrypted wallet.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};
use zeroize::Zeroizing;

use crate::app::exit::{Exit, fail};
use crate::wallet::Wallets;

/// The first line of `path`, without its line ending.
pub(super) fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} file {}", path.display()))?,
    );
    Ok(Zeroizing::new(
        text.lines().next().unwrap_or_default().to_string(),
    ))
}

/// The wallet's passphrase: from `file`, else typed at the terminal.
///
/// Errors: no file and no terminal; an unreadable file.
pub(super) fn passphrase(file: Option<&Path>, wallet: &Path) -> Result<Zeroizing<String>> {
    if let Some(f) = file {
        return read_secret_file(f, "passphrase");
    }
    if !std::io::stdin().is_terminal() {
        return Err(fail(
            Exit::Usage,
            format!(
                "wallet {} is encrypted: give --passphrase-file FILE (no terminal to ask on)",
                wallet.display()
            ),
        ));
    }
    Ok(Zeroizing::new(rpassword::prompt_password(
        "Wallet passphrase: ",
    )?))
}

/// Unlocks `w` if it is encrypted.
///
/// Errors: no `--passphrase-file` and no terminal ([`Exit::Usage`]); a
/// wrong passphrase ([`crate::wallet::WalletError::WrongPassphrase`],
/// exit 1).
pub(super) fn unlock(w: &mut Wallets, file: Option<&Path>) -> Result<()> {
    if w.is_unlocked() {
        return Ok(());
    }
    let p = passphrase(file, w.path())?;
    w.unlock(p.as_bytes())?;
    Ok(())
}

/// Writes `text` to a new file at `path` with mode 0600, synced, and syncs
/// its directory so the file survives a power cut as surely as the seed
/// saved after it.
pub(super) fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist)", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))?;
    Ok(())
}
