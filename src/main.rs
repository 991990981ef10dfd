//! The `node` binary: parses arguments and runs the command. Errors print as
//! one line on stderr with a non-zero exit; so does an internal panic (never
//! a backtrace).

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
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
