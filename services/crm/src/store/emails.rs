//! E-mails logged against a company.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

type SqlUuid = diesel::sql_types::Uuid;

#[derive(Debug, Clone, QueryableByName)]
pub struct Email {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub cvr: String,
    #[diesel(sql_type = Text)]
    pub direction: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Text)]
    pub from_address: String,
    #[diesel(sql_type = Array<Text>)]
    pub to_addresses: Vec<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub contact_id: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    pub sent_at: DateTime<Utc>,
}

const EMAIL: &str =
    "id, cvr, direction, subject, body, from_address, to_addresses, contact_id, sent_at";

pub struct NewEmail<'a> {
    pub direction: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub from_address: &'a str,
    pub to_addresses: &'a [String],
    pub contact_id: Option<Uuid>,
    pub sent_at: DateTime<Utc>,
    pub by: Uuid,
}

pub async fn log(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    new: NewEmail<'_>,
) -> Result<Email, Error> {
    let email = diesel::sql_query(format!(
        "INSERT INTO emails (id, org_id, cvr, direction, subject, body, from_address, to_addresses, \
         contact_id, sent_at, logged_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         RETURNING {EMAIL}"
    ))
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .bind::<Text, _>(new.direction)
    .bind::<Text, _>(new.subject)
    .bind::<Text, _>(new.body)
    .bind::<Text, _>(new.from_address)
    .bind::<Array<Text>, _>(new.to_addresses)
    .bind::<Nullable<SqlUuid>, _>(new.contact_id)
    .bind::<Timestamptz, _>(new.sent_at)
    .bind::<SqlUuid, _>(new.by)
    .get_result::<Email>(conn)
    .await?;
    crate::events::publish(
        conn,
        "email",
        org_id,
        cvr,
        email.id,
        &tekup_proto::crm::v1::EmailLogged {
            email_id: email.id.to_string(),
            org_id: org_id.to_string(),
            cvr: cvr.to_owned(),
            direction: email.direction.clone(),
            subject: email.subject.clone(),
            body: email.body.clone(),
            from_address: email.from_address.clone(),
            to_addresses: email.to_addresses.clone(),
            sent_at: email.sent_at.to_rfc3339(),
        },
    )
    .await?;
    Ok(email)
}

/// A company's e-mails, newest first, optionally matching `q` (Danish or English words).
pub async fn list(
    conn: &AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    q: Option<&str>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Email>, Error> {
    let (before_at, before_id) = before.unzip();
    diesel::sql_query(format!(
        "SELECT {EMAIL} FROM emails WHERE org_id = $1 AND cvr = $2 \
         AND ($3::text IS NULL OR search @@ (websearch_to_tsquery('danish', $3) || websearch_to_tsquery('english', $3))) \
         AND ($4::timestamptz IS NULL OR (sent_at, id) < ($4, $5)) \
         ORDER BY sent_at DESC, id DESC LIMIT $6"
    ))
    .bind::<SqlUuid, _>(org_id)
    .bind::<Text, _>(cvr)
    .bind::<Nullable<Text>, _>(q)
    .bind::<Nullable<Timestamptz>, _>(before_at)
    .bind::<Nullable<SqlUuid>, _>(before_id)
    .bind::<BigInt, _>(limit)
    .load(&mut { conn })
    .await
}
