//! The local model on its real weights (installed by `make test` / `scripts/platform.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dir;
use tekup_embed::{Embedder, Local, MiniLm, cosine};

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

/// A caller that goes away while the weights load (a client that hung up) leaves the load to
/// finish: the next text finds them loaded instead of loading them a second time.
#[tokio::test]
async fn a_load_outlives_the_caller_that_started_it() {
    let local = Local::on_demand(&dir(), std::time::Duration::from_secs(60)).unwrap();
    let text = ["Tilbud på vinduespudsning".to_owned()];
    let gone = tokio::time::timeout(std::time::Duration::from_millis(1), local.embed(&text)).await;
    assert!(
        gone.is_err(),
        "the first caller should have gone before the load ended"
    );
    assert_eq!(local.embed(&text).await.unwrap().len(), 1);
    assert_eq!(local.loads(), 1, "loaded twice");
    assert!(local.is_loaded().await);
}
