//! The API's errors: a status and a JSON body `{"error": TEXT, "field":
//! NAME}` (`field` only when one input is at fault), and the parsers of
//! path segments that produce them.

use std::str::FromStr;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::core::address::Address;
use crate::core::hash::{BlockHash, Txid};
use crate::net::handle::Stopping;
use crate::protocol::LocalReply;
use crate::store::StoreError;

/// How the error of a failed chain read starts, on every route (503,
/// [`ApiError::chain_read`], [`ApiError::chain_unreadable`]).
pub const CHAIN_STORE_UNREADABLE: &str = "the chain store cannot be read";

/// The error text of a chain read that failed in the protocol (the
/// store's error is in the node's log).
const CHAIN_UNREADABLE: &str = "the chain store cannot be read (see the node's log)";

/// An error answer (module docs).
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong.
    pub error: String,
    /// The input at fault, if one is.
    pub field: Option<&'static str>,
}

impl ApiError {
    /// 400: `field` is malformed.
    pub fn bad(field: &'static str, error: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: format!("invalid {field}: {error}"),
            field: Some(field),
        }
    }

    /// 400: refused (a transaction breaking a rule, a command that cannot
    /// be carried out).
    pub fn refused(error: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: error.to_string(),
            field: None,
        }
    }

    /// 404: `what` is not known.
    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: format!("{what} not found"),
            field: None,
        }
    }

    /// 503: the node cannot answer now.
    pub fn unavailable(error: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: error.to_string(),
            field: None,
        }
    }

    /// 503: a chain read failed (the store's error is in the node's log):
    /// the node cannot answer until its store reads again.
    pub fn chain_unreadable() -> ApiError {
        ApiError::unavailable(CHAIN_UNREADABLE)
    }

    /// The error of a store read that failed with `e`, on any route
    /// ([`From<StoreError>`]): 503 `the chain store cannot be read: E` (an
    /// I/O error, a record that does not decode or is missing: the route
    /// is not at fault and the node cannot answer until its store reads
    /// again); 404 for no chain; 503 for indexes still catching up; 500 for
    /// the errors only a write can give (a fault of ours).
    pub fn chain_read(e: StoreError) -> ApiError {
        match e {
            StoreError::NoChain => ApiError::not_found("chain"),
            e @ StoreError::IndexBehind { .. } => ApiError::unavailable(e),
            e @ (StoreError::ChainExists | StoreError::NotOnTip { .. }) => ApiError::internal(e),
            e @ (StoreError::Db(_)
            | StoreError::Locked(_)
            | StoreError::Corrupt(_)
            | StoreError::MissingBlock(_)
            | StoreError::Damaged(_)
            | StoreError::Record(_)) => {
                ApiError::unavailable(format!("{CHAIN_STORE_UNREADABLE}: {e}"))
            }
        }
    }

    /// The error of a reply from the protocol that the route did not
    /// expect: 503 [`ApiError::chain_unreadable`] for
    /// [`LocalReply::ChainUnreadable`], else 500.
    pub fn unexpected(reply: LocalReply) -> ApiError {
        match reply {
            LocalReply::ChainUnreadable => ApiError::chain_unreadable(),
            other => ApiError::internal(format!("unexpected reply {other:?}")),
        }
    }

    /// 500.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: error.to_string(),
            field: None,
        }
    }
}

/// Every route's store read: [`ApiError::chain_read`].
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::chain_read(e)
    }
}

impl From<Stopping> for ApiError {
    fn from(e: Stopping) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: e.to_string(),
            field: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "field": self.field});
        (self.status, Json(body)).into_response()
    }
}

/// Answer to a path no route has.
pub async fn no_route() -> ApiError {
    ApiError::not_found("route")
}

/// Answer to a known path with a method it does not take (405).
pub async fn no_method(method: axum::http::Method) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        error: format!("method {method} not allowed on this route"),
        field: None,
    }
}

/// Answer when the request limits refuse a request (overload or time).
pub async fn overloaded(e: tower::BoxError) -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        error: format!("busy: {e}"),
        field: None,
    }
}

/// Parses a 64-hex-character block hash from `field`. Errors: 400.
pub fn block_hash(field: &'static str, s: &str) -> Result<BlockHash, ApiError> {
    BlockHash::from_str(s).map_err(|e| ApiError::bad(field, e))
}

/// Parses a 64-hex-character txid from `field`. Errors: 400.
pub fn txid(field: &'static str, s: &str) -> Result<Txid, ApiError> {
    Txid::from_str(s).map_err(|e| ApiError::bad(field, e))
}

/// Parses a Base58Check address from `field`. Errors: 400.
pub fn address(field: &'static str, s: &str) -> Result<Address, ApiError> {
    Address::from_str(s).map_err(|e| ApiError::bad(field, e))
}

/// Parses a decimal number from `field`. Errors: 400.
pub fn number<T: FromStr>(field: &'static str, s: &str) -> Result<T, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad(field, format!("{s:?} is not a number in range")))
}
