//! Customer insights: customers, their interactions (searchable in Danish and English, with
//! sentiment) and detected behaviour patterns.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::FieldError;
use tekup_runtime::{Problem, in_context};
use tekup_types::Cvr;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::check;
use crate::store::insights::{
    self, Customer, CustomerFields, Interaction, InteractionFilter, NewInteraction, NewPattern,
    Pattern,
};

const CHANNELS: [&str; 5] = ["web", "mobile", "email", "chat", "phone"];

fn within(field: &str, value: f64, low: f64, high: f64, errors: &mut Vec<FieldError>) {
    if !(low..=high).contains(&value) {
        errors.push(FieldError::new(
            field,
            format!("must be between {low} and {high}"),
        ));
    }
}

fn optional_text(field: &str, value: Option<&str>, max: usize, errors: &mut Vec<FieldError>) {
    if value.is_some_and(|v| v.trim().is_empty() || v.chars().count() > max) {
        errors.push(FieldError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
}

fn object(field: &str, value: &serde_json::Value, errors: &mut Vec<FieldError>) {
    if !value.is_object() {
        errors.push(FieldError::new(field, "must be a JSON object"));
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    segment: Option<String>,
    /// The company, for a business customer; its grants then decide who sees it.
    cvr: Option<String>,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    id: Uuid,
    external_id: String,
    cvr: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    segment: Option<String>,
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    interaction_count: i32,
    /// Mean of the interactions' sentiment scores, in [-1, 1].
    average_sentiment: Option<f64>,
}

impl From<Customer> for CustomerView {
    fn from(c: Customer) -> Self {
        Self {
            id: c.id,
            external_id: c.external_id,
            cvr: c.cvr,
            email: c.email,
            first_name: c.first_name,
            last_name: c.last_name,
            segment: c.segment,
            metadata: c.metadata,
            first_seen_at: c.first_seen_at,
            last_seen_at: c.last_seen_at,
            interaction_count: c.interaction_count,
            average_sentiment: c.average_sentiment,
        }
    }
}

/// Create or update a customer by the organization's own id for it.
#[utoipa::path(put, path = "/v1/customers/{external_id}", tag = "insights", security(("user" = [])),
    request_body = CustomerBody,
    responses((status = 200, description = "Updated", body = CustomerView),
              (status = 201, description = "Created", body = CustomerView),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn put_customer(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    body: web::Json<CustomerBody>,
) -> Result<HttpResponse, Problem> {
    let external_id = path.into_inner();
    let body = body.into_inner();
    let mut errors = Vec::new();
    if external_id.trim().is_empty() || external_id.chars().count() > 255 {
        errors.push(FieldError::new(
            "external_id",
            "must be 1 to 255 characters",
        ));
    }
    let cvr = body
        .cvr
        .as_deref()
        .and_then(|c| tekup_runtime::validate::cvr_in("cvr", c, &mut errors));
    let email = body.email.as_deref().map(|e| e.trim().to_lowercase());
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        errors.push(FieldError::new("email", "must be an e-mail address"));
    }
    optional_text("first_name", body.first_name.as_deref(), 100, &mut errors);
    optional_text("last_name", body.last_name.as_deref(), 100, &mut errors);
    optional_text("segment", body.segment.as_deref(), 100, &mut errors);
    object("metadata", &body.metadata, &mut errors);
    check(errors)?;
    let (customer, created) = in_context!(&pool, principal.context(), |conn| {
        // Both the company the customer belongs to now and the one it moves to must be the
        // user's to change: a customer is not taken from a company the user only reads.
        let existing = match insights::customer(conn, principal.org_id, external_id.trim()).await {
            Ok(existing) => Some(existing),
            Err(diesel::result::Error::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(existing) = &existing {
            may_change(conn, &principal, existing.cvr.as_deref()).await?;
        }
        may_change(conn, &principal, cvr.as_ref().map(Cvr::as_str)).await?;
        let fields = CustomerFields {
            cvr: cvr.as_ref().map(Cvr::as_str),
            email: email.as_deref(),
            first_name: body.first_name.as_deref().map(str::trim),
            last_name: body.last_name.as_deref().map(str::trim),
            segment: body.segment.as_deref().map(str::trim),
            metadata: &body.metadata,
        };
        Ok::<_, Problem>(
            insights::upsert_customer(conn, principal.org_id, external_id.trim(), fields).await?,
        )
    })?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(CustomerView::from(customer)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    segment: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

/// The customers the caller may see.
#[utoipa::path(get, path = "/v1/customers", tag = "insights", security(("user" = [])),
    params(CustomerQuery),
    responses((status = 200, description = "A page of customers: {items, next_cursor}")))]
pub async fn customers(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<CustomerQuery>,
) -> Result<HttpResponse, Problem> {
    let page = PageQuery {
        limit: query.limit,
        after: query.after.clone(),
    };
    let limit = page.limit()?;
    let after = page.after_uuid()?;
    let segment = query.segment.clone();
    let items = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(insights::customers(conn, segment.as_deref(), after, limit).await?)
    })?;
    let page = Page::new(
        items.into_iter().map(CustomerView::from).collect(),
        limit,
        |c| c.id.to_string(),
    );
    Ok(HttpResponse::Ok().json(page))
}

async fn customer_for(
    conn: &mut diesel_async::AsyncPgConnection,
    principal: &Principal,
    external_id: &str,
) -> Result<Customer, Problem> {
    insights::customer(conn, principal.org_id, external_id)
        .await
        .map_err(|e| match e {
            diesel::result::Error::NotFound => {
                Problem::not_found(format!("No customer {external_id}."))
            }
            other => other.into(),
        })
}

/// The customer `external_id`, when the principal may add to it (what is recorded about a
/// customer is its company's: write access to it, or for a customer of no company, any role
/// but viewer).
async fn customer_to_change(
    conn: &mut diesel_async::AsyncPgConnection,
    principal: &Principal,
    external_id: &str,
) -> Result<Customer, Problem> {
    let customer = customer_for(conn, principal, external_id).await?;
    may_change(conn, principal, customer.cvr.as_deref()).await?;
    Ok(customer)
}

/// Whether the principal may change what belongs to the company `cvr` (`None`: to the
/// organization as a whole).
async fn may_change(
    conn: &mut diesel_async::AsyncPgConnection,
    principal: &Principal,
    cvr: Option<&str>,
) -> Result<(), Problem> {
    match cvr {
        Some(cvr) => {
            let cvr = Cvr::parse(cvr).map_err(|e| Problem::internal(&e))?;
            tekup_auth::require_access(conn, principal, &cvr, tekup_types::AccessLevel::Write)
                .await?;
            Ok(())
        }
        None if principal.role == tekup_types::Role::Viewer => {
            Err(Problem::forbidden("Viewers cannot change customers."))
        }
        None => Ok(()),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionBody {
    /// When it happened; now when absent. Not in the future.
    timestamp: Option<DateTime<Utc>>,
    /// web, mobile, email, chat or phone.
    channel: String,
    event_type: String,
    content: Option<String>,
    /// Sentiment analysis result, e.g. `{"label": "negative", "score": -0.6}`; `score` in
    /// [-1, 1] feeds the customer's average.
    #[schema(value_type = Option<Object>)]
    sentiment: Option<serde_json::Value>,
    /// Confidence of the sentiment, in [0, 1].
    sentiment_confidence: Option<f64>,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InteractionView {
    id: Uuid,
    customer_id: Uuid,
    cvr: Option<String>,
    timestamp: DateTime<Utc>,
    channel: String,
    event_type: String,
    content: Option<String>,
    #[schema(value_type = Option<Object>)]
    sentiment: Option<serde_json::Value>,
    sentiment_confidence: Option<f64>,
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
}

impl From<Interaction> for InteractionView {
    fn from(i: Interaction) -> Self {
        Self {
            id: i.id,
            customer_id: i.customer_id,
            cvr: i.cvr,
            timestamp: i.timestamp,
            channel: i.channel,
            event_type: i.event_type,
            content: i.content,
            sentiment: i.sentiment,
            sentiment_confidence: i.sentiment_confidence,
            metadata: i.metadata,
        }
    }
}

/// Record an interaction of a customer; the customer's counters and average sentiment follow.
#[utoipa::path(post, path = "/v1/customers/{external_id}/interactions", tag = "insights",
    security(("user" = [])),
    request_body = InteractionBody,
    responses((status = 201, body = InteractionView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn record_interaction(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    body: web::Json<InteractionBody>,
) -> Result<HttpResponse, Problem> {
    let external_id = path.into_inner();
    let body = body.into_inner();
    let mut errors = Vec::new();
    let timestamp = body.timestamp.unwrap_or_else(Utc::now);
    if timestamp > Utc::now() + chrono::Duration::minutes(5) {
        errors.push(FieldError::new("timestamp", "must not be in the future"));
    }
    if !CHANNELS.contains(&body.channel.as_str()) {
        errors.push(FieldError::new(
            "channel",
            format!("must be one of {}", CHANNELS.join(", ")),
        ));
    }
    if body.event_type.trim().is_empty() || body.event_type.chars().count() > 100 {
        errors.push(FieldError::new("event_type", "must be 1 to 100 characters"));
    }
    let score = match &body.sentiment {
        None => None,
        Some(sentiment) if !sentiment.is_object() => {
            errors.push(FieldError::new("sentiment", "must be a JSON object"));
            None
        }
        Some(sentiment) => match sentiment.get("score") {
            None => None,
            Some(score) => match score.as_f64() {
                Some(score) => {
                    within("sentiment.score", score, -1.0, 1.0, &mut errors);
                    Some(score)
                }
                None => {
                    errors.push(FieldError::new("sentiment.score", "must be a number"));
                    None
                }
            },
        },
    };
    if let Some(confidence) = body.sentiment_confidence {
        within("sentiment_confidence", confidence, 0.0, 1.0, &mut errors);
    }
    object("metadata", &body.metadata, &mut errors);
    check(errors)?;
    let interaction = in_context!(&pool, principal.context(), |conn| {
        let customer = customer_to_change(conn, &principal, &external_id).await?;
        let new = NewInteraction {
            timestamp,
            channel: &body.channel,
            event_type: body.event_type.trim(),
            content: body.content.as_deref(),
            sentiment: body.sentiment.as_ref(),
            score,
            sentiment_confidence: body.sentiment_confidence,
            metadata: &body.metadata,
        };
        Ok::<_, Problem>(
            insights::record_interaction(conn, principal.org_id, &customer, new).await?,
        )
    })?;
    Ok(HttpResponse::Created().json(InteractionView::from(interaction)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InteractionQuery {
    /// Words to find (Danish and English word forms: `rengøringen` finds `rengøring`).
    q: Option<String>,
    channel: Option<String>,
    /// Only this customer (its external id).
    customer: Option<String>,
    /// A JSON object the metadata must contain, e.g. `{"source":"wotnot"}`.
    metadata: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

/// Interactions the caller may see, newest first.
#[utoipa::path(get, path = "/v1/interactions", tag = "insights", security(("user" = [])),
    params(InteractionQuery),
    responses((status = 200, description = "A page of interactions: {items, next_cursor}"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn interactions(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<InteractionQuery>,
) -> Result<HttpResponse, Problem> {
    let query = query.into_inner();
    let limit = PageQuery {
        limit: query.limit,
        after: None,
    }
    .limit()?;
    let before = parse_time_cursor(query.after.as_deref())?;
    let metadata = query
        .metadata
        .as_deref()
        .map(|m| {
            serde_json::from_str::<serde_json::Value>(m)
                .ok()
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| {
                    Problem::validation(vec![FieldError::new("metadata", "must be a JSON object")])
                })
        })
        .transpose()?;
    let items = in_context!(&pool, principal.context(), |conn| {
        let customer_id = match &query.customer {
            Some(external_id) => Some(customer_for(conn, &principal, external_id).await?.id),
            None => None,
        };
        let filter = InteractionFilter {
            q: query.q.clone().filter(|q| !q.trim().is_empty()),
            channel: query.channel.clone(),
            customer_id,
            metadata,
            before,
            limit,
        };
        Ok::<_, Problem>(insights::interactions(conn, filter).await?)
    })?;
    let page = Page::new(
        items.into_iter().map(InteractionView::from).collect(),
        limit,
        |i: &InteractionView| time_cursor(i.timestamp, i.id),
    );
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatternBody {
    pattern_type: String,
    /// In [0, 1].
    confidence: f64,
    /// How often it occurred; more than 0.
    frequency: i32,
    description: Option<String>,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
    /// When detected; now when absent.
    detected_at: Option<DateTime<Utc>>,
    /// Must be after `detected_at`.
    valid_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatternView {
    id: Uuid,
    pattern_type: String,
    confidence: f64,
    frequency: i32,
    description: Option<String>,
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
    detected_at: DateTime<Utc>,
    valid_until: Option<DateTime<Utc>>,
}

impl From<Pattern> for PatternView {
    fn from(p: Pattern) -> Self {
        Self {
            id: p.id,
            pattern_type: p.pattern_type,
            confidence: p.confidence,
            frequency: p.frequency,
            description: p.description,
            metadata: p.metadata,
            detected_at: p.detected_at,
            valid_until: p.valid_until,
        }
    }
}

/// Record a behaviour pattern detected for a customer.
#[utoipa::path(post, path = "/v1/customers/{external_id}/patterns", tag = "insights",
    security(("user" = [])),
    request_body = PatternBody,
    responses((status = 201, body = PatternView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn record_pattern(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    body: web::Json<PatternBody>,
) -> Result<HttpResponse, Problem> {
    let external_id = path.into_inner();
    let body = body.into_inner();
    let mut errors = Vec::new();
    if body.pattern_type.trim().is_empty() || body.pattern_type.chars().count() > 100 {
        errors.push(FieldError::new(
            "pattern_type",
            "must be 1 to 100 characters",
        ));
    }
    within("confidence", body.confidence, 0.0, 1.0, &mut errors);
    if body.frequency <= 0 {
        errors.push(FieldError::new("frequency", "must be more than 0"));
    }
    let detected_at = body.detected_at.unwrap_or_else(Utc::now);
    if body.valid_until.is_some_and(|until| until <= detected_at) {
        errors.push(FieldError::new("valid_until", "must be after detected_at"));
    }
    object("metadata", &body.metadata, &mut errors);
    check(errors)?;
    let pattern = in_context!(&pool, principal.context(), |conn| {
        let customer = customer_to_change(conn, &principal, &external_id).await?;
        let new = NewPattern {
            pattern_type: body.pattern_type.trim(),
            confidence: body.confidence,
            frequency: body.frequency,
            description: body.description.as_deref(),
            metadata: &body.metadata,
            detected_at,
            valid_until: body.valid_until,
        };
        Ok::<_, Problem>(insights::record_pattern(conn, principal.org_id, &customer, new).await?)
    })?;
    Ok(HttpResponse::Created().json(PatternView::from(pattern)))
}

/// A customer's behaviour patterns, newest first.
#[utoipa::path(get, path = "/v1/customers/{external_id}/patterns", tag = "insights",
    security(("user" = [])),
    responses((status = 200, body = [PatternView]),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn patterns(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let external_id = path.into_inner();
    let items = in_context!(&pool, principal.context(), |conn| {
        let customer = customer_for(conn, &principal, &external_id).await?;
        Ok::<_, Problem>(insights::patterns(conn, customer.id).await?)
    })?;
    let items: Vec<PatternView> = items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(items))
}
