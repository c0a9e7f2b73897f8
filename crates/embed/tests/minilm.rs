//! The local model on its real weights (installed by `make test` / `scripts/platform.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use tekup_embed::{Embedder, Local, cosine};

fn model() -> Local {
    let dir = std::env::var("TEKUP_TEST_MODEL_DIR")
        .expect("TEKUP_TEST_MODEL_DIR is not set: run the tests with `make test`");
    Local::load(&PathBuf::from(dir)).unwrap()
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
