//! RFC 9457 problem details: the one error body every endpoint answers with.
//!
//! Client errors say precisely what is wrong. Server errors say nothing internal: the cause is
//! logged with the request id, and the body carries only that id so the two can be matched.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use tekup_db::DbError;
use utoipa::ToSchema;

use crate::request_id;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// An error response (`application/problem+json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; stable, so clients can branch on it.
    #[serde(rename = "type", serialize_with = "type_uri")]
    #[schema(value_type = String, example = "https://problems.tekup.dk/validation")]
    pub code: &'static str,
    /// A short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request id, to quote when reporting the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Per-field validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds to wait before trying again, sent as `Retry-After` (not in the body).
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as a JSON pointer-like path (`address.zipcode`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl Problem {
    /// A problem of the given status; `code` becomes the last segment of the type URI.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<Option<String>>) -> Self {
        Self {
            code,
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: request_id::current(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 429: too many requests of a kind; try again after `retry_after` (at least a second).
    pub fn too_many_requests(
        code: &'static str,
        detail: impl Into<String>,
        retry_after: std::time::Duration,
    ) -> Self {
        Self {
            retry_after: Some(
                u32::try_from(retry_after.as_secs())
                    .unwrap_or(u32::MAX)
                    .max(1),
            ),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, detail.into())
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail.into())
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut problem = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail);
        problem.errors = errors;
        problem
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail.into())
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail.into())
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail.into())
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail.into())
    }

    /// 413: the body is larger than `limit` bytes.
    pub fn payload_too_large(what: &str, limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("{what} is larger than {limit} bytes."),
        )
    }

    /// 415: the body is not of a media type the endpoint takes.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            detail.into(),
        )
    }

    /// A dependency (database, broker) is unreachable; retrying later may succeed.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            detail.into(),
        )
    }

    /// A failure the client cannot act on. Logs `cause` with the request id; the body says
    /// nothing about it.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The server could not complete the request. Quote the request id when reporting it."
                .to_owned(),
        )
    }
}

fn type_uri<S: serde::Serializer>(code: &&'static str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("https://problems.tekup.dk/{code}"))
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header(ContentType(mime_problem()));
        if let Some(seconds) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds));
        }
        response.json(self)
    }
}

fn mime_problem() -> actix_web::mime::Mime {
    CONTENT_TYPE
        .parse()
        .unwrap_or(actix_web::mime::APPLICATION_JSON)
}

impl From<DbError> for Problem {
    fn from(err: DbError) -> Self {
        use diesel::result::DatabaseErrorKind::{
            CheckViolation, ForeignKeyViolation, UniqueViolation,
        };
        use diesel::result::Error::{DatabaseError, NotFound};
        match err {
            DbError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Problem::unavailable("The database is unavailable; try again shortly.")
            }
            DbError::Query(NotFound) => Problem::not_found("No such resource."),
            DbError::Query(DatabaseError(kind, info)) => match kind {
                UniqueViolation => Problem::conflict(conflict_detail(info.constraint_name())),
                ForeignKeyViolation => Problem::validation(vec![FieldError::new(
                    info.constraint_name().unwrap_or("reference"),
                    "refers to something that does not exist",
                )]),
                CheckViolation => Problem::validation(vec![FieldError::new(
                    info.constraint_name().unwrap_or("value"),
                    "violates a constraint",
                )]),
                // Text and jsonb cannot hold NUL (U+0000): input, not a server fault. (Matched
                // on PostgreSQL's English message, which diesel gives without the SQLSTATE.)
                _ if is_nul_in_text(info.message()) => Problem::validation(vec![FieldError::new(
                    "body",
                    "must not contain NUL characters (\\u0000)",
                )]),
                // A value that passed the handler's checks but not the column's type or an
                // index's size: too large a number, a date beyond PostgreSQL's calendar, too
                // long a text. Input, not a server fault.
                _ if is_out_of_range(info.message()) => {
                    tracing::warn!(error = info.message(), "a value the database cannot store");
                    Problem::validation(vec![FieldError::new(
                        info.column_name().unwrap_or("body"),
                        "holds a value too large or too long to be stored",
                    )])
                }
                // Row Level Security refused a write the handler let through (a row of a
                // company out of the user's reach): answered as what the user may not see.
                _ if info
                    .message()
                    .contains("violates row-level security policy") =>
                {
                    tracing::warn!(
                        error = info.message(),
                        "a write refused by row level security"
                    );
                    Problem::not_found("No such resource.")
                }
                _ => Problem::internal(&info.message()),
            },
            other => Problem::internal(&other),
        }
    }
}

/// For `map_err` on a query that fetches one row: a missing row is a 404 naming `what` ("such
/// document" → "No such document."), anything else as any database error.
pub fn not_found(what: &'static str) -> impl Fn(diesel::result::Error) -> Problem {
    move |err| match err {
        diesel::result::Error::NotFound => Problem::not_found(format!("No {what}.")),
        err => err.into(),
    }
}

impl From<diesel::result::Error> for Problem {
    fn from(err: diesel::result::Error) -> Self {
        DbError::from(err).into()
    }
}

/// PostgreSQL's messages for SQLSTATE 22001 (string data right truncation), 22003 (numeric
/// value out of range), 22008 (datetime field overflow) and 54000 (an index row too large).
fn is_out_of_range(message: &str) -> bool {
    [
        "out of range",
        "numeric field overflow",
        "value too long for type",
        "index row size",
        "index row requires",
    ]
    .iter()
    .any(|m| message.contains(m))
}

fn is_nul_in_text(message: &str) -> bool {
    message.contains("unsupported Unicode escape sequence")
        || (message.contains("invalid byte sequence for encoding") && message.contains("0x00"))
}

fn conflict_detail(constraint: Option<&str>) -> String {
    match constraint {
        Some(name) => format!("A resource with the same unique value already exists ({name})."),
        None => "A resource with the same unique value already exists.".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    #[actix_web::test]
    async fn a_problem_renders_as_problem_json() {
        let response = Problem::not_found("No company 12345678.").error_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            CONTENT_TYPE
        );
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body()).await.unwrap()).unwrap();
        assert_eq!(body["status"], 404);
        assert_eq!(body["type"], "https://problems.tekup.dk/not-found");
        assert_eq!(body["detail"], "No company 12345678.");
    }

    #[test]
    fn values_the_database_cannot_store_are_the_client_s_to_fix() {
        use diesel::result::{DatabaseErrorKind::Unknown, Error::DatabaseError};
        for message in [
            "date out of range: \"-5000-01-01\"",
            "timestamp out of range",
            "value \"99999999999\" is out of range for type integer",
            "value too long for type character varying(255)",
            "index row size 10032 exceeds btree version 4 maximum 2704 for index \"x_idx\"",
        ] {
            let problem = Problem::from(DbError::Query(DatabaseError(
                Unknown,
                Box::new(message.to_owned()),
            )));
            assert_eq!(problem.status, 422, "{message}");
        }
        let other = Problem::from(DbError::Query(DatabaseError(
            Unknown,
            Box::new("relation \"x\" does not exist".to_owned()),
        )));
        assert_eq!(other.status, 500);
        let refused = Problem::from(DbError::Query(DatabaseError(
            Unknown,
            Box::new(
                "new row violates row-level security policy (USING expression) for table \"customers\""
                    .to_owned(),
            ),
        )));
        assert_eq!(refused.status, 404, "what RLS hides is not found");
    }

    #[actix_web::test]
    async fn too_many_requests_says_when_to_come_back() {
        let response = Problem::too_many_requests(
            "too-many-attempts",
            "Try again later.",
            std::time::Duration::from_secs(900),
        )
        .error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get("retry-after").unwrap(), "900");
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body()).await.unwrap()).unwrap();
        assert!(body.get("retry_after").is_none(), "{body}");
    }

    #[test]
    fn an_internal_problem_hides_its_cause() {
        let problem = Problem::internal(&"relation \"crm.secret\" does not exist");
        assert_eq!(problem.status, 500);
        let body = serde_json::to_string(&problem).unwrap();
        assert!(!body.contains("crm.secret"), "{body}");
    }

    #[test]
    fn validation_lists_every_field() {
        let problem = Problem::validation(vec![
            FieldError::new("cvr", "must be 8 digits"),
            FieldError::new("name", "must not be empty"),
        ]);
        assert_eq!(problem.status, 422);
        assert_eq!(
            problem.detail.as_deref(),
            Some("cvr: must be 8 digits; name: must not be empty")
        );
    }
}
