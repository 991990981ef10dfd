//! The application layer: the command line, logging, signals, progress
//! display, the control-socket client and the text of query commands.

pub mod cli;
pub mod commands;
pub mod inspect;
pub mod nodeview;
pub mod query;
pub mod reads;
pub mod startnode;
pub mod wallet_cmds;

/// Writes `text` and a newline to stdout.
///
/// Errors: the write failed; a closed pipe (`node printchain | head -1`)
/// comes back as [`std::io::ErrorKind::BrokenPipe`], which `main` treats as
/// a normal end.
pub fn out(text: impl std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()
}
