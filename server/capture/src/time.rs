//! Durations as people type them (`10s`, `500ms`, `2m`) and UTC timestamps as the manifest
//! and folder names write them, without a date-time dependency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `1.5s`, `500ms`, `2m`, `1h`, or a bare number of seconds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(heapsight_capture::parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(heapsight_capture::parse_duration("2"), Ok(Duration::from_secs(2)));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (examples: 10s, 500ms, 2m)"))?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use ms, s, m or h)"
            ))
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("`{text}` is too long a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A duration for people: `850 ms`, `3.2 s`, `2 min 5 s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// A moment in UTC, split into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
}

impl Utc {
    pub(crate) fn from_system(t: SystemTime) -> Utc {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Utc::from_unix_millis(since.as_millis() as i64)
    }

    fn from_unix_millis(ms: i64) -> Utc {
        let secs = ms.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Utc {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            millis: ms.rem_euclid(1000) as u32,
        }
    }

    /// `2025-03-01T12:30:05.250Z`.
    pub(crate) fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `20250301T123005Z`: sorts by time and is a valid file name everywhere.
    pub(crate) fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// The RFC 3339 UTC form of `t`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    Utc::from_system(t).rfc3339()
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), by counting 400-year
/// eras of 146 097 days from 0000-03-01 so that leap days fall at the end of each year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration(" 3 "), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(850)), "850 ms");
        assert_eq!(human(Duration::from_millis(3240)), "3.2 s");
        assert_eq!(human(Duration::from_secs(125)), "2 min 5 s");
    }

    #[test]
    fn calendar() {
        assert_eq!(
            Utc::from_unix_millis(0).rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        // 2000-02-29 (a leap day of a century year) 12:34:56.789
        assert_eq!(
            Utc::from_unix_millis(951_827_696_789).rfc3339(),
            "2000-02-29T12:34:56.789Z"
        );
        assert_eq!(
            Utc::from_unix_millis(1_735_689_599_000).compact(),
            "20241231T235959Z"
        );
        assert_eq!(
            Utc::from_unix_millis(-1000).rfc3339(),
            "1969-12-31T23:59:59.000Z"
        );
    }
}
