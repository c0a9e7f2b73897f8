use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tekup_db::limit::LimitedDsl;
use tekup_proto::shared::v1::{AccessGranted, AccessRevoked, CompanyChanged, CompanyRegistered};
use tekup_types::AccessLevel;
use uuid::Uuid;

use crate::events;
use crate::schema::{companies, user_companies};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = companies)]
pub struct Company {
    pub id: Uuid,
    pub org_id: Uuid,
    pub cvr: String,
    pub name: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub advertising_protected: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = user_companies)]
pub struct Grant {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub cvr: String,
    pub access_level: String,
    pub granted_at: DateTime<Utc>,
    pub granted_by: Option<Uuid>,
}

pub async fn register(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    name: &str,
    advertising_protected: bool,
) -> Result<Company, Error> {
    let company: Company = diesel::insert_into(companies::table)
        .values((
            companies::id.eq(Uuid::now_v7()),
            companies::org_id.eq(org_id),
            companies::cvr.eq(cvr),
            companies::name.eq(name),
            companies::advertising_protected.eq(advertising_protected),
        ))
        .returning(Company::as_returning())
        .get_result(conn)
        .await?;
    events::company(
        conn,
        org_id,
        cvr,
        &CompanyRegistered {
            company_id: company.id.to_string(),
            org_id: org_id.to_string(),
            cvr: cvr.to_owned(),
            name: company.name.clone(),
            status: company.status.clone(),
            advertising_protected: company.advertising_protected,
        },
    )
    .await?;
    Ok(company)
}

/// Registry facts to change; `None` leaves one as it is.
#[derive(Default)]
pub struct Changes {
    pub name: Option<String>,
    pub status: Option<String>,
    pub advertising_protected: Option<bool>,
}

/// Applies `changes` to the organization's company and announces its facts;
/// `NotFound` when there is no such company.
pub async fn update(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    changes: Changes,
) -> Result<Company, Error> {
    let company: Company = diesel::update(
        companies::table.filter(companies::org_id.eq(org_id).and(companies::cvr.eq(cvr))),
    )
    .set((
        changes.name.map(|v| companies::name.eq(v)),
        changes.status.map(|v| companies::status.eq(v)),
        changes
            .advertising_protected
            .map(|v| companies::advertising_protected.eq(v)),
        companies::updated_at.eq(diesel::dsl::now),
    ))
    .returning(Company::as_returning())
    .get_result(conn)
    .await?;
    events::company(
        conn,
        org_id,
        cvr,
        &CompanyChanged {
            company_id: company.id.to_string(),
            org_id: org_id.to_string(),
            cvr: cvr.to_owned(),
            name: company.name.clone(),
            status: company.status.clone(),
            advertising_protected: company.advertising_protected,
        },
    )
    .await?;
    Ok(company)
}

/// The company with `cvr` in the caller's organization, if the caller may see it.
pub async fn find(conn: &mut AsyncPgConnection, org_id: Uuid, cvr: &str) -> Result<Company, Error> {
    companies::table
        .filter(companies::org_id.eq(org_id).and(companies::cvr.eq(cvr)))
        .select(Company::as_select())
        .get_result(conn)
        .await
}

/// The companies the caller may see (Row Level Security decides), by CVR.
pub async fn list(
    conn: &mut AsyncPgConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Company>, Error> {
    let mut query = companies::table
        .select(Company::as_select())
        .order(companies::cvr)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(companies::cvr.gt(after.to_owned()));
    }
    query.limited(limit).load(conn).await
}

/// Grants `level` (or changes the level of an existing grant) and announces it.
pub async fn grant(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    user_id: Uuid,
    level: AccessLevel,
    granted_by: Uuid,
) -> Result<Grant, Error> {
    let grant: Grant = diesel::insert_into(user_companies::table)
        .values((
            user_companies::user_id.eq(user_id),
            user_companies::org_id.eq(org_id),
            user_companies::cvr.eq(cvr),
            user_companies::access_level.eq(level.as_str()),
            user_companies::granted_by.eq(granted_by),
        ))
        .on_conflict((user_companies::user_id, user_companies::cvr))
        .do_update()
        .set((
            user_companies::access_level.eq(level.as_str()),
            user_companies::granted_at.eq(diesel::dsl::now),
            user_companies::granted_by.eq(granted_by),
        ))
        .returning(Grant::as_returning())
        .get_result(conn)
        .await?;
    events::access(
        conn,
        org_id,
        user_id,
        cvr,
        &AccessGranted {
            org_id: org_id.to_string(),
            user_id: user_id.to_string(),
            cvr: cvr.to_owned(),
            level: level.as_str().to_owned(),
        },
    )
    .await?;
    Ok(grant)
}

/// Revokes a grant and announces it; `NotFound` when there was none.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    user_id: Uuid,
) -> Result<(), Error> {
    let deleted = diesel::delete(
        user_companies::table.filter(
            user_companies::user_id
                .eq(user_id)
                .and(user_companies::cvr.eq(cvr))
                .and(user_companies::org_id.eq(org_id)),
        ),
    )
    .execute(conn)
    .await?;
    if deleted == 0 {
        return Err(Error::NotFound);
    }
    events::access(
        conn,
        org_id,
        user_id,
        cvr,
        &AccessRevoked {
            org_id: org_id.to_string(),
            user_id: user_id.to_string(),
            cvr: cvr.to_owned(),
        },
    )
    .await?;
    Ok(())
}

pub async fn grants_of_company(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
) -> Result<Vec<Grant>, Error> {
    user_companies::table
        .filter(
            user_companies::org_id
                .eq(org_id)
                .and(user_companies::cvr.eq(cvr)),
        )
        .order(user_companies::user_id)
        .select(Grant::as_select())
        .load(conn)
        .await
}

pub async fn grants_of_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<Vec<Grant>, Error> {
    user_companies::table
        .filter(user_companies::user_id.eq(user_id))
        .order(user_companies::cvr)
        .select(Grant::as_select())
        .load(conn)
        .await
}
