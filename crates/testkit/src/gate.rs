//! A gate in front of a real server (the test PostgreSQL): while it is closed, every connection
//! through it is cut and new ones are closed at once — what clients see when the server stops
//! — and opening it lets connections through again, as when the server is back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct Gate {
    pub port: u16,
    open: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Gate {
    /// A gate on a free loopback port forwarding to `target`, open.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let open = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (accepting, tracked) = (Arc::clone(&open), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                let mut list = tracked
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                list.retain(|h| !h.is_finished());
                list.push(task.abort_handle());
            }
        });
        Ok(Self {
            port,
            open,
            connections,
        })
    }

    /// Cuts every connection and refuses new ones.
    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        let list = self
            .connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for handle in list.iter() {
            handle.abort();
        }
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}
