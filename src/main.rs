//! The `node` binary: parses arguments and runs the command. Errors print as
//! one line on stderr with a non-zero exit.

use clap::Parser;

fn main() {
    let cli = sledchain::cli::Cli::parse();
    if let Err(e) = sledchain::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
