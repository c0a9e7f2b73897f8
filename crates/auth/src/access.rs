//! Requiring an access level on a company, the same way in every service.

use diesel_async::AsyncPgConnection;
use tekup_problem::Problem;
use tekup_types::{AccessLevel, Cvr};

use crate::Principal;

/// Fails unless the principal (whose tenant context the transaction has entered) may act on
/// company `cvr` at `needed`. A company out of reach altogether is a 404, so its existence
/// does not leak; one that is visible but not at that level is a 403.
pub async fn require_access(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    cvr: &Cvr,
    needed: AccessLevel,
) -> Result<AccessLevel, Problem> {
    let level = tekup_db::tenancy::access_level(conn, principal.org_id, cvr.as_str()).await?;
    require_level(level, cvr, needed)
}

/// The principal's tenant settings and their access to company `cvr`, pipelined
/// ([`tekup_db::tenancy::enter_with_access`]): what a transaction about one company opens
/// with. Judge the level with [`require_level`].
pub async fn enter_company(
    conn: &AsyncPgConnection,
    principal: &Principal,
    cvr: &Cvr,
) -> diesel::QueryResult<Option<AccessLevel>> {
    tekup_db::tenancy::enter_with_access(conn, &principal.context(), principal.org_id, cvr.as_str())
        .await
}

/// What [`require_access`] answers for the `level` the principal has on company `cvr`: the
/// level, a 404 when the company is out of reach (`None`), or a 403 below `needed`. For
/// callers that fetched the level themselves, e.g. pipelined with the tenant settings
/// ([`tekup_db::tenancy::enter_with_access`]).
pub fn require_level(
    level: Option<AccessLevel>,
    cvr: &Cvr,
    needed: AccessLevel,
) -> Result<AccessLevel, Problem> {
    match level {
        None => Err(Problem::not_found(format!("No company {cvr}."))),
        Some(level) if level.allows(needed) => Ok(level),
        Some(level) => Err(Problem::forbidden(format!(
            "Your access to {cvr} is {level}; this needs {needed}."
        ))),
    }
}
