//! The authenticated caller, extracted from the bearer token.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use tekup_db::tenancy::Context;
use tekup_types::Role;
use uuid::Uuid;

use crate::{AuthError, Verifier};

/// The user a request acts for. Extracting it verifies the bearer token; a handler that takes
/// a `Principal` is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub role: Role,
}

impl Principal {
    /// The tenant context for the database (see `tekup_db::tenancy`).
    pub fn context(&self) -> Context {
        Context::Tenant {
            org_id: self.org_id,
            user_id: self.user_id,
            role: self.role,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Org administrators only (the database's policies enforce it again): 403 otherwise.
    pub fn require_admin(&self) -> Result<(), tekup_problem::Problem> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(tekup_problem::Problem::forbidden(
                "Only an administrator of the organization may do this.",
            ))
        }
    }
}

impl FromRequest for Principal {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let verifier = req.app_data::<web::Data<Verifier>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(AuthError::Missing)?;
            let verifier = verifier.ok_or(AuthError::KeysUnavailable)?;
            let claims = verifier.verify(&token).await?;
            Ok(Principal {
                user_id: claims.sub,
                org_id: claims.org,
                role: claims.role,
            })
        })
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}
