//! The HTTP API of the flow service.

pub mod automation;
pub mod gdpr;
pub mod webhooks;
pub mod workflows;

use actix_web::web;
use tekup_runtime::Problem;
use tekup_runtime::http::UserAuth;
use utoipa::OpenApi;

/// Names of workflows and integrations: lower-case letters, digits, `_ . -`.
pub fn name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 100
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

/// 204 when a deletion found its `what`, else 404 naming it.
pub fn deleted(found: bool, what: &str) -> Result<actix_web::HttpResponse, Problem> {
    if found {
        Ok(actix_web::HttpResponse::NoContent().finish())
    } else {
        Err(Problem::not_found(format!("No such {what}.")))
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/webhooks", web::post().to(webhooks::create))
        .route("/v1/webhooks", web::get().to(webhooks::list))
        .route("/v1/webhooks/{id}", web::delete().to(webhooks::deactivate))
        .route(
            "/v1/webhooks/{id}/deliveries",
            web::get().to(webhooks::deliveries),
        )
        .route("/v1/hooks/{id}", web::post().to(webhooks::receive))
        .route("/v1/workflows", web::post().to(workflows::create))
        .route("/v1/workflows", web::get().to(workflows::list))
        .route("/v1/workflows/{name}", web::get().to(workflows::show))
        .route(
            "/v1/workflows/{name}",
            web::delete().to(workflows::deactivate),
        )
        .route(
            "/v1/workflows/{name}/executions",
            web::post().to(workflows::run),
        )
        .route(
            "/v1/workflow-templates",
            web::get().to(workflows::templates),
        )
        .route(
            "/v1/workflow-templates/{name}",
            web::post().to(workflows::install),
        )
        .route("/v1/executions", web::get().to(workflows::executions))
        .route("/v1/executions/{id}", web::get().to(workflows::execution))
        .route(
            "/v1/executions/{id}/cancel",
            web::post().to(workflows::cancel),
        )
        .route(
            "/v1/executions/{id}/rerun",
            web::post().to(workflows::rerun),
        )
        .route("/v1/schedules", web::post().to(automation::create_schedule))
        .route("/v1/schedules", web::get().to(automation::schedules))
        .route(
            "/v1/schedules/{id}",
            web::delete().to(automation::delete_schedule),
        )
        .route("/v1/integrations", web::get().to(automation::integrations))
        .route(
            "/v1/integrations/{name}",
            web::put().to(automation::save_integration),
        )
        .route(
            "/v1/integrations/{name}",
            web::delete().to(automation::delete_integration),
        )
        .route(
            "/v1/integrations/{name}/deliveries",
            web::get().to(automation::deliveries),
        )
        .route("/v1/variables", web::get().to(automation::variables))
        .route(
            "/v1/variables/{name}",
            web::put().to(automation::set_variable),
        )
        .route(
            "/v1/variables/{name}",
            web::delete().to(automation::delete_variable),
        )
        .route("/v1/gdpr/requests", web::post().to(gdpr::create))
        .route("/v1/gdpr/requests", web::get().to(gdpr::list))
        .route("/v1/gdpr/requests/{id}", web::get().to(gdpr::show));
}

#[derive(OpenApi)]
#[openapi(
    info(description = "The workflow engine: workflows, executions, schedules, webhooks, variables and GDPR requests."),
    paths(
        webhooks::create, webhooks::list, webhooks::deactivate, webhooks::deliveries,
        webhooks::receive,
        workflows::create, workflows::list, workflows::show, workflows::deactivate,
        workflows::templates, workflows::install, workflows::run, workflows::executions,
        workflows::execution, workflows::cancel, workflows::rerun,
        automation::create_schedule, automation::schedules, automation::delete_schedule,
        automation::save_integration, automation::integrations, automation::delete_integration,
        automation::deliveries, automation::set_variable, automation::variables,
        automation::delete_variable,
        gdpr::create, gdpr::list, gdpr::show,
    ),
    components(schemas(
        webhooks::WebhookBody, webhooks::WebhookView, webhooks::CreatedWebhook,
        webhooks::DeliveryView, webhooks::Receipt, Problem,
        workflows::WorkflowBody, workflows::WorkflowView, workflows::WorkflowDetail,
        workflows::VersionView, workflows::TemplateView, workflows::RunBody,
        workflows::ExecutionView, workflows::ExecutionDetail, workflows::StepView,
        workflows::LogView, crate::store::executions::DayMetrics,
        automation::ScheduleBody, automation::ScheduleView, automation::IntegrationBody,
        automation::IntegrationView, automation::SavedIntegration,
        crate::store::integrations::Delivery, automation::VariableBody, automation::VariableView,
        gdpr::RequestBody, gdpr::RequestView, gdpr::AnswerView,
    )),
    modifiers(&UserAuth),
    tags(
        (name = "webhooks", description = "Inbound webhooks (WotNot, forwarded e-mail, Standard Webhooks) and their deliveries"),
        (name = "workflows", description = "Versioned workflow definitions and built-in templates"),
        (name = "executions", description = "Durable runs of workflows: steps, logs, cancel, re-run"),
        (name = "schedules", description = "Cron schedules in Copenhagen time, holidays optional"),
        (name = "integrations", description = "Outgoing webhooks and HTTP endpoints, with delivery logs"),
        (name = "variables", description = "Values and sealed secrets workflows read as vars.*"),
        (name = "gdpr", description = "Data-subject requests answered by every service"),
    ),
)]
struct Api;

pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}
