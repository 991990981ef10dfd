//! The control socket's server side: one JSON request per line from the
//! CLI, one JSON response back (see [`super::control`]).

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};

use super::control::{MAX_REQUEST, MAX_SUBMIT_BATCH, Request, Response, SubmitResult};
use super::queue::JobSender;
use super::reactor::Control;
use super::worker::Job;
use crate::chain::Chain;
use crate::protocol::{LocalReply, LocalRequest};
use crate::store::ChainStore;

/// The text of the control socket's answers, given by the application.
pub trait Queries: Send + Sync + 'static {
    /// The answer to a read-only request, computed on the chain worker
    /// between chain updates.
    ///
    /// Errors: whatever the query reports; sent back as the error text.
    fn answer(&self, chain: &Chain, request: &Request) -> anyhow::Result<String>;
    /// The answer to a read-only request that needs only the store (long
    /// scans such as `checkchain` and `printchain --verify`), computed on
    /// a blocking thread off the chain worker, so chain work never waits
    /// for it; `None` (the default) sends the request to
    /// [`Queries::answer`] on the worker. Answered again (at most
    /// [`STORE_ANSWER_TRIES`] times) while the tip moves under it.
    ///
    /// Errors: whatever the query reports; sent back as the error text.
    fn answer_from_store(
        &self,
        store: &ChainStore,
        request: &Request,
    ) -> Option<anyhow::Result<String>> {
        let _ = (store, request);
        None
    }
    /// The text of `status` from the protocol's figures.
    ///
    /// Errors: whatever the application reports (e.g. no chain yet).
    fn status(&self, reply: &LocalReply) -> anyhow::Result<String>;
    /// The answer to [`Request::Get`] for `path` (a JSON
    /// [`super::control::GetAnswer`]); by default an error.
    ///
    /// Errors: whatever the application reports.
    fn get(&self, path: String) -> futures::future::BoxFuture<'static, anyhow::Result<String>> {
        Box::pin(async move { Err(anyhow::anyhow!("GET {path}: not served here")) })
    }
}

/// Times a store-only answer is computed while the tip keeps moving
/// during it; the last one is sent as it is.
pub const STORE_ANSWER_TRIES: usize = 3;

/// Where the control socket's requests go: the protocol (`control`), the
/// chain worker (`jobs`) and the store read on blocking threads.
#[derive(Clone)]
pub struct Backends {
    /// The reactor's local requests.
    pub control: mpsc::Sender<Control>,
    /// The chain worker's queue.
    pub jobs: JobSender,
    /// The store.
    pub store: ChainStore,
}

/// Serves the control socket until `shutdown` turns true.
pub async fn serve(
    listener: UnixListener,
    queries: Arc<dyn Queries>,
    backends: Backends,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            r = listener.accept() => if let Ok((stream, _)) = r {
                tokio::spawn(handle(stream, queries.clone(), backends.clone()));
            }
        }
    }
}

async fn handle(stream: UnixStream, queries: Arc<dyn Queries>, backends: Backends) {
    let Backends {
        control,
        jobs,
        store,
    } = backends;
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(rd.take(MAX_REQUEST as u64));
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let resp = match serde_json::from_str::<Request>(&line) {
        // What the reactor answers never goes through the store-only
        // path (a blocking thread and two tip reads per submission).
        Ok(req) if for_reactor(&req) => answer(req, queries, &control, &jobs).await,
        Ok(req) => match from_store(&req, &queries, &store).await {
            Some(r) => r,
            None => answer(req, queries, &control, &jobs).await,
        },
        Err(e) => Err(format!("bad request: {e}")),
    };
    let resp = match resp {
        Ok(t) => Response {
            ok: Some(t),
            err: None,
        },
        Err(e) => Response {
            ok: None,
            err: Some(e),
        },
    };
    let mut out = serde_json::to_string(&resp).unwrap_or_default();
    out.push('\n');
    let _ = wr.write_all(out.as_bytes()).await;
}

/// True for the requests [`answer`] hands to the reactor or the API
/// router, never to [`Queries`]' store or chain answers.
fn for_reactor(req: &Request) -> bool {
    matches!(
        req,
        Request::Status
            | Request::SubmitTx(_)
            | Request::SubmitTxs(_)
            | Request::Mint
            | Request::AddPeer(_)
            | Request::Get(_)
    )
}

/// [`Queries::answer_from_store`] on a blocking thread, again while the
/// tip moved during it; `None` when the request needs the chain worker.
async fn from_store(
    req: &Request,
    queries: &Arc<dyn Queries>,
    store: &ChainStore,
) -> Option<Result<String, String>> {
    let (req, queries, store) = (req.clone(), queries.clone(), store.clone());
    let job = move || {
        let mut last = None;
        // The tip's hash, `None` with no chain; a failed read is the
        // answer (never taken for "no chain" or "the tip did not move").
        let tip = |store: &ChainStore| match store.tip_opt() {
            Ok(tip) => Ok(tip.map(|t| t.hash)),
            Err(e) => Err(anyhow::anyhow!("cannot read the chain: {e}")),
        };
        for _ in 0..STORE_ANSWER_TRIES {
            let before = match tip(&store) {
                Ok(hash) => hash,
                Err(e) => return Some(Err(e)),
            };
            let answer = queries.answer_from_store(&store, &req)?;
            let after = match tip(&store) {
                Ok(hash) => hash,
                Err(e) => return Some(Err(e)),
            };
            last = Some(answer);
            if before == after {
                break;
            }
        }
        last
    };
    match tokio::task::spawn_blocking(job).await {
        Ok(answer) => answer.map(|r| r.map_err(|e| format!("{e:#}"))),
        Err(_) => Some(Err("the query failed".into())),
    }
}

async fn answer(
    req: Request,
    queries: Arc<dyn Queries>,
    control: &mpsc::Sender<Control>,
    jobs: &JobSender,
) -> Result<String, String> {
    let local = match &req {
        Request::Get(path) => {
            return queries
                .get(path.clone())
                .await
                .map_err(|e| format!("{e:#}"));
        }
        Request::Status => LocalRequest::Status,
        Request::SubmitTx(tx) => LocalRequest::SubmitTx(tx.clone()),
        Request::SubmitTxs(txs) => return submit_batch(txs, control).await,
        Request::Mint => LocalRequest::Mint,
        Request::AddPeer(a) => LocalRequest::AddPeer(resolve(a)?),
        _ => {
            let other = req;
            let (tx, rx) = oneshot::channel();
            let q = queries.clone();
            let job: super::worker::QueryJob = Box::new(move |chain| q.answer(chain, &other));
            jobs.send(Job::Query(job, tx))
                .map_err(|_| "the node is stopping".to_string())?;
            return match rx.await {
                Ok(r) => r.map_err(|e| format!("{e:#}")),
                Err(_) => Err("the node is stopping".into()),
            };
        }
    };
    let (tx, rx) = oneshot::channel();
    control
        .send(Control::Local(local, tx))
        .await
        .map_err(|_| "the node is stopping".to_string())?;
    match rx.await {
        Ok(LocalReply::Accepted(txid)) => Ok(txid.to_string()),
        Ok(LocalReply::Rejected(e)) => Err(e),
        Ok(LocalReply::ChainUnreadable) => Err("cannot read the chain (see the node's log)".into()),
        Ok(LocalReply::Done(text)) => Ok(text),
        Ok(status @ LocalReply::Status { .. }) => {
            queries.status(&status).map_err(|e| format!("{e:#}"))
        }
        Ok(reply) => Err(format!("unexpected reply {reply:?}")),
        Err(_) => Err("the node is stopping".into()),
    }
}

/// [`Request::SubmitTxs`]: every transaction handed to the reactor in
/// order before any verdict is awaited, so the chain worker takes them in
/// runs and the protocol announces each run's in one `inv` per peer; the
/// verdicts as a JSON list of [`SubmitResult`].
async fn submit_batch(
    txs: &[crate::core::tx::Transaction],
    control: &mpsc::Sender<Control>,
) -> Result<String, String> {
    if txs.len() > MAX_SUBMIT_BATCH {
        return Err(format!(
            "{} transactions in one request: at most {MAX_SUBMIT_BATCH}",
            txs.len()
        ));
    }
    let mut pending = Vec::with_capacity(txs.len());
    for tx in txs {
        let (reply, rx) = oneshot::channel();
        control
            .send(Control::Local(LocalRequest::SubmitTx(tx.clone()), reply))
            .await
            .map_err(|_| "the node is stopping".to_string())?;
        pending.push((tx.txid(), rx));
    }
    let mut results = Vec::with_capacity(pending.len());
    for (txid, rx) in pending {
        let error = match rx.await {
            Ok(LocalReply::Accepted(_)) => None,
            Ok(LocalReply::Rejected(e)) => Some(e),
            Ok(LocalReply::ChainUnreadable) => {
                Some("cannot read the chain (see the node's log)".into())
            }
            Ok(reply) => Some(format!("unexpected reply {reply:?}")),
            Err(_) => return Err("the node is stopping".into()),
        };
        results.push(SubmitResult {
            txid: txid.to_string(),
            error,
        });
    }
    serde_json::to_string(&results).map_err(|e| e.to_string())
}

/// The first address `host:port` resolves to.
fn resolve(addr: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("cannot resolve {addr:?}: expected HOST:PORT"))
}
