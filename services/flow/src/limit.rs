//! How many deliveries one inbound webhook takes per minute, on this instance: a sender that
//! floods an endpoint (or guesses at its secret) is answered 429 before its body is read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

const WINDOW: Duration = Duration::from_secs(60);

pub struct Limiter {
    per_minute: u32,
    /// Per webhook: when its current minute began, and the requests in it.
    windows: Mutex<HashMap<Uuid, (Instant, u32)>>,
}

impl Limiter {
    /// `per_minute` requests per webhook and minute; 0 admits everything.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request for `webhook`: `Err(wait)` when its minute is full.
    pub fn admit(&self, webhook: Uuid) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > 10_000 {
            windows.retain(|_, (started, _)| now.duration_since(*started) < WINDOW);
        }
        let (started, count) = windows.entry(webhook).or_insert((now, 0));
        if now.duration_since(*started) >= WINDOW {
            (*started, *count) = (now, 0);
        }
        if *count >= self.per_minute {
            return Err(WINDOW.saturating_sub(now.duration_since(*started)));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_webhook_has_its_own_minute() {
        let limiter = Limiter::new(2);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(limiter.admit(a).is_ok());
        assert!(limiter.admit(a).is_ok());
        let wait = limiter.admit(a).unwrap_err();
        assert!(wait > Duration::from_secs(58) && wait <= WINDOW, "{wait:?}");
        assert!(limiter.admit(b).is_ok(), "another webhook is not held back");
        assert!((0..100).all(|_| Limiter::new(0).admit(a).is_ok()));
    }
}
