//! Maintenance windows as pure functions of time: which window is open at an instant, when the next one
//! opens. Windows are written in local time (days of the week, a start time, a duration) in one IANA time
//! zone; a window that starts on an excluded local date does not open. Daylight saving changes follow the
//! zone: a start time that does not exist that day (spring forward) opens at the first instant after it.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};

/// The longest a window may last: how far back [`Schedule::open_at`] looks for one that started earlier.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// How far ahead [`Schedule::next_opening`] looks.
const LOOK_AHEAD_DAYS: i64 = 400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub days: Vec<Weekday>,
    pub start: Time,
    pub duration: Duration,
}

/// One opening of a window: from `start` (included) to `end` (excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub start: Timestamp,
    pub end: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub time_zone: TimeZone,
    /// The IANA name, for messages.
    pub zone_name: String,
    pub windows: Vec<Window>,
    pub exclude: BTreeSet<Date>,
}

impl Schedule {
    /// The openings of every window that starts on local date `date`.
    fn openings_on(&self, date: Date) -> Vec<Opening> {
        if self.exclude.contains(&date) {
            return Vec::new();
        }
        self.windows
            .iter()
            .filter(|w| w.days.contains(&date.weekday()))
            .filter_map(|w| {
                let start = date.to_datetime(w.start).to_zoned(self.time_zone.clone()).ok()?.timestamp();
                let end = start.checked_add(Span::try_from(w.duration).ok()?).ok()?;
                Some(Opening { start, end })
            })
            .collect()
    }

    fn local_date(&self, t: Timestamp) -> Date {
        t.to_zoned(self.time_zone.clone()).date()
    }

    /// The opening that contains `t` (of several, the one that ends last).
    pub fn open_at(&self, t: Timestamp) -> Option<Opening> {
        let today = self.local_date(t);
        let days_back = (MAX_WINDOW.as_secs() / 86_400) as i64 + 1;
        (0..=days_back)
            .filter_map(|back| today.checked_sub(Span::new().days(back)).ok())
            .flat_map(|d| self.openings_on(d))
            .filter(|o| o.start <= t && t < o.end)
            .max_by_key(|o| o.end)
    }

    /// The first opening that starts after `t`.
    pub fn next_opening(&self, t: Timestamp) -> Option<Opening> {
        let today = self.local_date(t);
        (0..=LOOK_AHEAD_DAYS)
            .filter_map(|ahead| today.checked_add(Span::new().days(ahead)).ok())
            .flat_map(|d| self.openings_on(d))
            .filter(|o| o.start > t)
            .min_by_key(|o| o.start)
    }

    /// `t` in the schedule's zone, as messages show it: `2026-12-05 22:00 Europe/Berlin`.
    pub fn local(&self, t: Timestamp) -> String {
        let z: Zoned = t.to_zoned(self.time_zone.clone());
        format!("{} {}", z.strftime("%Y-%m-%d %H:%M"), self.zone_name)
    }

    /// Why a run may not go on at `t`, or `None` inside a window.
    pub fn closed_reason(&self, t: Timestamp) -> Option<String> {
        if self.open_at(t).is_some() {
            return None;
        }
        Some(match self.next_opening(t) {
            Some(next) => format!(
                "outside every maintenance window (now {}); the next opens at {} (in {})",
                self.local(t),
                self.local(next.start),
                crate::text_table::human(Duration::from_secs(next.start.duration_since(t).as_secs().max(0) as u64))
            ),
            None => format!(
                "outside every maintenance window (now {}), and none opens in the next {LOOK_AHEAD_DAYS} days",
                self.local(t)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(windows: Vec<Window>, exclude: &[&str]) -> Schedule {
        Schedule {
            time_zone: TimeZone::get("Europe/Berlin").expect("the bundled tzdb"),
            zone_name: "Europe/Berlin".into(),
            windows,
            exclude: exclude.iter().map(|d| d.parse().expect("a date")).collect(),
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("an RFC 3339 instant")
    }

    fn nightly() -> Window {
        // Tue and Thu, 22:00 Berlin for 4h: crosses midnight.
        Window {
            days: vec![Weekday::Tuesday, Weekday::Thursday],
            start: Time::constant(22, 0, 0, 0),
            duration: Duration::from_secs(4 * 3600),
        }
    }

    #[test]
    fn a_window_that_crosses_midnight_is_open_until_it_ends() {
        // 2026-12-01 is a Tuesday; Berlin is UTC+1 in winter.
        let s = schedule(vec![nightly()], &[]);
        assert_eq!(s.open_at(at("2026-12-01T20:59:59Z")), None);
        let o = s.open_at(at("2026-12-01T21:00:00Z")).expect("open at 22:00 local");
        assert_eq!((o.start, o.end), (at("2026-12-01T21:00:00Z"), at("2026-12-02T01:00:00Z")));
        assert!(s.open_at(at("2026-12-02T00:30:00Z")).is_some(), "01:30 local Wednesday is still Tuesday's window");
        assert_eq!(s.open_at(at("2026-12-02T01:00:00Z")), None, "the end is excluded");
    }

    #[test]
    fn the_next_opening_skips_excluded_dates() {
        let s = schedule(vec![nightly()], &["2026-12-03"]);
        let next = s.next_opening(at("2026-12-02T12:00:00Z")).expect("a next window");
        assert_eq!(next.start, at("2026-12-08T21:00:00Z"), "Thursday the 3rd is excluded: next Tuesday");
        assert_eq!(s.open_at(at("2026-12-03T22:00:00Z")), None);
        let reason = s.closed_reason(at("2026-12-02T12:00:00Z")).expect("closed");
        assert_eq!(
            reason,
            "outside every maintenance window (now 2026-12-02 13:00 Europe/Berlin); the next opens at 2026-12-08 22:00 Europe/Berlin (in 153h)"
        );
    }

    #[test]
    fn daylight_saving_moves_the_instant_not_the_local_time() {
        // 2027-03-30 is a Tuesday after the spring change: Berlin is UTC+2.
        let s = schedule(vec![nightly()], &[]);
        let o = s.open_at(at("2027-03-30T20:30:00Z")).expect("22:30 local");
        assert_eq!(o.start, at("2027-03-30T20:00:00Z"));
    }

    #[test]
    fn no_window_ever_opens_when_every_day_is_excluded() {
        let mut s = schedule(
            vec![Window {
                days: vec![Weekday::Monday],
                start: Time::constant(1, 0, 0, 0),
                duration: Duration::from_secs(60),
            }],
            &[],
        );
        s.windows.clear();
        assert_eq!(s.next_opening(at("2026-12-02T12:00:00Z")), None);
        assert!(
            s.closed_reason(at("2026-12-02T12:00:00Z")).expect("closed").contains("none opens in the next 400 days")
        );
    }
}
