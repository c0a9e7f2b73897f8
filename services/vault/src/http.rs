//! The HTTP API of the vault service.

mod catalog;
mod documents;
mod search;

use actix_web::web;
use tekup_runtime::Problem;
use tekup_runtime::http::UserAuth;
use tekup_runtime::problem::FieldError;
use tekup_types::Cvr;
use utoipa::OpenApi;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/search", web::post().to(search::search))
        .route("/v1/similar", web::post().to(search::similar_to_text))
        .route("/v1/categories", web::get().to(catalog::categories))
        .route("/v1/categories", web::post().to(catalog::create_category))
        .route(
            "/v1/categories/{id}",
            web::patch().to(catalog::update_category),
        )
        .route("/v1/sync-status", web::get().to(catalog::sync_status))
        .route(
            "/v1/sources/{source}/documents",
            web::put().to(documents::sync_item),
        )
        .route(
            "/v1/companies/{cvr}/documents",
            web::post().to(documents::upload),
        )
        .route(
            "/v1/companies/{cvr}/documents",
            web::get().to(documents::list),
        )
        .route("/v1/documents/{id}", web::get().to(documents::get))
        .route("/v1/documents/{id}", web::delete().to(documents::delete))
        .route(
            "/v1/documents/{id}/versions",
            web::get().to(documents::versions),
        )
        .route(
            "/v1/documents/{id}/versions/{version}",
            web::get().to(documents::version),
        )
        .route("/v1/documents/{id}/similar", web::get().to(search::similar));
}

#[derive(OpenApi)]
#[openapi(
    info(description = "The knowledge layer: documents, versions and embeddings, searchable by meaning."),
    paths(
        documents::upload, documents::list, documents::get, documents::delete,
        documents::versions, documents::version, documents::sync_item,
        search::search, search::similar, search::similar_to_text,
        catalog::categories, catalog::create_category, catalog::update_category,
        catalog::sync_status,
    ),
    components(schemas(
        documents::DocumentBody, documents::UploadForm, documents::DocumentView, documents::VersionView,
        documents::SyncBody,
        search::SearchBody, search::Mode, search::SearchView, search::ResultView,
        search::SimilarBody, crate::search::Strategy,
        catalog::CategoryBody, catalog::CategoryChanges, catalog::CategoryView,
        catalog::SyncView,
    )),
    modifiers(&UserAuth),
    tags(
        (name = "documents", description = "Documents of a company and their versions"),
        (name = "search", description = "Semantic, full-text and hybrid search; similar items"),
        (name = "catalog", description = "Document categories and sync status"),
    )
)]
struct Api;

pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// A CVR from the request, or a 422 naming `field`.
pub fn cvr(field: &str, text: &str) -> Result<Cvr, Problem> {
    Cvr::parse(text)
        .map_err(|err| Problem::validation(vec![FieldError::new(field, err.to_string())]))
}

pub use tekup_runtime::problem::not_found;
