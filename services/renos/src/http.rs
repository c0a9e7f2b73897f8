//! The HTTP API of the renos service.

mod analytics;
mod comms;
mod operations;
mod sales;
mod work;

use actix_web::web;
use diesel_async::AsyncPgConnection;
use tekup_auth::Principal;
use tekup_runtime::Problem;
use tekup_runtime::http::UserAuth;
use tekup_runtime::problem::FieldError;
use tekup_types::{AccessLevel, Role};
use utoipa::OpenApi;

use crate::store::customers::{self, Customer};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/customers", web::get().to(sales::customers))
        .route("/v1/customers", web::post().to(sales::create_customer))
        .route("/v1/customers/{id}", web::get().to(sales::customer))
        .route("/v1/leads", web::get().to(sales::leads))
        .route("/v1/leads", web::post().to(sales::create_lead))
        .route(
            "/v1/leads/{id}/convert",
            web::post().to(sales::convert_lead),
        )
        .route("/v1/services", web::get().to(sales::services))
        .route("/v1/services", web::post().to(sales::create_service))
        .route("/v1/price-calculations", web::post().to(sales::calculate))
        .route(
            "/v1/price-calculations/{id}",
            web::get().to(sales::calculation),
        )
        .route(
            "/v1/price-calculations/{id}/rerun",
            web::post().to(sales::rerun),
        )
        .route("/v1/quotes", web::post().to(sales::create_quote))
        .route("/v1/quotes/{id}", web::get().to(sales::quote))
        .route(
            "/v1/quotes/{id}/{action}",
            web::post().to(sales::decide_quote),
        )
        .route("/v1/plans", web::post().to(operations::create_plan))
        .route(
            "/v1/plans/{id}/bookings",
            web::get().to(operations::plan_bookings),
        )
        .route("/v1/bookings", web::post().to(operations::create_booking))
        .route("/v1/bookings/{id}", web::get().to(operations::booking))
        .route(
            "/v1/bookings/{id}",
            web::patch().to(operations::move_booking),
        )
        .route(
            "/v1/bookings/{id}/executions",
            web::post().to(operations::record_execution),
        )
        .route("/v1/invoices", web::post().to(operations::draft_invoice))
        .route("/v1/invoices/{id}", web::get().to(operations::invoice))
        .route(
            "/v1/invoices/{id}/{action}",
            web::post().to(operations::invoice_action),
        )
        .route("/v1/leads/{id}", web::patch().to(sales::set_lead_status))
        .route("/v1/plans/{id}/tasks", web::post().to(work::add_plan_task))
        .route(
            "/v1/bookings/{id}/tasks",
            web::post().to(work::add_booking_task),
        )
        .route(
            "/v1/bookings/{id}/tasks",
            web::get().to(work::booking_tasks),
        )
        .route("/v1/breaks", web::post().to(work::add_break))
        .route("/v1/breaks", web::get().to(work::breaks))
        .route("/v1/escalations", web::post().to(work::escalate))
        .route("/v1/escalations", web::get().to(work::escalations))
        .route(
            "/v1/escalations/{id}",
            web::patch().to(work::update_escalation),
        )
        .route(
            "/v1/competitor-prices",
            web::post().to(analytics::record_competitor_price),
        )
        .route("/v1/analytics/pricing", web::get().to(analytics::pricing))
        .route("/v1/analytics", web::get().to(analytics::overview))
        .route("/v1/email/ingest", web::post().to(comms::ingest))
        .route("/v1/email/ingest-runs", web::get().to(comms::runs))
        .route("/v1/email/ingest-runs/{id}", web::get().to(comms::run))
        .route("/v1/email/threads", web::get().to(comms::threads))
        .route("/v1/email/threads/{id}", web::get().to(comms::thread))
        .route(
            "/v1/email/threads/{id}",
            web::patch().to(comms::update_thread),
        )
        .route(
            "/v1/email/messages/{id}/attachments/{index}",
            web::get().to(comms::attachment),
        )
        .route(
            "/v1/email/templates",
            web::post().to(comms::create_template),
        )
        .route("/v1/email/templates", web::get().to(comms::templates))
        .route(
            "/v1/email/responses/{id}/{action}",
            web::post().to(comms::decide_response),
        )
        .route("/v1/conversations", web::get().to(comms::conversations))
        .route("/v1/conversations/{id}", web::get().to(comms::conversation))
        .route("/v1/labels", web::post().to(comms::create_label))
        .route("/v1/labels", web::get().to(comms::labels));
}

#[derive(OpenApi)]
#[openapi(
    info(description = "The cleaning-business OS: leads, customers, quotes with price calculations, recurring plans, bookings, executions and invoices; chatbot conversations and e-mail threads."),
    paths(
        sales::create_customer, sales::customers, sales::customer, sales::create_lead,
        sales::leads, sales::convert_lead, sales::create_service, sales::services,
        sales::calculate, sales::calculation, sales::rerun, sales::create_quote, sales::quote,
        sales::decide_quote,
        operations::create_plan, operations::plan_bookings, operations::create_booking,
        operations::booking, operations::move_booking, operations::record_execution,
        operations::draft_invoice, operations::invoice, operations::invoice_action,
        sales::set_lead_status,
        work::add_plan_task, work::add_booking_task, work::booking_tasks, work::add_break,
        work::breaks, work::escalate, work::escalations, work::update_escalation,
        analytics::record_competitor_price, analytics::pricing, analytics::overview,
        comms::ingest, comms::runs, comms::run, comms::threads, comms::thread,
        comms::update_thread, comms::attachment, comms::create_template, comms::templates,
        comms::decide_response, comms::conversations, comms::conversation, comms::create_label,
        comms::labels,
    ),
    components(schemas(
        sales::CustomerBody, sales::CustomerView, sales::LeadBody, sales::LeadView,
        sales::ServiceBody, sales::ServiceView, sales::CalculationBody, sales::CalculationView,
        sales::RerunView, sales::QuoteBody, sales::QuoteView,
        crate::domain::pricing::Pricing, crate::domain::pricing::Frequency,
        crate::domain::pricing::Extra, crate::domain::pricing::Step,
        crate::domain::scoring::Reason,
        operations::PlanBody, operations::PlanView, operations::BookingBody,
        operations::BookingView, operations::MoveBody, operations::ExecutionBody,
        operations::InvoiceBody, operations::InvoiceView, operations::LineView,
        sales::LeadStatusBody,
        work::TaskBody, work::TaskView, work::BreakBody, work::BreakView, work::EscalationBody,
        work::EscalationChanges, work::EscalationView,
        analytics::CompetitorPriceBody, analytics::Created, analytics::PricePositionView,
        analytics::AnalyticsView, analytics::RevenueView,
        comms::RunView, comms::ThreadView, comms::MessageView, comms::ResponseView,
        comms::ThreadDetail, comms::ThreadChanges, comms::TemplateBody, comms::TemplateView,
        comms::ConversationView, comms::ChatMessageView, comms::SessionView,
        comms::ConversationDetail, comms::LabelBody, comms::LabelView,
    )),
    modifiers(&UserAuth),
    tags(
        (name = "sales", description = "Leads, customers, services, price calculations and quotes"),
        (name = "operations", description = "Plans, bookings, checklists, executions, breaks, escalations and invoices"),
        (name = "analytics", description = "Revenue, utilisation, conversion and competitors' prices"),
        (name = "communications", description = "Chatbot conversations, e-mail threads and their ingestion, labels, templates and responses"),
    )
)]
struct Api;

pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

pub use tekup_runtime::problem::not_found;

/// 422 naming one field.
pub fn invalid(field: &str, message: impl Into<String>) -> Problem {
    Problem::validation(vec![FieldError::new(field, message)])
}

/// Administrators and analysts only, for the organization's own data (staff, prices,
/// templates, labels): 403 saying who may `what` otherwise.
pub fn org_editor(principal: &Principal, what: &str) -> Result<(), Problem> {
    if matches!(principal.role, Role::Admin | Role::Analyst) {
        Ok(())
    } else {
        Err(Problem::forbidden(format!(
            "Only administrators and analysts {what}."
        )))
    }
}

/// May the principal act at `level` on data of a customer with this CVR (or a private one)?
/// Business data follows the grant on the company (404 out of reach, 403 too low); private
/// customers are read by the whole organization and changed by admins and analysts.
pub async fn require(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    cvr: Option<&str>,
    level: AccessLevel,
) -> Result<(), Problem> {
    match cvr {
        Some(cvr) => {
            let cvr = tekup_runtime::validate::cvr("cvr", cvr)?;
            tekup_auth::require_access(conn, principal, &cvr, level).await?;
            Ok(())
        }
        None if level == AccessLevel::Read
            || matches!(principal.role, Role::Admin | Role::Analyst) =>
        {
            Ok(())
        }
        None => Err(Problem::forbidden(
            "Only administrators and analysts may change data of private customers.",
        )),
    }
}

/// The customer, if the principal may act on it at `level`.
pub async fn customer_access(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: uuid::Uuid,
    level: AccessLevel,
) -> Result<Customer, Problem> {
    let customer = customers::find(conn, id)
        .await
        .map_err(not_found("such customer"))?;
    require(conn, principal, customer.cvr.as_deref(), level).await?;
    Ok(customer)
}
