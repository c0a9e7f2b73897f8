//! Time in Copenhagen and the Danish public holidays, without a time-zone database.
//!
//! Denmark keeps the EU rule since 1996: CET (UTC+1), and CEST (UTC+2) from 01:00 UTC on the
//! last Sunday of March to 01:00 UTC on the last Sunday of October. So local 02:00–03:00 on
//! the spring Sunday does not exist, and local 02:00–03:00 on the autumn Sunday happens twice.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Utc, Weekday};

/// 01:00 UTC on the last Sunday of `month` in `year`.
fn switch(year: i32, month: u32) -> Option<DateTime<Utc>> {
    let first_next = NaiveDate::from_ymd_opt(year, month + 1, 1)?;
    let last = first_next - TimeDelta::days(1);
    let back = i64::from(last.weekday().num_days_from_sunday());
    Some(
        (last - TimeDelta::days(back))
            .and_hms_opt(1, 0, 0)?
            .and_utc(),
    )
}

/// Whether summer time (CEST) is in force at `at`.
pub fn is_summer(at: DateTime<Utc>) -> bool {
    matches!((switch(at.year(), 3), switch(at.year(), 10)),
        (Some(start), Some(end)) if at >= start && at < end)
}

/// Copenhagen's offset from UTC at `at`.
pub fn offset(at: DateTime<Utc>) -> TimeDelta {
    TimeDelta::hours(if is_summer(at) { 2 } else { 1 })
}

/// The wall-clock time in Copenhagen at `at`.
pub fn local(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc() + offset(at)
}

/// The calendar date in Copenhagen at `at`.
pub fn date(at: DateTime<Utc>) -> NaiveDate {
    local(at).date()
}

/// What a Copenhagen wall-clock time is in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instant {
    /// The usual case: one instant.
    Single(DateTime<Utc>),
    /// The autumn hour that happens twice: first in summer time, then in winter time.
    Twice(DateTime<Utc>, DateTime<Utc>),
    /// The spring hour that is skipped; holds the instant the clocks jumped at.
    Skipped(DateTime<Utc>),
}

/// The instant(s) of wall-clock time `wall` in Copenhagen.
pub fn instant(wall: NaiveDateTime) -> Instant {
    let summer = (wall - TimeDelta::hours(2)).and_utc();
    let winter = (wall - TimeDelta::hours(1)).and_utc();
    match (local(summer) == wall, local(winter) == wall) {
        (true, true) => Instant::Twice(summer, winter),
        (true, false) => Instant::Single(summer),
        (false, true) => Instant::Single(winter),
        // In the gap: both readings fall on the far side of the switch at 01:00 UTC.
        (false, false) => Instant::Skipped(switch(wall.year(), 3).unwrap_or(winter)),
    }
}

/// Easter Sunday of `year` (the Gregorian computus of Meeus/Jones/Butcher).
pub fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The Danish public holidays (helligdage) of `year` with their names, in date order: New
/// Year's Day, Maundy Thursday, Good Friday, Easter Sunday and Monday, Great Prayer Day (until
/// its abolition in 2024), Ascension Day, Whit Sunday and Monday, Christmas Day and Boxing Day.
pub fn holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut days = Vec::with_capacity(11);
    let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day);
    if let Some(d) = fixed(1, 1) {
        days.push((d, "Nytårsdag"));
    }
    if let Some(easter) = easter(year) {
        let after = |n| easter + TimeDelta::days(n);
        days.push((after(-3), "Skærtorsdag"));
        days.push((after(-2), "Langfredag"));
        days.push((easter, "Påskedag"));
        days.push((after(1), "2. påskedag"));
        if year < 2024 {
            days.push((after(26), "Store bededag"));
        }
        days.push((after(39), "Kristi himmelfartsdag"));
        days.push((after(49), "Pinsedag"));
        days.push((after(50), "2. pinsedag"));
    }
    for (month, day, name) in [(12, 25, "Juledag"), (12, 26, "2. juledag")] {
        if let Some(d) = fixed(month, day) {
            days.push((d, name));
        }
    }
    days
}

/// The holiday `date` is, if one.
pub fn holiday(date: NaiveDate) -> Option<&'static str> {
    holidays(date.year())
        .into_iter()
        .find(|(d, _)| *d == date)
        .map(|(_, name)| name)
}

/// Whether `date` is a working day: Monday to Friday and not a public holiday.
pub fn is_working_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && holiday(date).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn wall(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn summer_time_follows_the_eu_rule() {
        // 2026: last Sunday of March is the 29th, of October the 25th.
        assert!(!is_summer(utc("2026-03-29T00:59:59Z")));
        assert!(is_summer(utc("2026-03-29T01:00:00Z")));
        assert!(is_summer(utc("2026-10-25T00:59:59Z")));
        assert!(!is_summer(utc("2026-10-25T01:00:00Z")));
        assert_eq!(date(utc("2026-06-30T22:30:00Z")).to_string(), "2026-07-01");
        assert_eq!(date(utc("2026-12-31T22:30:00Z")).to_string(), "2026-12-31");
    }

    #[test]
    fn wall_clock_times_map_to_one_two_or_no_instants() {
        assert_eq!(
            instant(wall("2026-07-01 09:00")),
            Instant::Single(utc("2026-07-01T07:00:00Z"))
        );
        assert_eq!(
            instant(wall("2026-01-05 09:00")),
            Instant::Single(utc("2026-01-05T08:00:00Z"))
        );
        assert_eq!(
            instant(wall("2026-03-29 02:30")),
            Instant::Skipped(utc("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            instant(wall("2026-10-25 02:30")),
            Instant::Twice(utc("2026-10-25T00:30:00Z"), utc("2026-10-25T01:30:00Z"))
        );
    }

    #[test]
    fn danish_holidays_follow_easter() {
        let names = |year| {
            holidays(year)
                .into_iter()
                .map(|(d, n)| format!("{d} {n}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(2026),
            [
                "2026-01-01 Nytårsdag",
                "2026-04-02 Skærtorsdag",
                "2026-04-03 Langfredag",
                "2026-04-05 Påskedag",
                "2026-04-06 2. påskedag",
                "2026-05-14 Kristi himmelfartsdag",
                "2026-05-24 Pinsedag",
                "2026-05-25 2. pinsedag",
                "2026-12-25 Juledag",
                "2026-12-26 2. juledag",
            ]
        );
        // Store bededag was a holiday until 2023 (the fourth Friday after Easter).
        assert_eq!(
            holiday(NaiveDate::from_ymd_opt(2023, 5, 5).unwrap()),
            Some("Store bededag")
        );
        assert_eq!(holiday(NaiveDate::from_ymd_opt(2024, 4, 26).unwrap()), None);
        assert_eq!(easter(2027).unwrap().to_string(), "2027-03-28");
        assert!(!is_working_day(
            NaiveDate::from_ymd_opt(2026, 4, 3).unwrap()
        ));
        assert!(is_working_day(NaiveDate::from_ymd_opt(2026, 4, 7).unwrap()));
    }
}
