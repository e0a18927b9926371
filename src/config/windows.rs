//! The `maintenance` section: when scheduled runs may change the cluster.
//!
//! ```yaml
//! maintenance:
//!   time_zone: Europe/Berlin          # IANA name; the windows are in its local time
//!   windows:
//!     - days: [tue, thu]              # mon tue wed thu fri sat sun
//!       start: "22:00"                # HH:MM, local
//!       duration: 4h                  # at most 7 days; may cross midnight
//!   exclude: ["2026-12-24", "2026-12-31"]   # local dates on which no window opens
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::locate::FieldPath;
use super::units::Dur;
use super::validate::Problem;
use crate::schedule::window::MAX_WINDOW;
use crate::schedule::{Schedule, Window};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with time_zone, windows (and optionally exclude)")]
pub struct Maintenance {
    pub time_zone: String,
    pub windows: Vec<WindowText>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with days, start, duration")]
pub struct WindowText {
    pub days: Vec<String>,
    pub start: String,
    pub duration: Dur,
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

fn day(path: FieldPath, text: &str) -> Result<Weekday, Problem> {
    DAYS.iter()
        .find(|(n, _)| *n == text)
        .map(|(_, d)| *d)
        .ok_or_else(|| (path, format!("invalid day \"{text}\": expected one of mon, tue, wed, thu, fri, sat, sun")))
}

fn start(path: FieldPath, text: &str) -> Result<Time, Problem> {
    let bad = || (path.clone(), format!("invalid start \"{text}\": expected a local time HH:MM such as 22:00"));
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

/// Checks `maintenance` (at `path`); `None` when the file has none (runs may start at any time).
pub fn resolve(path: &FieldPath, m: Option<&Maintenance>) -> Result<Option<Schedule>, Problem> {
    let Some(m) = m else { return Ok(None) };
    let time_zone = TimeZone::get(&m.time_zone).map_err(|_| {
        (
            path.key("time_zone"),
            format!("unknown time zone \"{}\": expected an IANA name such as Europe/Berlin or UTC", m.time_zone),
        )
    })?;
    if m.windows.is_empty() {
        return Err((path.key("windows"), "configure at least one window (or remove maintenance)".into()));
    }
    let mut windows = Vec::new();
    for (i, w) in m.windows.iter().enumerate() {
        let at = path.key("windows").index(i);
        if w.days.is_empty() {
            return Err((at.key("days"), "name at least one day".into()));
        }
        let mut days: Vec<Weekday> = Vec::new();
        for (j, d) in w.days.iter().enumerate() {
            let parsed = day(at.key("days").index(j), d)?;
            if let Some(first) = days.iter().position(|x| *x == parsed) {
                return Err((at.key("days").index(j), format!("{d} is listed twice (also days[{first}])")));
            }
            days.push(parsed);
        }
        let duration = w.duration.0;
        if duration < Duration::from_secs(60) || duration > MAX_WINDOW {
            return Err((at.key("duration"), "must be between 1m and 7 days (168h)".into()));
        }
        windows.push(Window { days, start: start(at.key("start"), &w.start)?, duration });
    }
    let mut exclude = BTreeSet::new();
    for (i, text) in m.exclude.iter().enumerate() {
        let at = path.key("exclude").index(i);
        let date: Date = text
            .parse()
            .map_err(|_| (at.clone(), format!("invalid date \"{text}\": expected YYYY-MM-DD such as 2026-12-24")))?;
        if !exclude.insert(date) {
            return Err((at, format!("{text} is listed twice")));
        }
    }
    Ok(Some(Schedule { time_zone, zone_name: m.time_zone.clone(), windows, exclude }))
}
