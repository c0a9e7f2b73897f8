//! Cursor pagination, the same on every list: `?limit=50&after=<cursor>` in, `{items,
//! next_cursor}` out. Cursors are opaque to clients; a missing `next_cursor` is the last page.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Problem;
use crate::problem::FieldError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    /// The validated page size.
    pub fn limit(&self) -> Result<i64, Problem> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            Some(_) => Err(Problem::validation(vec![FieldError::new(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )])),
        }
    }

    /// The cursor parsed as a UUID (lists ordered by UUIDv7 ids).
    pub fn after_uuid(&self) -> Result<Option<uuid::Uuid>, Problem> {
        self.after
            .as_deref()
            .map(|cursor| {
                uuid::Uuid::parse_str(cursor).map_err(|_| {
                    Problem::validation(vec![FieldError::new("after", "is not a valid cursor")])
                })
            })
            .transpose()
    }
}

/// A page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from up to `limit` items; a full page has a cursor made from its last item.
    pub fn new(items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Self {
        let full = i64::try_from(items.len()).is_ok_and(|n| n >= limit);
        let next_cursor = if full { items.last().map(cursor) } else { None };
        Self { items, next_cursor }
    }
}

/// Cursors of lists ordered newest first: `<microseconds>_<uuid>`.
pub fn time_cursor(at: chrono::DateTime<chrono::Utc>, id: uuid::Uuid) -> String {
    format!("{}_{id}", at.timestamp_micros())
}

/// The position a [`time_cursor`] names; 422 naming `after` when it is not one.
pub fn parse_time_cursor(
    cursor: Option<&str>,
) -> Result<Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)>, Problem> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let invalid = || Problem::validation(vec![FieldError::new("after", "is not a valid cursor")]);
    let (micros, id) = cursor.split_once('_').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let at = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok(Some((at, id)))
}

/// Compares secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_the_range_are_refused() {
        for bad in [0, -1, MAX_LIMIT + 1] {
            let query = PageQuery {
                limit: Some(bad),
                after: None,
            };
            assert_eq!(query.limit().unwrap_err().status, 422);
        }
        let query = PageQuery {
            limit: None,
            after: None,
        };
        assert_eq!(query.limit().unwrap(), DEFAULT_LIMIT);
    }

    #[test]
    fn only_a_full_page_has_a_next_cursor() {
        let full = Page::new(vec![1, 2], 2, ToString::to_string);
        assert_eq!(full.next_cursor.as_deref(), Some("2"));
        let last = Page::new(vec![1], 2, ToString::to_string);
        assert!(last.next_cursor.is_none());
    }

    #[test]
    fn time_cursors_round_trip_and_garbage_is_named() {
        let at = chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let id = uuid::Uuid::now_v7();
        let cursor = time_cursor(at, id);
        assert_eq!(parse_time_cursor(Some(&cursor)).unwrap(), Some((at, id)));
        assert_eq!(parse_time_cursor(Some("nonsense")).unwrap_err().status, 422);
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
