//! Time zones for "today" and display. Stored times are UTC; a user's (or
//! the company's) zone only shifts what "today" means.
//!
//! [`ZONES`] holds the IANA names we know: every zone of China and the major
//! zones of the world, with their standard offset and daylight-saving rule
//! (EU, North America, south-east Australia, New Zealand). `UTC+08:00`-style
//! names work for any other place. [`is_known`] is what input validation
//! uses, so a zone that is accepted is also one [`offset`] understands.

use chrono::{Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, Utc, Weekday};

/// How a zone moves its clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dst {
    /// No daylight saving.
    None,
    /// European Union and UK: last Sunday of March to last Sunday of
    /// October, both at 01:00 UTC.
    Eu,
    /// United States and Canada: second Sunday of March 02:00 local to
    /// first Sunday of November 02:00 local.
    NorthAmerica,
    /// New South Wales, Victoria, Tasmania, South Australia, ACT: first
    /// Sunday of October 02:00 standard to first Sunday of April 03:00 daylight.
    AuSouth,
    /// New Zealand: last Sunday of September 02:00 standard to first Sunday
    /// of April 03:00 daylight.
    NewZealand,
}

/// (IANA name, standard offset east of UTC in minutes, rule).
const ZONES: &[(&str, i32, Dst)] = &[
    // China, Hong Kong, Macau, Taiwan (and the old aliases still in use).
    ("Asia/Shanghai", 480, Dst::None),
    ("Asia/Chongqing", 480, Dst::None),
    ("Asia/Chungking", 480, Dst::None),
    ("Asia/Harbin", 480, Dst::None),
    ("Asia/Urumqi", 360, Dst::None),
    ("Asia/Kashgar", 360, Dst::None),
    ("PRC", 480, Dst::None),
    ("Asia/Hong_Kong", 480, Dst::None),
    ("Hongkong", 480, Dst::None),
    ("Asia/Macau", 480, Dst::None),
    ("Asia/Macao", 480, Dst::None),
    ("Asia/Taipei", 480, Dst::None),
    ("ROC", 480, Dst::None),
    // Rest of Asia.
    ("Asia/Singapore", 480, Dst::None),
    ("Asia/Kuala_Lumpur", 480, Dst::None),
    ("Asia/Manila", 480, Dst::None),
    ("Asia/Brunei", 480, Dst::None),
    ("Asia/Makassar", 480, Dst::None),
    ("Asia/Ulaanbaatar", 480, Dst::None),
    ("Asia/Irkutsk", 480, Dst::None),
    ("Asia/Tokyo", 540, Dst::None),
    ("Asia/Seoul", 540, Dst::None),
    ("Asia/Pyongyang", 540, Dst::None),
    ("Asia/Jayapura", 540, Dst::None),
    ("Asia/Yakutsk", 540, Dst::None),
    ("Asia/Vladivostok", 600, Dst::None),
    ("Asia/Bangkok", 420, Dst::None),
    ("Asia/Jakarta", 420, Dst::None),
    ("Asia/Ho_Chi_Minh", 420, Dst::None),
    ("Asia/Saigon", 420, Dst::None),
    ("Asia/Phnom_Penh", 420, Dst::None),
    ("Asia/Vientiane", 420, Dst::None),
    ("Asia/Novosibirsk", 420, Dst::None),
    ("Asia/Krasnoyarsk", 420, Dst::None),
    ("Asia/Yangon", 390, Dst::None),
    ("Asia/Rangoon", 390, Dst::None),
    ("Asia/Dhaka", 360, Dst::None),
    ("Asia/Thimphu", 360, Dst::None),
    ("Asia/Bishkek", 360, Dst::None),
    ("Asia/Kathmandu", 345, Dst::None),
    ("Asia/Katmandu", 345, Dst::None),
    ("Asia/Kolkata", 330, Dst::None),
    ("Asia/Calcutta", 330, Dst::None),
    ("Asia/Colombo", 330, Dst::None),
    ("Asia/Karachi", 300, Dst::None),
    ("Asia/Tashkent", 300, Dst::None),
    ("Asia/Almaty", 300, Dst::None),
    ("Asia/Yekaterinburg", 300, Dst::None),
    ("Asia/Kabul", 270, Dst::None),
    ("Asia/Dubai", 240, Dst::None),
    ("Asia/Muscat", 240, Dst::None),
    ("Asia/Baku", 240, Dst::None),
    ("Asia/Tbilisi", 240, Dst::None),
    ("Asia/Tehran", 210, Dst::None),
    ("Asia/Riyadh", 180, Dst::None),
    ("Asia/Qatar", 180, Dst::None),
    ("Asia/Kuwait", 180, Dst::None),
    ("Asia/Baghdad", 180, Dst::None),
    // Europe.
    ("Europe/London", 0, Dst::Eu),
    ("Europe/Dublin", 0, Dst::Eu),
    ("Europe/Lisbon", 0, Dst::Eu),
    ("Europe/Paris", 60, Dst::Eu),
    ("Europe/Berlin", 60, Dst::Eu),
    ("Europe/Madrid", 60, Dst::Eu),
    ("Europe/Rome", 60, Dst::Eu),
    ("Europe/Amsterdam", 60, Dst::Eu),
    ("Europe/Brussels", 60, Dst::Eu),
    ("Europe/Luxembourg", 60, Dst::Eu),
    ("Europe/Vienna", 60, Dst::Eu),
    ("Europe/Zurich", 60, Dst::Eu),
    ("Europe/Stockholm", 60, Dst::Eu),
    ("Europe/Oslo", 60, Dst::Eu),
    ("Europe/Copenhagen", 60, Dst::Eu),
    ("Europe/Warsaw", 60, Dst::Eu),
    ("Europe/Prague", 60, Dst::Eu),
    ("Europe/Budapest", 60, Dst::Eu),
    ("Europe/Belgrade", 60, Dst::Eu),
    ("Europe/Athens", 120, Dst::Eu),
    ("Europe/Helsinki", 120, Dst::Eu),
    ("Europe/Bucharest", 120, Dst::Eu),
    ("Europe/Sofia", 120, Dst::Eu),
    ("Europe/Kyiv", 120, Dst::Eu),
    ("Europe/Kiev", 120, Dst::Eu),
    ("Europe/Riga", 120, Dst::Eu),
    ("Europe/Vilnius", 120, Dst::Eu),
    ("Europe/Tallinn", 120, Dst::Eu),
    ("Europe/Istanbul", 180, Dst::None),
    ("Europe/Moscow", 180, Dst::None),
    ("Europe/Minsk", 180, Dst::None),
    // Africa.
    ("Africa/Casablanca", 60, Dst::None),
    ("Africa/Lagos", 60, Dst::None),
    ("Africa/Algiers", 60, Dst::None),
    ("Africa/Johannesburg", 120, Dst::None),
    ("Africa/Nairobi", 180, Dst::None),
    ("Africa/Addis_Ababa", 180, Dst::None),
    ("Africa/Accra", 0, Dst::None),
    // The Americas.
    ("America/New_York", -300, Dst::NorthAmerica),
    ("America/Toronto", -300, Dst::NorthAmerica),
    ("America/Detroit", -300, Dst::NorthAmerica),
    ("US/Eastern", -300, Dst::NorthAmerica),
    ("America/Chicago", -360, Dst::NorthAmerica),
    ("America/Winnipeg", -360, Dst::NorthAmerica),
    ("US/Central", -360, Dst::NorthAmerica),
    ("America/Denver", -420, Dst::NorthAmerica),
    ("America/Edmonton", -420, Dst::NorthAmerica),
    ("US/Mountain", -420, Dst::NorthAmerica),
    ("America/Phoenix", -420, Dst::None),
    ("America/Los_Angeles", -480, Dst::NorthAmerica),
    ("America/Vancouver", -480, Dst::NorthAmerica),
    ("US/Pacific", -480, Dst::NorthAmerica),
    ("America/Anchorage", -540, Dst::NorthAmerica),
    ("America/Halifax", -240, Dst::NorthAmerica),
    ("Pacific/Honolulu", -600, Dst::None),
    ("America/Mexico_City", -360, Dst::None),
    ("America/Bogota", -300, Dst::None),
    ("America/Lima", -300, Dst::None),
    ("America/Panama", -300, Dst::None),
    ("America/Caracas", -240, Dst::None),
    ("America/Sao_Paulo", -180, Dst::None),
    ("America/Argentina/Buenos_Aires", -180, Dst::None),
    ("America/Buenos_Aires", -180, Dst::None),
    ("America/Montevideo", -180, Dst::None),
    // Oceania.
    ("Australia/Perth", 480, Dst::None),
    ("Australia/Darwin", 570, Dst::None),
    ("Australia/Adelaide", 570, Dst::AuSouth),
    ("Australia/Brisbane", 600, Dst::None),
    ("Australia/Sydney", 600, Dst::AuSouth),
    ("Australia/Melbourne", 600, Dst::AuSouth),
    ("Australia/Canberra", 600, Dst::AuSouth),
    ("Australia/Hobart", 600, Dst::AuSouth),
    ("Pacific/Guam", 600, Dst::None),
    ("Pacific/Port_Moresby", 600, Dst::None),
    ("Pacific/Auckland", 720, Dst::NewZealand),
    ("Pacific/Fiji", 720, Dst::None),
    // UTC itself.
    ("UTC", 0, Dst::None),
    ("Etc/UTC", 0, Dst::None),
    ("Etc/GMT", 0, Dst::None),
    ("GMT", 0, Dst::None),
];

/// The zone a form suggests and an error message gives as an example.
pub const EXAMPLE: &str = "Asia/Shanghai";

/// Every IANA name [`is_known`] accepts (besides `UTC±HH:MM`), for pickers.
pub fn names() -> impl Iterator<Item = &'static str> {
    ZONES.iter().map(|(name, _, _)| *name)
}

/// Is `zone` an IANA name from [`ZONES`] or a `UTC±HH[:MM]` offset?
pub fn is_known(zone: &str) -> bool {
    let z = zone.trim();
    find(z).is_some() || parse_utc_offset(z).is_some()
}

/// `Ok` for an empty or known zone; otherwise a message naming the zone and
/// giving examples, for `AppError::invalid("time_zone", …)`.
pub fn check(zone: &str) -> Result<(), String> {
    let z = zone.trim();
    if z.is_empty() || is_known(z) {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a time zone we know; use an IANA name such as {EXAMPLE} \
             or Europe/London, or an offset such as UTC+08:00",
            z.chars().take(64).collect::<String>()
        ))
    }
}

fn find(z: &str) -> Option<(i32, Dst)> {
    ZONES
        .iter()
        .find(|(name, _, _)| *name == z)
        .map(|(_, minutes, dst)| (*minutes, *dst))
}

/// The current offset for an IANA name or `UTC±HH[:MM]`; China Standard
/// Time for anything else (and for an empty zone).
pub fn offset(zone: &str) -> FixedOffset {
    offset_at(zone, Utc::now().naive_utc())
}

/// The offset `zone` has at the UTC instant `at`.
pub fn offset_at(zone: &str, at: NaiveDateTime) -> FixedOffset {
    let z = zone.trim();
    find(z)
        .map(|(std, dst)| if in_dst(dst, std, at) { std + 60 } else { std })
        .and_then(|m| FixedOffset::east_opt(m * 60))
        .or_else(|| parse_utc_offset(z))
        .unwrap_or_else(china)
}

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or(FixedOffset::east_opt(0).expect("zero offset"))
}

/// The `n`th (1-based) Sunday of a month, or the last one for `n == 0`.
fn sunday(year: i32, month: u32, n: u8) -> NaiveDate {
    let found = if n == 0 {
        NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, 5)
            .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, 4))
    } else {
        NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n)
    };
    found.unwrap_or_default()
}

/// The UTC instant of `hour`:00 local time (at `offset_minutes`) on `day`.
fn utc_of(day: NaiveDate, hour: u32, offset_minutes: i32) -> NaiveDateTime {
    day.and_hms_opt(hour, 0, 0).unwrap_or_default() - Duration::minutes(i64::from(offset_minutes))
}

/// Is daylight saving in effect at the UTC instant `at`?
fn in_dst(rule: Dst, std: i32, at: NaiveDateTime) -> bool {
    let y = at.year();
    match rule {
        Dst::None => false,
        Dst::Eu => at >= utc_of(sunday(y, 3, 0), 1, 0) && at < utc_of(sunday(y, 10, 0), 1, 0),
        Dst::NorthAmerica => {
            at >= utc_of(sunday(y, 3, 2), 2, std) && at < utc_of(sunday(y, 11, 1), 2, std + 60)
        }
        // Southern summer spans the new year: daylight time until April,
        // again from the spring change.
        Dst::AuSouth => {
            at < utc_of(sunday(y, 4, 1), 3, std + 60) || at >= utc_of(sunday(y, 10, 1), 2, std)
        }
        Dst::NewZealand => {
            at < utc_of(sunday(y, 4, 1), 3, std + 60) || at >= utc_of(sunday(y, 9, 0), 2, std)
        }
    }
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
    if !(0..=14).contains(&h) || !(0..=59).contains(&m) {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Today's date in `zone`.
pub fn today_in(zone: &str) -> chrono::NaiveDate {
    Utc::now().with_timezone(&offset(zone)).date_naive()
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

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn hours_at(zone: &str, utc: &str) -> f64 {
        f64::from(offset_at(zone, at(utc)).local_minus_utc()) / 3600.0
    }

    #[test]
    fn offsets() {
        assert_eq!(offset("Asia/Shanghai").local_minus_utc(), 8 * 3600);
        assert_eq!(offset("UTC-05:00").local_minus_utc(), -5 * 3600);
        assert_eq!(offset("UTC+5:30").local_minus_utc(), 5 * 3600 + 1800);
        assert_eq!(offset("").local_minus_utc(), 8 * 3600);
        assert_eq!(offset("Mars/Olympus").local_minus_utc(), 8 * 3600);
        let (a, b) = today_utc_range("Asia/Shanghai");
        assert_eq!(b - a, Duration::days(1));
        assert_eq!(a.format("%H:%M").to_string(), "16:00");
    }

    #[test]
    fn daylight_saving_rules() {
        // 2025: EU 30 Mar – 26 Oct at 01:00 UTC.
        assert_eq!(hours_at("Europe/London", "2025-03-30 00:59"), 0.0);
        assert_eq!(hours_at("Europe/London", "2025-03-30 01:00"), 1.0);
        assert_eq!(hours_at("Europe/Berlin", "2025-10-26 00:59"), 2.0);
        assert_eq!(hours_at("Europe/Berlin", "2025-10-26 01:00"), 1.0);
        // US: 9 Mar 02:00 EST (07:00 UTC) – 2 Nov 02:00 EDT (06:00 UTC).
        assert_eq!(hours_at("America/New_York", "2025-03-09 06:59"), -5.0);
        assert_eq!(hours_at("America/New_York", "2025-03-09 07:00"), -4.0);
        assert_eq!(hours_at("America/Los_Angeles", "2025-11-02 08:59"), -7.0);
        assert_eq!(hours_at("America/Los_Angeles", "2025-11-02 09:00"), -8.0);
        assert_eq!(hours_at("America/Phoenix", "2025-07-01 12:00"), -7.0);
        // Sydney: 6 Apr 03:00 AEDT (5 Apr 16:00 UTC) – 5 Oct 02:00 AEST (4 Oct 16:00 UTC).
        assert_eq!(hours_at("Australia/Sydney", "2025-01-15 00:00"), 11.0);
        assert_eq!(hours_at("Australia/Sydney", "2025-04-05 15:59"), 11.0);
        assert_eq!(hours_at("Australia/Sydney", "2025-04-05 16:00"), 10.0);
        assert_eq!(hours_at("Australia/Sydney", "2025-10-04 16:00"), 11.0);
        // Auckland: 28 Sep 02:00 NZST (27 Sep 14:00 UTC).
        assert_eq!(hours_at("Pacific/Auckland", "2025-09-27 13:59"), 12.0);
        assert_eq!(hours_at("Pacific/Auckland", "2025-09-27 14:00"), 13.0);
        // China never changes.
        assert_eq!(hours_at("Asia/Shanghai", "2025-07-01 12:00"), 8.0);
        assert_eq!(hours_at("Asia/Urumqi", "2025-07-01 12:00"), 6.0);
    }

    #[test]
    fn known_zones() {
        for z in [
            "Asia/Shanghai",
            " Asia/Hong_Kong ",
            "Europe/London",
            "UTC",
            "UTC+08:00",
            "GMT-3",
        ] {
            assert!(is_known(z), "{z}");
            assert!(check(z).is_ok(), "{z}");
        }
        for z in [
            "Mars/Olympus",
            "asia/shanghai",
            "UTC+15",
            "UTC+8:75",
            "Beijing",
            "+08:00",
        ] {
            assert!(!is_known(z), "{z}");
        }
        assert!(check("").is_ok());
        let msg = check("Mars/Olympus").unwrap_err();
        assert!(
            msg.contains("Mars/Olympus") && msg.contains(EXAMPLE),
            "{msg}"
        );
        let mut seen = std::collections::HashSet::new();
        for (name, minutes, _) in ZONES {
            assert!(seen.insert(name), "duplicate zone {name}");
            assert!(minutes.abs() <= 14 * 60, "{name}");
        }
    }
}
