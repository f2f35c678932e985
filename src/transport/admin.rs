//! The admin HTTP listener's transport side: one shard listens alone on the
//! admin endpoint (no SO_REUSEPORT), reads one HTTP/1.1 request per
//! connection and answers what its [`AdminSite`] says; the control plane
//! says what the pages are (`/metrics`, `/health`, `/ready`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};

use super::socket::listen_tcp_alone;

/// An admin page's answer: the status line (`200 OK`) and the body.
pub type AdminAnswer = (&'static str, String);

/// What the admin listener serves.
pub trait AdminSite: Send + Sync + 'static {
    /// The answer to a request with this method and path.
    fn answer(&self, method: &str, path: &str) -> Pin<Box<dyn Future<Output = AdminAnswer>>>;
}

/// Binds the admin listener at `addr` on this shard and serves it until the
/// task is dropped; answers where it listens.
pub fn spawn_admin(
    addr: SocketAddr,
    site: Arc<dyn AdminSite>,
) -> std::io::Result<(SocketAddr, glommio::Task<()>)> {
    let listener = listen_tcp_alone(addr, 128)?;
    let bound = listener.local_addr()?;
    let task = glommio::spawn_local(async move {
        while let Ok(stream) = listener.accept().await {
            let site = site.clone();
            glommio::spawn_local(async move { serve(stream, &*site).await }).detach();
        }
    });
    Ok((bound, task))
}

async fn serve(mut stream: glommio::net::TcpStream, site: &dyn AdminSite) {
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    loop {
        match stream.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => return,
            Ok(k) => n += k,
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..n]) {
            Ok(httparse::Status::Complete(_)) => {
                let path = req.path.unwrap_or("/").to_owned();
                let method = req.method.unwrap_or("").to_owned();
                let (status, body) = site.answer(&method, &path).await;
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(resp.as_bytes()).await;
                let _ = stream.flush().await;
                return;
            }
            Ok(httparse::Status::Partial) if n < buf.len() => continue,
            _ => {
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                return;
            }
        }
    }
}
