//! The local model on its real weights (installed by `make test` / `scripts/platform.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use std::time::Duration;

use tekup_embed::{Embedder, Local, MiniLm, cosine};

fn dir() -> PathBuf {
    PathBuf::from(
        std::env::var("TEKUP_TEST_MODEL_DIR")
            .expect("TEKUP_TEST_MODEL_DIR is not set: run the tests with `make test`"),
    )
}

fn model() -> Local {
    Local::load(&dir()).unwrap()
}

#[tokio::test]
async fn paraphrases_are_near_and_unrelated_texts_far() {
    let local = model();
    let texts = [
        "The office windows need washing every second week.",
        "We want someone to clean the glass panes of our workplace twice a month.",
        "The quarterly invoice was paid late because of a bank holiday.",
    ]
    .map(String::from);
    let v = local.embed(&texts).await.unwrap();
    assert_eq!(v.len(), 3);
    for vector in &v {
        assert_eq!(vector.len(), 384);
        let norm: f32 = vector.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4, "not unit length: {norm}");
    }
    let paraphrase = cosine(&v[0], &v[1]);
    let unrelated = cosine(&v[0], &v[2]);
    eprintln!("paraphrase {paraphrase:.3}, unrelated {unrelated:.3}");
    assert!(paraphrase > 0.45, "paraphrase only {paraphrase}");
    assert!(unrelated < 0.2, "unrelated {unrelated}");
}

/// Token ids and vectors as sentence-transformers makes them (the fixture was produced by
/// sentence-transformers with torch on the same weights), English and Danish.
#[tokio::test]
async fn matches_the_reference_implementation() {
    let model = MiniLm::load(&dir()).unwrap();
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/minilm_reference.json")).unwrap();
    for sentence in fixture["sentences"].as_array().unwrap() {
        let text = sentence["text"].as_str().unwrap();
        let ids: Vec<u32> = sentence["token_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(model.tokens(text), ids, "tokens of {text:?}");
        let want: Vec<f32> = sentence["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let got = model.embed(text);
        let similarity = cosine(&got, &want);
        let max_diff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            similarity > 0.9999 && max_diff < 1e-4,
            "{text:?}: cosine {similarity}, largest difference {max_diff}"
        );
    }
}

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
