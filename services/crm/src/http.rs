//! The HTTP API of the crm service.

mod companies;
mod contacts;

use actix_web::web;
use tekup_runtime::Problem;
use tekup_runtime::problem::FieldError;
use tekup_types::Cvr;
use utoipa::OpenApi;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/companies")
            .route("", web::get().to(companies::list))
            .route("/{cvr}", web::get().to(companies::get))
            .route("/{cvr}", web::put().to(companies::put))
            .route("/{cvr}/contacts", web::get().to(contacts::list))
            .route("/{cvr}/contacts", web::post().to(contacts::create))
            .route("/{cvr}/contacts/{id}", web::patch().to(contacts::update))
            .route("/{cvr}/contacts/{id}", web::delete().to(contacts::delete)),
    );
}

#[derive(OpenApi)]
#[openapi(
    info(description = "The CRM: companies by CVR, contacts, pipeline, activities, customer insights and next-step recommendations."),
    paths(
        companies::list, companies::get, companies::put,
        contacts::list, contacts::create, contacts::update, contacts::delete,
    ),
    components(schemas(
        companies::CompanyBody, companies::CompanyView,
        contacts::ContactBody, contacts::ContactChanges, contacts::ContactView,
    )),
    modifiers(&UserAuth),
    tags(
        (name = "companies", description = "CRM records of customer companies, by CVR"),
        (name = "contacts", description = "The people at a company"),
    )
)]
struct Api;

pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

struct UserAuth;

impl utoipa::Modify for UserAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "user",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
    }
}

/// A CVR from the path, or a 422 naming it.
pub fn cvr(text: &str) -> Result<Cvr, Problem> {
    Cvr::parse(text)
        .map_err(|err| Problem::validation(vec![FieldError::new("cvr", err.to_string())]))
}

/// Fails with 422 naming every invalid field, when there is one.
pub fn check(errors: Vec<FieldError>) -> Result<(), Problem> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Problem::validation(errors))
    }
}

/// A trimmed text of 1..=`max` characters.
pub fn text(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let trimmed = value.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > max {
        errors.push(FieldError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    trimmed.to_owned()
}
