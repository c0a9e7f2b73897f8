//! The sales pipeline and the deals of a company.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::{Page, PageQuery};
use tekup_runtime::problem::FieldError;
use tekup_runtime::{Problem, in_company, in_context, read_in_company};
use tekup_types::AccessLevel;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{check, company_exists, cvr, of_existing_company, present, text};
use crate::domain::pipeline::{self, Stage};
use crate::store::deals::{self, Deal, Fields};

/// The organization's pipeline.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineBody {
    /// In order; at least one open, one won and one lost stage.
    stages: Vec<Stage>,
}

/// The stages deals move through (the defaults until an administrator sets others).
#[utoipa::path(get, path = "/v1/pipeline", tag = "deals", security(("user" = [])),
    responses((status = 200, body = PipelineBody)))]
pub async fn pipeline(
    principal: Principal,
    pool: web::Data<Pool>,
) -> Result<HttpResponse, Problem> {
    let stages = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(deals::stages(conn, principal.org_id).await?)
    })?;
    Ok(HttpResponse::Ok().json(PipelineBody { stages }))
}

/// Set the organization's stages (administrators); stages that deals still use must stay.
#[utoipa::path(put, path = "/v1/pipeline", tag = "deals", security(("user" = [])),
    request_body = PipelineBody,
    responses((status = 200, body = PipelineBody),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "A removed stage still has deals", body = Problem,
               content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn set_pipeline(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<PipelineBody>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let stages = body.into_inner().stages;
    check(pipeline::validate(&stages))?;
    let outcome = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(deals::replace_stages(conn, principal.org_id, &stages).await?)
    })?;
    if let Err(in_use) = outcome {
        return Err(Problem::conflict(format!(
            "Deals are still in the stages {}; move them first.",
            in_use.join(", ")
        )));
    }
    Ok(HttpResponse::Ok().json(PipelineBody { stages }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealBody {
    title: String,
    /// A stage key of the pipeline; the first open stage when absent.
    stage: Option<String>,
    /// Value in øre (1 DKK = 100 øre), excluding VAT.
    #[serde(default)]
    value_ore: i64,
    expected_close: Option<NaiveDate>,
    owner_id: Option<Uuid>,
    contact_id: Option<Uuid>,
}

/// Changes to a deal; absent fields stay, `null` clears the optional ones. Moving to a won or
/// lost stage closes the deal; moving back to an open one reopens it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealChanges {
    title: Option<String>,
    stage: Option<String>,
    value_ore: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    expected_close: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "present")]
    owner_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    contact_id: Option<Option<Uuid>>,
}

impl DealChanges {
    /// A move to another stage, nothing else.
    pub(crate) fn to_stage(stage: String) -> Self {
        Self {
            stage: Some(stage),
            ..Self::default()
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DealView {
    id: Uuid,
    cvr: String,
    title: String,
    stage: String,
    value_ore: i64,
    currency: String,
    expected_close: Option<NaiveDate>,
    owner_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    closed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Deal> for DealView {
    fn from(d: Deal) -> Self {
        let _ = d.org_id;
        Self {
            id: d.id,
            cvr: d.cvr,
            title: d.title,
            stage: d.stage,
            value_ore: d.value_ore,
            currency: d.currency,
            expected_close: d.expected_close,
            owner_id: d.owner_id,
            contact_id: d.contact_id,
            closed_at: d.closed_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

fn stage_of<'a>(stages: &'a [Stage], key: &str) -> Result<&'a Stage, Problem> {
    stages.iter().find(|s| s.key == key).ok_or_else(|| {
        let keys: Vec<&str> = stages.iter().map(|s| s.key.as_str()).collect();
        Problem::validation(vec![FieldError::new(
            "stage",
            format!(
                "`{key}` is not a stage of the pipeline ({})",
                keys.join(", ")
            ),
        )])
    })
}

fn value(value: i64, errors: &mut Vec<FieldError>) {
    if value < 0 {
        errors.push(FieldError::new("value_ore", "must not be negative"));
    }
}

/// Open a deal with a company (write access).
#[utoipa::path(post, path = "/v1/companies/{cvr}/deals", tag = "deals", security(("user" = [])),
    request_body = DealBody,
    responses((status = 201, body = DealView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    body: web::Json<DealBody>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let title = text("title", &body.title, 200, &mut errors);
    value(body.value_ore, &mut errors);
    check(errors)?;
    let deal = in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        company_exists(conn, principal.org_id, &cvr).await?;
        let stages = deals::stages(conn, principal.org_id).await?;
        let stage = match &body.stage {
            Some(key) => stage_of(&stages, key)?.clone(),
            None => stages
                .iter()
                .find(|s| s.outcome == "open")
                .cloned()
                .ok_or_else(|| Problem::internal(&"a pipeline without an open stage"))?,
        };
        super::of_this_company(conn, principal.org_id, &cvr, body.contact_id, None).await?;
        let fields = Fields {
            title: Some(title),
            value_ore: Some(body.value_ore),
            expected_close: Some(body.expected_close),
            owner_id: Some(body.owner_id),
            contact_id: Some(body.contact_id),
        };
        Ok::<_, Problem>(deals::create(conn, principal.org_id, cvr.as_str(), &stage, fields).await?)
    })?;
    Ok(HttpResponse::Created().json(DealView::from(deal)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DealQuery {
    /// Only deals in this stage.
    stage: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

/// A company's deals (read access).
#[utoipa::path(get, path = "/v1/companies/{cvr}/deals", tag = "deals", security(("user" = [])),
    params(DealQuery),
    responses((status = 200, description = "A page of deals: {items, next_cursor}"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    query: web::Query<DealQuery>,
) -> Result<HttpResponse, Problem> {
    let cvr = cvr("cvr", &path)?;
    let page = PageQuery {
        limit: query.limit,
        after: query.after.clone(),
    };
    let limit = page.limit()?;
    let after = page.after_uuid()?;
    let stage = query.stage.clone();
    let items = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        of_existing_company(
            conn,
            principal.org_id,
            &cvr,
            deals::list(
                conn,
                principal.org_id,
                cvr.as_str(),
                stage.as_deref(),
                after,
                limit,
            ),
        )
        .await
    })?;
    let page = Page::new(
        items.into_iter().map(DealView::from).collect(),
        limit,
        |d| d.id.to_string(),
    );
    Ok(HttpResponse::Ok().json(page))
}

/// One deal (read access).
#[utoipa::path(get, path = "/v1/companies/{cvr}/deals/{id}", tag = "deals", security(("user" = [])),
    responses((status = 200, body = DealView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, Problem> {
    let (cvr_text, id) = path.into_inner();
    let cvr = cvr("cvr", &cvr_text)?;
    let deal = read_in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        Ok::<_, Problem>(deals::find(conn, principal.org_id, cvr.as_str(), id).await?)
    })?;
    Ok(HttpResponse::Ok().json(DealView::from(deal)))
}

/// Change a deal or move it through the pipeline (write access).
#[utoipa::path(patch, path = "/v1/companies/{cvr}/deals/{id}", tag = "deals", security(("user" = [])),
    request_body = DealChanges,
    responses((status = 200, body = DealView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
    body: web::Json<DealChanges>,
) -> Result<HttpResponse, Problem> {
    let (cvr_text, id) = path.into_inner();
    let deal = update_checked(&pool, &principal, &cvr_text, id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(DealView::from(deal)))
}

/// Checks changes to a deal and makes them (write access): the way in of the API and of the
/// web console.
pub(crate) async fn update_checked(
    pool: &Pool,
    principal: &Principal,
    cvr_text: &str,
    id: Uuid,
    body: DealChanges,
) -> Result<Deal, Problem> {
    let cvr = cvr("cvr", cvr_text)?;
    let mut errors = Vec::new();
    let title = body.title.map(|t| text("title", &t, 200, &mut errors));
    if let Some(v) = body.value_ore {
        value(v, &mut errors);
    }
    check(errors)?;
    in_company!(pool, principal, &cvr, AccessLevel::Write, |conn| {
        let stages = deals::stages(conn, principal.org_id).await?;
        let stage = body
            .stage
            .as_deref()
            .map(|key| stage_of(&stages, key))
            .transpose()?;
        super::of_this_company(
            conn,
            principal.org_id,
            &cvr,
            body.contact_id.flatten(),
            None,
        )
        .await?;
        let fields = Fields {
            title,
            value_ore: body.value_ore,
            expected_close: body.expected_close,
            owner_id: body.owner_id,
            contact_id: body.contact_id,
        };
        Ok::<_, Problem>(
            deals::update(conn, principal.org_id, cvr.as_str(), id, stage, fields).await?,
        )
    })
}

/// Delete a deal (write access).
#[utoipa::path(delete, path = "/v1/companies/{cvr}/deals/{id}", tag = "deals", security(("user" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, Problem> {
    let (cvr_text, id) = path.into_inner();
    let cvr = cvr("cvr", &cvr_text)?;
    in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        Ok::<_, Problem>(deals::delete(conn, principal.org_id, cvr.as_str(), id).await?)
    })?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// First day of the period (default: the first of this month).
    from: Option<NaiveDate>,
    /// Day after the period (default: the first of next month).
    to: Option<NaiveDate>,
}

/// Sales KPIs of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsView {
    from: NaiveDate,
    to: NaiveDate,
    /// Open deals now, and their value.
    open_deals: i64,
    pipeline_value_ore: i64,
    won: i64,
    won_value_ore: i64,
    lost: i64,
    lost_value_ore: i64,
    /// Deals opened in the period.
    created: i64,
    /// won / (won + lost) in the period; absent when nothing closed.
    win_rate: Option<f64>,
}

/// Pipeline value, won and lost, and the win rate over the deals the caller may see.
#[utoipa::path(get, path = "/v1/metrics", tag = "deals", security(("user" = [])),
    params(MetricsQuery),
    responses((status = 200, body = MetricsView),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn metrics(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<MetricsQuery>,
) -> Result<HttpResponse, Problem> {
    let today = Utc::now().date_naive();
    let first = today.with_day(1).unwrap_or(today);
    let from = query.from.unwrap_or(first);
    let to = query.to.unwrap_or_else(|| {
        first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(first)
    });
    if to <= from {
        return Err(Problem::validation(vec![FieldError::new(
            "to",
            "must be after from",
        )]));
    }
    let m = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(deals::metrics(conn, principal.org_id, from, to).await?)
    })?;
    let closed = m.won + m.lost;
    #[allow(clippy::cast_precision_loss)]
    let win_rate = (closed > 0).then(|| m.won as f64 / closed as f64);
    Ok(HttpResponse::Ok().json(MetricsView {
        from,
        to,
        open_deals: m.open_deals,
        pipeline_value_ore: m.pipeline_value_ore,
        won: m.won,
        won_value_ore: m.won_value_ore,
        lost: m.lost,
        lost_value_ore: m.lost_value_ore,
        created: m.created,
        win_rate,
    }))
}
