//! Search by meaning, through vault's API with the user's own token: vault decides what the
//! user may find, and each result leads to the timeline item it came from.

use super::companies::kind_key;
use super::layout::{ok, shell};
use super::{Api, Lang, Session, Upstream, WebError, company_cvr, send};
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    /// Only this company.
    cvr: Option<String>,
}

/// Where a result lives in the console: conversations and threads have a page of their own,
/// the rest an entry on the company's timeline; uploaded documents are shown with their text.
fn target(result: &Value) -> String {
    let cvr = result["cvr"].as_str().unwrap_or_default();
    let kind = result["repository"].as_str().unwrap_or_default();
    let id = result["path"].as_str().unwrap_or_default();
    let base = format!("/app/companies/{cvr}");
    match kind {
        "conversation" | "email_thread" => format!("{base}/communications/{id}"),
        "activity" | "email" => format!("{base}#item-{id}"),
        _ => format!(
            "{base}/documents/{}",
            result["document_id"].as_str().unwrap_or_default()
        ),
    }
}

/// vault marks the query's words «like this».
fn snippet(text: &str) -> Markup {
    html! {
        @for (i, part) in text.split(['«', '»']).enumerate() {
            @if i % 2 == 1 { mark { (part) } } @else { (part) }
        }
    }
}

fn results(lang: Lang, answer: &Value) -> Markup {
    let results = answer["results"].as_array().cloned().unwrap_or_default();
    html! {
        @if results.is_empty() {
            p { (lang.t("search.none")) }
        } @else {
            ol.timeline id="results" {
                @for r in &results {
                    li {
                        span.kind { (lang.t(kind_key(r["kind"].as_str().unwrap_or_default()))) }
                        " · " span.meta { (lang.t("company.cvr")) " " (r["cvr"].as_str().unwrap_or_default()) }
                        h2 { a href=(target(r)) { (r["name"].as_str().unwrap_or_default()) } }
                        p { (snippet(r["snippet"].as_str().unwrap_or_default())) }
                    }
                }
            }
        }
    }
}

/// The search page: the form, and the results when a query was given.
pub async fn search(
    session: Session,
    upstream: web::Data<Upstream>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, WebError> {
    let lang = session.lang;
    let q = query.q.trim().to_owned();
    let cvr = query
        .cvr
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|text| company_cvr(lang, text))
        .transpose()?;
    let found = if q.is_empty() {
        None
    } else {
        let mut body = json!({"query": q, "mode": "hybrid", "limit": 20});
        if let Some(cvr) = &cvr {
            body["cvrs"] = json!([cvr.as_str()]);
        }
        let request = session
            .request(&upstream, Api::Vault, reqwest::Method::POST, "/v1/search")
            .json(&body);
        let (status, answer) = send(request).await?;
        if !status.is_success() {
            return Err(WebError::upstream(lang, status, &answer));
        }
        Some(answer)
    };
    let body = html! {
        form.inline.panel role="search" method="get" action="/app/search" {
            label for="search-q" { (lang.t("search.query")) }
            input id="search-q" type="search" name="q" value=(q) required;
            @if let Some(cvr) = &cvr {
                " "
                input id="search-cvr" type="checkbox" name="cvr" value=(cvr.as_str()) checked;
                label for="search-cvr" { (lang.t("search.in_company")) " (" (cvr.as_str()) ")" }
            }
            " "
            button type="submit" { (lang.t("search.submit")) }
        }
        @if let Some(answer) = &found {
            (results(lang, answer))
        }
    };
    Ok(ok(shell(
        lang,
        Some(&session),
        lang.t("search.title"),
        body,
    )))
}

/// A document of the company: its current text and its versions, read from vault with the
/// user's token (vault answers 404 for a document the user may not read).
pub async fn document(
    session: Session,
    upstream: web::Data<Upstream>,
    path: web::Path<(String, uuid::Uuid)>,
) -> Result<HttpResponse, WebError> {
    let lang = session.lang;
    let (cvr, id) = path.into_inner();
    let cvr = company_cvr(lang, &cvr)?;
    let get =
        |path: String| send(session.request(&upstream, Api::Vault, reqwest::Method::GET, &path));
    let (status, doc) = get(format!("/v1/documents/{id}")).await?;
    if !status.is_success() || doc["cvr"].as_str() != Some(cvr.as_str()) {
        return Err(WebError::not_found(lang));
    }
    let version = doc["version"].as_i64().unwrap_or(1);
    let (_, current) = get(format!("/v1/documents/{id}/versions/{version}")).await?;
    // vault answers the versions as an array, oldest first.
    let (_, versions) = get(format!("/v1/documents/{id}/versions")).await?;
    let versions = versions.as_array().cloned().unwrap_or_default();
    let name = doc["name"].as_str().unwrap_or_default().to_owned();
    let body = html! {
        p.meta { (lang.t("kind.document")) " · " (doc["content_type"].as_str().unwrap_or_default())
                 " · v" (version) }
        pre id="document-text" { (current["content"].as_str().unwrap_or_default()) }
        h2 { (lang.t("document.versions")) }
        ul {
            @for v in &versions {
                li { "v" (v["version"].as_i64().unwrap_or_default()) " · "
                     (lang.datetime_text(v["uploaded_at"].as_str()).unwrap_or_default())
                     " · " (v["byte_size"].as_i64().unwrap_or_default()) " B" }
            }
        }
        p { a href={ "/app/companies/" (cvr.as_str()) } { (lang.t("conversation.back")) } }
    };
    Ok(ok(shell(lang, Some(&session), &name, body)))
}
