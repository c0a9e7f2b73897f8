//! The first flow across services: shared announces organizations, and every other service
//! keeps a local projection of them (its own `organizations` table), so none ever reads
//! another's schema.

use std::sync::Arc;

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use tekup_proto::shared::v1::{OrganizationCreated, OrganizationRenamed};
use uuid::Uuid;

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
            let id = Uuid::parse_str(&id)
                .map_err(|err| HandleError::permanent(format!("org_id {id:?}: {err}")))?;
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
