use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tekup_db::limit::LimitedDsl;
use uuid::Uuid;

use crate::schema::{activities, tasks};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = activities)]
pub struct Activity {
    pub id: Uuid,
    pub org_id: Uuid,
    pub cvr: String,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub contact_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub struct NewActivity<'a> {
    pub kind: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub contact_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    pub by: Uuid,
}

pub async fn record(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    new: NewActivity<'_>,
) -> Result<Activity, Error> {
    let activity: Activity = diesel::insert_into(activities::table)
        .values((
            activities::id.eq(Uuid::now_v7()),
            activities::org_id.eq(org_id),
            activities::cvr.eq(cvr),
            activities::kind.eq(new.kind),
            activities::subject.eq(new.subject),
            activities::body.eq(new.body),
            activities::contact_id.eq(new.contact_id),
            activities::deal_id.eq(new.deal_id),
            activities::occurred_at.eq(new.occurred_at),
            activities::created_by.eq(new.by),
        ))
        .returning(Activity::as_returning())
        .get_result(conn)
        .await?;
    crate::events::publish(
        conn,
        "activity",
        org_id,
        cvr,
        activity.id,
        &tekup_proto::crm::v1::ActivityRecorded {
            activity_id: activity.id.to_string(),
            org_id: org_id.to_string(),
            cvr: cvr.to_owned(),
            kind: activity.kind.clone(),
            subject: activity.subject.clone(),
            body: activity.body.clone(),
            occurred_at: activity.occurred_at.to_rfc3339(),
        },
    )
    .await?;
    Ok(activity)
}

/// A company's activities, newest first.
pub async fn list(
    conn: &AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    kind: Option<&str>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Activity>, Error> {
    let mut query = activities::table
        .filter(activities::org_id.eq(org_id).and(activities::cvr.eq(cvr)))
        .select(Activity::as_select())
        .order((activities::occurred_at.desc(), activities::id.desc()))
        .into_boxed();
    if let Some(kind) = kind {
        query = query.filter(activities::kind.eq(kind.to_owned()));
    }
    if let Some((at, id)) = before {
        query = query.filter(
            activities::occurred_at
                .lt(at)
                .or(activities::occurred_at.eq(at).and(activities::id.lt(id))),
        );
    }
    query.limited(limit).load(&mut { conn }).await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tasks)]
pub struct Task {
    pub id: Uuid,
    pub org_id: Uuid,
    pub cvr: String,
    pub title: String,
    pub due_date: Option<NaiveDate>,
    pub assignee_id: Option<Uuid>,
    pub status: String,
    pub deal_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

pub struct NewTask<'a> {
    pub title: &'a str,
    pub due_date: Option<NaiveDate>,
    pub assignee_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub by: Uuid,
}

pub async fn add_task(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    new: NewTask<'_>,
) -> Result<Task, Error> {
    diesel::insert_into(tasks::table)
        .values((
            tasks::id.eq(Uuid::now_v7()),
            tasks::org_id.eq(org_id),
            tasks::cvr.eq(cvr),
            tasks::title.eq(new.title),
            tasks::due_date.eq(new.due_date),
            tasks::assignee_id.eq(new.assignee_id),
            tasks::deal_id.eq(new.deal_id),
            tasks::created_by.eq(new.by),
        ))
        .returning(Task::as_returning())
        .get_result(conn)
        .await
}

/// Sets a task's status; `completed_at` follows it.
pub async fn set_task_status(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    id: Uuid,
    status: &str,
) -> Result<Task, Error> {
    let completed_at = (status != "open").then(Utc::now);
    diesel::update(
        tasks::table.filter(
            tasks::id
                .eq(id)
                .and(tasks::org_id.eq(org_id))
                .and(tasks::cvr.eq(cvr)),
        ),
    )
    .set((
        tasks::status.eq(status),
        tasks::completed_at.eq(completed_at),
    ))
    .returning(Task::as_returning())
    .get_result(conn)
    .await
}

/// A company's tasks by due date (undated last).
pub async fn tasks(
    conn: &AsyncPgConnection,
    org_id: Uuid,
    cvr: &str,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Task>, Error> {
    let mut query = tasks::table
        .filter(tasks::org_id.eq(org_id).and(tasks::cvr.eq(cvr)))
        .select(Task::as_select())
        .order((tasks::due_date.asc().nulls_last(), tasks::id))
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(tasks::status.eq(status.to_owned()));
    }
    query.limited(limit).load(&mut { conn }).await
}
