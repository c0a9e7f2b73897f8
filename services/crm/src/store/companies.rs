use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tekup_db::limit::LimitedDsl;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_proto::crm::v1::CompanyRecorded;
use uuid::Uuid;

use crate::schema::companies;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = companies)]
pub struct Company {
    pub id: Uuid,
    pub org_id: Uuid,
    pub cvr: String,
    pub name: String,
    pub segment: Option<String>,
    pub street: Option<String>,
    pub zipcode: Option<String>,
    pub city: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `active`, or `inactive` for a company the registry lists as ceased (from shared).
    pub registry_status: String,
    /// The registry's advertising protection: no marketing to the company (from shared).
    pub advertising_protected: bool,
}

pub struct Record<'a> {
    pub org_id: Uuid,
    pub cvr: &'a str,
    pub name: &'a str,
    pub segment: Option<&'a str>,
    pub street: Option<&'a str>,
    pub zipcode: Option<&'a str>,
    pub city: Option<&'a str>,
    pub by: Uuid,
}

/// Creates or updates the CRM record of a company; `(company, created)`.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    record: Record<'_>,
) -> Result<(Company, bool), Error> {
    let company: Company = diesel::insert_into(companies::table)
        .values((
            companies::id.eq(Uuid::now_v7()),
            companies::org_id.eq(record.org_id),
            companies::cvr.eq(record.cvr),
            companies::name.eq(record.name),
            companies::segment.eq(record.segment),
            companies::street.eq(record.street),
            companies::zipcode.eq(record.zipcode),
            companies::city.eq(record.city),
            companies::created_by.eq(record.by),
        ))
        .on_conflict((companies::org_id, companies::cvr))
        .do_update()
        .set((
            companies::name.eq(excluded(companies::name)),
            companies::segment.eq(excluded(companies::segment)),
            companies::street.eq(excluded(companies::street)),
            companies::zipcode.eq(excluded(companies::zipcode)),
            companies::city.eq(excluded(companies::city)),
            companies::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Company::as_returning())
        .get_result(conn)
        .await?;
    let created = company.created_at == company.updated_at;
    outbox::publish(
        conn,
        Outgoing {
            topic: &topic("crm", "company"),
            org_id: Some(company.org_id),
            cvr: Some(&company.cvr),
            subject: &company.id.to_string(),
            payload: &CompanyRecorded {
                company_id: company.id.to_string(),
                org_id: company.org_id.to_string(),
                cvr: company.cvr.clone(),
                name: company.name.clone(),
            },
        },
    )
    .await?;
    Ok((company, created))
}

pub async fn find(conn: &AsyncPgConnection, org_id: Uuid, cvr: &str) -> Result<Company, Error> {
    companies::table
        .filter(companies::org_id.eq(org_id).and(companies::cvr.eq(cvr)))
        .select(Company::as_select())
        .get_result(&mut { conn })
        .await
}

/// The companies visible to the caller, by CVR.
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

/// Deletes a company's CRM record and everything under it; `NotFound` when there is none.
pub async fn delete(conn: &mut AsyncPgConnection, org_id: Uuid, cvr: &str) -> Result<(), Error> {
    let id: Uuid = diesel::delete(
        companies::table.filter(companies::org_id.eq(org_id).and(companies::cvr.eq(cvr))),
    )
    .returning(companies::id)
    .get_result(conn)
    .await?;
    crate::events::publish(
        conn,
        "company",
        org_id,
        cvr,
        id,
        &tekup_proto::crm::v1::CompanyDeleted {
            company_id: id.to_string(),
            org_id: org_id.to_string(),
            cvr: cvr.to_owned(),
        },
    )
    .await?;
    Ok(())
}

/// A company of the console's switcher, with the caller's access to it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Granted {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub cvr: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub city: Option<String>,
    /// read, write or admin (an organization administrator has admin on every company).
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub level: String,
}

/// The companies the caller may see, by CVR, whose name contains `filter` or whose CVR starts
/// with it (Row Level Security decides which are visible).
pub async fn granted(
    conn: &mut AsyncPgConnection,
    filter: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Granted>, Error> {
    use diesel::sql_types::{BigInt, Nullable, Text};
    diesel::sql_query(
        "SELECT c.cvr, c.name, c.city, \
                CASE WHEN crm.tenant_role() = 'admin' THEN 'admin' ELSE coalesce(g.level, 'read') END AS level \
           FROM companies c \
           LEFT JOIN access_grants g ON g.org_id = c.org_id AND g.cvr = c.cvr \
                AND g.user_id = crm.tenant_user() \
          WHERE ($1::text IS NULL OR c.name ILIKE '%' || $1 || '%' OR c.cvr LIKE $1 || '%') \
            AND ($2::text IS NULL OR c.cvr > $2) \
          ORDER BY c.cvr LIMIT $3",
    )
    .bind::<Nullable<Text>, _>(filter)
    .bind::<Nullable<Text>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// A user's grant on a company, as crm keeps it from shared's access events.
#[derive(Debug, Clone, QueryableByName)]
pub struct GrantRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub cvr: String,
    /// The company's name, or its CVR while crm has no record of it.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub level: String,
}

/// The grants visible to the caller (an administrator: the organization's), by CVR.
pub async fn grants(conn: &mut AsyncPgConnection) -> Result<Vec<GrantRow>, Error> {
    diesel::sql_query(
        "SELECT g.user_id, g.cvr, coalesce(c.name, g.cvr) AS name, g.level \
           FROM access_grants g LEFT JOIN companies c ON c.org_id = g.org_id AND c.cvr = g.cvr \
          ORDER BY g.cvr, g.user_id LIMIT 1000",
    )
    .load(conn)
    .await
}
