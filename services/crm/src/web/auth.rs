//! Signing in and out, and the language of the pages.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::layout::{self, ok, respond, shell};
use super::{Api, LANG_COOKIE, Lang, Session, Tokens, Upstream, WebError, lang_of, send};

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    expired: Option<String>,
}

fn login_page(lang: Lang, email: &str, message: Option<&str>) -> maud::Markup {
    let body = html! {
        form.panel method="post" action="/app/login" {
            @if let Some(message) = message {
                p.error role="alert" id="login-error" { (message) }
            }
            label for="email" { (lang.t("login.email")) }
            input id="email" type="email" name="email" autocomplete="username" required value=(email);
            label for="password" { (lang.t("login.password")) }
            input id="password" type="password" name="password" autocomplete="current-password" required;
            p { button type="submit" { (lang.t("login.submit")) } }
        }
    };
    shell(lang, None, lang.t("login.title"), body)
}

/// The sign-in form.
pub async fn login_form(req: HttpRequest, query: web::Query<LoginQuery>) -> HttpResponse {
    let lang = lang_of(&req);
    let message = query.expired.is_some().then(|| lang.t("login.expired"));
    ok(login_page(lang, "", message))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

/// A cross-site post (another site's form) may not sign a browser in as someone else.
fn same_origin(req: &HttpRequest) -> bool {
    match req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
    {
        Some(site) => site == "same-origin" || site == "none",
        None => true,
    }
}

/// The `X-Forwarded-For` chain of this request with its own peer appended, as a proxy passes it
/// on.
fn forwarded_for(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr()?.ip().to_canonical().to_string();
    let before: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(if before.is_empty() {
        peer
    } else {
        format!("{}, {peer}", before.join(", "))
    })
}

/// Signs in at shared; the token pair becomes the session cookie.
pub async fn login(
    req: HttpRequest,
    upstream: web::Data<Upstream>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    let lang = lang_of(&req);
    if !same_origin(&req) {
        return Err(WebError::Csrf(lang));
    }
    let mut request = upstream
        .request(Api::Shared, reqwest::Method::POST, "/v1/auth/login", None)
        .json(&serde_json::json!({"email": form.email, "password": form.password}));
    // shared limits failed logins per client address: it is told whose login this is, not
    // only that it comes from the console.
    if let Some(chain) = forwarded_for(&req) {
        request = request.header("x-forwarded-for", chain);
    }
    let (status, answer) = send(request).await?;
    let refused = |status: StatusCode, key: &'static str| {
        Ok(respond(
            status,
            login_page(lang, &form.email, Some(lang.t(key))),
        ))
    };
    match status.as_u16() {
        200 => {}
        401 | 400 | 422 => return refused(StatusCode::UNAUTHORIZED, "login.wrong"),
        403 => return refused(StatusCode::FORBIDDEN, "login.deactivated"),
        429 => return refused(StatusCode::TOO_MANY_REQUESTS, "login.locked"),
        _ => return refused(StatusCode::SERVICE_UNAVAILABLE, "login.unavailable"),
    }
    let tokens = Tokens::from_pair(&answer).ok_or(WebError::Unavailable)?;
    Ok(HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, "/app"))
        .cookie(super::session_cookie(tokens.encode(), upstream.secure))
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// Ends the session: its refresh token is revoked at shared and the cookie removed.
pub async fn logout(
    session: Session,
    upstream: web::Data<Upstream>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    session.check_csrf(&form.csrf)?;
    let request = upstream
        .request(Api::Shared, reqwest::Method::POST, "/v1/auth/logout", None)
        .json(&serde_json::json!({"refresh_token": session.tokens.refresh}));
    let (status, _) = send(request).await?;
    if !status.is_success() {
        return Err(WebError::Unavailable);
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, "/app/login"))
        .insert_header(("Clear-Site-Data", "\"cache\""))
        .cookie(super::session_removal())
        .finish())
}

/// Switches the language (a year-long cookie) and returns to the page the user came from.
pub async fn language(req: HttpRequest, code: web::Path<String>) -> HttpResponse {
    let Some(lang) = Lang::from_code(&code) else {
        let current = lang_of(&req);
        return layout::error_page(
            current,
            None,
            StatusCode::NOT_FOUND,
            current.t("error.not_found"),
            current.t("error.not_found.detail"),
            &[],
        );
    };
    // Back to a page of the console only, never to another site.
    let back = req
        .headers()
        .get(actix_web::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("/app").map(|at| r[at..].to_owned()))
        .filter(|p| !p.starts_with("/app/lang") && !p.contains("//"))
        .unwrap_or_else(|| "/app".to_owned());
    let cookie = Cookie::build(LANG_COOKIE, lang.code())
        .path("/app")
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::days(365))
        .finish();
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, back))
        .cookie(cookie)
        .finish()
}
