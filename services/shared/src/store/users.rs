use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tekup_db::limit::LimitedDsl;
use tekup_proto::shared::v1::{UserCreated, UserUpdated};
use uuid::Uuid;

use crate::events;
use crate::schema::users;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub permissions: serde_json::Value,
    pub active: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewUser<'a> {
    pub org_id: Uuid,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub role: &'a str,
}

pub async fn create(conn: &mut AsyncPgConnection, new: NewUser<'_>) -> Result<User, Error> {
    let user: User = diesel::insert_into(users::table)
        .values((
            users::id.eq(Uuid::now_v7()),
            users::org_id.eq(new.org_id),
            users::email.eq(new.email),
            users::password_hash.eq(new.password_hash),
            users::first_name.eq(new.first_name),
            users::last_name.eq(new.last_name),
            users::role.eq(new.role),
        ))
        .returning(User::as_returning())
        .get_result(conn)
        .await?;
    events::user(
        conn,
        user.org_id,
        user.id,
        &UserCreated {
            user_id: user.id.to_string(),
            org_id: user.org_id.to_string(),
            email: user.email.clone(),
            role: user.role.clone(),
        },
    )
    .await?;
    Ok(user)
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<User, Error> {
    users::table
        .find(id)
        .select(User::as_select())
        .get_result(conn)
        .await
}

pub async fn find_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> Result<Option<User>, Error> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .get_result(conn)
        .await
        .optional()
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<User>, Error> {
    let mut query = users::table
        .select(User::as_select())
        .order(users::id)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(users::id.gt(after));
    }
    query.limited(limit).load(conn).await
}

#[derive(Default)]
pub struct Changes {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Option<String>,
    pub active: Option<bool>,
}

/// Applies `changes`; `NotFound` when the user is not visible for writing.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: Changes,
) -> Result<User, Error> {
    let user: User = diesel::update(users::table.find(id))
        .set((
            changes.first_name.map(|v| users::first_name.eq(v)),
            changes.last_name.map(|v| users::last_name.eq(v)),
            changes.role.map(|v| users::role.eq(v)),
            changes.active.map(|v| users::active.eq(v)),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .returning(User::as_returning())
        .get_result(conn)
        .await?;
    events::user(
        conn,
        user.org_id,
        user.id,
        &UserUpdated {
            user_id: user.id.to_string(),
            org_id: user.org_id.to_string(),
            role: user.role.clone(),
            active: user.active,
        },
    )
    .await?;
    Ok(user)
}

pub async fn touch_login(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(), Error> {
    diesel::update(users::table.find(id))
        .set(users::last_login_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}
