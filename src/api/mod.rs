//! The HTTP API served by every running node (`startnode --http`): the
//! Esplora-compatible read routes under `/api` ([`chain`], [`addr`]), the
//! node routes under `/api/node` and the live events at `/api/events`
//! ([`node`]), and the block explorer page at `/` ([`explorer`]). See
//! `docs/api.md` for every route with an example.
//!
//! axum on the node's tokio runtime, through a [`NodeHandle`]: reads of the
//! store run in `spawn_blocking`, reads of the mempool run as short queries
//! on the chain worker, transactions and node commands go to the protocol
//! as [`crate::protocol::LocalRequest`]s. Amounts are whole coins.
//!
//! Limits: request bodies [`MAX_BODY`] bytes; [`MAX_CONNECTIONS`] open
//! connections (more wait in the kernel's backlog); [`MAX_IN_FLIGHT`]
//! requests handled at once (more get 503); a request is answered within
//! [`REQUEST_TIMEOUT`] (else 408), and a client that does not send its
//! headers within [`HEADER_TIMEOUT`] is dropped. Bad input is a 400 JSON
//! error naming the field ([`ApiError`]), never a panic.

pub mod addr;
pub mod auth;
pub mod chain;
pub mod error;
pub mod explorer;
pub mod guard;
pub mod metrics;
pub mod node;
pub mod schema;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{ServiceBuilder, ServiceExt};

pub use error::ApiError;

use crate::net::{NodeHandle, Service};

/// Largest request body, in bytes (a transaction's hex fits).
pub const MAX_BODY: usize = 2_000_000;
/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Most connections one client IP address may hold open at once; more are
/// closed as soon as accepted, so no client takes every slot.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 32;
/// Most requests being handled at once (answers stream afterwards).
pub const MAX_IN_FLIGHT: usize = 64;
/// Longest time to answer one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the API listens and where its credential goes.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The cookie file (`DATADIR/PORT/.cookie`), written at start with
    /// mode 0600 and removed at shutdown.
    pub cookie: PathBuf,
    /// Host and origin rules ([`guard`]).
    pub guard: guard::Guard,
}

/// What every handler gets.
#[derive(Clone)]
pub struct Api {
    /// The node.
    pub node: NodeHandle,
    /// The `Authorization` header value the mutating routes require.
    pub auth: Arc<String>,
    /// The node's metrics (`GET /metrics`).
    pub metrics: Arc<metrics::Metrics>,
    /// Host and origin rules ([`guard`]).
    pub guard: Arc<guard::Guard>,
    /// The event streams' own pool ([`node::EventPool`]).
    pub events: Arc<node::EventPool>,
}

/// The API as a node [`Service`]: binds `config.listen`, writes the
/// cookie and serves until the node shuts down.
///
/// Errors (when the service starts): the address cannot be bound, the
/// cookie cannot be written.
pub fn service(config: ApiConfig) -> Service {
    Box::new(move |node: NodeHandle| {
        let std_listener = std::net::TcpListener::bind(config.listen)
            .with_context(|| format!("cannot listen for HTTP on {}", config.listen))?;
        std_listener.set_nonblocking(true)?;
        let bound = std_listener.local_addr().unwrap_or(config.listen);
        let listener = TcpListener::from_std(std_listener)?;
        let auth = auth::write_cookie(&config.cookie)?;
        tracing::info!("HTTP API on http://{bound}/api");
        let metrics = Arc::new(metrics::Metrics::for_node(&node));
        let api = Api {
            node,
            auth: Arc::new(auth),
            metrics,
            guard: Arc::new(config.guard),
            events: Arc::default(),
        };
        metrics::count_events(&api);
        tokio::spawn(serve(listener, api, config.cookie));
        Ok(())
    })
}

/// The API answered in-process, for the CLI over the control socket: the
/// same router as the HTTP service, so `--json` read commands print the
/// API's bytes, even with `--http off`. Empty until the node's services
/// start ([`LocalApi::service`]).
#[derive(Clone, Default)]
pub struct LocalApi(Arc<OnceLock<Router>>);

impl LocalApi {
    /// The node [`Service`] that fills this handle (it listens on nothing).
    pub fn service(&self) -> Service {
        let slot = self.0.clone();
        Box::new(move |node: NodeHandle| {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let api = Api {
                node,
                auth: Arc::new(format!("Basic {}", hex::encode(secret))),
                metrics: Arc::default(),
                guard: Arc::default(),
                events: Arc::default(),
            };
            let _ = slot.set(router(api));
            Ok(())
        })
    }

    /// `GET path` answered by the router: the status and the body as text.
    ///
    /// Errors: the node's services have not started; the body is not UTF-8.
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let router = self
            .0
            .get()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the node is still starting"))?;
        let req = axum::http::Request::get(path)
            .header(axum::http::header::HOST, "localhost")
            .body(axum::body::Body::empty())?;
        let resp = router.oneshot(req).await?;
        let status = resp.status().as_u16();
        let body = axum::body::to_bytes(resp.into_body(), 64 << 20).await?;
        Ok((status, String::from_utf8(body.to_vec())?))
    }
}

/// Every route.
pub fn router(api: Api) -> Router {
    let limits = ServiceBuilder::new()
        .layer(axum::error_handling::HandleErrorLayer::new(
            error::overloaded,
        ))
        .load_shed()
        .concurrency_limit(MAX_IN_FLIGHT)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    let metrics = api.metrics.clone();
    let rules = api.guard.clone();
    let cors = guard::cors(&rules);
    let router = chain::routes()
        .merge(addr::routes())
        .merge(node::routes())
        .merge(explorer::routes())
        .route("/metrics", axum::routing::get(metrics::scrape))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::no_method)
        .layer(limits)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(rules, guard::check))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ));
    match cors {
        Some(c) => router.layer(c).with_state(api),
        None => router.with_state(api),
    }
}

async fn serve(listener: TcpListener, api: Api, cookie: PathBuf) {
    let mut shutdown = api.node.shutdown();
    let app = router(api);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_client: PerClient = Arc::default();
    loop {
        let slot = tokio::select! {
            _ = shutdown.changed() => break,
            s = slots.clone().acquire_owned() => s,
        };
        let Ok(slot) = slot else {
            break;
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(_) => continue,
            },
        };
        let Some(client) = ClientSlot::take(&per_client, peer.ip()) else {
            continue; // over its share: closed at once
        };
        let ip = peer.ip();
        let app = app
            .clone()
            .map_request(move |mut r: axum::http::Request<_>| {
                r.extensions_mut().insert(ClientIp(ip));
                r
            });
        let svc = hyper_util::service::TowerToHyperService::new(app);
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _client = client;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                }
            }
        });
    }
    let _ = std::fs::remove_file(cookie);
}

/// The IP address of the client of a request (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

/// Open connections per client IP address.
type PerClient = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// One connection counted against its client's share; released on drop.
struct ClientSlot {
    map: PerClient,
    ip: std::net::IpAddr,
}

impl ClientSlot {
    /// Counts a connection from `ip`, `None` when it holds
    /// [`MAX_CONNECTIONS_PER_CLIENT`] already.
    fn take(map: &PerClient, ip: std::net::IpAddr) -> Option<ClientSlot> {
        let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= MAX_CONNECTIONS_PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            map: map.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Most blocks the explorer indexes (transactions, address histories,
/// spent outputs) may be behind the tip for a route that reads them: the
/// request catches them up itself first (a few milliseconds). Further
/// behind, the index builder is still catching up (after a start, or a long
/// sync) and such a route answers 503 saying so (`store/indexer.rs`).
pub const INDEX_MAX_LAG: u64 = 100;

/// Checks, on the blocking pool, that the explorer indexes can answer
/// ([`INDEX_MAX_LAG`]).
///
/// Errors: 503 when they are further behind, or reading the store
/// ([`ApiError::chain_read`]).
pub fn indexes_ready(store: &crate::store::ChainStore) -> Result<(), ApiError> {
    Ok(store.check_indexes(INDEX_MAX_LAG)?)
}

/// Runs `f` (store reads) on the blocking pool.
///
/// Errors: whatever `f` returns; a 500 if it panicked.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::block::Block;
    use crate::core::hash::BlockHash;
    use crate::store::ChainStore;

    /// A store with a chain of `blocks` blocks after genesis, its explorer
    /// indexes never caught up (nothing read them, no builder thread).
    fn chain(blocks: u64) -> (ChainStore, Vec<Block>) {
        let store = ChainStore::temporary().expect("store");
        let g = Block::template(BlockHash::ZERO, 0, 1, 1, [1; 20], 50, vec![]);
        store.init_genesis(&g).expect("genesis");
        let mut all = vec![g];
        for h in 1..=blocks {
            let parent = all.last().expect("parent").hash();
            let b = Block::template(parent, h, 1, 1 + h as u32, [1; 20], 50, vec![]);
            store.connect_block(&b, &[]).expect("connect");
            all.push(b);
        }
        (store, all)
    }

    #[test]
    fn index_routes_answer_503_while_the_indexes_are_far_behind() {
        let (store, blocks) = chain(INDEX_MAX_LAG + 5);
        assert_eq!(store.indexed_height().unwrap(), None);
        let e = indexes_ready(&store).expect_err("far behind");
        assert_eq!(e.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.error.contains("catching up"), "{}", e.error);
        assert!(
            e.error
                .contains(&format!("tip at height {}", INDEX_MAX_LAG + 5))
        );
        // Caught up, the route answers; a few blocks behind it answers too,
        // catching them up itself first.
        assert_eq!(store.sync_indexes().unwrap(), Some(INDEX_MAX_LAG + 5));
        let parent = blocks.last().expect("tip").hash();
        let more = Block::template(parent, INDEX_MAX_LAG + 6, 1, 9_999, [2; 20], 50, vec![]);
        store.connect_block(&more, &[]).expect("connect");
        assert_eq!(store.indexed_height().unwrap(), Some(INDEX_MAX_LAG + 5));
        indexes_ready(&store).expect("one block behind");
        let coinbase = more.transactions[0].txid();
        assert_eq!(
            store.tx_location(&coinbase).unwrap(),
            Some((more.hash(), 0))
        );
        assert_eq!(store.indexed_height().unwrap(), Some(INDEX_MAX_LAG + 6));
    }
}
