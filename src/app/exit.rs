//! Exit codes and the errors that carry them. Every command exits with
//! one of [`Exit`]'s codes; under `--json` its error is one line of JSON on
//! stderr, `{"error": TEXT, "code": NAME}`, with the stable `code` names
//! below.
//!
//! | exit | `code` | meaning |
//! |---|---|---|
//! | 0 | | success |
//! | 1 | `error` | any other error (store, I/O, a failed check) |
//! | 2 | `usage` | bad arguments: unknown flag, malformed address, hash, txid or hex |
//! | 3 | `not_running` | the node is not running or cannot be reached (no node directory, no control socket, seed unreachable) |
//! | 4 | `not_found` | the block, transaction or chain asked for does not exist |
//! | 5 | `rejected` | the node refused a transaction or command (the rule is in the message) |

use std::fmt;

/// Why a command failed, as its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: any other error.
    Error,
    /// 2: bad arguments.
    Usage,
    /// 3: the node is not running or cannot be reached.
    NotRunning,
    /// 4: not found.
    NotFound,
    /// 5: refused by the node.
    Rejected,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::NotRunning => 3,
            Exit::NotFound => 4,
            Exit::Rejected => 5,
        }
    }

    /// The stable name in `--json` errors.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Error => "error",
            Exit::Usage => "usage",
            Exit::NotRunning => "not_running",
            Exit::NotFound => "not_found",
            Exit::Rejected => "rejected",
        }
    }

    /// The kind of an HTTP API error status (400 bad input, 404 not found,
    /// 503 stopping or not ready; anything else an error).
    pub fn from_http(status: u16) -> Exit {
        match status {
            400 => Exit::Usage,
            404 => Exit::NotFound,
            503 => Exit::NotRunning,
            _ => Exit::Error,
        }
    }
}

/// The text of `--help`'s exit code table.
pub const EXIT_HELP: &str = "\
Exit codes:
  0  success
  1  error        any other error
  2  usage        bad arguments (unknown flag, malformed address, hash, txid or hex)
  3  not_running  the node is not running or cannot be reached
  4  not_found    the block, transaction or chain asked for does not exist
  5  rejected     the node refused the transaction or command
With --json, an error is one JSON line on stderr: {\"error\": TEXT, \"code\": NAME}.";

/// An error with its exit code.
#[derive(Debug)]
pub struct CliError {
    /// Its kind.
    pub exit: Exit,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// An [`anyhow::Error`] of kind `exit`.
pub fn fail(exit: Exit, message: impl fmt::Display) -> anyhow::Error {
    CliError {
        exit,
        message: message.to_string(),
    }
    .into()
}

/// The kind of `e`: the first [`CliError`] in its chain, a missing chain
/// ([`crate::store::StoreError::NoChain`]) is `not_found`, a closed control
/// socket `not_running`; anything else [`Exit::Error`].
pub fn classify(e: &anyhow::Error) -> Exit {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<CliError>() {
            return c.exit;
        }
        if let Some(crate::store::StoreError::NoChain) = cause.downcast_ref() {
            return Exit::NotFound;
        }
    }
    Exit::Error
}

/// The one-line JSON of an error under `--json`.
pub fn json_line(e: &anyhow::Error) -> String {
    serde_json::json!({"error": format!("{e:#}"), "code": classify(e).name()}).to_string()
}
