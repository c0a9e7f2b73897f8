//! The HTTP API of the flow service.

pub mod webhooks;

use actix_web::web;
use tekup_runtime::Problem;
use tekup_runtime::http::UserAuth;
use utoipa::OpenApi;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/webhooks", web::post().to(webhooks::create))
        .route("/v1/webhooks", web::get().to(webhooks::list))
        .route("/v1/webhooks/{id}", web::delete().to(webhooks::deactivate))
        .route(
            "/v1/webhooks/{id}/deliveries",
            web::get().to(webhooks::deliveries),
        )
        .route("/v1/hooks/{id}", web::post().to(webhooks::receive));
}

#[derive(OpenApi)]
#[openapi(
    info(description = "The workflow engine: workflows, executions, schedules, webhooks, variables and GDPR requests."),
    paths(
        webhooks::create, webhooks::list, webhooks::deactivate, webhooks::deliveries,
        webhooks::receive,
    ),
    components(schemas(
        webhooks::WebhookBody, webhooks::WebhookView, webhooks::CreatedWebhook,
        webhooks::DeliveryView, webhooks::Receipt, Problem,
    )),
    modifiers(&UserAuth),
    tags((name = "webhooks", description = "Inbound webhooks (WotNot, forwarded e-mail, Standard Webhooks) and their deliveries")),
)]
struct Api;

pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}
