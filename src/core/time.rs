//! Time zones for "today" and display. Stored times are UTC; a user's (or
//! the company's) zone only shifts what "today" means. The zones used by our
//! market have no daylight saving, so fixed offsets are exact for them;
//! `UTC+08:00`-style names work for any other place.

use chrono::{Duration, FixedOffset, NaiveDateTime, Utc};

/// Offset for an IANA name or `UTC±HH[:MM]`; China Standard Time otherwise.
pub fn offset(zone: &str) -> FixedOffset {
    let hours = |h: i32| FixedOffset::east_opt(h * 3600);
    let z = zone.trim();
    let known = match z {
        "Asia/Shanghai" | "Asia/Chongqing" | "Asia/Harbin" | "Asia/Urumqi" | "PRC"
        | "Asia/Hong_Kong" | "Asia/Macau" | "Asia/Taipei" | "Asia/Singapore"
        | "Asia/Kuala_Lumpur" | "Asia/Manila" | "Australia/Perth" => hours(8),
        "Asia/Tokyo" | "Asia/Seoul" => hours(9),
        "Asia/Bangkok" | "Asia/Jakarta" | "Asia/Ho_Chi_Minh" => hours(7),
        "Asia/Kolkata" => FixedOffset::east_opt(5 * 3600 + 1800),
        "Asia/Dubai" => hours(4),
        "UTC" | "Etc/UTC" | "GMT" => hours(0),
        _ => None,
    };
    known.or_else(|| parse_utc_offset(z)).unwrap_or_else(|| {
        FixedOffset::east_opt(8 * 3600).unwrap_or(FixedOffset::east_opt(0).expect("zero offset"))
    })
}

fn parse_utc_offset(z: &str) -> Option<FixedOffset> {
    let rest = z.strip_prefix("UTC").or_else(|| z.strip_prefix("GMT"))?;
    let (sign, rest) = match rest.chars().next()? {
        '+' => (1, &rest[1..]),
        '-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?),
        None => (rest.parse::<i32>().ok()?, 0),
    };
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// The UTC start and end of the current day in `zone`.
pub fn today_utc_range(zone: &str) -> (NaiveDateTime, NaiveDateTime) {
    let off = offset(zone);
    let local_midnight = Utc::now()
        .with_timezone(&off)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let start = local_midnight - Duration::seconds(i64::from(off.local_minus_utc()));
    (start, start + Duration::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(offset("Asia/Shanghai").local_minus_utc(), 8 * 3600);
        assert_eq!(offset("UTC-05:00").local_minus_utc(), -5 * 3600);
        assert_eq!(offset("UTC+5:30").local_minus_utc(), 5 * 3600 + 1800);
        assert_eq!(offset("").local_minus_utc(), 8 * 3600);
        let (a, b) = today_utc_range("Asia/Shanghai");
        assert_eq!(b - a, Duration::days(1));
        assert_eq!(a.format("%H:%M").to_string(), "16:00");
    }
}
