//! Accepting connections: each one is served by hyper's HTTP/1 server with a header-read
//! timeout, under a cap on how many are open at once.
//!
//! - hyper runs the header timeout whenever it waits for a request head: on a new connection,
//!   while a slow client trickles its headers in, and between requests on a kept-alive
//!   connection. So one setting closes silent, slow-header and idle kept-alive connections.
//! - A request's body has its own deadline ([`BodyTimeout`], put into every request), which
//!   the body extractors enforce.
//! - At the cap, the oldest connection that is not in the middle of a request is closed to
//!   make room (a request lasts from its head to the last byte of its answer, streams
//!   included), so a flood of idle connections cannot lock real clients out. When every
//!   connection is busy, accepting waits for one to end. Either way a line is logged, at most
//!   once a minute.
//! - The cap is lowered at start to fit the process's limit on open files, keeping some for
//!   the database, the audit log and the files served.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Open files the server keeps for itself when it fits the cap to the process's limit.
const RESERVED_FILES: usize = 64;
/// Header fields hyper itself accepts. The app refuses more than
/// [`crate::limits::MAX_HEADER_FIELDS`] with a JSON 431 before hyper's own, bodiless one.
const HYPER_MAX_HEADERS: usize = 200;
/// How long requests in flight may take to finish when the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// A connection whose last answer ended this long ago has surely flushed it, so closing it
/// cuts nothing short.
const FLUSHED_AFTER: Duration = Duration::from_secs(1);

/// What a connection may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most (before fitting the file limit).
    pub max_connections: usize,
    /// For a request's head, and for the idle time between requests.
    pub header_timeout: Duration,
    /// For a request's body, once its head is in.
    pub body_timeout: Duration,
}

/// How long a request's body may take to arrive; every request carries it, for the body
/// extractors.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// The address the client connected to: this server's side of the connection.
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr(pub SocketAddr);

/// Serves connections from `listener` until `shutdown` resolves, then lets the requests in
/// flight finish for a few seconds and closes the rest.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let cap = fit_to_file_limit(limits.max_connections, open_file_limit());
    let room = Arc::new(Semaphore::new(cap));
    let open = Arc::new(OpenConnections::default());
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut last_full_notice: Option<Instant> = None;
    let started = Instant::now();
    tokio::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        if room.available_permits() == 0 {
            let made_room = open.close_oldest_idle(started);
            if last_full_notice.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                last_full_notice = Some(Instant::now());
                if made_room {
                    tracing::warn!(
                        "the connection cap ({cap}) is reached: closing the oldest idle connections to make room"
                    );
                } else {
                    tracing::warn!(
                        "the connection cap ({cap}) is reached and every connection is busy: new connections wait"
                    );
                }
            }
        }
        let permit = tokio::select! {
            permit = Arc::clone(&room).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of files or memory for a moment: wait rather than spin.
                    tracing::warn!("could not accept a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = Connection {
            stream,
            peer,
            state: open.register(),
            permit,
        };
        tasks.spawn(connection.serve(
            router.clone(),
            limits,
            stopping.clone(),
            Arc::clone(&open),
            started,
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::info!(
            "{} connections were still busy after {} s and were closed",
            tasks.len(),
            SHUTDOWN_GRACE.as_secs()
        );
    }
    tasks.shutdown().await;
}

/// The connection cap that fits the process's limit on open files.
fn fit_to_file_limit(wanted: usize, file_limit: Option<usize>) -> usize {
    let wanted = wanted.max(1);
    match file_limit {
        Some(limit) if limit.saturating_sub(RESERVED_FILES) < wanted => {
            let fitted = limit.saturating_sub(RESERVED_FILES).max(1);
            tracing::warn!(
                "at most {fitted} connections, not {wanted}: the process may open {limit} files (raise it with `ulimit -n`)"
            );
            fitted
        }
        _ => wanted,
    }
}

/// The soft limit on open files, where the system says it (Linux's `/proc/self/limits`).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One accepted connection, before it is served.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ConnectionState>,
    /// Its place under the cap, given back when the connection ends.
    permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve(
        self,
        router: Router,
        limits: Limits,
        mut stopping: watch::Receiver<bool>,
        open: Arc<OpenConnections>,
        started: Instant,
    ) {
        let Self {
            stream,
            peer,
            state,
            permit,
        } = self;
        let local = stream.local_addr().ok();
        let for_requests = Arc::clone(&state);
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let busy = Busy::start(Arc::clone(&for_requests), started);
            let extensions = request.extensions_mut();
            extensions.insert(ConnectInfo(peer));
            extensions.insert(BodyTimeout(limits.body_timeout));
            if let Some(local) = local {
                extensions.insert(LocalAddr(local));
            }
            let answer = router.clone().oneshot(request);
            async move {
                let response = answer.await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| Body::new(CountedBody { body, _busy: busy })),
                )
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_headers(HYPER_MAX_HEADERS)
            .serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        // Timeouts and clients that went away: normal on the internet.
                        tracing::debug!("connection from {peer}: {error}");
                    }
                    break;
                }
                () = state.close.notified() => {
                    if state.busy.load(Ordering::Acquire) == 0 {
                        // Idle: dropping the connection closes it at once.
                        break;
                    }
                    connection.as_mut().graceful_shutdown();
                }
                changed = stopping.changed(), if !*stopping.borrow() => {
                    if changed.is_ok() {
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        }
        open.remove(state.id);
        drop(permit);
    }
}

/// The open connections, oldest first, so the cap can close the oldest idle one.
#[derive(Debug, Default)]
struct OpenConnections {
    next_id: AtomicU64,
    by_age: Mutex<BTreeMap<u64, Arc<ConnectionState>>>,
}

impl OpenConnections {
    fn register(&self) -> Arc<ConnectionState> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnectionState {
            id,
            busy: AtomicUsize::new(0),
            last_done_ms: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            close: Notify::new(),
        });
        self.lock().insert(id, Arc::clone(&state));
        state
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Asks the oldest connection that is idle (no request, and its last answer long sent)
    /// to close; `false` if every connection is busy.
    fn close_oldest_idle(&self, started: Instant) -> bool {
        let now_ms = elapsed_ms(started);
        let flushed_ms = FLUSHED_AFTER.as_millis() as u64;
        let open = self.lock();
        let oldest_idle = open.values().find(|state| {
            let last_done = state.last_done_ms.load(Ordering::Acquire);
            state.busy.load(Ordering::Acquire) == 0
                && !state.closing.load(Ordering::Acquire)
                && (last_done == 0 || now_ms.saturating_sub(last_done) >= flushed_ms)
        });
        match oldest_idle {
            Some(state) => {
                state.closing.store(true, Ordering::Release);
                state.close.notify_one();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<ConnectionState>>> {
        self.by_age
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the accept loop knows about one connection.
#[derive(Debug)]
struct ConnectionState {
    /// Its place in [`OpenConnections`]: a higher id is a younger connection.
    id: u64,
    /// Requests in progress: from the head to the end of the answer's body.
    busy: AtomicUsize,
    /// When the last answer ended, in ms since the server started (0: none yet).
    last_done_ms: AtomicU64,
    /// Asked to close already, so the cap does not pick it twice.
    closing: AtomicBool,
    /// Wakes the connection's task to close it.
    close: Notify,
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// A request in progress on a connection; it ends when the answer's body is dropped.
#[derive(Debug)]
struct Busy {
    state: Arc<ConnectionState>,
    started: Instant,
}

impl Busy {
    fn start(state: Arc<ConnectionState>, started: Instant) -> Self {
        state.busy.fetch_add(1, Ordering::AcqRel);
        Self { state, started }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.state
            .last_done_ms
            .store(elapsed_ms(self.started), Ordering::Release);
        self.state.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body that keeps its connection counted as busy until it is dropped.
struct CountedBody {
    body: Body,
    _busy: Busy,
}

impl hyper::body::Body for CountedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_file_limit() {
        assert_eq!(fit_to_file_limit(4096, None), 4096);
        assert_eq!(fit_to_file_limit(4096, Some(20_000)), 4096);
        assert_eq!(fit_to_file_limit(4096, Some(1024)), 1024 - RESERVED_FILES);
        assert_eq!(fit_to_file_limit(4096, Some(10)), 1);
        assert_eq!(fit_to_file_limit(0, None), 1);
    }

    #[test]
    fn the_oldest_idle_connection_is_closed_first() {
        let open = OpenConnections::default();
        let started = Instant::now();
        let busy = open.register();
        let idle = open.register();
        let younger = open.register();
        let _request = Busy::start(Arc::clone(&busy), started);
        assert!(open.close_oldest_idle(started));
        assert!(idle.closing.load(Ordering::Acquire));
        assert!(!busy.closing.load(Ordering::Acquire));
        assert!(!younger.closing.load(Ordering::Acquire));
        assert!(open.close_oldest_idle(started));
        assert!(younger.closing.load(Ordering::Acquire));
        assert!(
            !open.close_oldest_idle(started),
            "only the busy one is left"
        );
    }
}
