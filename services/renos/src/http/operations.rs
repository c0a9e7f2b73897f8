//! Recurring plans, bookings, executions of the work, and invoices.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::problem::FieldError;
use tekup_runtime::validate::check;
use tekup_runtime::{Problem, in_context};
use tekup_types::AccessLevel;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{customer_access, invalid, not_found, require};
use crate::domain::pricing::Frequency;
use crate::events::Scope;
use crate::store::invoices::{self, Invoice, Line};
use crate::store::plans::{self, Booking, NewBooking, NewPlan};
use crate::store::sales;

/// A cleaner in two places, or booked during a break: a 409 saying which.
pub fn booking_problem(err: diesel::result::Error) -> Problem {
    if let diesel::result::Error::DatabaseError(_, info) = &err {
        let detail = match info.constraint_name() {
            Some("bookings_cleaner_overlap") => {
                Some("The cleaner is already booked at that time (bookings may not overlap).")
            }
            Some("bookings_cleaner_break") => Some("The cleaner is on a break at that time."),
            Some("breaks_cleaner_booked") => Some("The cleaner has a booking during that break."),
            Some("breaks_overlap") => Some("The cleaner already has a break at that time."),
            _ => None,
        };
        if let Some(detail) = detail {
            return Problem::conflict(detail);
        }
    }
    err.into()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// An accepted quote to plan from (its customer, service and price per visit).
    quote_id: Uuid,
    /// weekly, biweekly or monthly.
    frequency: Frequency,
    start_date: NaiveDate,
    /// Last day a visit may fall on (at most two years after the start).
    until_date: NaiveDate,
    /// Wall-clock time in Copenhagen, e.g. "09:00".
    local_time: NaiveTime,
    duration_minutes: i32,
    cleaner_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookingView {
    id: Uuid,
    customer_id: Uuid,
    service_id: Uuid,
    plan_id: Option<Uuid>,
    occurrence_date: Option<NaiveDate>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    /// The start on the wall clock in Copenhagen.
    local_start: String,
    cleaner_id: Option<Uuid>,
    /// scheduled, completed or cancelled.
    status: String,
    price_ore: i64,
    labour_ore: i64,
    invoice_id: Option<Uuid>,
}

impl From<Booking> for BookingView {
    fn from(b: Booking) -> Self {
        Self {
            id: b.id,
            customer_id: b.customer_id,
            service_id: b.service_id,
            plan_id: b.plan_id,
            occurrence_date: b.occurrence_date,
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            local_start: b.local_start,
            cleaner_id: b.cleaner_id,
            status: b.status,
            price_ore: b.price_ore,
            labour_ore: b.labour_ore,
            invoice_id: b.invoice_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    id: Uuid,
    bookings: Vec<BookingView>,
}

/// Plan recurring cleaning from an accepted quote: the bookings of every occurrence are made
/// at once, at the same wall-clock time in Copenhagen across summer time (write access).
#[utoipa::path(post, path = "/v1/plans", tag = "operations", security(("user" = [])),
    request_body = PlanBody,
    responses((status = 201, body = PlanView),
              (status = 409, description = "Not accepted, or the cleaner is booked", body = Problem,
               content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_plan(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<PlanBody>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    if body.frequency == Frequency::Once {
        errors.push(FieldError::new(
            "frequency",
            "must be weekly, biweekly or monthly",
        ));
    }
    if body.until_date < body.start_date
        || body.until_date > body.start_date + chrono::Duration::days(731)
    {
        errors.push(FieldError::new(
            "until_date",
            "must be 0 to 2 years after start_date",
        ));
    }
    if !(15..=1440).contains(&body.duration_minutes) {
        errors.push(FieldError::new("duration_minutes", "must be 15 to 1440"));
    }
    check(errors)?;
    let frequency = match body.frequency {
        Frequency::Weekly => "weekly",
        Frequency::Biweekly => "biweekly",
        _ => "monthly",
    };
    let (id, bookings) = in_context!(&pool, principal.context(), |conn| {
        let quote = sales::find_quote(conn, body.quote_id)
            .await
            .map_err(not_found("such quote"))?;
        require(conn, &principal, quote.cvr.as_deref(), AccessLevel::Write).await?;
        if quote.status != "accepted" {
            return Err(Problem::conflict(format!(
                "The quote is {}; only an accepted quote can be planned.",
                quote.status
            )));
        }
        let calculation = sales::calculation(conn, quote.price_calculation_id).await?;
        let plan = plans::create_plan(
            conn,
            NewPlan {
                scope: &Scope {
                    org_id: principal.org_id,
                    cvr: quote.cvr.clone(),
                },
                customer_id: quote.customer_id,
                service_id: calculation.service_id,
                quote_id: Some(quote.id),
                frequency,
                start_date: body.start_date,
                until_date: body.until_date,
                local_time: body.local_time,
                duration_minutes: body.duration_minutes,
                cleaner_id: body.cleaner_id,
                price_per_visit_ore: calculation.net_ore,
                labour_per_visit_ore: calculation.labour_ore,
            },
        )
        .await
        .map_err(booking_problem)?;
        Ok::<_, Problem>(plan)
    })?;
    Ok(HttpResponse::Created().json(PlanView {
        id,
        bookings: bookings.into_iter().map(BookingView::from).collect(),
    }))
}

/// A plan's bookings, in time order.
#[utoipa::path(get, path = "/v1/plans/{id}/bookings", tag = "operations", security(("user" = [])),
    responses((status = 200, body = [BookingView])))]
pub async fn plan_bookings(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let bookings = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(plans::plan_bookings(conn, id).await?)
    })?;
    let views: Vec<BookingView> = bookings.into_iter().map(BookingView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingBody {
    customer_id: Uuid,
    /// The service's code.
    service: String,
    starts_at: DateTime<Utc>,
    duration_minutes: i32,
    cleaner_id: Option<Uuid>,
    /// Net price of the visit, excl. VAT.
    price_ore: i64,
    /// The labour share of it (servicefradrag); all of it by default.
    labour_ore: Option<i64>,
}

/// Book a one-off visit (write access). A cleaner already booked then is a 409.
#[utoipa::path(post, path = "/v1/bookings", tag = "operations", security(("user" = [])),
    request_body = BookingBody,
    responses((status = 201, body = BookingView),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_booking(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<BookingBody>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    if !(15..=1440).contains(&body.duration_minutes) {
        errors.push(FieldError::new("duration_minutes", "must be 15 to 1440"));
    }
    if !(0..=100_000_000).contains(&body.price_ore) {
        errors.push(FieldError::new("price_ore", "must be 0 to 100000000"));
    }
    let labour = body.labour_ore.unwrap_or(body.price_ore);
    if !(0..=body.price_ore).contains(&labour) {
        errors.push(FieldError::new("labour_ore", "must be 0 to price_ore"));
    }
    check(errors)?;
    let booking = in_context!(&pool, principal.context(), |conn| {
        let customer =
            customer_access(conn, &principal, body.customer_id, AccessLevel::Write).await?;
        let service = sales::service_by_code(conn, &body.service)
            .await
            .map_err(|_| invalid("service", format!("no active service {}", body.service)))?;
        plans::create_booking(
            conn,
            NewBooking {
                scope: &Scope {
                    org_id: principal.org_id,
                    cvr: customer.cvr.clone(),
                },
                customer_id: customer.id,
                service_id: service.id,
                starts_at: body.starts_at,
                duration_minutes: body.duration_minutes,
                cleaner_id: body.cleaner_id,
                price_ore: body.price_ore,
                labour_ore: labour,
            },
        )
        .await
        .map_err(booking_problem)
    })?;
    Ok(HttpResponse::Created().json(BookingView::from(booking)))
}

pub async fn booking_access(
    conn: &mut diesel_async::AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
    level: AccessLevel,
) -> Result<Booking, Problem> {
    let booking = plans::find_booking(conn, id)
        .await
        .map_err(not_found("such booking"))?;
    require(conn, principal, booking.cvr.as_deref(), level).await?;
    Ok(booking)
}

/// A booking.
#[utoipa::path(get, path = "/v1/bookings/{id}", tag = "operations", security(("user" = [])),
    responses((status = 200, body = BookingView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn booking(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let booking = in_context!(&pool, principal.context(), |conn| {
        booking_access(conn, &principal, id, AccessLevel::Read).await
    })?;
    Ok(HttpResponse::Ok().json(BookingView::from(booking)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// The new wall-clock time in Copenhagen.
    local_time: NaiveTime,
    /// A new day, for this occurrence only.
    date: Option<NaiveDate>,
    /// this (default): only this booking; future: this and every later occurrence of its plan.
    #[serde(default)]
    scope: MoveScope,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MoveScope {
    #[default]
    This,
    Future,
}

/// Move a scheduled booking: this occurrence, or this and the future ones of its plan. Returns
/// the moved bookings; a cleaner booked at the new time is a 409 and moves nothing.
#[utoipa::path(patch, path = "/v1/bookings/{id}", tag = "operations", security(("user" = [])),
    request_body = MoveBody,
    responses((status = 200, body = [BookingView]),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn move_booking(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
    body: web::Json<MoveBody>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let body = body.into_inner();
    if body.scope == MoveScope::Future && body.date.is_some() {
        return Err(invalid(
            "date",
            "moves one occurrence only: leave it out with scope future",
        ));
    }
    let moved = in_context!(&pool, principal.context(), |conn| {
        let booking = booking_access(conn, &principal, id, AccessLevel::Write).await?;
        if booking.status != "scheduled" {
            return Err(Problem::conflict(format!(
                "The booking is {}; only scheduled ones move.",
                booking.status
            )));
        }
        plans::move_booking(
            conn,
            &booking,
            body.date,
            body.local_time,
            body.scope == MoveScope::Future,
        )
        .await
        .map_err(booking_problem)
    })?;
    let views: Vec<BookingView> = moved.into_iter().map(BookingView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionBody {
    cleaner_id: Uuid,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    #[serde(default)]
    notes: String,
    /// Checklist items done (the booking's or its plan's).
    #[serde(default)]
    completed_tasks: Vec<Uuid>,
}

/// Record the work done on a booking (who, when, how long, notes); it completes the booking.
#[utoipa::path(post, path = "/v1/bookings/{id}/executions", tag = "operations",
    security(("user" = [])), request_body = ExecutionBody,
    responses((status = 201, body = BookingView),
              (status = 200, description = "The same work was recorded already", body = BookingView),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn record_execution(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
    body: web::Json<ExecutionBody>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let body = body.into_inner();
    let mut errors = Vec::new();
    if body.finished_at <= body.started_at
        || body.finished_at - body.started_at > chrono::Duration::hours(24)
    {
        errors.push(FieldError::new(
            "finished_at",
            "must be after started_at, within 24 hours",
        ));
    }
    if body.notes.chars().count() > 5000 {
        errors.push(FieldError::new("notes", "must be at most 5000 characters"));
    }
    check(errors)?;
    let booking = in_context!(&pool, principal.context(), |conn| {
        let booking = booking_access(conn, &principal, id, AccessLevel::Write).await?;
        if booking.status == "cancelled" {
            return Err(Problem::conflict("The booking was cancelled."));
        }
        if booking.invoice_id.is_some() {
            return Err(Problem::conflict(
                "The booking is invoiced: its work can no longer change.",
            ));
        }
        let checklist =
            crate::store::work::booking_tasks(conn, booking.id, booking.plan_id).await?;
        if let Some(unknown) = body
            .completed_tasks
            .iter()
            .find(|t| !checklist.iter().any(|c| c.id == **t))
        {
            return Err(invalid(
                "completed_tasks",
                format!("{unknown} is not on the booking's checklist"),
            ));
        }
        let recorded = plans::record_execution(
            conn,
            &booking,
            body.cleaner_id,
            body.started_at,
            body.finished_at,
            &body.notes,
        )
        .await?;
        Ok::<_, Problem>(match recorded {
            Some((execution, booking)) => {
                crate::store::work::record_ticks(conn, execution, &body.completed_tasks).await?;
                (StatusCode::CREATED, booking)
            }
            None => (StatusCode::OK, booking),
        })
    })?;
    let (status, booking) = booking;
    Ok(HttpResponse::build(status).json(BookingView::from(booking)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceBody {
    /// Invoice this customer's completed, not yet invoiced bookings.
    customer_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    booking_id: Option<Uuid>,
    description: String,
    quantity: i32,
    unit_price_ore: i64,
    net_ore: i64,
    labour_ore: i64,
}

impl From<Line> for LineView {
    fn from(l: Line) -> Self {
        Self {
            booking_id: l.booking_id,
            description: l.description,
            quantity: l.quantity,
            unit_price_ore: l.unit_price_ore,
            net_ore: l.net_ore,
            labour_ore: l.labour_ore,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    id: Uuid,
    customer_id: Uuid,
    /// Given when issued; consecutive per organization.
    number: Option<i32>,
    /// draft, issued, paid or cancelled.
    status: String,
    net_ore: i64,
    vat_ore: i64,
    total_ore: i64,
    /// The labour share, excl. VAT (servicefradrag).
    labour_ore: i64,
    issued_at: Option<DateTime<Utc>>,
    due_date: Option<NaiveDate>,
    paid_at: Option<DateTime<Utc>>,
    /// Billy.dk's id, once billy synced the invoice.
    billy_id: Option<String>,
    synced_at: Option<DateTime<Utc>>,
    /// Why billy could not put the invoice into Billy.dk (until it does).
    billy_sync_error: Option<String>,
    lines: Vec<LineView>,
}

fn invoice_view(i: Invoice, lines: Vec<Line>) -> InvoiceView {
    InvoiceView {
        id: i.id,
        customer_id: i.customer_id,
        number: i.number,
        status: i.status,
        net_ore: i.net_ore,
        vat_ore: i.vat_ore,
        total_ore: i.total_ore,
        labour_ore: i.labour_ore,
        issued_at: i.issued_at,
        due_date: i.due_date,
        paid_at: i.paid_at,
        billy_id: i.billy_id,
        synced_at: i.synced_at,
        billy_sync_error: i.billy_sync_error,
        lines: lines.into_iter().map(LineView::from).collect(),
    }
}

/// Draft an invoice of a customer's completed, not yet invoiced bookings (write access); 422
/// when there is nothing to invoice.
#[utoipa::path(post, path = "/v1/invoices", tag = "operations", security(("user" = [])),
    request_body = InvoiceBody,
    responses((status = 201, body = InvoiceView),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn draft_invoice(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<InvoiceBody>,
) -> Result<HttpResponse, Problem> {
    let (invoice, lines) = in_context!(&pool, principal.context(), |conn| {
        let customer =
            customer_access(conn, &principal, body.customer_id, AccessLevel::Write).await?;
        let Some(invoice) = invoices::draft(conn, &customer, principal.user_id).await? else {
            return Err(invalid(
                "customer_id",
                "the customer has no completed bookings to invoice",
            ));
        };
        let lines = invoices::lines(conn, invoice.id).await?;
        Ok::<_, Problem>((invoice, lines))
    })?;
    Ok(HttpResponse::Created().json(invoice_view(invoice, lines)))
}

/// An invoice with its lines.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "operations", security(("user" = [])),
    responses((status = 200, body = InvoiceView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn invoice(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let (invoice, lines) = in_context!(&pool, principal.context(), |conn| {
        let invoice = invoices::find(conn, id)
            .await
            .map_err(not_found("such invoice"))?;
        require(conn, &principal, invoice.cvr.as_deref(), AccessLevel::Read).await?;
        let lines = invoices::lines(conn, id).await?;
        Ok::<_, Problem>((invoice, lines))
    })?;
    Ok(HttpResponse::Ok().json(invoice_view(invoice, lines)))
}

/// Issue (next number, due in 14 days, announced to billy), mark paid, or cancel an invoice
/// (`action`: issue, pay, cancel). A change the status does not allow is a 409.
#[utoipa::path(post, path = "/v1/invoices/{id}/{action}", tag = "operations",
    security(("user" = [])),
    params(("action" = String, Path, description = "issue, pay or cancel")),
    responses((status = 200, body = InvoiceView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn invoice_action(
    principal: Principal,
    pool: web::Data<Pool>,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, Problem> {
    let (id, action) = path.into_inner();
    let (invoice, lines) = in_context!(&pool, principal.context(), |conn| {
        let invoice = invoices::find(conn, id)
            .await
            .map_err(not_found("such invoice"))?;
        require(conn, &principal, invoice.cvr.as_deref(), AccessLevel::Write).await?;
        let refuse = |what: &str| {
            Problem::conflict(format!(
                "The invoice is {}; it cannot be {what}.",
                invoice.status
            ))
        };
        let changed = match action.as_str() {
            "issue" => {
                if invoice.status != "draft" {
                    return Err(refuse("issued"));
                }
                let customer =
                    customer_access(conn, &principal, invoice.customer_id, AccessLevel::Write)
                        .await?;
                let due = Utc::now().date_naive() + chrono::Duration::days(14);
                invoices::issue(conn, &invoice, &customer, due).await?
            }
            "pay" => {
                if invoice.status != "issued" {
                    return Err(refuse("paid"));
                }
                invoices::set_status(conn, &invoice, "paid").await?
            }
            "cancel" => {
                if !matches!(invoice.status.as_str(), "draft" | "issued") {
                    return Err(refuse("cancelled"));
                }
                invoices::set_status(conn, &invoice, "cancelled").await?
            }
            _ => return Err(Problem::not_found(format!("No invoice action {action}."))),
        };
        let lines = invoices::lines(conn, id).await?;
        Ok::<_, Problem>((changed, lines))
    })?;
    Ok(HttpResponse::Ok().json(invoice_view(invoice, lines)))
}
