//! Login, refresh, logout, the JWKS and `/me`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tekup_auth::{Claims, Jwks, Principal};
use tekup_db::Pool;
use tekup_db::tenancy::Context;
use tekup_runtime::problem::FieldError;
use tekup_runtime::{Problem, in_context};
use tekup_types::Role;
use utoipa::ToSchema;
use uuid::Uuid;

use super::companies::GrantView;
use super::organizations::OrganizationView;
use super::users::UserView;
use crate::State;
use crate::domain::credentials::{hash_token, new_refresh_token, verify_password};
use crate::store::{audit, companies, organizations, sessions, users};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(example = "mette@rendetalje.dk")]
    email: String,
    password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token is valid.
    expires_in: i64,
    refresh_token: String,
    /// Seconds the refresh token is valid (each use replaces it).
    refresh_expires_in: i64,
}

/// The keys that verify access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, body = Jwks)))]
pub async fn jwks(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=300"))
        .json(&state.jwks)
}

fn wrong_credentials() -> Problem {
    Problem::unauthorized("The e-mail or the password is wrong.")
}

/// Log in with e-mail and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "Wrong e-mail or password (the same answer for both)",
         body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The account is deactivated", body = Problem,
         content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins; see Retry-After", body = Problem,
         content_type = "application/problem+json")))]
pub async fn login(
    req: HttpRequest,
    pool: web::Data<Pool>,
    state: web::Data<State>,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, Problem> {
    let email = body.email.trim().to_lowercase();
    if email.chars().count() > 254 {
        return Err(Problem::validation(vec![FieldError::new(
            "email",
            "must be at most 254 characters",
        )]));
    }
    let source = crate::source::of(&req, &state.trusted_proxies);
    let since = Utc::now() - Duration::seconds(state.login.window_secs);
    // The attempt counts as a failure from the moment it is admitted, under the locks of its
    // account and source, until its password is found right: attempts sent in parallel see
    // each other, and no more than the limit get a guess.
    let (limited, user) = in_context!(&pool, Context::System, |conn| {
        sessions::lock_attempts(conn, &email, &source).await?;
        let (by_account, by_source) =
            sessions::recent_failures(conn, &email, &source, since).await?;
        let limited = by_account >= state.login.max_failures_per_account
            || by_source >= state.login.max_failures_per_source;
        if !limited {
            sessions::record_failure(conn, &email, &source).await?;
        }
        let user = users::find_by_email(conn, &email).await?;
        Ok::<_, Problem>((limited, user))
    })?;
    if limited {
        return Err(Problem::too_many_requests(
            "too-many-attempts",
            "Too many failed logins. Try again later.",
            std::time::Duration::from_secs(u64::try_from(state.login.window_secs).unwrap_or(0)),
        ));
    }

    // Argon2 takes tens of milliseconds of CPU: off the async workers.
    let password = body.password.clone();
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches =
        tokio::task::spawn_blocking(move || verify_password(&password, stored.as_deref()))
            .await
            .map_err(|err| Problem::internal(&err))?;

    // A failure on an existing account shows in its organization's system log.
    let account = user.as_ref().map(|u| (u.org_id, u.id));
    let Some(user) = user.filter(|_| matches) else {
        in_context!(&pool, Context::System, |conn| {
            audit::system_log(
                conn,
                account.map(|(org, _)| org),
                account.map(|(_, id)| id),
                "auth.login_failed",
                "warning",
                json!({"email": email, "source": source}),
            )
            .await?;
            Ok::<_, Problem>(())
        })?;
        return Err(wrong_credentials());
    };
    if !user.active {
        // The password was right: not a failure to count against the account.
        in_context!(&pool, Context::System, |conn| {
            Ok::<_, Problem>(sessions::clear_failures(conn, &email).await?)
        })?;
        return Err(Problem::forbidden(
            "This account is deactivated. Ask an administrator of your organization.",
        ));
    }
    let pair = in_context!(&pool, Context::System, |conn| {
        sessions::clear_failures(conn, &email).await?;
        users::touch_login(conn, user.id).await?;
        issue(conn, &state, &user, Uuid::now_v7()).await
    })?;
    Ok(HttpResponse::Ok().json(pair))
}

async fn issue(
    conn: &mut diesel_async::AsyncPgConnection,
    state: &State,
    user: &users::User,
    family: Uuid,
) -> Result<TokenPair, Problem> {
    let role: Role = user
        .role
        .parse()
        .map_err(|err: String| Problem::internal(&err))?;
    let now = Utc::now();
    let claims = Claims {
        sub: user.id,
        org: user.org_id,
        role,
        iss: state.issuer.clone(),
        aud: state.audience.clone(),
        iat: now.timestamp(),
        exp: now.timestamp() + state.jwt.access_ttl_secs,
        jti: Uuid::now_v7(),
    };
    let access_token = state
        .signing
        .sign(&claims)
        .map_err(|err| Problem::internal(&err))?;
    let refresh_token = new_refresh_token();
    sessions::issue(
        conn,
        user.id,
        family,
        &hash_token(&refresh_token),
        now + Duration::seconds(state.jwt.refresh_ttl_secs),
    )
    .await?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: state.jwt.access_ttl_secs,
        refresh_token,
        refresh_expires_in: state.jwt.refresh_ttl_secs,
    })
}

enum Refreshed {
    Rotated(Box<TokenPair>),
    Refused(&'static str),
}

/// Trade a refresh token for a new pair. Each refresh token works once; presenting one that
/// was already used revokes every token of its login (its family).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn refresh(
    pool: web::Data<Pool>,
    state: web::Data<State>,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, Problem> {
    let hash = hash_token(body.refresh_token.trim());
    // The revocation of a reused token's family must commit, so refusals are values here,
    // not errors that would roll it back.
    let outcome = in_context!(&pool, Context::System, |conn| {
        let Some(token) = sessions::find_for_update(conn, &hash).await? else {
            return Ok(Refreshed::Refused("The refresh token is not valid."));
        };
        if token.revoked_at.is_some() {
            return Ok(Refreshed::Refused("The refresh token has been revoked."));
        }
        if token.replaced_at.is_some() {
            let revoked = sessions::revoke_family(conn, token.family_id).await?;
            audit::system_log(
                conn,
                None,
                Some(token.user_id),
                "auth.refresh_token_reused",
                "error",
                json!({"family_id": token.family_id, "revoked": revoked}),
            )
            .await?;
            return Ok(Refreshed::Refused(
                "The refresh token was already used; this login has been ended. Log in again.",
            ));
        }
        if token.expires_at < Utc::now() {
            return Ok(Refreshed::Refused("The refresh token has expired."));
        }
        let user = users::find(conn, token.user_id).await?;
        if !user.active {
            sessions::revoke_family(conn, token.family_id).await?;
            return Ok(Refreshed::Refused("This account is deactivated."));
        }
        sessions::mark_replaced(conn, token.id).await?;
        let pair = issue(conn, &state, &user, token.family_id).await?;
        Ok::<_, Problem>(Refreshed::Rotated(Box::new(pair)))
    })?;
    match outcome {
        Refreshed::Rotated(pair) => Ok(HttpResponse::Ok().json(pair)),
        Refreshed::Refused(why) => Err(Problem::unauthorized(why)),
    }
}

/// End a login: its refresh tokens stop working. Idempotent.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    request_body = RefreshBody,
    responses((status = 204, description = "Logged out")))]
pub async fn logout(
    pool: web::Data<Pool>,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, Problem> {
    let hash = hash_token(body.refresh_token.trim());
    in_context!(&pool, Context::System, |conn| {
        if let Some(token) = sessions::find_for_update(conn, &hash).await? {
            sessions::revoke_family(conn, token.family_id).await?;
        }
        Ok::<_, Problem>(())
    })?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller: user, organization and company grants.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    user: UserView,
    organization: OrganizationView,
    grants: Vec<GrantView>,
}

/// Who am I?
#[utoipa::path(get, path = "/v1/me", tag = "auth", security(("user" = [])),
    responses((status = 200, body = MeView),
              (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn me(principal: Principal, pool: web::Data<Pool>) -> Result<HttpResponse, Problem> {
    let me = in_context!(&pool, principal.context(), |conn| {
        let user = users::find(conn, principal.user_id).await?;
        let organization = organizations::find(conn, principal.org_id).await?;
        let grants = companies::grants_of_user(conn, principal.user_id).await?;
        Ok::<_, Problem>(MeView {
            user: user.into(),
            organization: organization.into(),
            grants: grants.into_iter().map(Into::into).collect(),
        })
    })?;
    Ok(HttpResponse::Ok().json(me))
}
