use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tekup_db::limit::LimitedDsl;
use tekup_proto::shared::v1::{OrganizationCreated, OrganizationRenamed};
use uuid::Uuid;

use crate::events;
use crate::schema::organizations;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Creates an organization and announces it.
pub async fn create(conn: &mut AsyncPgConnection, name: &str) -> Result<Organization, Error> {
    let created: Organization = diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(Uuid::now_v7()),
            organizations::name.eq(name),
        ))
        .returning(Organization::as_returning())
        .get_result(conn)
        .await?;
    let id = created.id.to_string();
    events::organization(
        conn,
        created.id,
        &OrganizationCreated {
            org_id: id,
            name: created.name.clone(),
        },
    )
    .await?;
    Ok(created)
}

/// Renames an organization and announces it; `NotFound` when there is none.
pub async fn rename(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    name: &str,
) -> Result<Organization, Error> {
    let renamed: Organization = diesel::update(organizations::table.find(id))
        .set((
            organizations::name.eq(name),
            organizations::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Organization::as_returning())
        .get_result(conn)
        .await?;
    events::organization(
        conn,
        id,
        &OrganizationRenamed {
            org_id: id.to_string(),
            name: renamed.name.clone(),
        },
    )
    .await?;
    Ok(renamed)
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Organization, Error> {
    organizations::table
        .find(id)
        .select(Organization::as_select())
        .get_result(conn)
        .await
}

/// One page in creation order (ids are UUIDv7), after `after` when given.
pub async fn list(
    conn: &mut AsyncPgConnection,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Organization>, Error> {
    let mut query = organizations::table
        .select(Organization::as_select())
        .order(organizations::id)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(organizations::id.gt(after));
    }
    query.limited(limit).load(conn).await
}
