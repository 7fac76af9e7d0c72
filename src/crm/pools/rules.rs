//! A pool's rules and when they return a customer: one pure function that
//! the nightly job, the to-do warnings and the tests share.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::core::error::AppError;

/// A number of days, optionally different per customer level (A/B/C…);
/// 0 switches the rule off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Days {
    pub days: i64,
    pub by_level: BTreeMap<String, i64>,
}

impl Days {
    pub fn for_level(&self, level: &str) -> i64 {
        self.by_level.get(level).copied().unwrap_or(self.days)
    }

    /// The fewest days of any level; `None` when the rule is off for all.
    pub fn shortest(&self) -> Option<i64> {
        std::iter::once(self.days)
            .chain(self.by_level.values().copied())
            .filter(|d| *d > 0)
            .min()
    }

    fn check(&self, field: &str) -> Result<(), AppError> {
        for (k, d) in std::iter::once((&"*".to_string(), &self.days)).chain(self.by_level.iter()) {
            if !(0..=3650).contains(d) {
                return Err(AppError::invalid(
                    &format!("rules.{field}"),
                    format!("{d} days for level {k}; between 0 (off) and 3650"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Return a customer after this many days without a follow-up.
    pub no_follow_up: Days,
    /// … without a new opportunity.
    pub no_opportunity: Days,
    /// … without being won.
    pub not_won: Days,
    /// Won customers never return.
    pub exempt_won: bool,
    /// Warn the owner this many days before a return.
    pub warn_days: i64,
    /// Claims per user per day (0: no limit).
    pub claims_per_day: i64,
    /// Most customers a user may own to claim more (0: no limit).
    pub max_owned: i64,
    /// Days before the previous owner may claim a customer back.
    pub reclaim_cooldown_days: i64,
}

impl Rules {
    pub fn check(&self) -> Result<(), AppError> {
        self.no_follow_up.check("no_follow_up")?;
        self.no_opportunity.check("no_opportunity")?;
        self.not_won.check("not_won")?;
        for (name, v, max) in [
            ("warn_days", self.warn_days, 365),
            ("claims_per_day", self.claims_per_day, 100_000),
            ("max_owned", self.max_owned, 10_000_000),
            ("reclaim_cooldown_days", self.reclaim_cooldown_days, 3650),
        ] {
            if !(0..=max).contains(&v) {
                return Err(AppError::invalid(
                    &format!("rules.{name}"),
                    format!("between 0 and {max}"),
                ));
            }
        }
        Ok(())
    }
}

/// What the rules look at on a customer.
#[derive(Debug, Clone)]
pub struct Facts {
    pub level: String,
    pub locked: bool,
    pub won: bool,
    /// Since when the current owner has it (its creation when never moved).
    pub owner_since: NaiveDateTime,
    pub last_follow_up_at: Option<NaiveDateTime>,
    pub last_opportunity_at: Option<NaiveDateTime>,
}

/// When the rules return the customer, and which rule does; `None` when no
/// rule applies (locked, won and exempt, or every rule off).
pub fn return_at(rules: &Rules, f: &Facts) -> Option<(NaiveDateTime, &'static str)> {
    if f.locked || (rules.exempt_won && f.won) {
        return None;
    }
    let since = |t: Option<NaiveDateTime>| t.map_or(f.owner_since, |t| t.max(f.owner_since));
    let mut best: Option<(NaiveDateTime, &'static str)> = None;
    let mut consider = |days: i64, basis: NaiveDateTime, why: &'static str| {
        if days > 0 {
            let at = basis + Duration::days(days);
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, why));
            }
        }
    };
    consider(
        rules.no_follow_up.for_level(&f.level),
        since(f.last_follow_up_at),
        "no_follow_up",
    );
    consider(
        rules.no_opportunity.for_level(&f.level),
        since(f.last_opportunity_at),
        "no_opportunity",
    );
    if !f.won {
        consider(rules.not_won.for_level(&f.level), f.owner_since, "not_won");
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(day: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + day * 86_400, 0)
            .unwrap()
            .naive_utc()
    }

    fn facts() -> Facts {
        Facts {
            level: "B".into(),
            locked: false,
            won: false,
            owner_since: t(0),
            last_follow_up_at: None,
            last_opportunity_at: None,
        }
    }

    #[test]
    fn shortest_is_the_fewest_days_of_a_rule_that_is_on() {
        let mut d = Days::default();
        assert_eq!(d.shortest(), None);
        d.by_level.insert("A".into(), 0);
        assert_eq!(d.shortest(), None);
        d.days = 30;
        d.by_level.insert("B".into(), 60);
        assert_eq!(d.shortest(), Some(30));
        d.by_level.insert("C".into(), 7);
        assert_eq!(d.shortest(), Some(7));
    }

    #[test]
    fn earliest_rule_wins_and_levels_differ() {
        let mut r = Rules::default();
        assert_eq!(return_at(&r, &facts()), None);
        r.no_follow_up.days = 30;
        r.no_follow_up.by_level.insert("A".into(), 60);
        r.not_won.days = 90;
        assert_eq!(return_at(&r, &facts()), Some((t(30), "no_follow_up")));
        let mut f = facts();
        f.level = "A".into();
        assert_eq!(return_at(&r, &f), Some((t(60), "no_follow_up")));
        f.last_follow_up_at = Some(t(50));
        assert_eq!(return_at(&r, &f), Some((t(90), "not_won")));
        // A follow-up before the current owner got it does not count for them.
        let mut f = facts();
        f.owner_since = t(10);
        f.last_follow_up_at = Some(t(5));
        assert_eq!(return_at(&r, &f), Some((t(40), "no_follow_up")));
    }

    #[test]
    fn exemptions() {
        let mut r = Rules::default();
        r.no_follow_up.days = 30;
        let mut f = facts();
        f.locked = true;
        assert_eq!(return_at(&r, &f), None);
        let mut f = facts();
        f.won = true;
        assert!(return_at(&r, &f).is_some());
        r.exempt_won = true;
        assert_eq!(return_at(&r, &f), None);
    }
}
