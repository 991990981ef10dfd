//! The application layer: the command line, logging, signals, progress
//! display, the control-socket client and the text of query commands.

pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod inspect;
pub mod query;
pub mod rawtx;
pub mod reads;
pub mod startnode;
pub mod text;
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

/// The program: parses arguments and runs the command. Errors print as one
/// line on stderr (one JSON line `{"error", "code"}` under `--json`) and
/// exit with their kind's code ([`exit::Exit`]); bad arguments exit 2. A
/// closed stdout pipe ends the command quietly with exit 0.
pub fn main() {
    use clap::Parser;
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error{at}: {msg}");
    }));
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = cli::Cli::try_parse_from(&argv).and_then(|cli| {
        // `startnode`'s config file: its options, then the command line's.
        match config::merge(&argv, &cli) {
            Ok(None) => Ok(cli),
            Ok(Some(merged)) => cli::Cli::try_parse_from(merged),
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::exit(exit::Exit::Usage.code());
            }
        }
    });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let help = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            if !help && std::env::args().any(|a| a == "--json") {
                let text = e.kind().as_str().unwrap_or("bad arguments").to_string();
                let line = serde_json::json!({"error": text, "code": exit::Exit::Usage.name()});
                eprintln!("{line}");
                std::process::exit(exit::Exit::Usage.code());
            }
            e.exit();
        }
    };
    let json = cli.wants_json();
    if let Err(e) = cli::run(cli) {
        // The reader of our output went away (`node printchain | head -1`):
        // not an error.
        let closed_pipe = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if closed_pipe {
            std::process::exit(0);
        }
        if json {
            eprintln!("{}", exit::json_line(&e));
        } else {
            eprintln!("error: {e:#}");
        }
        std::process::exit(exit::classify(&e).code());
    }
}
