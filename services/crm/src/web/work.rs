//! The work a user does on a company: notes, tasks, next steps, documents and the pipeline.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;
use tekup_db::Pool;
use tekup_runtime::problem::FieldError;
use tekup_runtime::{Problem, in_company, in_context};
use tekup_types::AccessLevel;
use uuid::Uuid;

use super::layout::{csrf, ok, shell};
use super::{Api, Session, Upstream, WebError, company_cvr, is_htmx, see_other, send};
use crate::domain::pipeline::Stage;
use crate::http::activities::{ActivityBody, TaskBody, add_task_checked, record_checked};
use crate::http::deals::{DealChanges, update_checked};
use crate::http::steps::set_status_checked;
use crate::store::activities::{self, NewTask};
use crate::store::deals;
use crate::store::steps;

/// The largest document the console forwards to vault.
const MAX_UPLOAD: usize = 8 * 1024 * 1024;

/// The forms of the company page's side column (write access only).
pub fn forms(session: &Session, base: &str) -> Markup {
    let lang = session.lang;
    html! {
        section aria-labelledby="note-h" {
            h2 id="note-h" { (lang.t("note.title")) }
            form method="post" action={ (base) "/notes" } {
                (csrf(session))
                label for="note-subject" { (lang.t("note.subject")) }
                input id="note-subject" name="subject" required maxlength="200";
                label for="note-body" { (lang.t("note.body")) }
                textarea id="note-body" name="body" maxlength="20000" {}
                p { button type="submit" { (lang.t("note.submit")) } }
            }
        }
        section aria-labelledby="task-h" {
            h2 id="task-h" { (lang.t("task.title")) }
            form method="post" action={ (base) "/tasks" } {
                (csrf(session))
                label for="task-title" { (lang.t("task.name")) }
                input id="task-title" name="title" required maxlength="200";
                label for="task-due" { (lang.t("task.due")) }
                input id="task-due" name="due_date" type="date";
                p { button type="submit" { (lang.t("task.submit")) } }
            }
        }
        section aria-labelledby="upload-h" {
            h2 id="upload-h" { (lang.t("upload.title")) }
            form method="post" enctype="multipart/form-data"
                 action={ (base) "/documents?csrf=" (session.csrf()) }
                 hx-post={ (base) "/documents?csrf=" (session.csrf()) }
                 hx-encoding="multipart/form-data" hx-target="#upload-result" {
                label for="upload-file" { (lang.t("upload.file")) }
                input id="upload-file" type="file" name="file" required
                      accept=".txt,.md,.csv,.html,.json,text/plain,text/markdown,text/csv,text/html,application/json";
                p {
                    label for="upload-progress" { (lang.t("upload.progress")) }
                    progress id="upload-progress" value="0" max="100" {}
                }
                p { button type="submit" { (lang.t("upload.submit")) } }
                p id="upload-result" role="status" {}
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NoteForm {
    csrf: String,
    subject: String,
    #[serde(default)]
    body: String,
}

/// Adds a note to the company's activities.
pub async fn note(
    session: Session,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    form: web::Form<NoteForm>,
) -> Result<HttpResponse, WebError> {
    session.check_csrf(&form.csrf)?;
    let cvr = company_cvr(session.lang, &path)?;
    let form = form.into_inner();
    let note = ActivityBody {
        kind: "note".into(),
        subject: form.subject,
        body: form.body,
        contact_id: None,
        deal_id: None,
        occurred_at: None,
    };
    record_checked(&pool, &session.principal, cvr.as_str(), note)
        .await
        .map_err(WebError::problem(session.lang))?;
    Ok(see_other(&format!("/app/companies/{cvr}")))
}

#[derive(Debug, Deserialize)]
pub struct TaskForm {
    csrf: String,
    title: String,
    #[serde(default)]
    due_date: String,
}

/// Adds a task for the company.
pub async fn task(
    session: Session,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    form: web::Form<TaskForm>,
) -> Result<HttpResponse, WebError> {
    session.check_csrf(&form.csrf)?;
    let lang = session.lang;
    let cvr = company_cvr(lang, &path)?;
    let form = form.into_inner();
    let due_date = match form.due_date.trim() {
        "" => None,
        day => Some(NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| {
            WebError::Problem(
                lang,
                Problem::validation(vec![FieldError::new(
                    "due_date",
                    "must be a date (YYYY-MM-DD)",
                )]),
            )
        })?),
    };
    let task = TaskBody {
        title: form.title,
        due_date,
        assignee_id: Some(session.principal.user_id),
        deal_id: None,
    };
    add_task_checked(&pool, &session.principal, cvr.as_str(), task)
        .await
        .map_err(WebError::problem(lang))?;
    Ok(see_other(&format!("/app/companies/{cvr}")))
}

#[derive(Debug, Deserialize)]
pub struct StepForm {
    csrf: String,
    /// accept (it becomes the user's task), complete or skip.
    action: String,
}

/// Acts on a next-step recommendation: accepting makes it a task of the user's and keeps it
/// active until completed; completing or skipping closes it.
pub async fn step(
    session: Session,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
    form: web::Form<StepForm>,
) -> Result<HttpResponse, WebError> {
    session.check_csrf(&form.csrf)?;
    let lang = session.lang;
    let (cvr_text, id) = path.into_inner();
    let cvr = company_cvr(session.lang, &cvr_text)?;
    let status = match form.action.as_str() {
        "accept" => None,
        "complete" => Some("completed"),
        "skip" => Some("skipped"),
        _ => {
            return Err(WebError::Problem(
                lang,
                Problem::validation(vec![FieldError::new(
                    "action",
                    "must be accept, complete or skip",
                )]),
            ));
        }
    };
    if let Some(status) = status {
        set_status_checked(&pool, &session.principal, cvr.as_str(), id, status)
            .await
            .map_err(WebError::problem(lang))?;
        return Ok(see_other(&format!("/app/companies/{cvr}")));
    }
    let principal = session.principal.clone();
    in_company!(&pool, &principal, &cvr, AccessLevel::Write, |conn| {
        let step = steps::list(conn, principal.org_id, cvr.as_str(), Some("active"))
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| Problem::not_found("No such active next step."))?;
        let title: String = step.recommendation_text.chars().take(200).collect();
        let new = NewTask {
            title: &title,
            due_date: None,
            assignee_id: Some(principal.user_id),
            deal_id: None,
            by: principal.user_id,
        };
        activities::add_task(conn, principal.org_id, cvr.as_str(), new).await?;
        Ok::<_, Problem>(())
    })
    .map_err(WebError::problem(lang))?;
    Ok(see_other(&format!("/app/companies/{cvr}")))
}

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    csrf: String,
}

/// Hands an uploaded file to vault with the user's token (vault checks the write access, keeps
/// the versions and indexes the text).
pub async fn upload(
    req: HttpRequest,
    session: Session,
    upstream: web::Data<Upstream>,
    path: web::Path<String>,
    query: web::Query<UploadQuery>,
    body: web::Payload,
) -> Result<HttpResponse, WebError> {
    session.check_csrf(&query.csrf)?;
    let lang = session.lang;
    let cvr = company_cvr(session.lang, &path)?;
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = body
        .to_bytes_limited(MAX_UPLOAD)
        .await
        .map_err(|_| {
            WebError::Problem(lang, Problem::payload_too_large("the document", MAX_UPLOAD))
        })?
        .map_err(|_| WebError::Problem(lang, Problem::bad_request("The upload was cut off.")))?;
    let path = format!("/v1/companies/{cvr}/documents");
    let request = session
        .request(&upstream, Api::Vault, reqwest::Method::POST, &path)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(bytes);
    let (status, answer) = send(request).await?;
    if !status.is_success() {
        return Err(WebError::upstream(lang, status, &answer));
    }
    if is_htmx(&req) {
        let name = answer["name"].as_str().unwrap_or_default();
        return Ok(ok(html! {
            span.notice { (lang.t("upload.done")) " (" (name) ")" }
        }));
    }
    Ok(see_other(&format!("/app/companies/{cvr}")))
}

/// The company's deals on a board with a column per stage; each card moves with a form.
pub async fn pipeline(
    session: Session,
    pool: web::Data<Pool>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let lang = session.lang;
    let cvr = company_cvr(session.lang, &path)?;
    let principal = session.principal.clone();
    let (name, level, stages, deals) =
        in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn, level| {
            let company = crate::store::companies::find(conn, principal.org_id, cvr.as_str())
                .await
                .map_err(|_| Problem::not_found("No CRM record."))?;
            let stages = deals::stages(conn, principal.org_id).await?;
            let deals = deals::list(conn, principal.org_id, cvr.as_str(), None, None, 500).await?;
            Ok::<_, Problem>((company.name, level, stages, deals))
        })
        .map_err(WebError::problem(lang))?;
    let can_write = level.allows(AccessLevel::Write);
    let base = format!("/app/companies/{cvr}");
    let cards: Vec<Card> = deals
        .iter()
        .map(|d| Card {
            id: d.id,
            cvr: cvr.as_str(),
            company: None,
            title: &d.title,
            stage: &d.stage,
            value_ore: d.value_ore,
            writable: can_write,
        })
        .collect();
    let body = html! {
        p { a href=(base) { (name) } " · " a href="/app/pipeline" { (lang.t("pipeline.all")) } }
        (board(&session, &stages, &cards, false))
    };
    let title = format!("{} — {name}", lang.t("pipeline.title"));
    Ok(ok(shell(lang, Some(&session), &title, body)))
}

/// Deals on the organization's board at most; the most recently changed are shown.
const BOARD_DEALS: i64 = 500;

/// The deals of every company the user may see, a column per stage.
pub async fn organization_pipeline(
    session: Session,
    pool: web::Data<Pool>,
) -> Result<HttpResponse, WebError> {
    let lang = session.lang;
    let principal = session.principal.clone();
    let (stages, deals) = in_context!(&pool, principal.context(), |conn| {
        let stages = deals::stages(conn, principal.org_id).await?;
        let deals = deals::board(conn, BOARD_DEALS + 1).await?;
        Ok::<_, Problem>((stages, deals))
    })
    .map_err(WebError::problem(lang))?;
    let more = deals.len() as i64 > BOARD_DEALS;
    let cards: Vec<Card> = deals
        .iter()
        .take(BOARD_DEALS as usize)
        .map(|d| Card {
            id: d.id,
            cvr: &d.cvr,
            company: Some(&d.company),
            title: &d.title,
            stage: &d.stage,
            value_ore: d.value_ore,
            writable: d.writable,
        })
        .collect();
    let body = html! {
        @if more {
            p.meta { (lang.t("pipeline.recent")) }
        }
        (board(&session, &stages, &cards, true))
    };
    Ok(ok(shell(
        lang,
        Some(&session),
        lang.t("pipeline.title"),
        body,
    )))
}

/// A deal as a card on a board.
struct Card<'a> {
    id: Uuid,
    cvr: &'a str,
    /// Shown (linked) on the organization's board.
    company: Option<&'a str>,
    title: &'a str,
    stage: &'a str,
    value_ore: i64,
    writable: bool,
}

/// A column per stage with its deals; `organization` sends moves back to the whole board.
fn board(session: &Session, stages: &[Stage], cards: &[Card], organization: bool) -> Markup {
    let lang = session.lang;
    html! {
        @if cards.is_empty() {
            p { (lang.t("pipeline.empty")) }
        }
        div.board {
            @for stage in stages {
                section aria-labelledby={ "stage-" (stage.key) } {
                    h2 id={ "stage-" (stage.key) } { (stage.name) }
                    @for c in cards.iter().filter(|c| c.stage == stage.key) {
                        (card(session, c, stages, organization))
                    }
                }
            }
        }
    }
}

fn card(session: &Session, deal: &Card, stages: &[Stage], organization: bool) -> Markup {
    let lang = session.lang;
    let select_id = format!("move-{}", deal.id);
    let base = format!("/app/companies/{}", deal.cvr);
    html! {
        article.card id={ "deal-" (deal.id) } {
            h3 { (deal.title) }
            @if let Some(company) = deal.company {
                p.meta { a href=(base) { (company) } }
            }
            p.meta { (lang.t("pipeline.value")) ": " (lang.kroner(deal.value_ore)) }
            @if deal.writable {
                form.inline method="post" action={ (base) "/deals/" (deal.id) "/stage" } {
                    (csrf(session))
                    @if organization {
                        input type="hidden" name="back" value="organization";
                    }
                    label for=(select_id) { (lang.t("pipeline.move")) }
                    select id=(select_id) name="stage" {
                        @for s in stages {
                            option value=(s.key) selected[s.key == deal.stage] { (s.name) }
                        }
                    }
                    " "
                    button type="submit" { (lang.t("pipeline.submit")) }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct MoveForm {
    csrf: String,
    stage: String,
    /// `organization` when the move was made on the organization's board.
    back: Option<String>,
}

/// Moves a deal to another stage of the pipeline (its event announces the move).
pub async fn move_deal(
    session: Session,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
    form: web::Form<MoveForm>,
) -> Result<HttpResponse, WebError> {
    session.check_csrf(&form.csrf)?;
    let lang = session.lang;
    let (cvr_text, id) = path.into_inner();
    let cvr = company_cvr(session.lang, &cvr_text)?;
    let form = form.into_inner();
    let changes = DealChanges::to_stage(form.stage);
    update_checked(&pool, &session.principal, cvr.as_str(), id, changes)
        .await
        .map_err(WebError::problem(lang))?;
    if form.back.as_deref() == Some("organization") {
        return Ok(see_other("/app/pipeline"));
    }
    Ok(see_other(&format!("/app/companies/{cvr}/pipeline")))
}
