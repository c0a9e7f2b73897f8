//! Leads, customers, the services catalogue, price calculations and quotes.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::FieldError;
use tekup_runtime::validate::{check, email, phone, text};
use tekup_runtime::{Problem, in_context};
use tekup_types::AccessLevel;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{customer_access, invalid, not_found, require};
use crate::domain::pricing::{self, Extra, Frequency, Parameters, Pricing, Step};
use crate::domain::scoring::{self, LeadFacts};
use crate::events::Scope;
use crate::store::customers::{self, Customer, Lead, NewCustomer, NewLead};
use crate::store::sales::{self, NewCalculation, Quote, Service, StoredCalculation};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    /// Business customers carry their CVR; private ones have none.
    cvr: Option<String>,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    street: Option<String>,
    zipcode: Option<String>,
    city: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    id: Uuid,
    cvr: Option<String>,
    /// private or business.
    kind: String,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    street: Option<String>,
    zipcode: Option<String>,
    city: Option<String>,
    labels: Vec<String>,
    created_at: DateTime<Utc>,
}

impl From<Customer> for CustomerView {
    fn from(c: Customer) -> Self {
        Self {
            id: c.id,
            cvr: c.cvr,
            kind: c.kind,
            name: c.name,
            email: c.email,
            phone: c.phone,
            street: c.street,
            zipcode: c.zipcode,
            city: c.city,
            labels: c.labels,
            created_at: c.created_at,
        }
    }
}

fn optional(value: &Option<String>) -> Option<String> {
    value
        .as_ref()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn cvr_field(value: &Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let cvr = optional(value)?;
    tekup_runtime::validate::cvr_in("cvr", &cvr, errors).map(|c| c.as_str().to_owned())
}

/// Create a customer: business (with CVR; write access to the company) or private (admins
/// and analysts).
#[utoipa::path(post, path = "/v1/customers", tag = "sales", security(("user" = [])),
    request_body = CustomerBody,
    responses((status = 201, body = CustomerView),
              (status = 409, description = "The company is already a customer", body = Problem,
               content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_customer(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<CustomerBody>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    let cvr = cvr_field(&body.cvr, &mut errors);
    let name = text("name", &body.name, 200, &mut errors);
    let mail = optional(&body.email).map(|e| email("email", &e, &mut errors));
    let zipcode = optional(&body.zipcode);
    if zipcode
        .as_ref()
        .is_some_and(|z| z.len() != 4 || !z.chars().all(|c| c.is_ascii_digit()))
    {
        errors.push(FieldError::new("zipcode", "must be four digits"));
    }
    let phone = optional(&body.phone).map(|p| phone("phone", &p, &mut errors));
    if body.labels.len() > 20
        || body
            .labels
            .iter()
            .any(|l| l.trim().is_empty() || l.len() > 50)
    {
        errors.push(FieldError::new(
            "labels",
            "at most 20 labels of 1 to 50 characters",
        ));
    }
    check(errors)?;
    let customer = in_context!(&pool, principal.context(), |conn| {
        require(conn, &principal, cvr.as_deref(), AccessLevel::Write).await?;
        Ok::<_, Problem>(
            customers::create(
                conn,
                principal.org_id,
                NewCustomer {
                    cvr: cvr.as_deref(),
                    name: &name,
                    email: mail.as_deref(),
                    phone: phone.as_deref(),
                    street: optional(&body.street).as_deref(),
                    zipcode: zipcode.as_deref(),
                    city: optional(&body.city).as_deref(),
                    labels: &body.labels,
                    by: principal.user_id,
                },
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::Created().json(CustomerView::from(customer)))
}

/// The customers the user may read, newest first.
#[utoipa::path(get, path = "/v1/customers", tag = "sales", security(("user" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of customers: {items, next_cursor}")))]
pub async fn customers(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = query.limit()?;
    let before = parse_time_cursor(query.after.as_deref())?;
    let items = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(customers::list(conn, principal.org_id, before, limit).await?)
    })?;
    let page = Page::new(
        items.into_iter().map(CustomerView::from).collect(),
        limit,
        |c: &CustomerView| time_cursor(c.created_at, c.id),
    );
    Ok(HttpResponse::Ok().json(page))
}

/// A customer.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "sales", security(("user" = [])),
    responses((status = 200, body = CustomerView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn customer(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let customer = in_context!(&pool, principal.context(), |conn| {
        customer_access(conn, &principal, id, AccessLevel::Read).await
    })?;
    Ok(HttpResponse::Ok().json(CustomerView::from(customer)))
}

const SOURCES: &[&str] = &["chatbot", "email", "web", "phone", "referral", "other"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadBody {
    /// chatbot, email, web, phone, referral or other.
    source: String,
    name: String,
    cvr: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadView {
    id: Uuid,
    cvr: Option<String>,
    source: String,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    message: String,
    /// new, contacted, qualified, quoted, won or lost.
    status: String,
    /// 0–100.
    score: i32,
    /// The points behind the score.
    #[schema(value_type = Vec<crate::domain::scoring::Reason>)]
    score_reasons: serde_json::Value,
    customer_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<Lead> for LeadView {
    fn from(l: Lead) -> Self {
        Self {
            id: l.id,
            cvr: l.cvr,
            source: l.source,
            name: l.name,
            email: l.email,
            phone: l.phone,
            message: l.message,
            status: l.status,
            score: l.score,
            score_reasons: l.score_reasons,
            customer_id: l.customer_id,
            created_at: l.created_at,
        }
    }
}

/// Record a lead; it is scored with the reasons behind the score.
#[utoipa::path(post, path = "/v1/leads", tag = "sales", security(("user" = [])),
    request_body = LeadBody,
    responses((status = 201, body = LeadView),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_lead(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<LeadBody>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    if !SOURCES.contains(&body.source.as_str()) {
        errors.push(FieldError::new(
            "source",
            format!("must be one of {}", SOURCES.join(", ")),
        ));
    }
    let cvr = cvr_field(&body.cvr, &mut errors);
    let name = text("name", &body.name, 200, &mut errors);
    let mail = optional(&body.email).map(|e| email("email", &e, &mut errors));
    if body.message.chars().count() > 10_000 {
        errors.push(FieldError::new(
            "message",
            "must be at most 10000 characters",
        ));
    }
    let phone = optional(&body.phone).map(|p| phone("phone", &p, &mut errors));
    check(errors)?;
    let (score, reasons) = scoring::score(&LeadFacts {
        source: &body.source,
        has_cvr: cvr.is_some(),
        has_email: mail.is_some(),
        has_phone: phone.is_some(),
        message: &body.message,
    });
    let reasons = serde_json::to_value(reasons).map_err(|err| Problem::internal(&err))?;
    let lead = in_context!(&pool, principal.context(), |conn| {
        require(conn, &principal, cvr.as_deref(), AccessLevel::Write).await?;
        Ok::<_, Problem>(
            customers::create_lead(
                conn,
                principal.org_id,
                NewLead {
                    cvr: cvr.as_deref(),
                    source: &body.source,
                    name: &name,
                    email: mail.as_deref(),
                    phone: phone.as_deref(),
                    message: &body.message,
                    score,
                    score_reasons: reasons,
                },
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::Created().json(LeadView::from(lead)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LeadQuery {
    status: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

/// The leads the user may read, newest first (`?status=`).
#[utoipa::path(get, path = "/v1/leads", tag = "sales", security(("user" = [])),
    params(LeadQuery),
    responses((status = 200, description = "A page of leads: {items, next_cursor}")))]
pub async fn leads(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<LeadQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = PageQuery {
        limit: query.limit,
        after: None,
    }
    .limit()?;
    let before = parse_time_cursor(query.after.as_deref())?;
    let items = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            customers::leads(
                conn,
                principal.org_id,
                query.status.as_deref(),
                before,
                limit,
            )
            .await?,
        )
    })?;
    let page = Page::new(
        items.into_iter().map(LeadView::from).collect(),
        limit,
        |l: &LeadView| time_cursor(l.created_at, l.id),
    );
    Ok(HttpResponse::Ok().json(page))
}

/// Convert a lead into a customer (business when the lead has a CVR). Converting again
/// answers the same customer.
#[utoipa::path(post, path = "/v1/leads/{id}/convert", tag = "sales", security(("user" = [])),
    responses((status = 200, body = CustomerView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn convert_lead(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let customer = in_context!(&pool, principal.context(), |conn| {
        let lead = customers::find_lead(conn, id)
            .await
            .map_err(not_found("such lead"))?;
        require(conn, &principal, lead.cvr.as_deref(), AccessLevel::Write).await?;
        if let Some(customer) = lead.customer_id {
            return customer_access(conn, &principal, customer, AccessLevel::Read).await;
        }
        if lead.status == "lost" {
            return Err(Problem::conflict("A lost lead cannot be converted."));
        }
        // Converted, a lead is qualified at least: one further along (quoted, won) stays so.
        let status = if matches!(lead.status.as_str(), "new" | "contacted") {
            "qualified"
        } else {
            lead.status.as_str()
        };
        // A company that is a customer already (an earlier lead, or entered by hand) is the
        // customer this lead becomes.
        let existing = match lead.cvr.as_deref() {
            Some(cvr) => customers::find_business(conn, principal.org_id, cvr).await?,
            None => None,
        };
        if let Some(customer) = existing {
            customers::set_lead(conn, principal.org_id, id, status, Some(customer.id)).await?;
            return Ok(customer);
        }
        let customer = customers::create(
            conn,
            principal.org_id,
            NewCustomer {
                cvr: lead.cvr.as_deref(),
                name: &lead.name,
                email: lead.email.as_deref(),
                phone: lead.phone.as_deref(),
                street: None,
                zipcode: None,
                city: None,
                labels: &[],
                by: principal.user_id,
            },
        )
        .await?;
        customers::set_lead(conn, principal.org_id, id, status, Some(customer.id)).await?;
        Ok(customer)
    })?;
    Ok(HttpResponse::Ok().json(CustomerView::from(customer)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceBody {
    /// Lower-case code: a-z, 0-9, _ and -.
    code: String,
    name: String,
    pricing: Pricing,
    /// Øre per m², per cleaner-hour or per visit, excl. VAT.
    unit_price_ore: i64,
    #[serde(default)]
    extras: Vec<Extra>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    id: Uuid,
    code: String,
    name: String,
    pricing: String,
    unit_price_ore: i64,
    #[schema(value_type = Vec<Extra>)]
    extras: serde_json::Value,
    active: bool,
}

impl From<Service> for ServiceView {
    fn from(s: Service) -> Self {
        Self {
            id: s.id,
            code: s.code,
            name: s.name,
            pricing: s.pricing,
            unit_price_ore: s.unit_price_ore,
            extras: s.extras,
            active: s.active,
        }
    }
}

/// Add a service to the catalogue (organization administrators).
#[utoipa::path(post, path = "/v1/services", tag = "sales", security(("user" = [])),
    request_body = ServiceBody,
    responses((status = 201, body = ServiceView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_service(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<ServiceBody>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let code_ok = (1..=40).contains(&body.code.len())
        && body
            .code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !code_ok {
        errors.push(FieldError::new(
            "code",
            "must be 1 to 40 of a-z, 0-9, _ and -",
        ));
    }
    let name = text("name", &body.name, 200, &mut errors);
    if !(1..=100_000_000).contains(&body.unit_price_ore) {
        errors.push(FieldError::new(
            "unit_price_ore",
            "must be 1 to 100000000 øre",
        ));
    }
    for (i, extra) in body.extras.iter().enumerate() {
        if extra.code.trim().is_empty() || extra.name.trim().is_empty() {
            errors.push(FieldError::new(
                format!("extras.{i}"),
                "needs a code and a name",
            ));
        }
        if !(0..=100_000_000).contains(&extra.price_ore) {
            errors.push(FieldError::new(
                format!("extras.{i}.price_ore"),
                "must be 0 to 100000000 øre",
            ));
        }
    }
    check(errors)?;
    let pricing = serde_json::to_value(body.pricing)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let extras = serde_json::to_value(&body.extras).map_err(|err| Problem::internal(&err))?;
    let service = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            sales::create_service(
                conn,
                principal.org_id,
                &body.code,
                &name,
                &pricing,
                body.unit_price_ore,
                extras,
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::Created().json(ServiceView::from(service)))
}

/// The organization's services catalogue.
#[utoipa::path(get, path = "/v1/services", tag = "sales", security(("user" = [])),
    responses((status = 200, body = [ServiceView])))]
pub async fn services(
    principal: Principal,
    pool: web::Data<Pool>,
) -> Result<HttpResponse, Problem> {
    let list = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(sales::services(conn).await?)
    })?;
    let views: Vec<ServiceView> = list.into_iter().map(ServiceView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalculationBody {
    /// The service's code.
    service: String,
    /// For a customer, or for a lead not yet converted (one of them).
    customer_id: Option<Uuid>,
    lead_id: Option<Uuid>,
    /// Whole m² (per-m² services).
    area_m2: Option<i64>,
    /// Minutes of work (hourly services).
    minutes: Option<i64>,
    /// Cleaners (hourly services; 1 by default).
    cleaners: Option<i64>,
    /// once (default), weekly, biweekly or monthly.
    frequency: Option<Frequency>,
    /// Codes of the service's extras to add.
    #[serde(default)]
    extras: Vec<String>,
    /// What the calculation is based on: e.g. `{"kind": "conversation", "id": "..."}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    data_sources: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalculationView {
    id: Uuid,
    customer_id: Option<Uuid>,
    lead_id: Option<Uuid>,
    service_id: Uuid,
    logic_version: String,
    #[schema(value_type = Object)]
    calculation_parameters: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    data_sources: serde_json::Value,
    /// Every step with its explanation and value.
    #[schema(value_type = Vec<Step>)]
    partial_results: serde_json::Value,
    net_ore: i64,
    vat_ore: i64,
    /// Net plus VAT.
    final_price: i64,
    /// The labour share, excl. VAT (servicefradrag).
    labour_ore: i64,
    calculation_date: DateTime<Utc>,
}

impl From<StoredCalculation> for CalculationView {
    fn from(c: StoredCalculation) -> Self {
        Self {
            id: c.id,
            customer_id: c.customer_id,
            lead_id: c.lead_id,
            service_id: c.service_id,
            logic_version: c.logic_version,
            calculation_parameters: c.calculation_parameters,
            data_sources: c.data_sources,
            partial_results: c.partial_results,
            net_ore: c.net_ore,
            vat_ore: c.vat_ore,
            final_price: c.final_price,
            labour_ore: c.labour_ore,
            calculation_date: c.calculation_date,
        }
    }
}

/// Calculate a price and store the calculation with its parameters, sources and every step.
#[utoipa::path(post, path = "/v1/price-calculations", tag = "sales", security(("user" = [])),
    request_body = CalculationBody,
    responses((status = 201, body = CalculationView),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn calculate(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<CalculationBody>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    if body.customer_id.is_some() == body.lead_id.is_some() {
        return Err(invalid("customer_id", "give either customer_id or lead_id"));
    }
    if body.data_sources.len() > 50 || body.data_sources.iter().any(|s| !s.is_object()) {
        return Err(invalid("data_sources", "at most 50 objects"));
    }
    let stored = in_context!(&pool, principal.context(), |conn| {
        let cvr = match (body.customer_id, body.lead_id) {
            (Some(customer), _) => {
                customer_access(conn, &principal, customer, AccessLevel::Write)
                    .await?
                    .cvr
            }
            (_, Some(lead)) => {
                let lead = customers::find_lead(conn, lead)
                    .await
                    .map_err(not_found("such lead"))?;
                require(conn, &principal, lead.cvr.as_deref(), AccessLevel::Write).await?;
                lead.cvr
            }
            _ => None,
        };
        let service = sales::service_by_code(conn, &body.service)
            .await
            .map_err(|_| invalid("service", format!("no active service {}", body.service)))?;
        let catalogue: Vec<Extra> =
            serde_json::from_value(service.extras.clone()).unwrap_or_default();
        let mut extras = Vec::new();
        for code in &body.extras {
            match catalogue.iter().find(|e| &e.code == code) {
                Some(extra) => extras.push(extra.clone()),
                None => {
                    return Err(invalid(
                        "extras",
                        format!("{code} is not an extra of {}", service.code),
                    ));
                }
            }
        }
        let parameters = Parameters {
            service_code: service.code.clone(),
            pricing: Pricing::parse(&service.pricing).unwrap_or(Pricing::Fixed),
            unit_price_ore: service.unit_price_ore,
            area_m2: body.area_m2,
            minutes: body.minutes,
            cleaners: body.cleaners,
            frequency: body.frequency.unwrap_or(Frequency::Once),
            extras,
        };
        let result = pricing::calculate(&parameters).map_err(|(field, msg)| invalid(field, msg))?;
        Ok::<_, Problem>(
            sales::store_calculation(
                conn,
                NewCalculation {
                    scope: &Scope {
                        org_id: principal.org_id,
                        cvr,
                    },
                    customer_id: body.customer_id,
                    lead_id: body.lead_id,
                    service_id: service.id,
                    parameters: &parameters,
                    data_sources: serde_json::Value::Array(body.data_sources.clone()),
                    result: &result,
                    by: principal.user_id,
                },
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::Created().json(CalculationView::from(stored)))
}

async fn readable_calculation(
    conn: &mut diesel_async::AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
) -> Result<StoredCalculation, Problem> {
    let c = sales::calculation(conn, id)
        .await
        .map_err(not_found("such price calculation"))?;
    require(conn, principal, c.cvr.as_deref(), AccessLevel::Read).await?;
    Ok(c)
}

/// A stored price calculation, with everything that explains it.
#[utoipa::path(get, path = "/v1/price-calculations/{id}", tag = "sales", security(("user" = [])),
    responses((status = 200, body = CalculationView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn calculation(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let c = in_context!(&pool, principal.context(), |conn| {
        readable_calculation(conn, &principal, id).await
    })?;
    Ok(HttpResponse::Ok().json(CalculationView::from(c)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RerunView {
    /// Whether re-running the stored parameters gives the stored figures and steps.
    matches: bool,
    logic_version: String,
    net_ore: i64,
    vat_ore: i64,
    final_price: i64,
    labour_ore: i64,
    steps: Vec<Step>,
}

/// Re-run a stored calculation from its parameters with its logic version, to check it.
#[utoipa::path(post, path = "/v1/price-calculations/{id}/rerun", tag = "sales",
    security(("user" = [])),
    responses((status = 200, body = RerunView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "Its logic version is no longer available",
               body = Problem, content_type = "application/problem+json")))]
pub async fn rerun(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let c = in_context!(&pool, principal.context(), |conn| {
        readable_calculation(conn, &principal, id).await
    })?;
    if c.logic_version != pricing::LOGIC_VERSION {
        return Err(Problem::conflict(format!(
            "Calculation logic {} is not available (this service runs {}).",
            c.logic_version,
            pricing::LOGIC_VERSION
        )));
    }
    let parameters: Parameters = serde_json::from_value(c.calculation_parameters.clone())
        .map_err(|err| Problem::internal(&err))?;
    let again = pricing::calculate(&parameters).map_err(|(field, msg)| invalid(field, msg))?;
    let stored_steps: Vec<Step> =
        serde_json::from_value(c.partial_results.clone()).unwrap_or_default();
    Ok(HttpResponse::Ok().json(RerunView {
        matches: again.total_ore == c.final_price
            && again.labour_ore == c.labour_ore
            && again.steps == stored_steps,
        logic_version: c.logic_version,
        net_ore: again.net_ore,
        vat_ore: again.vat_ore,
        final_price: again.total_ore,
        labour_ore: again.labour_ore,
        steps: again.steps,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    price_calculation_id: Uuid,
    /// The customer quoted; a calculation for a lead needs the lead converted first.
    customer_id: Option<Uuid>,
    /// 30 days from today by default.
    valid_until: Option<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteView {
    id: Uuid,
    customer_id: Uuid,
    price_calculation_id: Uuid,
    lead_id: Option<Uuid>,
    /// draft, sent, accepted or declined; `expired` shows a sent quote past its date.
    status: String,
    valid_until: NaiveDate,
    sent_at: Option<DateTime<Utc>>,
    decided_at: Option<DateTime<Utc>>,
    total_ore: i64,
}

impl From<Quote> for QuoteView {
    fn from(q: Quote) -> Self {
        let expired = matches!(q.status.as_str(), "draft" | "sent")
            && q.valid_until < Utc::now().date_naive();
        Self {
            id: q.id,
            customer_id: q.customer_id,
            price_calculation_id: q.price_calculation_id,
            lead_id: q.lead_id,
            status: if expired { "expired".into() } else { q.status },
            valid_until: q.valid_until,
            sent_at: q.sent_at,
            decided_at: q.decided_at,
            total_ore: q.total_ore,
        }
    }
}

/// Make a quote from a price calculation (write access).
#[utoipa::path(post, path = "/v1/quotes", tag = "sales", security(("user" = [])),
    request_body = QuoteBody,
    responses((status = 201, body = QuoteView),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_quote(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<QuoteBody>,
) -> Result<HttpResponse, Problem> {
    let today = Utc::now().date_naive();
    let valid_until = body
        .valid_until
        .unwrap_or(today + chrono::Duration::days(30));
    if valid_until < today || valid_until > today + chrono::Duration::days(365) {
        return Err(invalid("valid_until", "must be from today to a year ahead"));
    }
    let quote = in_context!(&pool, principal.context(), |conn| {
        let c = readable_calculation(conn, &principal, body.price_calculation_id).await?;
        let customer_id = match (c.customer_id, body.customer_id) {
            (Some(stored), Some(given)) if stored != given => {
                return Err(invalid("customer_id", "is not the calculation's customer"));
            }
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => {
                return Err(invalid(
                    "customer_id",
                    "the calculation is for a lead: convert it and give its customer",
                ));
            }
        };
        let customer = customer_access(conn, &principal, customer_id, AccessLevel::Write).await?;
        if customer.cvr != c.cvr {
            return Err(invalid(
                "customer_id",
                "belongs to another company than the calculation",
            ));
        }
        let scope = Scope {
            org_id: principal.org_id,
            cvr: customer.cvr.clone(),
        };
        Ok::<_, Problem>(
            sales::create_quote(
                conn,
                &c,
                &scope,
                customer.id,
                valid_until,
                principal.user_id,
            )
            .await?,
        )
    })?;
    Ok(HttpResponse::Created().json(QuoteView::from(quote)))
}

/// A quote.
#[utoipa::path(get, path = "/v1/quotes/{id}", tag = "sales", security(("user" = [])),
    responses((status = 200, body = QuoteView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn quote(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let quote = in_context!(&pool, principal.context(), |conn| {
        let quote = sales::find_quote(conn, id)
            .await
            .map_err(not_found("such quote"))?;
        require(conn, &principal, quote.cvr.as_deref(), AccessLevel::Read).await?;
        Ok::<_, Problem>(quote)
    })?;
    Ok(HttpResponse::Ok().json(QuoteView::from(quote)))
}

/// Send, accept or decline a quote (`action`: send, accept, decline). An expired quote cannot
/// be accepted; a decided one cannot change (409).
#[utoipa::path(post, path = "/v1/quotes/{id}/{action}", tag = "sales", security(("user" = [])),
    params(("action" = String, Path, description = "send, accept or decline")),
    responses((status = 200, body = QuoteView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn decide_quote(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, Problem> {
    let (id, action) = path.into_inner();
    let status = match action.as_str() {
        "send" => "sent",
        "accept" => "accepted",
        "decline" => "declined",
        _ => return Err(Problem::not_found(format!("No quote action {action}."))),
    };
    let quote = in_context!(&pool, principal.context(), |conn| {
        let quote = sales::find_quote(conn, id)
            .await
            .map_err(not_found("such quote"))?;
        require(conn, &principal, quote.cvr.as_deref(), AccessLevel::Write).await?;
        let allowed = match status {
            "sent" => quote.status == "draft",
            _ => matches!(quote.status.as_str(), "draft" | "sent"),
        };
        if !allowed {
            return Err(Problem::conflict(format!(
                "The quote is {}; it cannot be {status}.",
                quote.status
            )));
        }
        if status != "declined" && quote.valid_until < Utc::now().date_naive() {
            return Err(Problem::conflict(format!(
                "The quote expired on {}; make a new one.",
                quote.valid_until
            )));
        }
        Ok::<_, Problem>(sales::set_quote_status(conn, id, status).await?)
    })?;
    Ok(HttpResponse::Ok().json(QuoteView::from(quote)))
}

const LEAD_STATUSES: &[&str] = &["new", "contacted", "qualified", "quoted", "won", "lost"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadStatusBody {
    /// new, contacted, qualified, quoted, won or lost; won and lost are final.
    status: String,
}

/// Move a lead along its pipeline (write access). Won and lost leads stay as they are (409).
#[utoipa::path(patch, path = "/v1/leads/{id}", tag = "sales", security(("user" = [])),
    request_body = LeadStatusBody,
    responses((status = 200, body = LeadView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn set_lead_status(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
    body: web::Json<LeadStatusBody>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    if !LEAD_STATUSES.contains(&body.status.as_str()) {
        return Err(invalid(
            "status",
            format!("must be one of {}", LEAD_STATUSES.join(", ")),
        ));
    }
    let lead = in_context!(&pool, principal.context(), |conn| {
        let lead = customers::find_lead(conn, id)
            .await
            .map_err(not_found("such lead"))?;
        require(conn, &principal, lead.cvr.as_deref(), AccessLevel::Write).await?;
        if matches!(lead.status.as_str(), "won" | "lost") && lead.status != body.status {
            return Err(Problem::conflict(format!(
                "The lead is {}; that is final.",
                lead.status
            )));
        }
        Ok::<_, Problem>(customers::set_lead(conn, principal.org_id, id, &body.status, None).await?)
    })?;
    Ok(HttpResponse::Ok().json(LeadView::from(lead)))
}
