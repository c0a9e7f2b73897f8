//! The HTTP API of the crm service.

pub(crate) mod activities;
mod companies;
mod contacts;
pub(crate) mod deals;
mod emails;
mod insights;
pub(crate) mod steps;

use actix_web::web;
use tekup_runtime::Problem;
use tekup_runtime::http::UserAuth;
pub use tekup_runtime::validate::{check, cvr, text};
use tekup_types::Cvr;
use utoipa::OpenApi;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/pipeline", web::get().to(deals::pipeline))
        .route("/v1/metrics", web::get().to(deals::metrics))
        .route("/v1/customers", web::get().to(insights::customers))
        .route(
            "/v1/customers/{external_id}",
            web::put().to(insights::put_customer),
        )
        .route(
            "/v1/customers/{external_id}/interactions",
            web::post().to(insights::record_interaction),
        )
        .route(
            "/v1/customers/{external_id}/patterns",
            web::post().to(insights::record_pattern),
        )
        .route(
            "/v1/customers/{external_id}/patterns",
            web::get().to(insights::patterns),
        )
        .route("/v1/interactions", web::get().to(insights::interactions))
        .route("/v1/pipeline", web::put().to(deals::set_pipeline))
        .service(
            web::scope("/v1/companies")
                .route("", web::get().to(companies::list))
                .route("/{cvr}", web::get().to(companies::get))
                .route("/{cvr}", web::put().to(companies::put))
                .route("/{cvr}", web::delete().to(companies::delete))
                .route("/{cvr}/contacts", web::get().to(contacts::list))
                .route("/{cvr}/contacts", web::post().to(contacts::create))
                .route("/{cvr}/contacts/{id}", web::get().to(contacts::get))
                .route("/{cvr}/contacts/{id}", web::patch().to(contacts::update))
                .route("/{cvr}/contacts/{id}", web::delete().to(contacts::delete))
                .route("/{cvr}/deals", web::get().to(deals::list))
                .route("/{cvr}/deals", web::post().to(deals::create))
                .route("/{cvr}/deals/{id}", web::get().to(deals::get))
                .route("/{cvr}/deals/{id}", web::patch().to(deals::update))
                .route("/{cvr}/deals/{id}", web::delete().to(deals::delete))
                .route("/{cvr}/activities", web::get().to(activities::list))
                .route("/{cvr}/activities", web::post().to(activities::record))
                .route("/{cvr}/tasks", web::get().to(activities::tasks))
                .route("/{cvr}/tasks", web::post().to(activities::add_task))
                .route(
                    "/{cvr}/tasks/{id}",
                    web::patch().to(activities::set_task_status),
                )
                .route("/{cvr}/process-steps", web::get().to(steps::list))
                .route("/{cvr}/process-steps", web::post().to(steps::create))
                .route(
                    "/{cvr}/process-steps/recommend",
                    web::post().to(steps::recommend),
                )
                .route(
                    "/{cvr}/process-steps/{id}",
                    web::patch().to(steps::set_status),
                )
                .route("/{cvr}/timeline", web::get().to(steps::timeline))
                .route(
                    "/{cvr}/communications/{id}",
                    web::get().to(steps::communication),
                )
                .route("/{cvr}/emails", web::get().to(emails::list))
                .route("/{cvr}/emails", web::post().to(emails::log)),
        );
}

#[derive(OpenApi)]
#[openapi(
    info(description = "The CRM: companies by CVR, contacts, pipeline, activities, customer insights and next-step recommendations."),
    paths(
        companies::list, companies::get, companies::put, companies::delete,
        contacts::list, contacts::create, contacts::get, contacts::update, contacts::delete,
        deals::pipeline, deals::set_pipeline, deals::list, deals::create, deals::get, deals::update,
        deals::delete,
        activities::record, activities::list, activities::add_task, activities::tasks,
        activities::set_task_status,
        insights::put_customer, insights::customers, insights::record_interaction,
        insights::interactions, insights::record_pattern, insights::patterns,
        steps::recommend, steps::list, steps::create, steps::set_status, steps::timeline,
        steps::communication,
        emails::log, emails::list, deals::metrics,
    ),
    components(schemas(
        companies::CompanyBody, companies::CompanyView,
        contacts::ContactBody, contacts::ContactChanges, contacts::ContactView,
        crate::domain::pipeline::Stage, deals::PipelineBody, deals::DealBody, deals::DealChanges,
        deals::DealView,
        activities::ActivityBody, activities::ActivityView, activities::TaskBody,
        activities::TaskStatus, activities::TaskView,
        insights::CustomerBody, insights::CustomerView, insights::InteractionBody,
        insights::InteractionView, insights::PatternBody, insights::PatternView,
        steps::StepView, steps::StepBody, steps::StepStatus, steps::TimelineView,
        steps::CommunicationView,
        emails::EmailBody, emails::EmailView, deals::MetricsView,
    )),
    modifiers(&UserAuth),
    tags(
        (name = "companies", description = "CRM records of customer companies, by CVR"),
        (name = "contacts", description = "The people at a company"),
        (name = "deals", description = "The sales pipeline and its deals"),
        (name = "activities", description = "Calls, meetings, notes, e-mails and tasks"),
        (name = "insights", description = "Customers, interactions, sentiment and behaviour patterns"),
        (name = "process steps", description = "Next-step recommendations and the company timeline"),
    )
)]
struct Api;

pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// A field that is present (even as `null`) is `Some`; an absent one stays `None`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

/// `read` of a company's records, sent together with the check that the company has a CRM
/// record (for [`tekup_runtime::read_in_company!`]): a 404 without one, else what was read.
pub async fn of_existing_company<T, E: Into<Problem>>(
    conn: &diesel_async::AsyncPgConnection,
    org_id: uuid::Uuid,
    cvr: &Cvr,
    read: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Problem> {
    let (exists, read) = futures_util::future::join(company_exists(conn, org_id, cvr), read).await;
    exists?;
    read.map_err(Into::into)
}

/// Contacts and deals hang off a company's CRM record: without one there are none.
pub async fn company_exists(
    conn: &diesel_async::AsyncPgConnection,
    org_id: uuid::Uuid,
    cvr: &Cvr,
) -> Result<(), Problem> {
    match crate::store::companies::find(conn, org_id, cvr.as_str()).await {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::NotFound) => Err(Problem::not_found(format!(
            "No CRM record for {cvr}: create it with PUT /v1/companies/{cvr} first."
        ))),
        Err(error) => Err(error.into()),
    }
}

/// Refuses (422, naming the field) a contact or deal that is not one of the company's. Foreign
/// keys do not pass through Row Level Security: without this, a deal, activity, task or e-mail
/// could point at a contact or deal of another company, or of another organization.
pub async fn of_this_company(
    conn: &diesel_async::AsyncPgConnection,
    org_id: uuid::Uuid,
    cvr: &Cvr,
    contact_id: Option<uuid::Uuid>,
    deal_id: Option<uuid::Uuid>,
) -> Result<(), Problem> {
    use diesel::sql_types::{Bool, Nullable, Text, Uuid};
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = Bool)]
        contact: bool,
        #[diesel(sql_type = Bool)]
        deal: bool,
    }
    if contact_id.is_none() && deal_id.is_none() {
        return Ok(());
    }
    let found: Found = diesel::sql_query(
        "SELECT ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM contacts \
                 WHERE org_id = $1 AND cvr = $2 AND id = $3)) AS contact, \
                ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM deals \
                 WHERE org_id = $1 AND cvr = $2 AND id = $4)) AS deal",
    )
    .bind::<Uuid, _>(org_id)
    .bind::<Text, _>(cvr.as_str())
    .bind::<Nullable<Uuid>, _>(contact_id)
    .bind::<Nullable<Uuid>, _>(deal_id)
    .get_result(&mut { conn })
    .await?;
    let mut errors = Vec::new();
    if !found.contact {
        errors.push(tekup_runtime::problem::FieldError::new(
            "contact_id",
            "is no contact of this company",
        ));
    }
    if !found.deal {
        errors.push(tekup_runtime::problem::FieldError::new(
            "deal_id",
            "is no deal of this company",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Problem::validation(errors))
    }
}
