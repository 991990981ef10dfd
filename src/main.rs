//! The `node` binary (also installed as `sledchain`): parses arguments and
//! runs the command. Errors print as one line on stderr (JSON under
//! `--json`) with the exit code of their kind (`node --help` lists them:
//! [`sledchain::app::exit`]); so does an internal panic (never a
//! backtrace). A closed stdout pipe ends the command quietly with exit 0.

fn main() {
    sledchain::app::main()
}
