//! Cron schedules on Copenhagen's wall clock. Five fields (minute, hour, day of month, month,
//! day of week: `*`, `5`, `1-5`, `*/15`, `9-17/2`, lists, `MON`..`SUN`, `JAN`..`DEC`); when both
//! day fields are restricted either may match, as in every cron.
//!
//! Across daylight saving time a schedule keeps its wall-clock time: `0 9 * * *` runs at 09:00
//! in winter and in summer. A time in the skipped spring hour runs when the clocks jump (03:00
//! CEST); a time in the repeated autumn hour runs once, at its first occurrence.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use tekup_types::copenhagen::{self, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    days: Vec<u32>,
    months: Vec<u32>,
    weekdays: Vec<u32>,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(text: &str, names: &[&str], base: u32, field: &str) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(u32::try_from(i).unwrap_or(0) + base);
    }
    text.parse()
        .map_err(|_| format!("{field}: {text:?} is not a number"))
}

fn field(
    spec: &str,
    min: u32,
    max: u32,
    names: &[&str],
    base: u32,
    name: &str,
) -> Result<(Vec<u32>, bool), String> {
    let mut values = Vec::new();
    for part in spec.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (
                range,
                step.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{name}: step {step:?} must be a positive number"))?,
            ),
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, base, name)?, value(b, names, base, name)?)
        } else {
            let v = value(range, names, base, name)?;
            (v, if part.contains('/') { max } else { v })
        };
        // Sunday may be written 7.
        let (low, high) = if name == "day of week" {
            (low, high.min(7))
        } else {
            (low, high)
        };
        if low < min || high > max || low > high {
            return Err(format!("{name}: {range:?} is outside {min}-{max}"));
        }
        values.extend((low..=high).step_by(step as usize));
    }
    if name == "day of week" {
        for v in &mut values {
            *v %= 7;
        }
    }
    values.sort_unstable();
    values.dedup();
    Ok((values, spec != "*"))
}

impl Cron {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let fields: Vec<&str> = spec.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(format!(
                "a cron expression has 5 fields (minute hour day month weekday), this has {}",
                fields.len()
            ));
        };
        let (minutes, _) = field(minute, 0, 59, &[], 0, "minute")?;
        let (hours, _) = field(hour, 0, 23, &[], 0, "hour")?;
        let (days, days_restricted) = field(day, 1, 31, &[], 0, "day of month")?;
        let (months, _) = field(month, 1, 12, &MONTHS, 1, "month")?;
        let (weekdays, weekdays_restricted) = field(weekday, 0, 7, &WEEKDAYS, 0, "day of week")?;
        Ok(Self {
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted,
            weekdays_restricted,
        })
    }

    fn matches_day(&self, date: NaiveDate) -> bool {
        if !self.months.contains(&date.month()) {
            return false;
        }
        let day = self.days.contains(&date.day());
        let weekday = self
            .weekdays
            .contains(&date.weekday().num_days_from_sunday());
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        }
    }

    /// The first run strictly after `after`; `None` if none within five years (`0 0 30 2 *`).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // A day early: the wall clock of `after`'s day may start before `after` in UTC.
        let first = copenhagen::date(after) - TimeDelta::days(1);
        for offset in 0..(5 * 366) {
            let date = first + TimeDelta::days(offset);
            if !self.matches_day(date) {
                continue;
            }
            for &hour in &self.hours {
                for &minute in &self.minutes {
                    let wall = date.and_hms_opt(hour, minute, 0)?;
                    let at = match copenhagen::instant(wall) {
                        Instant::Single(t) | Instant::Twice(t, _) | Instant::Skipped(t) => t,
                    };
                    if at > after {
                        return Some(at);
                    }
                }
            }
        }
        None
    }

    /// Every run in `(after, until]`, at most `limit`.
    pub fn between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut at = after;
        while out.len() < limit {
            match self.next_after(at) {
                Some(next) if next <= until => {
                    out.push(next);
                    at = next;
                }
                _ => break,
            }
        }
        out
    }
}

/// Whether a run at `at` falls on a Danish public holiday (Copenhagen's calendar date).
pub fn on_holiday(at: DateTime<Utc>) -> bool {
    copenhagen::holiday(copenhagen::date(at)).is_some()
}

/// `at` truncated to the minute, for comparing occurrences.
pub fn minute(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(spec: &str, after: &str) -> String {
        Cron::parse(spec)
            .unwrap()
            .next_after(utc(after))
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn fields_parse_with_ranges_steps_lists_and_names() {
        let c = Cron::parse("*/15 9-17/4 1,15 JAN-MAR mon-fri").unwrap();
        assert_eq!(c.minutes, [0, 15, 30, 45]);
        assert_eq!(c.hours, [9, 13, 17]);
        assert_eq!(c.days, [1, 15]);
        assert_eq!(c.months, [1, 2, 3]);
        assert_eq!(c.weekdays, [1, 2, 3, 4, 5]);
        assert_eq!(Cron::parse("0 0 * * 7").unwrap().weekdays, [0]);
        for (bad, why) in [
            ("* * * *", "5 fields"),
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("*/0 * * * *", "step"),
            ("x * * * *", "not a number"),
        ] {
            let e = Cron::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn a_daily_run_keeps_its_wall_clock_time_across_dst() {
        // 09:00 Copenhagen is 08:00 UTC in winter and 07:00 UTC in summer.
        assert_eq!(
            next("0 9 * * *", "2026-03-28T09:00:00Z"),
            "2026-03-29T07:00:00+00:00"
        );
        assert_eq!(
            next("0 9 * * *", "2026-10-24T08:00:00Z"),
            "2026-10-25T08:00:00+00:00"
        );
    }

    #[test]
    fn the_skipped_hour_runs_at_the_jump_and_the_repeated_hour_runs_once() {
        // 02:30 does not exist on 29 March 2026: the run happens when the clocks jump.
        assert_eq!(
            next("30 2 * * *", "2026-03-28T12:00:00Z"),
            "2026-03-29T01:00:00+00:00"
        );
        // 02:30 happens twice on 25 October 2026: once, at the first (00:30 UTC).
        let c = Cron::parse("30 2 * * *").unwrap();
        let runs = c.between(utc("2026-10-24T12:00:00Z"), utc("2026-10-26T12:00:00Z"), 10);
        assert_eq!(
            runs.iter().map(|r| r.to_rfc3339()).collect::<Vec<_>>(),
            ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]
        );
        // Every 30 minutes across the autumn night: the repeated hour is not run twice.
        let c = Cron::parse("*/30 * * * *").unwrap();
        let runs = c.between(utc("2026-10-24T23:45:00Z"), utc("2026-10-25T02:15:00Z"), 20);
        assert_eq!(
            runs.iter().map(|r| r.to_rfc3339()).collect::<Vec<_>>(),
            [
                "2026-10-25T00:00:00+00:00", // 02:00 CEST
                "2026-10-25T00:30:00+00:00", // 02:30 CEST
                "2026-10-25T02:00:00+00:00", // 03:00 CET
            ]
        );
    }

    #[test]
    fn either_day_field_may_match_and_impossible_dates_never_run() {
        // The 1st of the month or any Monday.
        assert_eq!(
            next("0 12 1 * MON", "2026-11-24T12:00:00Z"),
            "2026-11-30T11:00:00+00:00"
        );
        assert!(
            Cron::parse("0 0 30 2 *")
                .unwrap()
                .next_after(utc("2026-01-01T00:00:00Z"))
                .is_none()
        );
    }

    #[test]
    fn holidays_are_recognised_on_the_copenhagen_date() {
        // 23:30 UTC on 24 December is already Christmas Day in Copenhagen.
        assert!(on_holiday(utc("2026-12-24T23:30:00Z")));
        assert!(!on_holiday(utc("2026-12-24T22:30:00Z")));
        assert!(on_holiday(utc("2026-04-03T08:00:00Z")));
    }
}
