//! A deployment's webhook transport reaches public addresses only: a receiver on this
//! machine, named by address or by a name resolving to it, gets no connection at all, and the
//! same receiver is reached when the policy allows private targets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use obol_core::webhooks::{TargetPolicy, WebhookTransport};
use obol_http::HttpWebhookTransport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A receiver answering 204 to everything, counting connections.
async fn receiver() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0_u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    (port, connections)
}

#[tokio::test]
async fn inward_receivers_get_no_connection_unless_allowed() {
    let (port, connections) = receiver().await;
    let public_only = HttpWebhookTransport::new(Duration::from_secs(5)).unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://0x7f.1:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]:9/hook".to_owned(),
    ] {
        let refused = public_only.post(&url, &[], b"{}").await.unwrap_err();
        assert!(
            refused.to_string().contains("not at a public address"),
            "{url}: {refused}"
        );
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0);

    let anywhere =
        HttpWebhookTransport::with_policy(Duration::from_secs(5), TargetPolicy::Any).unwrap();
    let status = anywhere
        .post(&format!("http://localhost:{port}/hook"), &[], b"{}")
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}
