//! Connections, bounded: a header read timeout, an idle keep-alive timeout, a cap on buffered
//! header bytes and a cap on open connections, TLS handshakes included.
//!
//! The head timer is ours, not hyper's `header_read_timeout`: hyper starts that one as soon as
//! it waits for the next request, so it also closed idle keep-alives (measured: after 10.0 s),
//! and Prometheus, scraping every 15 s, reconnected for each scrape. Here the stream tells the
//! slot when bytes arrive, so a head has `header_timeout` from its first byte (or from the
//! open) and an idle keep-alive gets `idle_timeout`.
//!
//! At the cap, a new connection takes the slot of the oldest one that is not inside a request
//! (a half-sent header, a TLS handshake, an idle keep-alive): a slowloris client holds its slots
//! only until someone else needs them, so a scrape from Prometheus, which sends its request at
//! once, still gets through. When every slot is inside a request, the new connection is closed
//! at once. hyper (HTTP/1.1) serves each connection; axum routes.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::DEFAULT_MAX_CONNECTIONS;
use crate::web::WebConfig;

/// How connections are bounded. `Default` is what the daemon uses unless `[daemon]` says
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most (`[daemon] max_connections`).
    pub max_connections: usize,
    /// A request head (request line and headers) must arrive within this, from the connection's
    /// open or from its first byte after the previous request.
    pub header_timeout: Duration,
    /// A keep-alive connection with no byte for this long after a request is closed.
    pub idle_timeout: Duration,
    /// A request head larger than this is answered 431 and the connection closed, in bytes.
    pub max_header_bytes: usize,
    /// A TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// After shutdown is asked for, in-flight requests get this long to finish.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(10),
            // Prometheus keeps its connection between scrapes (15-60 s apart)
            idle_timeout: Duration::from_secs(90),
            max_header_bytes: 16 << 10,
            handshake_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// One open connection's entry in the [`Table`].
#[derive(Debug)]
struct Slot {
    /// Requests being answered on it now.
    busy: AtomicUsize,
    /// When it last finished a request (or opened).
    idle_since: Mutex<Instant>,
    /// Since when a request head has been arriving (from the open, or the first byte after the
    /// last request), if one is.
    head_since: Mutex<Option<Instant>>,
    /// Wakes the connection's timer when a head starts arriving.
    head_started: Notify,
    /// Set when its slot was given to a newer connection.
    evicted: AtomicBool,
    evict: Notify,
}

impl Slot {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            busy: AtomicUsize::new(0),
            idle_since: Mutex::new(now),
            // a new connection owes its first request head at once
            head_since: Mutex::new(Some(now)),
            head_started: Notify::new(),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
        }
    }

    fn head_since(&self) -> Option<Instant> {
        self.head_since.lock().ok().and_then(|t| *t)
    }

    /// Bytes arrived: outside a request they start a head, and its timer.
    fn bytes_read(&self) {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return;
        }
        if let Ok(mut since) = self.head_since.lock()
            && since.is_none()
        {
            *since = Some(Instant::now());
            self.head_started.notify_one();
        }
    }

    fn idle_since(&self) -> Instant {
        self.idle_since
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|_| Instant::now())
    }
}

/// Marks a request in flight on a slot until dropped.
struct Busy(Arc<Slot>);

impl Busy {
    fn new(slot: Arc<Slot>) -> Self {
        slot.busy.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut since) = slot.head_since.lock() {
            *since = None;
        }
        Self(slot)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut t) = self.0.idle_since.lock() {
            *t = Instant::now();
        }
        // bytes read while answering (a body, a pipelined request) start no head timer
        if let Ok(mut since) = self.0.head_since.lock() {
            *since = None;
        }
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection's stream that tells its slot when bytes arrive, so the head timer runs only
/// while a request head is arriving and an idle keep-alive gets the longer idle timeout.
struct Watched<I> {
    io: I,
    slot: Arc<Slot>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.slot.bytes_read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The open connections by age (ids only grow).
#[derive(Debug, Default)]
struct Table {
    slots: Mutex<BTreeMap<u64, Arc<Slot>>>,
    next: std::sync::atomic::AtomicU64,
}

impl Table {
    /// A slot for a new connection, or `None` when all `max` are inside a request.
    fn admit(&self, max: usize) -> Option<(u64, Arc<Slot>)> {
        let mut slots = self.slots.lock().ok()?;
        if slots.len() >= max.max(1) {
            let oldest_idle = slots
                .iter()
                .find(|(_, s)| s.busy.load(Ordering::SeqCst) == 0)
                .map(|(&id, _)| id)?;
            if let Some(old) = slots.remove(&oldest_idle) {
                old.evicted.store(true, Ordering::SeqCst);
                old.evict.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let slot = Arc::new(Slot::new());
        slots.insert(id, slot.clone());
        Some((id, slot))
    }

    fn remove(&self, id: u64) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.remove(&id);
        }
    }

    fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// Accepts and serves connections until `shutdown` resolves, then lets in-flight requests finish
/// (within `limits.drain_timeout`). TLS, when the web config at start has it, uses the latest
/// web config's certificates for each new connection.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    web: watch::Receiver<Arc<WebConfig>>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let initial_tls = web.borrow().tls.clone();
    let table = Arc::new(Table::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut last_accept_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some((id, slot)) = table.admit(limits.max_connections) else {
                        tracing::debug!(%peer, open = table.len(), "connection refused: every slot is answering a request");
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let conn = Conn {
                        app: app.clone(),
                        slot,
                        limits: limits.clone(),
                        stop: stop_rx.clone(),
                    };
                    let table = table.clone();
                    let tls = initial_tls
                        .as_ref()
                        .map(|initial| web.borrow().tls.clone().unwrap_or_else(|| initial.clone()));
                    tasks.spawn(async move {
                        match tls {
                            None => conn.run(stream).await,
                            Some(tls) => {
                                let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                                let handshake = tokio::time::timeout(conn.limits.handshake_timeout, acceptor.accept(stream));
                                tokio::select! {
                                    done = handshake => match done {
                                        Ok(Ok(stream)) => conn.run(stream).await,
                                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                                    },
                                    () = conn.slot.evict.notified() => {}
                                }
                            }
                        }
                        table.remove(id);
                    });
                }
                // EMFILE and friends: back off instead of spinning, and say so at most every 10 s
                Err(e) => {
                    if last_accept_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        tracing::warn!(error = %e, open = table.len(), "accept failed");
                        last_accept_warning = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::debug!(
            open = tasks.len(),
            "connections still open after the drain timeout"
        );
        tasks.abort_all();
    }
    Ok(())
}

/// One accepted connection and what bounds it.
struct Conn {
    app: Router,
    slot: Arc<Slot>,
    limits: Limits,
    stop: watch::Receiver<bool>,
}

impl Conn {
    /// Serves HTTP/1.1 on `io` until the client closes, a timeout or the cap ends it, or the
    /// server shuts down (after the request in flight).
    async fn run<I>(mut self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let tower = TowerToHyperService::new(self.app.clone());
        let slot = self.slot.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = Busy::new(slot.clone());
            let response = hyper::service::Service::call(&tower, request);
            async move {
                let response = response.await;
                drop(busy);
                response
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // the head timer is ours (below): hyper's would also close idle keep-alives
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_header_size(self.limits.max_header_bytes)
            .max_buf_size(self.limits.max_header_bytes.max(8192) * 2)
            .keep_alive(true);
        let io = Watched {
            io,
            slot: self.slot.clone(),
        };
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut closing = false;
        loop {
            // answering: look again a whole idle period from now; a head arriving: when its
            // time is up; idle: when the idle period ends
            let (deadline, head) = if self.slot.busy.load(Ordering::SeqCst) > 0 {
                (Instant::now() + self.limits.idle_timeout, false)
            } else if let Some(since) = self.slot.head_since() {
                (since + self.limits.header_timeout, true)
            } else {
                (self.slot.idle_since() + self.limits.idle_timeout, false)
            };
            tokio::select! {
                _ = conn.as_mut() => break,
                () = self.slot.evict.notified() => break,
                () = self.slot.head_started.notified() => {}
                _ = self.stop.changed(), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = tokio::time::sleep_until(deadline) => {
                    if self.slot.busy.load(Ordering::SeqCst) > 0 {
                        continue;
                    }
                    if head && self.slot.head_since().is_some() {
                        tracing::debug!("request head not received in time, connection closed");
                        break;
                    }
                    if !head && self.slot.idle_since().elapsed() >= self.limits.idle_timeout {
                        if closing {
                            break;
                        }
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
        if self.slot.evicted.load(Ordering::SeqCst) {
            tracing::debug!("connection closed to make room for a newer one");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_connection_outside_a_request_makes_room() {
        let table = Table::default();
        let (a, slot_a) = table.admit(2).unwrap();
        let (_, slot_b) = table.admit(2).unwrap();
        // a is answering a request: b, the oldest idle one, gives its slot to c
        let busy_a = Busy::new(slot_a.clone());
        let (c, slot_c) = table.admit(2).unwrap();
        assert!(slot_b.evicted.load(Ordering::SeqCst));
        assert!(!slot_a.evicted.load(Ordering::SeqCst));
        assert_eq!(table.len(), 2);
        // a and c both answering: the next one is refused
        let busy_c = Busy::new(slot_c);
        assert!(table.admit(2).is_none());
        drop(busy_c);
        table.remove(c);
        assert!(table.admit(2).is_some());
        drop(busy_a);
        table.remove(a);
        assert_eq!(table.len(), 1);
    }
}
