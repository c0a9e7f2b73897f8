//! For organization administrators: users, their company grants, and the audit log. Users and
//! the audit log are shared's, read through its API with the administrator's token; the grants
//! table is crm's own projection of shared's access events.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use tekup_db::Pool;
use tekup_runtime::{Problem, in_context};
use tekup_types::{AccessLevel, Cvr};
use uuid::Uuid;

use super::layout::{csrf, ok, shell};
use super::{Api, Session, Upstream, WebError, see_other, send};

#[derive(Debug, Deserialize)]
pub struct AdminQuery {
    /// Audit log filters.
    cvr: Option<String>,
    r#type: Option<String>,
    actor_id: Option<String>,
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
    let filters: Vec<(&str, &str)> = [
        ("cvr", not_empty(&query.cvr)),
        ("type", not_empty(&query.r#type)),
        ("actor_id", not_empty(&query.actor_id)),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key, value?)))
    .collect();
    let get = |path: &str| session.request(&upstream, Api::Shared, reqwest::Method::GET, path);
    // shared's users and audit log and crm's grants are independent: read them together.
    let principal = session.principal.clone();
    let (users, audit, grants) = futures_util::future::join3(
        send(get("/v1/users").query(&[("limit", "200")])),
        send(get("/v1/audit").query(&[("limit", "50")]).query(&filters)),
        async {
            in_context!(&pool, principal.context(), |conn| {
                Ok::<_, Problem>(crate::store::companies::grants(conn).await?)
            })
        },
    )
    .await;
    let (status, users) = users?;
    if !status.is_success() {
        return Err(WebError::Unavailable);
    }
    let (status, audit) = audit?;
    let audit_items = if status.is_success() {
        audit["items"].as_array().cloned().unwrap_or_default()
    } else {
        Vec::new()
    };
    let grants = grants.map_err(WebError::problem(lang))?;
    let users = users["items"].as_array().cloned().unwrap_or_default();
    let emails: HashMap<&str, &str> = users
        .iter()
        .filter_map(|u| Some((u["id"].as_str()?, u["email"].as_str()?)))
        .collect();
    let email_of = |id: &Uuid| emails.get(id.to_string().as_str()).copied().unwrap_or("?");
    let body = html! {
        section aria-labelledby="users-h" {
            h2 id="users-h" { (lang.t("admin.users")) }
            table {
                thead { tr {
                    th scope="col" { (lang.t("admin.email")) }
                    th scope="col" { (lang.t("admin.role")) }
                    th scope="col" { (lang.t("admin.active")) }
                    th scope="col" { (lang.t("admin.account")) }
                } }
                tbody {
                    @for u in &users {
                        @let id = u["id"].as_str().unwrap_or_default();
                        @let active = u["active"].as_bool() == Some(true);
                        tr id={ "user-" (id) } {
                            td { (u["email"].as_str().unwrap_or_default()) }
                            td { (lang.t(role_key(u["role"].as_str().unwrap_or_default()))) }
                            td { (lang.t(if active { "yes" } else { "no" })) }
                            td {
                                // Administrators cannot lock themselves out: shared refuses it.
                                @if id != session.principal.user_id.to_string() {
                                    form method="post" action={ "/app/admin/users/" (id) } {
                                        (csrf(&session))
                                        @if active {
                                            button.secondary type="submit" name="action" value="deactivate" { (lang.t("admin.deactivate")) }
                                        } @else {
                                            button.secondary type="submit" name="action" value="activate" { (lang.t("admin.activate")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 { (lang.t("admin.new_user")) }
            form.panel method="post" action="/app/admin/users" {
                (csrf(&session))
                label for="user-email" { (lang.t("admin.email")) }
                input id="user-email" type="email" name="email" required autocomplete="off";
                label for="user-first" { (lang.t("admin.first_name")) }
                input id="user-first" name="first_name" required;
                label for="user-last" { (lang.t("admin.last_name")) }
                input id="user-last" name="last_name" required;
                label for="user-role" { (lang.t("admin.role")) }
                select id="user-role" name="role" {
                    option value="analyst" { (lang.t("role.analyst")) }
                    option value="viewer" { (lang.t("role.viewer")) }
                    option value="admin" { (lang.t("role.admin")) }
                }
                label for="user-password" { (lang.t("admin.password")) }
                input id="user-password" type="password" name="password" required minlength="12" maxlength="128" autocomplete="new-password";
                p.actions { button type="submit" { (lang.t("admin.create_user")) } }
            }
        }
        section aria-labelledby="grants-h" {
            h2 id="grants-h" { (lang.t("admin.grants")) }
            form.panel method="post" action="/app/admin/grants" {
                (csrf(&session))
                label for="grant-user" { (lang.t("admin.user")) }
                select id="grant-user" name="user_id" required {
                    (user_options(&users, None))
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
                    (user_options(&users, not_empty(&query.actor_id)))
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
                            td { (lang.datetime_text(e["occurred_at"].as_str()).unwrap_or_default()) }
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

fn role_key(role: &str) -> &'static str {
    match role {
        "admin" => "role.admin",
        "analyst" => "role.analyst",
        _ => "role.viewer",
    }
}

/// The organization's users as options of a select, by e-mail, `selected` chosen.
fn user_options(users: &[Value], selected: Option<&str>) -> Markup {
    html! {
        @for u in users {
            @let id = u["id"].as_str().unwrap_or_default();
            option value=(id) selected[selected == Some(id)] { (u["email"].as_str().unwrap_or_default()) }
        }
    }
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
    let mut request = session.request(&upstream, Api::Shared, method, &path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let (status, answer) = send(request).await?;
    if !status.is_success() {
        return Err(WebError::upstream(lang, status, &answer));
    }
    Ok(see_other("/app/admin"))
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    csrf: String,
    email: String,
    first_name: String,
    last_name: String,
    role: String,
    password: String,
}

/// Creates a user of the organization at shared, which checks every field.
pub async fn create_user(
    session: Session,
    upstream: web::Data<Upstream>,
    form: web::Form<UserForm>,
) -> Result<HttpResponse, WebError> {
    session.check_csrf(&form.csrf)?;
    forbidden(&session)?;
    let form = form.into_inner();
    let body = json!({
        "email": form.email.trim(), "first_name": form.first_name, "last_name": form.last_name,
        "role": form.role, "password": form.password,
    });
    let request = session
        .request(&upstream, Api::Shared, reqwest::Method::POST, "/v1/users")
        .json(&body);
    let (status, answer) = send(request).await?;
    if !status.is_success() {
        return Err(WebError::upstream(session.lang, status, &answer));
    }
    Ok(see_other("/app/admin"))
}

#[derive(Debug, Deserialize)]
pub struct AccountForm {
    csrf: String,
    action: String,
}

/// Deactivates a user (shared ends their logins) or activates them again.
pub async fn account(
    session: Session,
    upstream: web::Data<Upstream>,
    path: web::Path<Uuid>,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, WebError> {
    session.check_csrf(&form.csrf)?;
    forbidden(&session)?;
    let active = match form.action.as_str() {
        "activate" => true,
        "deactivate" => false,
        _ => {
            return Err(WebError::Problem(
                session.lang,
                Problem::validation(vec![tekup_runtime::problem::FieldError::new(
                    "action",
                    "must be activate or deactivate",
                )]),
            ));
        }
    };
    let request = session
        .request(
            &upstream,
            Api::Shared,
            reqwest::Method::PATCH,
            &format!("/v1/users/{}", path.into_inner()),
        )
        .json(&json!({"active": active}));
    let (status, answer) = send(request).await?;
    if !status.is_success() {
        return Err(WebError::upstream(session.lang, status, &answer));
    }
    Ok(see_other("/app/admin"))
}
