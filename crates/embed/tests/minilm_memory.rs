//! The local model loaded on demand: its memory measured as this process's RSS, so this test
//! has a binary of its own (no other test loads weights beside it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::dir;
use tekup_embed::{Embedder, Local};

/// This process's resident memory, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// On demand, the weights are in memory only while there is text to embed, and leaving gives
/// their memory back to the system; what is embedded after a reload is the same.
#[tokio::test]
async fn a_model_loaded_on_demand_leaves_memory_when_idle_and_comes_back_the_same() {
    let idle = Duration::from_millis(400);
    let local = Local::on_demand(&dir(), idle).unwrap();
    assert!(!local.is_loaded().await, "checked at start, then let go");
    let before = rss_mib();

    let text = ["Vinduerne på kontoret skal pudses hver anden uge.".to_owned()];
    let first = local.embed(&text).await.unwrap();
    assert!(local.is_loaded().await);
    let loaded = rss_mib();
    assert!(
        loaded - before > 60.0,
        "the weights should be resident: {before:.1} MiB before, {loaded:.1} MiB loaded"
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while local.is_loaded().await {
        assert!(
            std::time::Instant::now() < deadline,
            "still loaded after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let unloaded = rss_mib();
    assert!(
        loaded - unloaded > 60.0,
        "the memory should go back: {loaded:.1} MiB loaded, {unloaded:.1} MiB after unloading"
    );
    eprintln!("RSS: {before:.1} MiB idle, {loaded:.1} loaded, {unloaded:.1} unloaded");

    let again = local.embed(&text).await.unwrap();
    assert_eq!(first, again);
    assert!(local.is_loaded().await);
}
