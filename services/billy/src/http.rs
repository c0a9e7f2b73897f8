//! The HTTP API of the billy service: the organization's connection to Billy.dk, the caches,
//! the push queue, and the governance records. The API token goes in once and never comes out.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_db::tenancy::Context;
use tekup_runtime::http::UserAuth;
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::FieldError;
use tekup_runtime::{Problem, in_context};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::State;
use crate::client::BillyError;
use crate::store::{self, Connection, NewConnection};
use crate::sync::{self, Outcome};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/billy/connection", web::put().to(connect))
        .route("/v1/billy/connection", web::get().to(connection))
        .route("/v1/billy/connection", web::delete().to(disconnect))
        .route("/v1/billy/sync", web::post().to(sync_now))
        .route("/v1/billy/invoices", web::get().to(invoices))
        .route("/v1/billy/customers", web::get().to(customers))
        .route("/v1/billy/products", web::get().to(products))
        .route("/v1/billy/pushes", web::get().to(pushes))
        .route(
            "/v1/billy/pushes/{invoice_id}/retry",
            web::post().to(retry_push),
        )
        .route("/v1/billy/audit-logs", web::get().to(audit_logs))
        .route("/v1/billy/usage", web::get().to(usage));
}

#[derive(OpenApi)]
#[openapi(
    info(description = "The Billy.dk accounting integration: organizations, cached invoices, customers and products."),
    paths(connect, connection, disconnect, sync_now, invoices, customers, products, pushes,
          retry_push, audit_logs, usage),
    components(schemas(ConnectBody, ConnectionView, Outcome, RecordView, PushView, AuditView,
                       UsageView, Problem)),
    modifiers(&UserAuth),
    tags((name = "billy", description = "The connection to Billy.dk, its cached records, the invoices put into it, and every call made")),
)]
struct Api;

pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

fn problem_of(err: BillyError) -> Problem {
    match err {
        BillyError::Refused {
            status, message, ..
        } => Problem::new(
            actix_web::http::StatusCode::BAD_GATEWAY,
            "billy-refused",
            format!("Billy.dk refused the request ({status}): {message}"),
        ),
        BillyError::Unavailable(reason) | BillyError::Unknown(reason) => {
            Problem::unavailable(format!("Billy.dk cannot be reached: {reason}"))
        }
        BillyError::Internal(err) => Problem::internal(&err),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectBody {
    /// An access token of the Billy.dk organization (Settings → Access tokens).
    #[schema(value_type = String)]
    access_token: SecretString,
    /// The Billy.dk product invoice lines are booked on; default: one named «Rengøring»,
    /// made when missing.
    product_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    connected: bool,
    billy_organization_id: Option<String>,
    billy_organization_name: Option<String>,
    product_id: Option<String>,
    /// The id of the key the token is encrypted with.
    token_key_id: Option<String>,
    connected_at: Option<DateTime<Utc>>,
    last_synced_at: Option<DateTime<Utc>>,
    last_sync_error: Option<String>,
}

impl From<Option<Connection>> for ConnectionView {
    fn from(c: Option<Connection>) -> Self {
        let connected = c.as_ref().is_some_and(|c| c.token_ciphertext.is_some());
        match c {
            None => Self {
                connected,
                billy_organization_id: None,
                billy_organization_name: None,
                product_id: None,
                token_key_id: None,
                connected_at: None,
                last_synced_at: None,
                last_sync_error: None,
            },
            Some(c) => Self {
                connected,
                billy_organization_id: c.billy_organization_id,
                billy_organization_name: c.billy_organization_name,
                product_id: c.product_id,
                token_key_id: c.token_key_id,
                connected_at: c.connected_at,
                last_synced_at: c.last_synced_at,
                last_sync_error: c.last_sync_error,
            },
        }
    }
}

/// Connect (or reconnect) the organization's Billy.dk organization (administrators). The token
/// is checked with Billy.dk, then stored encrypted; it is never shown again.
#[utoipa::path(put, path = "/v1/billy/connection", tag = "billy", security(("user" = [])),
    request_body = ConnectBody,
    responses((status = 200, body = ConnectionView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn connect(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    body: web::Json<ConnectBody>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let body = body.into_inner();
    let token = body.access_token.expose_secret().trim().to_owned();
    // It travels in a header: visible ASCII only.
    if token.is_empty() || token.len() > 500 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::validation(vec![FieldError::new(
            "access_token",
            "must be a Billy.dk access token (1 to 500 visible ASCII characters)",
        )]));
    }
    let product_id = body.product_id.as_deref().map(str::trim);
    if product_id.is_some_and(|p| {
        p.is_empty()
            || p.len() > 100
            || !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }) {
        return Err(Problem::validation(vec![FieldError::new(
            "product_id",
            "must be a Billy.dk product id (1 to 100 letters, digits, - or _)",
        )]));
    }
    let cipher = state.cipher.as_ref().ok_or_else(|| {
        Problem::unavailable("Billy.dk connections are not configured here (app.token_key).")
    })?;
    let session = state
        .client
        .session(principal.org_id, SecretString::from(token.clone()));
    let organization = match session.get("get organization", "/organization").await {
        Ok(answer) => answer.get("organization").cloned().unwrap_or(Value::Null),
        Err(BillyError::Refused {
            status: 401 | 403, ..
        }) => {
            return Err(Problem::validation(vec![FieldError::new(
                "access_token",
                "was refused by Billy.dk",
            )]));
        }
        Err(err) => return Err(problem_of(err)),
    };
    let billy_id = organization
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Problem::unavailable("Billy.dk did not name its organization."))?
        .to_owned();
    let billy_name = organization
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("Billy.dk")
        .to_owned();
    // Every pushed invoice line is booked on the product: one Billy.dk does not know would
    // fail them all, so it is refused now.
    if let Some(product) = product_id {
        match session
            .get("get product", &format!("/products/{product}"))
            .await
        {
            Ok(_) => {}
            Err(BillyError::Refused { status: 404, .. }) => {
                return Err(Problem::validation(vec![FieldError::new(
                    "product_id",
                    "is not a product of the Billy.dk organization",
                )]));
            }
            Err(err) => return Err(problem_of(err)),
        }
    }
    // Whose account the token is (Billy's `GET /user`); informative, so a failure is no reason
    // to refuse the connection.
    let user = match session.get("get user", "/user").await {
        Ok(answer) => answer.get("user").cloned(),
        Err(err) => {
            tracing::warn!(error = %err, "Billy.dk did not say whose token this is");
            None
        }
    };
    let sealed = cipher
        .seal(principal.org_id, &token)
        .map_err(|err| Problem::internal(&err))?;
    let stored = in_context!(&pool, principal.context(), |conn| {
        store::connect(
            conn,
            NewConnection {
                org_id: principal.org_id,
                billy_organization_id: &billy_id,
                billy_organization_name: &billy_name,
                sealed: &sealed,
                product_id,
                by: principal.user_id,
            },
        )
        .await?;
        if let Some(user) = &user
            && let Some(id) = user.get("id").and_then(Value::as_str)
        {
            store::seen_user(
                conn,
                principal.org_id,
                id,
                user.get("name").and_then(Value::as_str).unwrap_or(""),
                user.get("email").and_then(Value::as_str),
                principal.user_id,
            )
            .await?;
        }
        Ok::<_, Problem>(store::connection(conn, principal.org_id).await?)
    })?;
    tracing::info!(org = %principal.org_id, billy_organization = billy_id, "Billy.dk connected");
    state.wake_push.notify_one();
    Ok(HttpResponse::Ok().json(ConnectionView::from(stored)))
}

/// The organization's connection (without the token).
#[utoipa::path(get, path = "/v1/billy/connection", tag = "billy", security(("user" = [])),
    responses((status = 200, body = ConnectionView)))]
pub async fn connection(
    principal: Principal,
    pool: web::Data<Pool>,
) -> Result<HttpResponse, Problem> {
    let found = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(store::connection(conn, principal.org_id).await?)
    })?;
    Ok(HttpResponse::Ok().json(ConnectionView::from(found)))
}

/// Forget the token (administrators).
#[utoipa::path(delete, path = "/v1/billy/connection", tag = "billy", security(("user" = [])),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn disconnect(
    principal: Principal,
    pool: web::Data<Pool>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let removed = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(store::disconnect(conn, principal.org_id).await?)
    })?;
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Problem::not_found(
            "The organization is not connected to Billy.dk.",
        ))
    }
}

/// Read Billy.dk now instead of at the next poll (administrators).
#[utoipa::path(post, path = "/v1/billy/sync", tag = "billy", security(("user" = [])),
    responses((status = 200, body = Outcome),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn sync_now(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let cipher = state
        .cipher
        .as_ref()
        .ok_or_else(|| Problem::unavailable("Billy.dk is not configured here (app.token_key)."))?;
    // The organization's own row, read under its admin's context.
    let found = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(store::connection(conn, principal.org_id).await?)
    })?;
    let Some(connection) = found.filter(|c| c.token_ciphertext.is_some()) else {
        return Err(Problem::conflict(
            "The organization is not connected to Billy.dk.",
        ));
    };
    let outcome = sync::sync(
        &pool,
        &state.client,
        cipher,
        &state.config.sync,
        &connection,
    )
    .await
    .map_err(problem_of)?;
    Ok(HttpResponse::Ok().json(outcome))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordView {
    billy_id: String,
    /// The record as Billy.dk returned it.
    #[schema(value_type = Object)]
    data: Value,
    synced_at: DateTime<Utc>,
}

async fn cache_page(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
    table: &'static str,
) -> Result<HttpResponse, Problem> {
    let limit = query.limit()?;
    let after = query.after.clone();
    let rows = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(store::cached(conn, table, after.as_deref(), limit).await?)
    })?;
    let views: Vec<RecordView> = rows
        .into_iter()
        .map(|r| RecordView {
            billy_id: r.billy_id,
            data: r.data,
            synced_at: r.synced_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |r| r.billy_id.clone())))
}

/// Billy.dk's invoices as last read: those of the contacts the user may read (an invoice of a
/// contact not cached, by administrators only).
#[utoipa::path(get, path = "/v1/billy/invoices", tag = "billy", security(("user" = [])),
    params(PageQuery), responses((status = 200, description = "A page of records: {items, next_cursor}")))]
pub async fn invoices(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    cache_page(principal, pool, query, "cached_invoices").await
}

/// Billy.dk's contacts as last read: those of the companies the user may read, and private
/// customers (no CVR).
#[utoipa::path(get, path = "/v1/billy/customers", tag = "billy", security(("user" = [])),
    params(PageQuery), responses((status = 200, description = "A page of records: {items, next_cursor}")))]
pub async fn customers(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    cache_page(principal, pool, query, "cached_customers").await
}

/// Billy.dk's products as last read.
#[utoipa::path(get, path = "/v1/billy/products", tag = "billy", security(("user" = [])),
    params(PageQuery), responses((status = 200, description = "A page of records: {items, next_cursor}")))]
pub async fn products(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    cache_page(principal, pool, query, "cached_products").await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PushView {
    invoice_id: Uuid,
    /// pending, synced or failed.
    status: String,
    attempts: i32,
    billy_invoice_id: Option<String>,
    last_error: Option<String>,
    next_attempt_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PushQuery {
    /// pending, synced or failed.
    status: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

/// Invoices put (or being put) into Billy.dk, newest first (administrators).
#[utoipa::path(get, path = "/v1/billy/pushes", tag = "billy", security(("user" = [])),
    params(PushQuery), responses((status = 200, description = "A page of pushes: {items, next_cursor}")))]
pub async fn pushes(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PushQuery>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let query = query.into_inner();
    if let Some(status) = &query.status
        && !["pending", "synced", "failed"].contains(&status.as_str())
    {
        return Err(Problem::validation(vec![FieldError::new(
            "status",
            "must be pending, synced or failed",
        )]));
    }
    let page = PageQuery {
        limit: query.limit,
        after: query.after,
    };
    let limit = page.limit()?;
    let after = page.after_uuid()?;
    let rows = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(store::pushes(conn, query.status.as_deref(), after, limit).await?)
    })?;
    let views: Vec<PushView> = rows
        .into_iter()
        .map(|p| PushView {
            invoice_id: p.invoice_id,
            status: p.status,
            attempts: p.attempts,
            billy_invoice_id: p.billy_invoice_id,
            last_error: p.last_error,
            next_attempt_at: p.next_attempt_at,
            updated_at: p.updated_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |p| p.invoice_id.to_string())))
}

/// Try a failed push again, e.g. after connecting Billy.dk (administrators).
#[utoipa::path(post, path = "/v1/billy/pushes/{invoice_id}/retry", tag = "billy", security(("user" = [])),
    params(("invoice_id" = Uuid, Path)),
    responses((status = 202), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn retry_push(
    principal: Principal,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    // The queue is the service's; the admin may only touch a failed push of their organization
    // (Row Level Security shows them no other).
    let failed = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(store::push(conn, *id).await?)
    })?
    .is_some_and(|p| p.status == "failed");
    if !failed {
        return Err(Problem::not_found("No failed push of this invoice."));
    }
    in_context!(&pool, Context::System, |conn| {
        Ok::<_, Problem>(store::retry(conn, *id).await?)
    })?;
    state.wake_push.notify_one();
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    id: Uuid,
    operation: String,
    method: String,
    path: String,
    /// 0 when Billy.dk did not answer.
    status: i32,
    duration_ms: i32,
    attempt: i32,
    error_code: Option<String>,
    at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only calls answered with this HTTP status (0: unanswered).
    status: Option<i32>,
    limit: Option<i64>,
    after: Option<String>,
}

/// Every call made to Billy.dk for the organization, newest first (administrators).
#[utoipa::path(get, path = "/v1/billy/audit-logs", tag = "billy", security(("user" = [])),
    params(AuditQuery), responses((status = 200, description = "A page of calls: {items, next_cursor}")))]
pub async fn audit_logs(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        after: query.after,
    };
    let limit = page.limit()?;
    let before = parse_time_cursor(page.after.as_deref())?;
    let rows = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(store::audit(conn, query.status, before, limit).await?)
    })?;
    let views: Vec<AuditView> = rows
        .into_iter()
        .map(|a| AuditView {
            id: a.id,
            operation: a.operation,
            method: a.method,
            path: a.path,
            status: a.status,
            duration_ms: a.duration_ms,
            attempt: a.attempt,
            error_code: a.error_code,
            at: a.at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |a| time_cursor(a.at, a.id))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    day: NaiveDate,
    calls: i32,
    errors: i32,
    rate_limited: i32,
    total_ms: i64,
}

/// Calls to Billy.dk per day, the last 31 days.
#[utoipa::path(get, path = "/v1/billy/usage", tag = "billy", security(("user" = [])),
    responses((status = 200, body = [UsageView])))]
pub async fn usage(principal: Principal, pool: web::Data<Pool>) -> Result<HttpResponse, Problem> {
    let rows = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(store::usage(conn).await?)
    })?;
    let views: Vec<UsageView> = rows
        .into_iter()
        .map(|u| UsageView {
            day: u.day,
            calls: u.calls,
            errors: u.errors,
            rate_limited: u.rate_limited,
            total_ms: u.total_ms,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}
