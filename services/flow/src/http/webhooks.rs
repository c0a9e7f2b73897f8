//! Inbound webhooks: endpoints administrators hand to the outside world, and the deliveries
//! they receive. A delivery is acknowledged only once it is stored with its event (one
//! transaction), a redelivery is recognised and acknowledged without a second event, and a
//! delivery that fails authentication is refused with 401 and stored nowhere.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_db::tenancy::Context;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_proto::flow::v1::WebhookReceived;
use tekup_runtime::http::{media_type, read_body};
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::{FieldError, not_found};
use tekup_runtime::validate::{check, text};
use tekup_runtime::{Problem, in_context};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::signature::{self, Signed};
use crate::store::webhooks::{self, Delivery, NewDelivery, Webhook};

/// The largest delivery accepted: it travels whole in its event.
pub const MAX_BODY: usize = 512 * 1024;

const FORMATS: [&str; 3] = ["wotnot", "email", "standard"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    name: String,
    /// wotnot (WotNot's chatbot events, shared token), email (one forwarded RFC 5322 message
    /// per delivery, signed per Standard Webhooks) or standard (any payload, signed).
    format: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    id: Uuid,
    name: String,
    format: String,
    active: bool,
    /// Where senders deliver (relative to this service's address).
    path: String,
    created_at: DateTime<Utc>,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.id,
            name: w.name.clone(),
            format: w.format.clone(),
            active: w.active,
            path: format!("/v1/hooks/{}", w.id),
            created_at: w.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    webhook: WebhookView,
    /// Shown once. WotNot sends it as its token (`Authorization: Bearer <secret>` or
    /// `?token=<secret>`); Standard Webhooks senders sign with it.
    secret: String,
}

/// Create an inbound webhook (administrators).
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("user" = [])),
    request_body = WebhookBody,
    responses((status = 201, body = CreatedWebhook),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<WebhookBody>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let mut errors = Vec::new();
    let name = text("name", &body.name, 200, &mut errors);
    if !FORMATS.contains(&body.format.as_str()) {
        errors.push(FieldError::new(
            "format",
            format!("must be one of {}", FORMATS.join(", ")),
        ));
    }
    check(errors)?;
    let secret = signature::generate_secret();
    let webhook = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            webhooks::create(
                conn,
                principal.org_id,
                &name,
                &body.format,
                &secret,
                principal.user_id,
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::Created().json(CreatedWebhook {
        webhook: WebhookView::from(&webhook),
        secret,
    }))
}

/// The organization's inbound webhooks, newest first (administrators).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("user" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of webhooks: {items, next_cursor}"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let limit = query.limit()?;
    let after = parse_time_cursor(query.after.as_deref())?;
    let items = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(webhooks::list(conn, after, limit).await?)
    })?;
    let views: Vec<WebhookView> = items.iter().map(WebhookView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |w| time_cursor(w.created_at, w.id))))
}

/// Stop accepting deliveries at a webhook (administrators).
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("user" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn deactivate(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let found = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(webhooks::deactivate(conn, *id).await?)
    })?;
    crate::http::deleted(found, "webhook")
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    id: Uuid,
    content_type: String,
    /// Bytes.
    size: i32,
    /// The request's headers, without credentials.
    #[schema(value_type = Object)]
    headers: serde_json::Value,
    received_at: DateTime<Utc>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            content_type: d.content_type,
            size: d.size,
            headers: d.headers,
            received_at: d.received_at,
        }
    }
}

/// A webhook's deliveries, newest first (administrators).
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("user" = [])),
    params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, description = "A page of deliveries: {items, next_cursor}"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn deliveries(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let limit = query.limit()?;
    let after = parse_time_cursor(query.after.as_deref())?;
    let items = in_context!(&pool, principal.context(), |conn| {
        webhooks::find(conn, *id)
            .await
            .map_err(not_found("such webhook"))?;
        Ok::<_, Problem>(webhooks::deliveries(conn, *id, after, limit).await?)
    })?;
    let views: Vec<DeliveryView> = items.into_iter().map(DeliveryView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |d| {
        time_cursor(d.received_at, d.id)
    })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Receipt {
    delivery_id: Uuid,
    /// The delivery had been received before; nothing changed.
    duplicate: bool,
}

/// Receive a delivery (no user token: the sender authenticates with the webhook's secret).
/// WotNot's check of a new endpoint (its token, no events) is answered with the token.
#[utoipa::path(post, path = "/v1/hooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path)),
    request_body(content = String, description = "wotnot: {\"events\":[...]} (JSON); email: message/rfc822; standard: any", content_type = "application/octet-stream"),
    responses((status = 202, body = Receipt),
              (status = 200, description = "WotNot's endpoint check: the token", body = String, content_type = "text/plain"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 413, body = Problem, content_type = "application/problem+json"),
              (status = 415, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "Too many deliveries this minute; see Retry-After",
               body = Problem, content_type = "application/problem+json")))]
pub async fn receive(
    req: HttpRequest,
    pool: web::Data<Pool>,
    state: web::Data<crate::State>,
    id: web::Path<Uuid>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    // The endpoint and its allowance first: the body of a request refused anyway is not read.
    let webhook = in_context!(&pool, Context::System, |conn| {
        webhooks::find(conn, *id)
            .await
            .map_err(not_found("such webhook"))
    })?;
    if !webhook.active {
        return Err(Problem::not_found("No such webhook."));
    }
    state.hooks.admit(webhook.id).map_err(|wait| {
        Problem::too_many_requests(
            "too-many-deliveries",
            "Too many deliveries to this webhook this minute. Try again later.",
            wait,
        )
    })?;
    let body = read_body(payload, MAX_BODY).await?;
    let content_type = media_type(&req);
    let dedupe_key = authenticate(&req, &webhook, &body)?;
    if webhook.format == "wotnot" && is_endpoint_check(&body) {
        // WotNot checks a new endpoint with a request that carries no events and expects its
        // token back with 200 OK; nothing is stored.
        return Ok(HttpResponse::Ok()
            .content_type("text/plain")
            .body(webhook.secret.clone()));
    }
    accept(&webhook, &content_type, &body)?;
    let headers = kept_headers(&req);

    let received = in_context!(&pool, Context::System, |conn| {
        let new = NewDelivery {
            webhook: &webhook,
            dedupe_key: &dedupe_key,
            content_type: &content_type,
            body: &body,
            headers: headers.clone(),
        };
        match webhooks::record(conn, new).await? {
            Some(delivery) => {
                outbox::publish(
                    conn,
                    Outgoing {
                        topic: &topic("flow", "webhook"),
                        org_id: Some(webhook.org_id),
                        cvr: None,
                        // One endpoint's deliveries stay in order.
                        subject: &webhook.id.to_string(),
                        payload: &WebhookReceived {
                            delivery_id: delivery.id.to_string(),
                            org_id: webhook.org_id.to_string(),
                            webhook_id: webhook.id.to_string(),
                            format: webhook.format.clone(),
                            content_type: content_type.clone(),
                            body: body.to_vec(),
                            received_at: delivery.received_at.to_rfc3339(),
                        },
                    },
                )
                .await?;
                Ok::<_, Problem>(Receipt {
                    delivery_id: delivery.id,
                    duplicate: false,
                })
            }
            None => Ok(Receipt {
                delivery_id: webhooks::recorded(conn, webhook.id, &dedupe_key).await?.id,
                duplicate: true,
            }),
        }
    })?;
    Ok(HttpResponse::Accepted().json(received))
}

/// Checks the sender's credentials; returns the delivery's deduplication key.
fn authenticate(req: &HttpRequest, webhook: &Webhook, body: &[u8]) -> Result<String, Problem> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if webhook.format == "wotnot" {
        let presented = header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned)
            .or_else(|| {
                web::Query::<TokenQuery>::from_query(req.query_string())
                    .ok()
                    .and_then(|q| q.into_inner().token)
            });
        return match presented {
            Some(token) if signature::token_matches(&webhook.secret, &token) => {
                // WotNot has no delivery id: the same batch delivered twice is the same bytes.
                Ok(format!("sha256:{:x}", Sha256::digest(body)))
            }
            Some(_) => Err(Problem::unauthorized(
                "The token does not match the webhook's.",
            )),
            None => Err(Problem::unauthorized(
                "Send the webhook's token as `Authorization: Bearer <token>` or `?token=`.",
            )),
        };
    }
    let signed = Signed {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signatures: header("webhook-signature"),
    };
    signature::verify(&webhook.secret, &signed, body, Utc::now().timestamp())
        .map(str::to_owned)
        .map_err(|rejection| Problem::unauthorized(format!("Refused: {rejection}.")))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// An authenticated WotNot request without events: its check of a newly saved endpoint.
fn is_endpoint_check(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|v| v.is_object() && v.get("events").is_none())
}

/// What each format must look like to be worth storing.
fn accept(webhook: &Webhook, content_type: &str, body: &[u8]) -> Result<(), Problem> {
    if body.is_empty() {
        return Err(Problem::validation(vec![FieldError::new(
            "body", "is empty",
        )]));
    }
    match webhook.format.as_str() {
        "wotnot" => {
            #[derive(Deserialize)]
            struct Batch {
                events: Vec<serde_json::Value>,
            }
            let batch: Batch = serde_json::from_slice(body).map_err(|err| {
                Problem::validation(vec![FieldError::new(
                    "body",
                    format!("is not a WotNot batch ({{\"events\":[...]}}): {err}"),
                )])
            })?;
            if batch.events.is_empty() {
                return Err(Problem::validation(vec![FieldError::new(
                    "events", "is empty",
                )]));
            }
            Ok(())
        }
        "email" if content_type != "message/rfc822" => Err(Problem::unsupported_media_type(
            "Send one e-mail per delivery as message/rfc822.",
        )),
        _ => Ok(()),
    }
}

/// The request's headers as evidence, without those that carry credentials.
fn kept_headers(req: &HttpRequest) -> serde_json::Value {
    const SECRET: [&str; 4] = [
        "authorization",
        "cookie",
        "proxy-authorization",
        "x-api-key",
    ];
    let kept: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .filter(|(name, _)| !SECRET.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_owned(), v.into()))
        })
        .collect();
    serde_json::Value::Object(kept)
}
