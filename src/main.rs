//! The `node` binary: parses arguments and runs the command. Errors print as
//! one line on stderr with a non-zero exit; so does an internal panic (never
//! a backtrace). A closed stdout pipe ends the command quietly with exit 0.

use clap::Parser;

fn main() {
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
    let cli = sledchain::app::cli::Cli::parse();
    if let Err(e) = sledchain::app::cli::run(cli) {
        // The reader of our output went away (`node printchain | head -1`):
        // not an error.
        let closed_pipe = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if closed_pipe {
            std::process::exit(0);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
