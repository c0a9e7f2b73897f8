//! The audit trail (every service's events) and the system log, for org administrators.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_events::{Event, HandleError, Handler, Subscription};
use tekup_runtime::pagination::Page;
use tekup_runtime::problem::FieldError;
use tekup_runtime::{Problem, in_context};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{parse_time_cursor, time_cursor};
use crate::events;
use crate::store::audit;

/// Records every event of every service's topics in the audit trail.
pub fn subscription() -> Subscription {
    Subscription {
        name: "audit".into(),
        topics: events::audited_topics(),
        handler: Arc::new(AuditTrail),
    }
}

struct AuditTrail;

impl Handler for AuditTrail {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move { Ok(audit::record(conn, event).await?) })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only what this user did.
    actor_id: Option<Uuid>,
    /// Only events about this company.
    cvr: Option<String>,
    /// Only events of this type, e.g. `tekup.shared.v1.AccessGranted`.
    r#type: Option<String>,
    /// From this time (inclusive).
    from: Option<DateTime<Utc>>,
    /// Until this time (exclusive).
    to: Option<DateTime<Utc>>,
    /// 1–200, default 50.
    limit: Option<i64>,
    after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    event_id: Uuid,
    occurred_at: DateTime<Utc>,
    org_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    cvr: Option<String>,
    source: String,
    r#type: String,
    subject: String,
    topic: String,
    details: serde_json::Value,
}

impl From<audit::AuditEntry> for AuditView {
    fn from(entry: audit::AuditEntry) -> Self {
        Self {
            event_id: entry.id,
            occurred_at: entry.occurred_at,
            org_id: entry.org_id,
            actor_id: entry.actor_id,
            cvr: entry.cvr,
            source: entry.source,
            r#type: entry.event_type,
            subject: entry.subject,
            topic: entry.topic,
            details: entry.details,
        }
    }
}

fn limit(limit: Option<i64>) -> Result<i64, Problem> {
    tekup_runtime::pagination::PageQuery { limit, after: None }.limit()
}

/// The organization's audit trail, newest first (administrators).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("user" = [])),
    params(AuditQuery),
    responses((status = 200, description = "A page of audit entries: {items, next_cursor}"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn query(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let query = query.into_inner();
    let limit = limit(query.limit)?;
    let cvr = query
        .cvr
        .as_deref()
        .map(|c| tekup_runtime::validate::cvr("cvr", c))
        .transpose()?;
    let filter = audit::Filter {
        actor_id: query.actor_id,
        cvr: cvr.map(|c| c.to_string()),
        event_type: query.r#type,
        from: query.from,
        to: query.to,
        after: parse_time_cursor(query.after.as_deref())?,
        limit,
    };
    let entries = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(audit::query(conn, filter).await?)
    })?;
    let page = Page::new(
        entries.into_iter().map(AuditView::from).collect(),
        limit,
        |e: &AuditView| time_cursor(e.occurred_at, e.event_id),
    );
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SystemLogQuery {
    /// info, warning or error.
    severity: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SystemLogView {
    id: Uuid,
    timestamp: DateTime<Utc>,
    org_id: Option<Uuid>,
    event_type: String,
    severity: String,
    user_id: Option<Uuid>,
    cvr: Option<String>,
    details: serde_json::Value,
}

/// The organization's system log, newest first (administrators).
#[utoipa::path(get, path = "/v1/system-logs", tag = "audit", security(("user" = [])),
    params(SystemLogQuery),
    responses((status = 200, description = "A page of log entries: {items, next_cursor}"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn system_logs(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<SystemLogQuery>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let limit = limit(query.limit)?;
    if let Some(severity) = query.severity.as_deref()
        && !["info", "warning", "error"].contains(&severity)
    {
        return Err(Problem::validation(vec![FieldError::new(
            "severity",
            "must be info, warning or error",
        )]));
    }
    let after = parse_time_cursor(query.after.as_deref())?;
    let severity = query.severity.clone();
    let entries = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(audit::system_entries(conn, severity.as_deref(), after, limit).await?)
    })?;
    let items: Vec<SystemLogView> = entries
        .into_iter()
        .map(|e| SystemLogView {
            id: e.id,
            timestamp: e.timestamp,
            org_id: e.org_id,
            event_type: e.event_type,
            severity: e.severity,
            user_id: e.user_id,
            cvr: e.cvr,
            details: e.details,
        })
        .collect();
    let page = Page::new(items, limit, |e: &SystemLogView| {
        time_cursor(e.timestamp, e.id)
    });
    Ok(HttpResponse::Ok().json(page))
}
