//! What every call to Billy.dk goes through: a token bucket per organization kept in the
//! database (so every instance draws from the same one, and a 429 from Billy.dk stops them
//! all), and an audit entry plus the day's usage for each call — without secrets.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Double, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use tekup_db::Pool;
use tekup_db::tenancy::Context;
use tekup_runtime::in_context;
use uuid::Uuid;

use crate::RateConfig;

/// Longest a call waits for the bucket before it gives up.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Takes one token from the organization's bucket, waiting while it is empty or blocked.
pub async fn acquire(pool: &Pool, org_id: Uuid, rate: &RateConfig) -> anyhow::Result<()> {
    #[derive(QueryableByName)]
    struct Wait {
        #[diesel(sql_type = Nullable<Double>)]
        wait: Option<f64>,
    }
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    loop {
        let wait: Wait = in_context!(pool, Context::System, |conn| {
            diesel::sql_query(
                "INSERT INTO billy.rate_limits (org_id, tokens, capacity, refill_per_sec) \
                 VALUES ($1, $2, $2, $3) ON CONFLICT (org_id) DO UPDATE \
                 SET capacity = EXCLUDED.capacity, refill_per_sec = EXCLUDED.refill_per_sec \
                 WHERE rate_limits.capacity <> EXCLUDED.capacity \
                    OR rate_limits.refill_per_sec <> EXCLUDED.refill_per_sec",
            )
            .bind::<diesel::sql_types::Uuid, _>(org_id)
            .bind::<Double, _>(rate.capacity)
            .bind::<Double, _>(rate.refill_per_sec)
            .execute(conn)
            .await?;
            // NULL wait: a token was taken. Otherwise the seconds until one is due.
            Ok::<_, tekup_runtime::Problem>(
                diesel::sql_query(
                    "WITH bucket AS ( \
                       SELECT least(capacity, tokens + extract(epoch FROM clock_timestamp() - updated_at) \
                                   * refill_per_sec) AS level, refill_per_sec, blocked_until \
                       FROM billy.rate_limits WHERE org_id = $1 FOR UPDATE), \
                     taken AS ( \
                       UPDATE billy.rate_limits r SET tokens = b.level - 1, updated_at = clock_timestamp() \
                       FROM bucket b WHERE r.org_id = $1 AND b.level >= 1 AND b.blocked_until <= clock_timestamp() \
                       RETURNING 1) \
                     SELECT CASE WHEN EXISTS (SELECT 1 FROM taken) THEN NULL ELSE \
                       greatest(extract(epoch FROM blocked_until - clock_timestamp()), \
                                (1 - level) / refill_per_sec, 0.01)::double precision END AS wait \
                     FROM bucket",
                )
                .bind::<diesel::sql_types::Uuid, _>(org_id)
                .get_result(conn)
                .await?,
            )
        })
        .map_err(crate::database)?;
        let Some(seconds) = wait.wait else {
            return Ok(());
        };
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("Billy.dk's rate limit for this organization did not free up in time");
        }
        tokio::time::sleep(Duration::from_secs_f64(seconds.clamp(0.01, 5.0))).await;
    }
}

/// After a 429: nobody calls for this organization until `retry_after` has passed.
pub async fn block(pool: &Pool, org_id: Uuid, retry_after: Duration) -> anyhow::Result<()> {
    in_context!(pool, Context::System, |conn| {
        diesel::sql_query(
            "UPDATE billy.rate_limits SET tokens = 0, updated_at = clock_timestamp(), \
             blocked_until = greatest(blocked_until, clock_timestamp() + $2 * interval '1 second') \
             WHERE org_id = $1",
        )
        .bind::<diesel::sql_types::Uuid, _>(org_id)
        .bind::<Double, _>(retry_after.as_secs_f64())
        .execute(conn)
        .await?;
        Ok::<_, tekup_runtime::Problem>(())
    })
    .map_err(crate::database)
}

/// One call, as audited.
pub struct Call<'a> {
    pub org_id: Uuid,
    pub operation: &'a str,
    pub method: &'a str,
    /// Without query string.
    pub path: &'a str,
    /// 0 when no answer came.
    pub status: u16,
    pub duration: Duration,
    pub attempt: u32,
    pub error_code: Option<&'a str>,
}

/// Records a call in the audit log and the day's usage.
pub async fn record(pool: &Pool, call: Call<'_>) -> anyhow::Result<()> {
    let ms = i32::try_from(call.duration.as_millis()).unwrap_or(i32::MAX);
    let failed = call.status == 0 || call.status >= 400;
    in_context!(pool, Context::System, |conn| {
        diesel::sql_query(
            "INSERT INTO billy.audit_logs (id, org_id, operation, method, path, status, duration_ms, \
             attempt, error_code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
        .bind::<diesel::sql_types::Uuid, _>(call.org_id)
        .bind::<Text, _>(call.operation)
        .bind::<Text, _>(call.method)
        .bind::<Text, _>(call.path)
        .bind::<Integer, _>(i32::from(call.status))
        .bind::<Integer, _>(ms)
        .bind::<Integer, _>(i32::try_from(call.attempt).unwrap_or(i32::MAX))
        .bind::<Nullable<Text>, _>(call.error_code)
        .execute(conn)
        .await?;
        diesel::sql_query(
            "INSERT INTO billy.usage_metrics (org_id, day, calls, errors, rate_limited, total_ms) \
             VALUES ($1, (now() AT TIME ZONE 'Europe/Copenhagen')::date, 1, $2, $3, $4) \
             ON CONFLICT (org_id, day) DO UPDATE SET calls = usage_metrics.calls + 1, \
               errors = usage_metrics.errors + EXCLUDED.errors, \
               rate_limited = usage_metrics.rate_limited + EXCLUDED.rate_limited, \
               total_ms = usage_metrics.total_ms + EXCLUDED.total_ms",
        )
        .bind::<diesel::sql_types::Uuid, _>(call.org_id)
        .bind::<Integer, _>(i32::from(failed))
        .bind::<Integer, _>(i32::from(call.status == 429))
        .bind::<diesel::sql_types::BigInt, _>(i64::from(ms))
        .execute(conn)
        .await?;
        Ok::<_, tekup_runtime::Problem>(())
    })
    .map_err(crate::database)
}
