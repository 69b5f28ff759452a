//! A TCP proxy a test controls, to take a broker (or database) away from the
//! code under test without stopping the machine's shared server: `cut()`
//! drops every open connection and refuses new ones until `restore()`.
//! Over several upstreams it is a round-robin load balancer
//! ([`TcpProxy::round_robin`]): each new connection goes to the next
//! upstream, or the one after if that refuses it (as a load balancer skips a
//! dead replica).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct TcpProxy {
    address: SocketAddr,
    state: Arc<State>,
    accept: AbortHandle,
}

struct State {
    open: AtomicBool,
    upstreams: Vec<SocketAddr>,
    next: AtomicUsize,
    links: Mutex<Vec<AbortHandle>>,
}

impl TcpProxy {
    /// Listens on an ephemeral port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<TcpProxy> {
        Self::round_robin(vec![upstream]).await
    }

    /// Listens on an ephemeral port of 127.0.0.1 and spreads connections
    /// over `upstreams` in turn, skipping one that refuses the connection; a
    /// connection no upstream accepts is closed.
    pub async fn round_robin(upstreams: Vec<SocketAddr>) -> std::io::Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(State {
            open: AtomicBool::new(true),
            upstreams,
            next: AtomicUsize::new(0),
            links: Mutex::new(Vec::new()),
        });
        let accept_state = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accept_state.open.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let state = accept_state.clone();
                let link = tokio::spawn(async move {
                    if let Some(mut outbound) = state.connect().await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accept_state
                    .links
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(link.abort_handle());
            }
        })
        .abort_handle();
        Ok(TcpProxy {
            address,
            state,
            accept,
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Drops every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.state.open.store(false, Ordering::SeqCst);
        for link in self
            .state
            .links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            link.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.open.store(true, Ordering::SeqCst);
    }
}

impl State {
    /// The next upstream that accepts a connection, starting from the one
    /// whose turn it is.
    async fn connect(&self) -> Option<TcpStream> {
        let first = self.next.fetch_add(1, Ordering::SeqCst);
        for turn in 0..self.upstreams.len() {
            let upstream = self.upstreams[(first + turn) % self.upstreams.len()];
            if let Ok(stream) = TcpStream::connect(upstream).await {
                return Some(stream);
            }
        }
        None
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::task::JoinHandle;

    use super::*;

    /// A server answering every connection with one byte, `tag`.
    async fn server(tag: u8) -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(&[tag]).await;
            }
        });
        (address, task)
    }

    async fn answer(proxy: &TcpProxy) -> u8 {
        let mut stream = TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .unwrap();
        let mut tag = [0u8; 1];
        stream.read_exact(&mut tag).await.unwrap();
        tag[0]
    }

    #[tokio::test]
    async fn round_robin_takes_the_upstreams_in_turn_and_skips_one_that_refuses() {
        let (a, _a) = server(b'a').await;
        let (b, b_task) = server(b'b').await;
        let proxy = TcpProxy::round_robin(vec![a, b]).await.unwrap();
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(answer(&proxy).await);
        }
        assert_eq!(answers, b"abab");

        // b's listener closed: every connection goes to a.
        b_task.abort();
        let _ = b_task.await;
        for _ in 0..4 {
            assert_eq!(answer(&proxy).await, b'a');
        }
    }
}
