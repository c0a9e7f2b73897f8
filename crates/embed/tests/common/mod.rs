//! What the model's tests share.

use std::path::PathBuf;

/// The model's files, installed by `make test` / `scripts/platform.sh`.
pub fn dir() -> PathBuf {
    PathBuf::from(std::env::var("TEKUP_TEST_MODEL_DIR").unwrap_or_else(|_| {
        panic!("TEKUP_TEST_MODEL_DIR is not set: run the tests with `make test`")
    }))
}
