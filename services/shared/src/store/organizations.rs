use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tekup_db::DbError;
use tekup_events::outbox::{self, Outgoing};
use tekup_events::projection::organization_topic;
use tekup_proto::shared::v1::{OrganizationCreated, OrganizationRenamed};
use uuid::Uuid;

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
pub async fn create(conn: &mut AsyncPgConnection, name: &str) -> Result<Organization, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let created: Organization = diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(Uuid::now_v7()),
                organizations::name.eq(name),
            ))
            .returning(Organization::as_returning())
            .get_result(conn)
            .await?;
        let id = created.id.to_string();
        outbox::publish(
            conn,
            Outgoing {
                topic: &organization_topic(),
                org_id: Some(created.id),
                subject: &id,
                payload: &OrganizationCreated {
                    org_id: id.clone(),
                    name: created.name.clone(),
                },
            },
        )
        .await?;
        Ok(created)
    })
    .await
}

/// Renames an organization and announces it; `NotFound` when there is none.
pub async fn rename(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    name: &str,
) -> Result<Organization, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let renamed: Organization = diesel::update(organizations::table.find(id))
            .set((
                organizations::name.eq(name),
                organizations::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Organization::as_returning())
            .get_result(conn)
            .await?;
        let subject = id.to_string();
        outbox::publish(
            conn,
            Outgoing {
                topic: &organization_topic(),
                org_id: Some(id),
                subject: &subject,
                payload: &OrganizationRenamed {
                    org_id: subject.clone(),
                    name: renamed.name.clone(),
                },
            },
        )
        .await?;
        Ok(renamed)
    })
    .await
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Organization, DbError> {
    Ok(organizations::table
        .find(id)
        .select(Organization::as_select())
        .get_result(conn)
        .await?)
}

/// One page in creation order (ids are UUIDv7), after `after` when given.
pub async fn list(
    conn: &mut AsyncPgConnection,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Organization>, DbError> {
    let mut query = organizations::table
        .select(Organization::as_select())
        .order(organizations::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(organizations::id.gt(after));
    }
    Ok(query.load(conn).await?)
}
