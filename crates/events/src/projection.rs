//! The first flow across services: shared announces organizations, and every other service
//! keeps a local projection of them (its own `organizations` table), so none ever reads
//! another's schema.

use std::sync::Arc;

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use tekup_proto::shared::v1::{
    AccessGranted, AccessRevoked, OrganizationCreated, OrganizationRenamed,
};

use crate::consumer::{HandleError, Handler, Subscription};
use crate::{Event, kafka};

/// Where shared publishes organization events.
pub fn organization_topic() -> String {
    kafka::topic("shared", "organization")
}

/// Keeps `organizations` in step with shared's organization events.
pub fn organizations() -> Subscription {
    Subscription {
        name: "organizations".into(),
        topics: vec![organization_topic()],
        handler: Arc::new(Organizations),
    }
}

struct Organizations;

impl Handler for Organizations {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let (id, name) = if let Some(created) = event.payload::<OrganizationCreated>() {
                let created = created.map_err(HandleError::permanent)?;
                (created.org_id, created.name)
            } else if let Some(renamed) = event.payload::<OrganizationRenamed>() {
                let renamed = renamed.map_err(HandleError::permanent)?;
                (renamed.org_id, renamed.name)
            } else {
                return Ok(());
            };
            let id = HandleError::uuid("org_id", &id)?;
            let at = event
                .occurred_at()
                .ok_or_else(|| HandleError::permanent("event without occurred_at"))?;
            // An older event arriving late must not overwrite a newer name.
            diesel::sql_query(
                "INSERT INTO organizations (id, name, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at \
                 WHERE organizations.updated_at <= excluded.updated_at",
            )
            .bind::<diesel::sql_types::Uuid, _>(id)
            .bind::<diesel::sql_types::Text, _>(&name)
            .bind::<diesel::sql_types::Timestamptz, _>(at)
            .execute(conn)
            .await?;
            Ok(())
        })
    }
}

/// Where shared publishes access grants and revocations (keyed by user).
pub fn access_topic() -> String {
    kafka::topic("shared", "access")
}

/// Keeps `access_grants` (read by this schema's Row Level Security) in step with shared's
/// grants.
pub fn access_grants() -> Subscription {
    Subscription {
        name: "access-grants".into(),
        topics: vec![access_topic()],
        handler: Arc::new(AccessGrants),
    }
}

struct AccessGrants;

impl Handler for AccessGrants {
    fn handle<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let uuid = HandleError::uuid;
            if let Some(granted) = event.payload::<AccessGranted>() {
                let granted = granted.map_err(HandleError::permanent)?;
                let at = event
                    .occurred_at()
                    .ok_or_else(|| HandleError::permanent("event without occurred_at"))?;
                diesel::sql_query(
                    "INSERT INTO access_grants (org_id, user_id, cvr, level, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, cvr, org_id) DO UPDATE \
                     SET level = excluded.level, updated_at = excluded.updated_at \
                     WHERE access_grants.updated_at <= excluded.updated_at",
                )
                .bind::<diesel::sql_types::Uuid, _>(uuid("org_id", &granted.org_id)?)
                .bind::<diesel::sql_types::Uuid, _>(uuid("user_id", &granted.user_id)?)
                .bind::<diesel::sql_types::Text, _>(&granted.cvr)
                .bind::<diesel::sql_types::Text, _>(&granted.level)
                .bind::<diesel::sql_types::Timestamptz, _>(at)
                .execute(conn)
                .await?;
            } else if let Some(revoked) = event.payload::<AccessRevoked>() {
                let revoked = revoked.map_err(HandleError::permanent)?;
                diesel::sql_query(
                    "DELETE FROM access_grants WHERE org_id = $1 AND user_id = $2 AND cvr = $3",
                )
                .bind::<diesel::sql_types::Uuid, _>(uuid("org_id", &revoked.org_id)?)
                .bind::<diesel::sql_types::Uuid, _>(uuid("user_id", &revoked.user_id)?)
                .bind::<diesel::sql_types::Text, _>(&revoked.cvr)
                .execute(conn)
                .await?;
            }
            Ok(())
        })
    }
}
