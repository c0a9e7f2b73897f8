//! The CRM web console under `/app`: server-rendered pages (maud), made partial by htmx where a
//! browser runs JavaScript, readable without it.
//!
//! The session is the user's own token pair from shared, kept in an `HttpOnly`, `SameSite=Lax`
//! cookie (`Secure` when configured): every page acts with the user's access token, so Row Level
//! Security and the handlers' checks apply exactly as on the JSON API. An expired access token
//! is renewed server-side with the refresh token; logout revokes it at shared. Every
//! state-changing form carries a token bound to the session (derived from a random key made at
//! sign-in, kept through renewals, which never leaves the cookie), checked before anything
//! changes.

mod admin;
mod auth;
mod companies;
pub mod i18n;
mod layout;
mod search;
mod work;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tekup_auth::{AuthError, Principal, Verifier};
use tekup_runtime::Problem;

pub use i18n::Lang;

const SESSION_COOKIE: &str = "tekup_session";
const LANG_COOKIE: &str = "tekup_lang";

/// Where the console reaches the services whose APIs it calls with the user's token
/// (`app.web.*`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// shared's base URL: sign-in, refresh, logout, users, grants and the audit log.
    pub shared_url: String,
    /// vault's base URL: search by meaning and document uploads.
    pub vault_url: String,
    /// Mark the session cookie `Secure` (serve the console over TLS).
    pub secure_cookies: bool,
    /// Bound on each call to shared or vault.
    pub timeout_ms: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            shared_url: "http://127.0.0.1:8086".into(),
            vault_url: "http://127.0.0.1:8081".into(),
            secure_cookies: false,
            timeout_ms: 10_000,
        }
    }
}

/// The console's clients of shared and vault.
pub struct Upstream {
    client: reqwest::Client,
    shared: String,
    vault: String,
    secure: bool,
    /// Recent renewals by the hash of the refresh token they replaced (see [`Upstream::refresh`]).
    renewals: tokio::sync::Mutex<std::collections::HashMap<Vec<u8>, (std::time::Instant, Tokens)>>,
}

/// How long a renewal is handed to other requests that bring the same expired session.
const RENEWAL_SHARED_FOR: Duration = Duration::from_secs(60);

impl Upstream {
    pub fn new(config: &WebConfig) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_millis(config.timeout_ms))
                .build()?,
            shared: config.shared_url.trim_end_matches('/').to_owned(),
            vault: config.vault_url.trim_end_matches('/').to_owned(),
            secure: config.secure_cookies,
            renewals: tokio::sync::Mutex::default(),
        })
    }

    /// A request to `api`'s `path`, with `token` as bearer when given; finish it (body, query)
    /// and hand it to [`send`].
    fn request(
        &self,
        api: Api,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let base = match api {
            Api::Shared => &self.shared,
            Api::Vault => &self.vault,
        };
        let request = self.client.request(method, format!("{base}{path}"));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// The session's tokens renewed, keeping its form key. A refresh token works once (its
    /// reuse ends the login), so requests that come with the same expired session at once
    /// (tabs restored together, a form sent twice) share one renewal: the first asks shared,
    /// the others get its answer for a minute.
    async fn refresh(&self, tokens: &Tokens) -> Option<Tokens> {
        let mut renewals = self.renewals.lock().await;
        renewals.retain(|_, (at, _)| at.elapsed() < RENEWAL_SHARED_FOR);
        let old = Sha256::digest(tokens.refresh.as_bytes()).to_vec();
        if let Some((_, renewed)) = renewals.get(&old) {
            return Some(renewed.clone());
        }
        let request = self
            .request(Api::Shared, reqwest::Method::POST, "/v1/auth/refresh", None)
            .json(&serde_json::json!({ "refresh_token": tokens.refresh }));
        let (status, pair) = send(request).await.ok()?;
        let mut renewed = status.is_success().then(|| Tokens::from_pair(&pair))??;
        renewed.key.clone_from(&tokens.key);
        renewals.insert(old, (std::time::Instant::now(), renewed.clone()));
        Some(renewed)
    }
}

/// The services the console calls.
#[derive(Debug, Clone, Copy)]
pub enum Api {
    Shared,
    Vault,
}

/// Sends a request to shared or vault: the status and the JSON body (`null` when it has none).
async fn send(
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, serde_json::Value), WebError> {
    let response = request.send().await.map_err(|err| {
        tracing::warn!(error = %err, "upstream call failed");
        WebError::Unavailable
    })?;
    let status =
        StatusCode::from_u16(response.status().as_u16()).map_err(|_| WebError::Unavailable)?;
    let bytes = response.bytes().await.map_err(|_| WebError::Unavailable)?;
    let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Ok((status, value))
}

/// What the session cookie holds: the user's token pair, and the login's form key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tokens {
    #[serde(rename = "a")]
    access: String,
    #[serde(rename = "r")]
    refresh: String,
    /// Random, made at sign-in and kept through renewals, so that a form opened before a
    /// renewal is still this session's when it is sent after it. (Empty in cookies made before
    /// it existed: their form token comes from the refresh token, as it did then.)
    #[serde(rename = "k", default)]
    key: String,
}

impl Tokens {
    /// A new login's tokens, with a new form key.
    fn from_pair(pair: &serde_json::Value) -> Option<Self> {
        Some(Self {
            access: pair["access_token"].as_str()?.to_owned(),
            refresh: pair["refresh_token"].as_str()?.to_owned(),
            key: uuid::Uuid::new_v4().simple().to_string(),
        })
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(value: &str) -> Option<Self> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(value).ok()?).ok()
    }

    /// The form token of this session: whoever can read it could already read the cookie.
    fn csrf(&self) -> String {
        let secret = if self.key.is_empty() {
            &self.refresh
        } else {
            &self.key
        };
        let digest = Sha256::new()
            .chain_update(b"tekup-console-csrf\0")
            .chain_update(secret.as_bytes())
            .finalize();
        URL_SAFE_NO_PAD.encode(&digest[..18])
    }
}

/// A signed-in user of the console. Extracting it verifies the access token from the cookie,
/// renewing it first when it has expired; without a valid session the browser is sent to the
/// sign-in page.
pub struct Session {
    pub principal: Principal,
    pub lang: Lang,
    tokens: Tokens,
    /// The form token of this session.
    csrf: String,
}

/// A renewed token pair to hand back to the browser (read by [`headers`]).
#[derive(Clone)]
struct Renewed(String);

impl Session {
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// What the navigation needs of this user.
    pub fn signed_in(&self) -> layout::SignedIn {
        layout::SignedIn {
            admin: self.principal.is_admin(),
            csrf: self.csrf.clone(),
        }
    }

    /// Refuses a state-changing form without this session's token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        use subtle::ConstantTimeEq;
        if bool::from(self.csrf.as_bytes().ct_eq(sent.as_bytes())) {
            Ok(())
        } else {
            Err(WebError::Csrf(self.lang))
        }
    }

    /// A request to `api` with the user's token (see [`send`]).
    pub fn request(
        &self,
        upstream: &Upstream,
        api: Api,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        upstream.request(api, method, path, Some(&self.tokens.access))
    }
}

fn lang_of(req: &HttpRequest) -> Lang {
    req.cookie(LANG_COOKIE)
        .and_then(|c| Lang::from_code(c.value()))
        .unwrap_or_default()
}

impl FromRequest for Session {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let lang = lang_of(&req);
            let tokens = req
                .cookie(SESSION_COOKIE)
                .and_then(|c| Tokens::decode(c.value()))
                .ok_or(WebError::SignIn { expired: false })?;
            let verifier = req
                .app_data::<web::Data<Verifier>>()
                .cloned()
                .ok_or(WebError::Unavailable)?;
            let upstream = req
                .app_data::<web::Data<Upstream>>()
                .cloned()
                .ok_or(WebError::Unavailable)?;
            let (claims, tokens) = match verifier.verify(&tokens.access).await {
                Ok(claims) => (claims, tokens),
                Err(AuthError::Expired) => {
                    let renewed = upstream
                        .refresh(&tokens)
                        .await
                        .ok_or(WebError::SignIn { expired: true })?;
                    let claims = verifier
                        .verify(&renewed.access)
                        .await
                        .map_err(|_| WebError::SignIn { expired: true })?;
                    req.extensions_mut().insert(Renewed(renewed.encode()));
                    (claims, renewed)
                }
                Err(AuthError::KeysUnavailable) => return Err(WebError::Unavailable),
                Err(_) => return Err(WebError::SignIn { expired: false }),
            };
            let session = Session {
                principal: Principal {
                    user_id: claims.sub,
                    org_id: claims.org,
                    role: claims.role,
                },
                lang,
                csrf: tokens.csrf(),
                tokens,
            };
            // An error page of this request keeps the navigation (see [`headers`]).
            req.extensions_mut().insert(session.signed_in());
            Ok(session)
        })
    }
}

fn session_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/app")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .finish()
}

/// What tells the browser to forget the session cookie.
fn session_removal() -> Cookie<'static> {
    let mut gone = Cookie::new(SESSION_COOKIE, "");
    gone.set_path("/app");
    gone.make_removal();
    gone
}

/// A company's CVR from a console address; a malformed one is a company that is not there.
pub fn company_cvr(lang: Lang, text: &str) -> Result<tekup_types::Cvr, WebError> {
    tekup_types::Cvr::parse(text).map_err(|_| WebError::not_found(lang))
}

/// Why a page cannot be shown.
#[derive(Debug)]
pub enum WebError {
    /// No valid session: to the sign-in page.
    SignIn { expired: bool },
    /// A form without this session's token.
    Csrf(Lang),
    /// shared or vault could not be reached.
    Unavailable,
    /// A problem of the domain (404, 403, 422, ...), shown as a page.
    Problem(Lang, Problem),
}

impl WebError {
    pub fn problem(lang: Lang) -> impl Fn(Problem) -> WebError {
        move |problem| WebError::Problem(lang, problem)
    }

    /// An upstream service's refusal (a problem+json answer) as a page.
    pub fn upstream(lang: Lang, status: StatusCode, answer: &serde_json::Value) -> WebError {
        let mut problem = Problem::new(
            status,
            "upstream-refused",
            answer["detail"].as_str().map(str::to_owned),
        );
        problem.errors = answer["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                tekup_runtime::problem::FieldError::new(
                    e["field"].as_str().unwrap_or_default(),
                    e["message"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        WebError::Problem(lang, problem)
    }

    pub fn not_found(lang: Lang) -> WebError {
        WebError::Problem(lang, Problem::not_found("Not found."))
    }
}

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebError::SignIn { .. } => f.write_str("sign in"),
            WebError::Csrf(_) => f.write_str("form token missing or wrong"),
            WebError::Unavailable => f.write_str("upstream unavailable"),
            WebError::Problem(_, p) => write!(f, "{}", p.title),
        }
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::SignIn { .. } => StatusCode::SEE_OTHER,
            WebError::Csrf(_) => StatusCode::FORBIDDEN,
            WebError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Problem(_, p) => {
                StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        self.page(None)
    }
}

impl WebError {
    /// The answer to the browser: to sign-in, or an error page (with the navigation for a
    /// signed-in user).
    fn page(&self, signed_in: Option<&layout::SignedIn>) -> HttpResponse<BoxBody> {
        let status = self.status_code();
        match self {
            WebError::SignIn { expired } => {
                let to = if *expired {
                    "/app/login?expired=1"
                } else {
                    "/app/login"
                };
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, to))
                    .insert_header(("HX-Redirect", to))
                    .cookie(session_removal())
                    .finish()
            }
            WebError::Csrf(lang) => layout::error_page(
                *lang,
                signed_in,
                status,
                lang.t("error.forbidden"),
                lang.t("error.csrf"),
                &[],
            ),
            WebError::Unavailable => layout::error_page(
                Lang::default(),
                signed_in,
                status,
                Lang::default().t("error.title"),
                Lang::default().t("error.unavailable"),
                &[],
            ),
            WebError::Problem(lang, problem) => {
                let (title, detail) = match problem.status {
                    404 => (lang.t("error.not_found"), lang.t("error.not_found.detail")),
                    403 => (lang.t("error.forbidden"), lang.t("error.forbidden.detail")),
                    409 => (
                        lang.t("error.conflict"),
                        problem.detail.as_deref().unwrap_or(""),
                    ),
                    422 | 400 => (
                        lang.t("error.invalid"),
                        problem.detail.as_deref().unwrap_or(""),
                    ),
                    503 => (lang.t("error.title"), lang.t("error.unavailable")),
                    _ => (lang.t("error.title"), ""),
                };
                let fields: Vec<String> = problem
                    .errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                layout::error_page(*lang, signed_in, status, title, detail, &fields)
            }
        }
    }
}

/// Headers every console response carries: nothing private is cached (the back button after
/// logout shows nothing), no framing, and a renewed session cookie when the request renewed it.
fn headers<S>(
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<actix_web::dev::ServiceResponse<BoxBody>, actix_web::Error>> + use<S>
where
    S: actix_web::dev::Service<
            actix_web::dev::ServiceRequest,
            Response = actix_web::dev::ServiceResponse<BoxBody>,
            Error = actix_web::Error,
        >,
{
    let secure = req
        .app_data::<web::Data<Upstream>>()
        .is_some_and(|u| u.secure);
    let call = srv.call(req);
    async move {
        let mut response = call.await?;
        // A signed-in user's error page keeps the navigation.
        let signed_in = response
            .request()
            .extensions()
            .get::<layout::SignedIn>()
            .cloned();
        if let Some(signed_in) = signed_in
            && let Some(page) = response
                .response()
                .error()
                .and_then(|e| e.as_error::<WebError>())
                .map(|e| e.page(Some(&signed_in)))
        {
            response = response.into_response(page);
        }
        let renewed = response.request().extensions().get::<Renewed>().cloned();
        let static_file = response.request().path().starts_with("/app/static/");
        let headers = response.headers_mut();
        if !static_file {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                 frame-ancestors 'none'; form-action 'self'",
            ),
        );
        if let Some(Renewed(value)) = renewed
            && let Ok(cookie) = HeaderValue::from_str(&session_cookie(value, secure).to_string())
        {
            headers.append(header::SET_COOKIE, cookie);
        }
        Ok(response)
    }
}

/// The console's pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/app")
            .wrap_fn(headers)
            .route("", web::get().to(companies::switcher))
            .route("/", web::get().to(companies::switcher))
            .route("/static/{file}", web::get().to(layout::asset))
            .route("/login", web::get().to(auth::login_form))
            .route("/login", web::post().to(auth::login))
            .route("/logout", web::post().to(auth::logout))
            .route("/lang/{code}", web::get().to(auth::language))
            .route("/search", web::get().to(search::search))
            .route("/pipeline", web::get().to(work::organization_pipeline))
            .route("/admin", web::get().to(admin::page))
            .route("/admin/grants", web::post().to(admin::grant))
            .route("/admin/users", web::post().to(admin::create_user))
            .route("/admin/users/{id}", web::post().to(admin::account))
            .route("/companies/{cvr}", web::get().to(companies::page))
            .route(
                "/companies/{cvr}/timeline",
                web::get().to(companies::timeline),
            )
            .route(
                "/companies/{cvr}/communications/{id}",
                web::get().to(companies::communication),
            )
            .route(
                "/companies/{cvr}/records/{id}",
                web::get().to(companies::record),
            )
            .route("/companies/{cvr}/notes", web::post().to(work::note))
            .route("/companies/{cvr}/tasks", web::post().to(work::task))
            .route("/companies/{cvr}/steps/{id}", web::post().to(work::step))
            .route("/companies/{cvr}/documents", web::post().to(work::upload))
            .route(
                "/companies/{cvr}/documents/{id}",
                web::get().to(search::document),
            )
            .route("/companies/{cvr}/pipeline", web::get().to(work::pipeline))
            .route(
                "/companies/{cvr}/deals/{id}/stage",
                web::post().to(work::move_deal),
            ),
    );
}

/// A `303 See Other` to `to` (after a form post), or for htmx, the fragment it asked for.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// True when htmx sent the request (it wants a fragment, not a page).
pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("HX-Request")
}
