//! For organization administrators: users, their company grants, and the audit log. Users and
//! the audit log are shared's, read through its API with the administrator's token; the grants
//! table is crm's own projection of shared's access events.

use actix_web::{HttpResponse, web};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};
use tekup_db::Pool;
use tekup_runtime::{Problem, in_context};
use tekup_types::{AccessLevel, Cvr};
use uuid::Uuid;

use super::layout::{csrf, ok, shell};
use super::{Session, Upstream, WebError, see_other};

#[derive(Debug, Deserialize)]
pub struct AdminQuery {
    /// Audit log filters.
    cvr: Option<String>,
    r#type: Option<String>,
    actor_id: Option<String>,
}

#[derive(Debug, QueryableByName)]
struct GrantRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    user_id: Uuid,
    #[diesel(sql_type = Text)]
    cvr: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    level: String,
}

fn forbidden(session: &Session) -> Result<(), WebError> {
    session
        .principal
        .require_admin()
        .map_err(WebError::problem(session.lang))
}

fn not_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Users, grants and the audit log on one page.
pub async fn page(
    session: Session,
    pool: web::Data<Pool>,
    upstream: web::Data<Upstream>,
    query: web::Query<AdminQuery>,
) -> Result<HttpResponse, WebError> {
    forbidden(&session)?;
    let lang = session.lang;
    let (status, users) = session
        .shared(&upstream, reqwest::Method::GET, "/v1/users?limit=200", None)
        .await?;
    if !status.is_success() {
        return Err(WebError::Unavailable);
    }
    let mut audit_path = "/v1/audit?limit=50".to_owned();
    for (key, value) in [
        ("cvr", not_empty(&query.cvr)),
        ("type", not_empty(&query.r#type)),
        ("actor_id", not_empty(&query.actor_id)),
    ] {
        if let Some(value) = value {
            audit_path.push_str(&format!("&{key}={}", urlencode(value)));
        }
    }
    let (status, audit) = session
        .shared(&upstream, reqwest::Method::GET, &audit_path, None)
        .await?;
    let audit_items = if status.is_success() {
        audit["items"].as_array().cloned().unwrap_or_default()
    } else {
        Vec::new()
    };
    let principal = session.principal.clone();
    let grants: Vec<GrantRow> = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            diesel::sql_query(
                "SELECT g.user_id, g.cvr, coalesce(c.name, g.cvr) AS name, g.level \
                   FROM access_grants g LEFT JOIN companies c ON c.org_id = g.org_id AND c.cvr = g.cvr \
                  ORDER BY g.cvr, g.user_id LIMIT 1000",
            )
            .load(conn)
            .await?,
        )
    })
    .map_err(WebError::problem(lang))?;
    let users = users["items"].as_array().cloned().unwrap_or_default();
    let email_of = |id: &Uuid| {
        users
            .iter()
            .find(|u| u["id"].as_str() == Some(&id.to_string()))
            .and_then(|u| u["email"].as_str())
            .unwrap_or("?")
            .to_owned()
    };
    let body = html! {
        section aria-labelledby="users-h" {
            h2 id="users-h" { (lang.t("admin.users")) }
            table {
                thead { tr {
                    th scope="col" { (lang.t("admin.email")) }
                    th scope="col" { (lang.t("admin.role")) }
                    th scope="col" { (lang.t("admin.active")) }
                } }
                tbody {
                    @for u in &users {
                        tr {
                            td { (u["email"].as_str().unwrap_or_default()) }
                            td { (u["role"].as_str().unwrap_or_default()) }
                            td { (lang.t(if u["active"].as_bool() == Some(true) { "yes" } else { "no" })) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="grants-h" {
            h2 id="grants-h" { (lang.t("admin.grants")) }
            form.panel method="post" action="/app/admin/grants" {
                (csrf(&session))
                label for="grant-user" { (lang.t("admin.user")) }
                select id="grant-user" name="user_id" required {
                    @for u in &users {
                        option value=(u["id"].as_str().unwrap_or_default()) { (u["email"].as_str().unwrap_or_default()) }
                    }
                }
                label for="grant-cvr" { (lang.t("company.cvr")) }
                input id="grant-cvr" name="cvr" required inputmode="numeric" pattern="[0-9]{8}";
                label for="grant-level" { (lang.t("admin.level")) }
                select id="grant-level" name="level" {
                    option value="read" { (lang.t("access.read")) }
                    option value="write" { (lang.t("access.write")) }
                    option value="admin" { (lang.t("access.admin")) }
                }
                p.actions {
                    button type="submit" name="action" value="grant" { (lang.t("admin.grant")) }
                    button.secondary type="submit" name="action" value="revoke" { (lang.t("admin.revoke")) }
                }
            }
            table id="grants" {
                thead { tr {
                    th scope="col" { (lang.t("company.cvr")) }
                    th scope="col" { (lang.t("company.name")) }
                    th scope="col" { (lang.t("admin.user")) }
                    th scope="col" { (lang.t("admin.level")) }
                } }
                tbody {
                    @for g in &grants {
                        tr {
                            td { (g.cvr) }
                            td { (g.name) }
                            td { (email_of(&g.user_id)) }
                            td { (g.level) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="audit-h" {
            h2 id="audit-h" { (lang.t("admin.audit")) }
            form.inline.panel method="get" action="/app/admin" {
                label for="audit-cvr" { (lang.t("company.cvr")) }
                input id="audit-cvr" name="cvr" value=(not_empty(&query.cvr).unwrap_or_default());
                " "
                label for="audit-type" { (lang.t("admin.action")) }
                input id="audit-type" name="type" value=(not_empty(&query.r#type).unwrap_or_default());
                " "
                label for="audit-actor" { (lang.t("admin.user")) }
                select id="audit-actor" name="actor_id" {
                    option value="" { "—" }
                    @for u in &users {
                        @let id = u["id"].as_str().unwrap_or_default();
                        option value=(id) selected[not_empty(&query.actor_id) == Some(id)] { (u["email"].as_str().unwrap_or_default()) }
                    }
                }
                " "
                button type="submit" { (lang.t("admin.filter")) }
            }
            table id="audit" {
                thead { tr {
                    th scope="col" { (lang.t("admin.when")) }
                    th scope="col" { (lang.t("admin.action")) }
                    th scope="col" { (lang.t("company.cvr")) }
                    th scope="col" { (lang.t("admin.resource")) }
                } }
                tbody {
                    @for e in &audit_items {
                        tr {
                            td { (when(lang, &e["occurred_at"])) }
                            td { (e["type"].as_str().unwrap_or_default()) }
                            td { (e["cvr"].as_str().unwrap_or_default()) }
                            td { (e["subject"].as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    Ok(ok(shell(lang, Some(&session), lang.t("admin.title"), body)))
}

fn when(lang: super::Lang, value: &Value) -> String {
    value
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|at| lang.datetime(at.to_utc()))
        .unwrap_or_default()
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct GrantForm {
    csrf: String,
    user_id: Uuid,
    cvr: String,
    level: String,
    action: String,
}

/// Grants or revokes a user's access to a company, at shared.
pub async fn grant(
    session: Session,
    upstream: web::Data<Upstream>,
    form: web::Form<GrantForm>,
) -> Result<HttpResponse, WebError> {
    session.check_csrf(&form.csrf)?;
    forbidden(&session)?;
    let lang = session.lang;
    let invalid = |field: &str, message: &str| {
        WebError::Problem(
            lang,
            Problem::validation(vec![tekup_runtime::problem::FieldError::new(
                field, message,
            )]),
        )
    };
    let cvr = Cvr::parse(form.cvr.trim()).map_err(|e| invalid("cvr", &e.to_string()))?;
    let level: AccessLevel = form
        .level
        .parse()
        .map_err(|_| invalid("level", "must be read, write or admin"))?;
    let path = format!("/v1/companies/{cvr}/grants/{}", form.user_id);
    let (method, body) = match form.action.as_str() {
        "grant" => (
            reqwest::Method::PUT,
            Some(json!({"access_level": level.as_str()})),
        ),
        "revoke" => (reqwest::Method::DELETE, None),
        _ => return Err(invalid("action", "must be grant or revoke")),
    };
    let (status, answer) = session.shared(&upstream, method, &path, body).await?;
    if !status.is_success() {
        return Err(WebError::upstream(lang, status, &answer));
    }
    Ok(see_other("/app/admin"))
}
