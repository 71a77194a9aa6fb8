//! Hostile parties for the isolation tests and the bench (issue 17): a URL that trickles, a PUT
//! body that drips, a webhook receiver that answers one byte a second. Each runs on 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server whose every answer is a JPEG's headers followed by one byte `every` (a trickle), at
/// most `bytes` of them, then the connection closes short of its declared length: for URL
/// uploads and website ingests that must not hold anything while they wait.
pub async fn trickle_server(every: Duration, bytes: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = socket.read(&mut head).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n\xff\xd8",
                    )
                    .await;
                for _ in 0..bytes {
                    tokio::time::sleep(every).await;
                    if socket.write_all(b"\0").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{address}/photo.jpg")
}

/// Starts a PUT of `size` declared bytes to `url` and sends one byte `every`, on a raw
/// connection; answers what the gateway said (its status line) once it does.
pub fn dripping_put(url: &str, size: usize, every: Duration) -> tokio::task::JoinHandle<String> {
    let url = reqwest::Url::parse(url).unwrap();
    tokio::spawn(async move {
        let address = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
        let mut socket = TcpStream::connect(address).await.unwrap();
        let target = format!("{}?{}", url.path(), url.query().unwrap_or(""));
        let head = format!(
            "PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: {size}\r\n\r\n"
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        for _ in 0..size {
            tokio::time::sleep(every).await;
            if socket.write_all(b"\xff").await.is_err() {
                break;
            }
            let mut buf = [0u8; 1024];
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(1), socket.read(&mut buf)).await
            {
                answer.extend_from_slice(&buf[..n]);
                if n == 0 || !answer.is_empty() {
                    break;
                }
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    })
}

/// A webhook receiver that accepts, answers a status line and headers, then one byte a second
/// (a tarpit), counting the requests it took.
pub async fn tarpit_receiver() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let taken = Arc::new(AtomicUsize::new(0));
    let counter = taken.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = [0u8; 8192];
                let _ = socket.read(&mut head).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                    .await;
                for _ in 0..60 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if socket.write_all(b"z").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{address}/hook"), taken)
}
