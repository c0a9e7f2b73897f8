use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tekup_db::limit::LimitedDsl;
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_proto::crm::v1::DealChanged;
use uuid::Uuid;

use crate::domain::pipeline::{self, Stage};
use crate::schema::{deals, pipeline_stages};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deals)]
pub struct Deal {
    pub id: Uuid,
    pub org_id: Uuid,
    pub cvr: String,
    pub title: String,
    pub stage: String,
    pub value_ore: i64,
    pub currency: String,
    pub expected_close: Option<NaiveDate>,
    pub owner_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Fields {
    pub title: Option<String>,
    pub value_ore: Option<i64>,
    pub expected_close: Option<Option<NaiveDate>>,
    pub owner_id: Option<Option<Uuid>>,
    pub contact_id: Option<Option<Uuid>>,
}

/// The organization's pipeline: its own stages, or the defaults.
pub async fn stages(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<Vec<Stage>, Error> {
    let rows: Vec<(String, String, i32, String)> = pipeline_stages::table
        .filter(pipeline_stages::org_id.eq(org_id))
        .order(pipeline_stages::position)
        .select((
            pipeline_stages::key,
            pipeline_stages::name,
            pipeline_stages::probability,
            pipeline_stages::outcome,
        ))
        .load(conn)
        .await?;
    if rows.is_empty() {
        return Ok(pipeline::defaults());
    }
    Ok(rows
        .into_iter()
        .map(|(key, name, probability, outcome)| Stage {
            key,
            name,
            probability,
            outcome,
        })
        .collect())
}

/// Replaces the organization's stages; stages still used by deals cannot go.
pub async fn replace_stages(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    stages: &[Stage],
) -> Result<Result<(), Vec<String>>, Error> {
    let keys: Vec<&str> = stages.iter().map(|s| s.key.as_str()).collect();
    let orphaned: Vec<String> = deals::table
        .filter(deals::org_id.eq(org_id).and(deals::stage.ne_all(&keys)))
        .select(deals::stage)
        .distinct()
        .load(conn)
        .await?;
    if !orphaned.is_empty() {
        return Ok(Err(orphaned));
    }
    diesel::delete(pipeline_stages::table.filter(pipeline_stages::org_id.eq(org_id)))
        .execute(conn)
        .await?;
    let rows: Vec<_> = stages
        .iter()
        .enumerate()
        .map(|(position, stage)| {
            (
                pipeline_stages::org_id.eq(org_id),
                pipeline_stages::key.eq(&stage.key),
                pipeline_stages::name.eq(stage.name.trim()),
                pipeline_stages::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                pipeline_stages::probability.eq(stage.probability),
                pipeline_stages::outcome.eq(&stage.outcome),
            )
        })
        .collect();
    diesel::insert_into(pipeline_stages::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(Ok(()))
}

async fn announce(conn: &mut AsyncPgConnection, deal: &Deal, change: &str) -> Result<(), Error> {
    outbox::publish(
        conn,
        Outgoing {
            topic: &topic("crm", "deal"),
            org_id: Some(deal.org_id),
            cvr: Some(&deal.cvr),
            subject: &deal.id.to_string(),
            payload: &DealChanged {
                deal_id: deal.id.to_string(),
                org_id: deal.org_id.to_string(),
                cvr: deal.cvr.clone(),
                stage: deal.stage.clone(),
                value_ore: deal.value_ore,
                change: change.to_owned(),
            },
        },
    )
    .await?;
    Ok(())
}

/// `closed_at` follows the stage: set on entering a won or lost stage, cleared on reopening.
fn closed_at(stage: &Stage) -> Option<DateTime<Utc>> {
    (stage.outcome != "open").then(Utc::now)
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    stage: &Stage,
    fields: Fields,
) -> Result<Deal, Error> {
    let deal: Deal = diesel::insert_into(deals::table)
        .values((
            deals::id.eq(Uuid::now_v7()),
            deals::org_id.eq(org_id),
            deals::cvr.eq(cvr),
            deals::title.eq(fields.title.unwrap_or_default()),
            deals::stage.eq(&stage.key),
            deals::value_ore.eq(fields.value_ore.unwrap_or(0)),
            deals::expected_close.eq(fields.expected_close.flatten()),
            deals::owner_id.eq(fields.owner_id.flatten()),
            deals::contact_id.eq(fields.contact_id.flatten()),
            deals::closed_at.eq(closed_at(stage)),
        ))
        .returning(Deal::as_returning())
        .get_result(conn)
        .await?;
    announce(conn, &deal, "created").await?;
    Ok(deal)
}

pub async fn find(
    conn: &AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    id: Uuid,
) -> Result<Deal, Error> {
    deals::table
        .filter(
            deals::id
                .eq(id)
                .and(deals::org_id.eq(org_id))
                .and(deals::cvr.eq(cvr)),
        )
        .select(Deal::as_select())
        .get_result(&mut { conn })
        .await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    id: Uuid,
    stage: Option<&Stage>,
    fields: Fields,
) -> Result<Deal, Error> {
    let deal: Deal = diesel::update(
        deals::table.filter(
            deals::id
                .eq(id)
                .and(deals::org_id.eq(org_id))
                .and(deals::cvr.eq(cvr)),
        ),
    )
    .set((
        fields.title.map(|v| deals::title.eq(v)),
        stage.map(|s| deals::stage.eq(s.key.clone())),
        stage.map(|s| deals::closed_at.eq(closed_at(s))),
        fields.value_ore.map(|v| deals::value_ore.eq(v)),
        fields.expected_close.map(|v| deals::expected_close.eq(v)),
        fields.owner_id.map(|v| deals::owner_id.eq(v)),
        fields.contact_id.map(|v| deals::contact_id.eq(v)),
        deals::updated_at.eq(diesel::dsl::now),
    ))
    .returning(Deal::as_returning())
    .get_result(conn)
    .await?;
    announce(conn, &deal, "updated").await?;
    Ok(deal)
}

pub async fn list(
    conn: &AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    stage: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Deal>, Error> {
    let mut query = deals::table
        .filter(deals::org_id.eq(org_id).and(deals::cvr.eq(cvr)))
        .select(Deal::as_select())
        .order(deals::id)
        .into_boxed();
    if let Some(stage) = stage {
        query = query.filter(deals::stage.eq(stage.to_owned()));
    }
    if let Some(after) = after {
        query = query.filter(deals::id.gt(after));
    }
    query.limited(limit).load(&mut { conn }).await
}

/// A deal on the organization's board, with its company and what the caller may do to it.
#[derive(Debug, Clone, QueryableByName)]
pub struct BoardDeal {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub cvr: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub company: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub title: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub stage: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub value_ore: i64,
    /// The caller may move it (write access to its company).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub writable: bool,
}

/// The deals of every company the caller may see (Row Level Security decides), most recently
/// changed first.
pub async fn board(conn: &mut AsyncPgConnection, limit: i64) -> Result<Vec<BoardDeal>, Error> {
    diesel::sql_query(
        "SELECT d.id, d.cvr, coalesce(c.name, d.cvr) AS company, d.title, d.stage, d.value_ore, \
                (crm.tenant_role() = 'admin' OR g.level IN ('write', 'admin')) AS writable \
           FROM deals d \
           LEFT JOIN companies c ON c.org_id = d.org_id AND c.cvr = d.cvr \
           LEFT JOIN access_grants g ON g.org_id = d.org_id AND g.cvr = d.cvr \
                AND g.user_id = crm.tenant_user() \
          ORDER BY d.updated_at DESC, d.id DESC LIMIT $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await
}

pub async fn delete(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    id: Uuid,
) -> Result<(), Error> {
    let deal: Deal = diesel::delete(
        deals::table.filter(
            deals::id
                .eq(id)
                .and(deals::org_id.eq(org_id))
                .and(deals::cvr.eq(cvr)),
        ),
    )
    .returning(Deal::as_returning())
    .get_result(conn)
    .await?;
    announce(conn, &deal, "deleted").await
}

/// Sales figures of a period over the deals the caller may see.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct Metrics {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub open_deals: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub pipeline_value_ore: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub won: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub won_value_ore: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub lost: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub lost_value_ore: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub created: i64,
}

/// Open pipeline now; deals won, lost and created in `[from, to)`.
pub async fn metrics(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Metrics, Error> {
    diesel::sql_query(
        "SELECT count(*) FILTER (WHERE closed_at IS NULL) AS open_deals, \
           coalesce(sum(value_ore) FILTER (WHERE closed_at IS NULL), 0)::bigint AS pipeline_value_ore, \
           count(*) FILTER (WHERE closed_at >= $2 AND closed_at < $3 AND stage_outcome = 'won') AS won, \
           coalesce(sum(value_ore) FILTER (WHERE closed_at >= $2 AND closed_at < $3 AND stage_outcome = 'won'), 0)::bigint AS won_value_ore, \
           count(*) FILTER (WHERE closed_at >= $2 AND closed_at < $3 AND stage_outcome = 'lost') AS lost, \
           coalesce(sum(value_ore) FILTER (WHERE closed_at >= $2 AND closed_at < $3 AND stage_outcome = 'lost'), 0)::bigint AS lost_value_ore, \
           count(*) FILTER (WHERE created_at >= $2 AND created_at < $3) AS created \
         FROM (SELECT d.*, coalesce(s.outcome, CASE d.stage WHEN 'won' THEN 'won' WHEN 'lost' THEN 'lost' ELSE 'open' END) AS stage_outcome \
               FROM deals d LEFT JOIN pipeline_stages s ON s.org_id = d.org_id AND s.key = d.stage \
               WHERE d.org_id = $1) deals",
    )
    .bind::<diesel::sql_types::Uuid, _>(org_id)
    .bind::<diesel::sql_types::Date, _>(from)
    .bind::<diesel::sql_types::Date, _>(to)
    .get_result(conn)
    .await
}
