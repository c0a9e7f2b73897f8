//! Billy.dk is reached over HTTPS (the default `app.api.base_url`), as are embedding APIs and
//! workflow receivers: the HTTP client the services are built with speaks TLS. Without a TLS
//! backend, reqwest refuses an https url before it connects at all.

#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

#[tokio::test]
async fn an_https_url_opens_with_a_tls_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let opening = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = [0u8; 3];
        stream.read_exact(&mut head).unwrap();
        head
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let sent = client
        .get(format!("https://127.0.0.1:{port}/v2/organization"))
        .send()
        .await;
    assert!(sent.is_err(), "nothing here answers TLS");
    let head = opening.join().unwrap();
    assert_eq!(
        head[..2],
        [0x16, 0x03],
        "a TLS handshake record: {head:02x?}"
    );
}
