//! Competitor prices and the figures of the business.

use actix_web::{HttpResponse, web};
use chrono::{Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::problem::FieldError;
use tekup_runtime::validate::{check, text};
use tekup_runtime::{Problem, in_context};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::pricing::Pricing;
use crate::store::analytics::{self, NewCompetitorPrice, PricePosition, Revenue};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompetitorPriceBody {
    competitor: String,
    /// Our service code it compares with.
    service_code: String,
    pricing: Pricing,
    unit_price_ore: i64,
    observed_at: NaiveDate,
    /// Where it was seen (a URL, a quote a customer showed us, ...).
    #[serde(default)]
    source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    id: Uuid,
}

/// Record a competitor's price (admins and analysts).
#[utoipa::path(post, path = "/v1/competitor-prices", tag = "analytics", security(("user" = [])),
    request_body = CompetitorPriceBody,
    responses((status = 201, body = Created),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn record_competitor_price(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<CompetitorPriceBody>,
) -> Result<HttpResponse, Problem> {
    super::org_editor(&principal, "record prices")?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let competitor = text("competitor", &body.competitor, 200, &mut errors);
    let code = text("service_code", &body.service_code, 40, &mut errors);
    if !(1..=100_000_000).contains(&body.unit_price_ore) {
        errors.push(FieldError::new(
            "unit_price_ore",
            "must be 1 to 100000000 øre",
        ));
    }
    if body.observed_at > Utc::now().date_naive() {
        errors.push(FieldError::new("observed_at", "must not be in the future"));
    }
    if body.source.chars().count() > 500 {
        errors.push(FieldError::new("source", "must be at most 500 characters"));
    }
    check(errors)?;
    let pricing = serde_json::to_value(body.pricing)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let id = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            analytics::record_competitor_price(
                conn,
                principal.org_id,
                NewCompetitorPrice {
                    competitor: &competitor,
                    service_code: &code,
                    pricing: &pricing,
                    unit_price_ore: body.unit_price_ore,
                    observed_at: body.observed_at,
                    source: &body.source,
                },
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::Created().json(Created { id }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PricePositionView {
    service_code: String,
    pricing: String,
    our_unit_price_ore: i64,
    /// Competitors seen in the last year with the same pricing model (latest price each).
    competitors: i64,
    min_ore: Option<i64>,
    avg_ore: Option<f64>,
    max_ore: Option<i64>,
    /// Our price above (+) or below (−) their average, in percent.
    vs_average_percent: Option<f64>,
}

impl From<PricePosition> for PricePositionView {
    fn from(p: PricePosition) -> Self {
        Self {
            service_code: p.service_code,
            pricing: p.pricing,
            our_unit_price_ore: p.our_unit_price_ore,
            competitors: p.competitors,
            min_ore: p.min_ore,
            avg_ore: p.avg_ore,
            max_ore: p.max_ore,
            vs_average_percent: p.vs_average_percent,
        }
    }
}

/// Where our prices stand against competitors', per service.
#[utoipa::path(get, path = "/v1/analytics/pricing", tag = "analytics", security(("user" = [])),
    responses((status = 200, body = [PricePositionView])))]
pub async fn pricing(principal: Principal, pool: web::Data<Pool>) -> Result<HttpResponse, Problem> {
    let list = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(analytics::price_positions(conn).await?)
    })?;
    let views: Vec<PricePositionView> = list.into_iter().map(PricePositionView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// First day (Copenhagen); the first of this month by default.
    from: Option<NaiveDate>,
    /// Last day, included; today by default.
    to: Option<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueView {
    /// YYYY-MM.
    month: String,
    invoices: i64,
    net_ore: i64,
    labour_ore: i64,
}

impl From<Revenue> for RevenueView {
    fn from(r: Revenue) -> Self {
        Self {
            month: r.month,
            invoices: r.invoices,
            net_ore: r.net_ore,
            labour_ore: r.labour_ore,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsView {
    from: NaiveDate,
    to: NaiveDate,
    /// Issued and paid invoices by month of issue, excl. VAT.
    revenue: Vec<RevenueView>,
    bookings_scheduled: i64,
    bookings_completed: i64,
    bookings_cancelled: i64,
    booked_hours: f64,
    worked_hours: f64,
    /// Booked hours over the capacity of the cleaners booked in the period (37 hours a week:
    /// 7.4 per weekday each); null without bookings.
    utilisation: Option<f64>,
    leads: i64,
    leads_converted: i64,
    leads_won: i64,
    leads_lost: i64,
    /// Leads of the period that became customers.
    conversion: Option<f64>,
}

/// The business in a period: revenue, bookings and utilisation, and leads to customers (what
/// the user may read).
#[utoipa::path(get, path = "/v1/analytics", tag = "analytics", security(("user" = [])),
    params(PeriodQuery),
    responses((status = 200, body = AnalyticsView),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn overview(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PeriodQuery>,
) -> Result<HttpResponse, Problem> {
    let today = Utc::now().date_naive();
    let to = query.to.unwrap_or(today);
    let from = query.from.unwrap_or_else(|| to.with_day(1).unwrap_or(to));
    if from > to || (to - from).num_days() > 3 * 366 {
        return Err(Problem::validation(vec![FieldError::new(
            "from",
            "must be on or before to, at most three years apart",
        )]));
    }
    let (revenue, work, funnel) = in_context!(&pool, principal.context(), |conn| {
        let revenue = analytics::revenue(conn, from, to).await?;
        let work = analytics::work(conn, from, to).await?;
        let funnel = analytics::funnel(conn, from, to).await?;
        Ok::<_, Problem>((revenue, work, funnel))
    })?;
    let capacity = work.cleaners as f64 * work.weekdays as f64 * 7.4;
    Ok(HttpResponse::Ok().json(AnalyticsView {
        from,
        to,
        revenue: revenue.into_iter().map(RevenueView::from).collect(),
        bookings_scheduled: work.scheduled,
        bookings_completed: work.completed,
        bookings_cancelled: work.cancelled,
        booked_hours: work.booked_hours,
        worked_hours: work.worked_hours,
        utilisation: (capacity > 0.0).then(|| work.booked_hours / capacity),
        leads: funnel.leads,
        leads_converted: funnel.converted,
        leads_won: funnel.won,
        leads_lost: funnel.lost,
        conversion: (funnel.leads > 0).then(|| funnel.converted as f64 / funnel.leads as f64),
    }))
}
