//! The control socket's server side: one JSON request per line from the
//! CLI, one JSON response back (see [`super::control`]).

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};

use super::control::{MAX_REQUEST, Request, Response};
use super::reactor::Control;
use super::worker::Job;
use crate::chain::Chain;
use crate::protocol::{LocalReply, LocalRequest};

/// The text of the control socket's answers, given by the application.
pub trait Queries: Send + Sync + 'static {
    /// The answer to a read-only request, computed on the chain worker
    /// between chain updates.
    ///
    /// Errors: whatever the query reports; sent back as the error text.
    fn answer(&self, chain: &Chain, request: &Request) -> anyhow::Result<String>;
    /// The text of `status` from the protocol's figures.
    ///
    /// Errors: whatever the application reports (e.g. no chain yet).
    fn status(&self, reply: &LocalReply) -> anyhow::Result<String>;
    /// The answer to `request` ([`Request::Info`], [`Request::Peers`])
    /// from the protocol's `reply`; by default [`Queries::status`].
    ///
    /// Errors: as [`Queries::status`].
    fn node(&self, request: &Request, reply: &LocalReply) -> anyhow::Result<String> {
        let _ = request;
        self.status(reply)
    }
    /// The answer to [`Request::Get`] for `path` (a JSON
    /// [`super::control::GetAnswer`]); by default an error.
    ///
    /// Errors: whatever the application reports.
    fn get(&self, path: String) -> futures::future::BoxFuture<'static, anyhow::Result<String>> {
        Box::pin(async move { Err(anyhow::anyhow!("GET {path}: not served here")) })
    }
}

/// Serves the control socket until `shutdown` turns true.
pub async fn serve(
    listener: UnixListener,
    queries: Arc<dyn Queries>,
    control: mpsc::Sender<Control>,
    jobs: std_mpsc::Sender<Job>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            r = listener.accept() => if let Ok((stream, _)) = r {
                let (q, c, j) = (queries.clone(), control.clone(), jobs.clone());
                tokio::spawn(handle(stream, q, c, j));
            }
        }
    }
}

async fn handle(
    stream: UnixStream,
    queries: Arc<dyn Queries>,
    control: mpsc::Sender<Control>,
    jobs: std_mpsc::Sender<Job>,
) {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(rd.take(MAX_REQUEST as u64));
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let resp = match serde_json::from_str::<Request>(&line) {
        Ok(req) => answer(req, queries, &control, &jobs).await,
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

async fn answer(
    req: Request,
    queries: Arc<dyn Queries>,
    control: &mpsc::Sender<Control>,
    jobs: &std_mpsc::Sender<Job>,
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
        Request::Info(_) | Request::Peers(_) => LocalRequest::Info,
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
        Ok(LocalReply::Done(text)) => Ok(text),
        Ok(status @ LocalReply::Status { .. }) => {
            queries.status(&status).map_err(|e| format!("{e:#}"))
        }
        Ok(reply) => queries.node(&req, &reply).map_err(|e| format!("{e:#}")),
        Err(_) => Err("the node is stopping".into()),
    }
}

/// The first address `host:port` resolves to.
fn resolve(addr: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("cannot resolve {addr:?}: expected HOST:PORT"))
}
