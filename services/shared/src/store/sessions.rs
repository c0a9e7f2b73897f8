//! Refresh tokens in families, and the bookkeeping of failed logins. All in the system
//! context: no user is known yet, or the token is what proves who it is.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{login_failures, refresh_tokens};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub replaced_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn issue(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    family_id: Uuid,
    hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), Error> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Uuid::now_v7()),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The token with this hash, locked for the rotation that follows.
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> Result<Option<RefreshToken>, Error> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(RefreshToken::as_select())
        .for_update()
        .get_result(conn)
        .await
        .optional()
}

pub async fn mark_replaced(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(), Error> {
    diesel::update(refresh_tokens::table.find(id))
        .set(refresh_tokens::replaced_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn revoke_family(conn: &mut AsyncPgConnection, family_id: Uuid) -> Result<usize, Error> {
    diesel::update(
        refresh_tokens::table.filter(
            refresh_tokens::family_id
                .eq(family_id)
                .and(refresh_tokens::revoked_at.is_null()),
        ),
    )
    .set(refresh_tokens::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}

pub async fn revoke_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<usize, Error> {
    diesel::update(
        refresh_tokens::table.filter(
            refresh_tokens::user_id
                .eq(user_id)
                .and(refresh_tokens::revoked_at.is_null()),
        ),
    )
    .set(refresh_tokens::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}

/// Failed logins for the account and from the source within the window.
pub async fn recent_failures(
    conn: &mut AsyncPgConnection,
    email: &str,
    source: &str,
    since: DateTime<Utc>,
) -> Result<(i64, i64), Error> {
    let by_account = login_failures::table
        .filter(
            login_failures::email
                .eq(email)
                .and(login_failures::failed_at.gt(since)),
        )
        .count()
        .get_result(conn)
        .await?;
    let by_source = login_failures::table
        .filter(
            login_failures::source
                .eq(source)
                .and(login_failures::failed_at.gt(since)),
        )
        .count()
        .get_result(conn)
        .await?;
    Ok((by_account, by_source))
}

/// Holds, until the transaction ends, the locks of login attempts for `email` and from
/// `source`: the attempts of one account or one source are counted one after another, so that
/// attempts sent in parallel cannot all see the count below the limit.
pub async fn lock_attempts(
    conn: &mut AsyncPgConnection,
    email: &str,
    source: &str,
) -> Result<(), Error> {
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(hashtextextended('login-email:' || $1, 0)), \
                pg_advisory_xact_lock(hashtextextended('login-source:' || $2, 0))",
    )
    .bind::<diesel::sql_types::Text, _>(email)
    .bind::<diesel::sql_types::Text, _>(source)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    email: &str,
    source: &str,
) -> Result<(), Error> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::email.eq(email),
            login_failures::source.eq(source),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn clear_failures(conn: &mut AsyncPgConnection, email: &str) -> Result<(), Error> {
    diesel::delete(login_failures::table.filter(login_failures::email.eq(email)))
        .execute(conn)
        .await?;
    Ok(())
}
