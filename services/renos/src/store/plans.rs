//! Recurring cleaning plans, bookings and the executions of the work.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Time, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SqlUuid;
use crate::events::Scope;

// Wall-clock times of plans are in Europe/Copenhagen: PostgreSQL's `AT TIME ZONE` turns a
// local date and time into the instant, summer time included.

#[derive(Debug, Clone, QueryableByName)]
pub struct Booking {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub cvr: Option<String>,
    #[diesel(sql_type = SqlUuid)]
    pub customer_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub service_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub plan_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Date>)]
    pub occurrence_date: Option<NaiveDate>,
    #[diesel(sql_type = Timestamptz)]
    pub starts_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub ends_at: DateTime<Utc>,
    /// The start as wall-clock time in Copenhagen, e.g. `2026-10-27T09:00:00`.
    #[diesel(sql_type = Text)]
    pub local_start: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub cleaner_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub price_ore: i64,
    #[diesel(sql_type = BigInt)]
    pub labour_ore: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub invoice_id: Option<Uuid>,
}

const BOOKING: &str = "b.id, b.org_id, b.cvr, b.customer_id, b.service_id, b.plan_id, \
     (SELECT pb.occurrence_date FROM renos.cleaning_plan_bookings pb WHERE pb.booking_id = b.id) \
       AS occurrence_date, b.starts_at, b.ends_at, \
     to_char(b.starts_at AT TIME ZONE 'Europe/Copenhagen', 'YYYY-MM-DD\"T\"HH24:MI:SS') AS local_start, \
     b.cleaner_id, b.status, b.price_ore, b.labour_ore, b.invoice_id";

pub struct NewPlan<'a> {
    pub scope: &'a Scope,
    pub customer_id: Uuid,
    pub service_id: Uuid,
    pub quote_id: Option<Uuid>,
    pub frequency: &'a str,
    pub start_date: NaiveDate,
    pub until_date: NaiveDate,
    pub local_time: NaiveTime,
    pub duration_minutes: i32,
    pub cleaner_id: Option<Uuid>,
    pub price_per_visit_ore: i64,
    pub labour_per_visit_ore: i64,
}

/// Creates a plan and its bookings, one per occurrence from `start_date` to `until_date`, each
/// at `local_time` in Copenhagen (so 09:00 stays 09:00 across summer time). Returns the plan's
/// id and its bookings.
pub async fn create_plan(
    conn: &mut AsyncPgConnection,
    new: NewPlan<'_>,
) -> Result<(Uuid, Vec<Booking>), Error> {
    let plan_id = Uuid::now_v7();
    let (days, months) = match new.frequency {
        "weekly" => (7, 0),
        "biweekly" => (14, 0),
        _ => (0, 1),
    };
    diesel::sql_query(
        "INSERT INTO renos.cleaning_plans (id, org_id, cvr, customer_id, service_id, quote_id, \
         frequency, start_date, until_date, local_time, duration_minutes, cleaner_id, \
         price_per_visit_ore, labour_per_visit_ore) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind::<SqlUuid, _>(plan_id)
    .bind::<SqlUuid, _>(new.scope.org_id)
    .bind::<Nullable<Text>, _>(new.scope.cvr.as_deref())
    .bind::<SqlUuid, _>(new.customer_id)
    .bind::<SqlUuid, _>(new.service_id)
    .bind::<Nullable<SqlUuid>, _>(new.quote_id)
    .bind::<Text, _>(new.frequency)
    .bind::<Date, _>(new.start_date)
    .bind::<Date, _>(new.until_date)
    .bind::<Time, _>(new.local_time)
    .bind::<Integer, _>(new.duration_minutes)
    .bind::<Nullable<SqlUuid>, _>(new.cleaner_id)
    .bind::<BigInt, _>(new.price_per_visit_ore)
    .bind::<BigInt, _>(new.labour_per_visit_ore)
    .execute(conn)
    .await?;
    // Occurrence n is start + n × step (not step after step, so the 31st stays the 31st where
    // a month has one); its wall-clock start becomes an instant in Copenhagen's time zone.
    diesel::sql_query(
        "WITH p AS (SELECT * FROM renos.cleaning_plans WHERE id = $1), \
         occ AS (SELECT (p.start_date + n * make_interval(days => $2, months => $3))::date AS day \
                 FROM p, generate_series(0, 1000) AS n \
                 WHERE (p.start_date + n * make_interval(days => $2, months => $3))::date <= p.until_date), \
         slots AS MATERIALIZED (SELECT occ.day, uuidv7() AS booking_id, \
                   (occ.day + p.local_time) AT TIME ZONE 'Europe/Copenhagen' AS starts_at, \
                   p.org_id, p.cvr, p.customer_id, p.service_id, p.duration_minutes, \
                   p.cleaner_id, p.price_per_visit_ore, p.labour_per_visit_ore \
                   FROM occ, p), \
         b AS (INSERT INTO renos.bookings (id, org_id, cvr, customer_id, service_id, plan_id, \
                 starts_at, ends_at, cleaner_id, price_ore, labour_ore) \
               SELECT s.booking_id, s.org_id, s.cvr, s.customer_id, s.service_id, $1, s.starts_at, \
                 s.starts_at + make_interval(mins => s.duration_minutes), s.cleaner_id, \
                 s.price_per_visit_ore, s.labour_per_visit_ore FROM slots s RETURNING id) \
         INSERT INTO renos.cleaning_plan_bookings (plan_id, booking_id, org_id, cvr, occurrence_date) \
         SELECT $1, s.booking_id, s.org_id, s.cvr, s.day FROM slots s",
    )
    .bind::<SqlUuid, _>(plan_id)
    .bind::<Integer, _>(days)
    .bind::<Integer, _>(months)
    .execute(conn)
    .await?;
    let bookings = plan_bookings(conn, plan_id).await?;
    if let (Some(first), Some(last)) = (bookings.as_slice().first(), bookings.as_slice().last()) {
        crate::events::publish(
            conn,
            "plan",
            new.scope,
            plan_id,
            &tekup_proto::renos::v1::PlanScheduled {
                plan_id: plan_id.to_string(),
                org_id: new.scope.org_id.to_string(),
                cvr: new.scope.cvr.clone().unwrap_or_default(),
                customer_id: new.customer_id.to_string(),
                frequency: new.frequency.to_owned(),
                bookings: i32::try_from(bookings.len()).unwrap_or(i32::MAX),
                first_at: first.starts_at.to_rfc3339(),
                last_at: last.starts_at.to_rfc3339(),
            },
        )
        .await?;
    }
    Ok((plan_id, bookings))
}

pub async fn plan_bookings(
    conn: &mut AsyncPgConnection,
    plan_id: Uuid,
) -> Result<Vec<Booking>, Error> {
    diesel::sql_query(format!(
        "SELECT {BOOKING} FROM renos.bookings b WHERE b.plan_id = $1 ORDER BY b.starts_at"
    ))
    .bind::<SqlUuid, _>(plan_id)
    .load(conn)
    .await
}

pub async fn find_booking(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Booking, Error> {
    diesel::sql_query(format!(
        "SELECT {BOOKING} FROM renos.bookings b WHERE b.id = $1 FOR UPDATE OF b"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
}

pub struct NewBooking<'a> {
    pub scope: &'a Scope,
    pub customer_id: Uuid,
    pub service_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub cleaner_id: Option<Uuid>,
    pub price_ore: i64,
    pub labour_ore: i64,
}

pub async fn create_booking(
    conn: &mut AsyncPgConnection,
    new: NewBooking<'_>,
) -> Result<Booking, Error> {
    let id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO renos.bookings (id, org_id, cvr, customer_id, service_id, starts_at, ends_at, \
         cleaner_id, price_ore, labour_ore) \
         VALUES ($1, $2, $3, $4, $5, $6, $6 + make_interval(mins => $7), $8, $9, $10)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(new.scope.org_id)
    .bind::<Nullable<Text>, _>(new.scope.cvr.as_deref())
    .bind::<SqlUuid, _>(new.customer_id)
    .bind::<SqlUuid, _>(new.service_id)
    .bind::<Timestamptz, _>(new.starts_at)
    .bind::<Integer, _>(new.duration_minutes)
    .bind::<Nullable<SqlUuid>, _>(new.cleaner_id)
    .bind::<BigInt, _>(new.price_ore)
    .bind::<BigInt, _>(new.labour_ore)
    .execute(conn)
    .await?;
    let booking = find_booking(conn, id).await?;
    announce(conn, &booking, "created").await?;
    Ok(booking)
}

/// Moves a booking to wall-clock `local_time` (on `day`, or its own day) and, with `future`,
/// every later scheduled occurrence of its plan too (and the plan's time for what it generates).
pub async fn move_booking(
    conn: &mut AsyncPgConnection,
    booking: &Booking,
    day: Option<NaiveDate>,
    local_time: NaiveTime,
    future: bool,
) -> Result<Vec<Booking>, Error> {
    let moved: Vec<IdRow> = if future && booking.plan_id.is_some() {
        diesel::sql_query(
            "WITH targets AS (SELECT pb.booking_id, pb.occurrence_date FROM renos.cleaning_plan_bookings pb \
               JOIN renos.bookings b ON b.id = pb.booking_id \
               WHERE pb.plan_id = $1 AND pb.occurrence_date >= $2 AND b.status = 'scheduled'), \
             plan AS (UPDATE renos.cleaning_plans SET local_time = $3 WHERE id = $1) \
             UPDATE renos.bookings b SET \
               starts_at = (t.occurrence_date + $3::time) AT TIME ZONE 'Europe/Copenhagen', \
               ends_at = ((t.occurrence_date + $3::time) AT TIME ZONE 'Europe/Copenhagen') + (b.ends_at - b.starts_at) \
             FROM targets t WHERE b.id = t.booking_id RETURNING b.id",
        )
        .bind::<Nullable<SqlUuid>, _>(booking.plan_id)
        .bind::<Date, _>(booking.occurrence_date.unwrap_or(booking.starts_at.date_naive()))
        .bind::<Time, _>(local_time)
        .load(conn)
        .await?
    } else {
        diesel::sql_query(
            "UPDATE renos.bookings SET \
               starts_at = (coalesce($2, (starts_at AT TIME ZONE 'Europe/Copenhagen')::date) + $3::time) \
                 AT TIME ZONE 'Europe/Copenhagen', \
               ends_at = ((coalesce($2, (starts_at AT TIME ZONE 'Europe/Copenhagen')::date) + $3::time) \
                 AT TIME ZONE 'Europe/Copenhagen') + (ends_at - starts_at) \
             WHERE id = $1 RETURNING id",
        )
        .bind::<SqlUuid, _>(booking.id)
        .bind::<Nullable<Date>, _>(day)
        .bind::<Time, _>(local_time)
        .load(conn)
        .await?
    };
    let mut out = Vec::new();
    for row in moved {
        let b = find_booking(conn, row.id).await?;
        announce(conn, &b, "moved").await?;
        out.push(b);
    }
    out.sort_by_key(|b| b.starts_at);
    Ok(out)
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Records the work done on a booking, which completes it.
pub async fn record_execution(
    conn: &mut AsyncPgConnection,
    booking: &Booking,
    cleaner_id: Uuid,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    notes: &str,
) -> Result<Option<(Uuid, Booking)>, Error> {
    // The same work sent again (a retried request) is recorded once: then nothing is inserted.
    let id = Uuid::now_v7();
    let inserted = diesel::sql_query(
        "INSERT INTO renos.task_executions (id, org_id, cvr, booking_id, cleaner_id, started_at, \
         finished_at, notes) SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE NOT EXISTS ( \
           SELECT 1 FROM renos.task_executions \
            WHERE booking_id = $4 AND cleaner_id = $5 AND started_at = $6)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(booking.org_id)
    .bind::<Nullable<Text>, _>(booking.cvr.as_deref())
    .bind::<SqlUuid, _>(booking.id)
    .bind::<SqlUuid, _>(cleaner_id)
    .bind::<Timestamptz, _>(started_at)
    .bind::<Timestamptz, _>(finished_at)
    .bind::<Text, _>(notes)
    .execute(conn)
    .await?;
    if inserted == 0 {
        return Ok(None);
    }
    // Completed by its first recorded work (more cleaners may record theirs after it).
    if booking.status == "scheduled" {
        diesel::sql_query("UPDATE renos.bookings SET status = 'completed' WHERE id = $1")
            .bind::<SqlUuid, _>(booking.id)
            .execute(conn)
            .await?;
    }
    let completed = find_booking(conn, booking.id).await?;
    if booking.status == "scheduled" {
        announce(conn, &completed, "completed").await?;
    }
    Ok(Some((id, completed)))
}

async fn announce(conn: &mut AsyncPgConnection, b: &Booking, change: &str) -> Result<(), Error> {
    crate::events::publish(
        conn,
        "booking",
        &Scope {
            org_id: b.org_id,
            cvr: b.cvr.clone(),
        },
        b.id,
        &tekup_proto::renos::v1::BookingChanged {
            booking_id: b.id.to_string(),
            org_id: b.org_id.to_string(),
            cvr: b.cvr.clone().unwrap_or_default(),
            customer_id: b.customer_id.to_string(),
            status: b.status.clone(),
            starts_at: b.starts_at.to_rfc3339(),
            change: change.to_owned(),
        },
    )
    .await?;
    Ok(())
}
