use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tekup_db::limit::LimitedDsl;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_proto::crm::v1::ContactChanged;
use uuid::Uuid;

use crate::schema::contacts;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts)]
pub struct Contact {
    pub id: Uuid,
    pub org_id: Uuid,
    pub cvr: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub title: Option<Option<String>>,
}

async fn announce(
    conn: &mut AsyncPgConnection,
    contact: &Contact,
    change: &str,
) -> Result<(), Error> {
    outbox::publish(
        conn,
        Outgoing {
            topic: &topic("crm", "contact"),
            org_id: Some(contact.org_id),
            cvr: Some(&contact.cvr),
            subject: &contact.id.to_string(),
            payload: &ContactChanged {
                contact_id: contact.id.to_string(),
                org_id: contact.org_id.to_string(),
                cvr: contact.cvr.clone(),
                change: change.to_owned(),
            },
        },
    )
    .await?;
    Ok(())
}

/// One contact of company `cvr`.
pub async fn find(
    conn: &AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    id: Uuid,
) -> Result<Contact, Error> {
    contacts::table
        .filter(contacts::id.eq(id))
        .filter(contacts::org_id.eq(org_id))
        .filter(contacts::cvr.eq(cvr))
        .select(Contact::as_select())
        .first(&mut { conn })
        .await
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    fields: Fields,
) -> Result<Contact, Error> {
    let contact: Contact = diesel::insert_into(contacts::table)
        .values((
            contacts::id.eq(Uuid::now_v7()),
            contacts::org_id.eq(org_id),
            contacts::cvr.eq(cvr),
            contacts::first_name.eq(fields.first_name.unwrap_or_default()),
            contacts::last_name.eq(fields.last_name.unwrap_or_default()),
            contacts::email.eq(fields.email.flatten()),
            contacts::phone.eq(fields.phone.flatten()),
            contacts::title.eq(fields.title.flatten()),
        ))
        .returning(Contact::as_returning())
        .get_result(conn)
        .await?;
    announce(conn, &contact, "created").await?;
    Ok(contact)
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    id: Uuid,
    fields: Fields,
) -> Result<Contact, Error> {
    let target = contacts::table.filter(
        contacts::id
            .eq(id)
            .and(contacts::org_id.eq(org_id))
            .and(contacts::cvr.eq(cvr)),
    );
    let contact: Contact = diesel::update(target)
        .set((
            fields.first_name.map(|v| contacts::first_name.eq(v)),
            fields.last_name.map(|v| contacts::last_name.eq(v)),
            fields.email.map(|v| contacts::email.eq(v)),
            fields.phone.map(|v| contacts::phone.eq(v)),
            fields.title.map(|v| contacts::title.eq(v)),
            contacts::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Contact::as_returning())
        .get_result(conn)
        .await?;
    announce(conn, &contact, "updated").await?;
    Ok(contact)
}

pub async fn delete(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    id: Uuid,
) -> Result<(), Error> {
    let contact: Contact = diesel::delete(
        contacts::table.filter(
            contacts::id
                .eq(id)
                .and(contacts::org_id.eq(org_id))
                .and(contacts::cvr.eq(cvr)),
        ),
    )
    .returning(Contact::as_returning())
    .get_result(conn)
    .await?;
    announce(conn, &contact, "deleted").await
}

/// A company's contacts, oldest first, optionally matching every word of `q`.
pub async fn list(
    conn: &AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    q: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Contact>, Error> {
    let mut query = contacts::table
        .filter(contacts::org_id.eq(org_id).and(contacts::cvr.eq(cvr)))
        .select(Contact::as_select())
        .order(contacts::id)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(contacts::id.gt(after));
    }
    if let Some(q) = q {
        query = query.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("search @@ plainto_tsquery('simple', ")
                .bind::<diesel::sql_types::Text, _>(q.to_owned())
                .sql(")"),
        );
    }
    query.limited(limit).load(&mut { conn }).await
}
