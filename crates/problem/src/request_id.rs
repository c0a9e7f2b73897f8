//! The request id: taken from `x-request-id` when the caller sent a sane one, otherwise a new
//! UUIDv7; echoed in the response, recorded on the request's span, and readable by any code
//! that runs while the request is served (problem bodies quote it).

use actix_web::http::header::HeaderValue;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// Reuses the caller's id when it is short printable ASCII, so ids can be followed across
/// services; anything else is replaced rather than trusted into logs.
pub fn from_header(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .filter(|v| {
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_caller_id_is_kept() {
        let value = HeaderValue::from_static("req-42.a:b_c");
        assert_eq!(from_header(Some(&value)), "req-42.a:b_c");
    }

    #[test]
    fn a_missing_or_odd_id_is_replaced_by_a_uuid() {
        for value in [None, Some(HeaderValue::from_static("has space"))] {
            let id = from_header(value.as_ref());
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        }
    }
}
