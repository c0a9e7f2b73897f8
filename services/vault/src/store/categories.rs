//! Document categories of an organization.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SqlUuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Category {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub description: String,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

const CATEGORY: &str = "id, name, description, active, created_at";

pub async fn create(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    name: &str,
    description: &str,
) -> Result<Category, Error> {
    diesel::sql_query(format!(
        "INSERT INTO vault.document_categories (id, org_id, name, description) \
         VALUES ($1, $2, $3, $4) RETURNING {CATEGORY}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(name)
    .bind::<Text, _>(description)
    .get_result(conn)
    .await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    description: Option<&str>,
    active: Option<bool>,
) -> Result<Category, Error> {
    diesel::sql_query(format!(
        "UPDATE vault.document_categories SET description = coalesce($2, description), \
         active = coalesce($3, active) WHERE id = $1 RETURNING {CATEGORY}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Nullable<Text>, _>(description)
    .bind::<Nullable<Bool>, _>(active)
    .get_result(conn)
    .await
}

/// The organization's categories by name (Row Level Security keeps it to the tenant's).
pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<Category>, Error> {
    diesel::sql_query(format!(
        "SELECT {CATEGORY} FROM vault.document_categories ORDER BY name"
    ))
    .load(conn)
    .await
}

/// An active category of the tenant's organization.
pub async fn find_active(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Category, Error> {
    diesel::sql_query(format!(
        "SELECT {CATEGORY} FROM vault.document_categories WHERE id = $1 AND active"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}
