//! Scheduled backups: `[backup] schedule = "daily 02:30"` (in the company's
//! time zone), run by the server's job runner — on PostgreSQL under an
//! advisory lock, so with several nodes only one takes it — into
//! `backup.dir`, verified after writing, then old archives pruned to
//! `backup.keep`.

use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDateTime, NaiveTime};

use super::format::Passphrase;
use super::{BackupError, CreateOptions, Summary};
use crate::config::Settings;
use crate::core::db::DbConn;

/// When scheduled backups run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Off,
    /// Every day at this local time of the company's zone.
    Daily(NaiveTime),
}

/// `off` (or empty) or `daily HH:MM`.
pub fn parse(s: &str) -> Result<Schedule, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("off") {
        return Ok(Schedule::Off);
    }
    let mut words = s.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(d), Some(t), None) if d.eq_ignore_ascii_case("daily") => {
            NaiveTime::parse_from_str(t, "%H:%M")
                .map(Schedule::Daily)
                .map_err(|_| format!("`{s}`: the time must be HH:MM, e.g. \"daily 02:30\""))
        }
        _ => Err(format!(
            "`{s}`: use \"daily HH:MM\" (company time zone) or \"off\""
        )),
    }
}

/// The latest moment (UTC) at or before `now` when the schedule was due.
pub fn last_due(schedule: Schedule, zone: &str, now: NaiveDateTime) -> Option<NaiveDateTime> {
    let Schedule::Daily(at) = schedule else {
        return None;
    };
    let offset = crate::core::time::offset_at(zone, now);
    let local_now = now + Duration::seconds(i64::from(offset.local_minus_utc()));
    let mut local_due = local_now.date().and_time(at);
    if local_due > local_now {
        local_due -= Duration::days(1);
    }
    let offset = crate::core::time::offset_at(zone, local_due);
    Some(local_due - Duration::seconds(i64::from(offset.local_minus_utc())))
}

/// The directory archives go to: `backup.dir`, else `<data_dir>/backups`.
pub fn backup_dir(settings: &Settings) -> PathBuf {
    if settings.backup.dir.as_os_str().is_empty() {
        settings.data_dir.join("backups")
    } else {
        settings.backup.dir.clone()
    }
}

/// The passphrase for scheduled archives: `backup.passphrase_file`, else
/// the `RAPPORT_PASSPHRASE` environment variable, else none.
pub fn scheduled_passphrase(settings: &Settings) -> Result<Option<Passphrase>, BackupError> {
    let file = &settings.backup.passphrase_file;
    if !file.as_os_str().is_empty() {
        return read_passphrase_file(file).map(Some);
    }
    Ok(std::env::var("RAPPORT_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty())
        .map(Passphrase::new))
}

/// The first line of a passphrase file.
pub fn read_passphrase_file(path: &Path) -> Result<Passphrase, BackupError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BackupError::Usage(format!(
            "cannot read passphrase file {}: {e}",
            path.display()
        ))
    })?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        return Err(BackupError::Usage(format!(
            "passphrase file {} is empty",
            path.display()
        )));
    }
    Ok(Passphrase::new(line))
}

/// Take a backup into the backup directory (verified), named after `at`,
/// then prune.
pub fn backup_now(
    settings: &Settings,
    conn: &mut DbConn,
    passphrase: Option<Passphrase>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(Summary, Vec<PathBuf>), BackupError> {
    let dir = backup_dir(settings);
    create_dir_private(&dir)?;
    let name = super::archive_name(at, passphrase.is_some());
    let opts = CreateOptions {
        passphrase,
        work_factor: None,
        verify: true,
        sqlite_snapshot: false,
    };
    let summary = super::create_archive(settings, conn, &dir.join(name), &opts)?;
    let removed = super::prune(&dir, settings.backup.keep)?;
    Ok((summary, removed))
}

/// Create `dir` (mode 0700 when new).
pub fn create_dir_private(dir: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| BackupError::Io(format!("cannot create {}: {e}", dir.display())))
}

/// The `settings` key holding the outcome of the last scheduled backup.
pub const LAST_RUN_SETTING: &str = "backup.last_scheduled";

/// The outcome of the last scheduled backup that was due (the admin page
/// shows it; the job's checks in between, when nothing is due, are not kept).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LastRun {
    /// When it started (UTC).
    pub at: NaiveDateTime,
    pub ok: bool,
    /// The archive's file name in the backup directory.
    pub file: String,
    pub bytes: u64,
    /// Why it failed.
    pub message: String,
}

fn record_last_run(conn: &mut DbConn, run: &LastRun) -> Result<(), crate::core::error::AppError> {
    let json = serde_json::to_string(run).unwrap_or_default();
    crate::core::settings::set(conn, LAST_RUN_SETTING, &json)?;
    Ok(())
}

/// The outcome of the last scheduled backup, if one was ever due.
pub fn last_run(conn: &mut DbConn) -> Result<Option<LastRun>, crate::core::error::AppError> {
    Ok(crate::core::settings::get(conn, LAST_RUN_SETTING)?
        .and_then(|s| serde_json::from_str(&s).ok()))
}

/// The job: back up when the schedule was due since the newest archive.
pub fn run_job(
    conn: &mut DbConn,
    ctx: &crate::core::jobs::JobCtx,
) -> Result<String, crate::core::error::AppError> {
    use crate::core::error::AppError;
    let settings = ctx.settings;
    let schedule = parse(&settings.backup.schedule).map_err(AppError::Internal)?;
    let zone = crate::core::settings::get(conn, "company.time_zone")?
        .filter(|z| crate::core::time::is_known(z))
        .unwrap_or_else(|| "UTC".into());
    let now = ctx.clock.now();
    let Some(due) = last_due(schedule, &zone, now) else {
        return Ok("scheduled backups are off".into());
    };
    let dir = backup_dir(settings);
    let newest = super::list_archives(&dir, false, None)
        .map_err(|e| AppError::Internal(e.to_string()))?
        .into_iter()
        .filter(|a| a.status != "incomplete")
        .filter_map(|a| super::archive_time(&a.path.file_name()?.to_string_lossy()))
        .max();
    if newest.is_some_and(|t| t >= due) {
        return Ok("no backup due".into());
    }
    let result = scheduled_passphrase(settings)
        .and_then(|passphrase| backup_now(settings, conn, passphrase, now.and_utc()));
    let outcome = match &result {
        Ok((s, _)) => LastRun {
            at: now,
            ok: true,
            file: s
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bytes: s.bytes,
            message: String::new(),
        },
        Err(e) => LastRun {
            at: now,
            ok: false,
            file: String::new(),
            bytes: 0,
            message: e.to_string(),
        },
    };
    record_last_run(conn, &outcome)?;
    let (s, removed) = result.map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(format!(
        "backup {} ({} bytes, {} rows, {} files, verified) in {:.1} s; {} old archive(s) removed",
        s.path.display(),
        s.bytes,
        s.manifest.sums.iter().map(|t| t.rows).sum::<u64>(),
        s.manifest.attachments.len(),
        s.seconds,
        removed.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn schedules() {
        assert_eq!(parse("off"), Ok(Schedule::Off));
        assert_eq!(parse(""), Ok(Schedule::Off));
        assert!(matches!(parse("daily 02:30"), Ok(Schedule::Daily(_))));
        assert!(parse("daily 25:00").is_err());
        assert!(parse("weekly").is_err());
        let daily = parse("daily 02:30").unwrap();
        // 02:30 in Shanghai is 18:30 UTC the day before.
        assert_eq!(
            last_due(daily, "Asia/Shanghai", t("2026-12-03 19:00")),
            Some(t("2026-12-03 18:30"))
        );
        assert_eq!(
            last_due(daily, "Asia/Shanghai", t("2026-12-03 18:00")),
            Some(t("2026-12-02 18:30"))
        );
        assert_eq!(
            last_due(daily, "UTC", t("2026-12-03 02:30")),
            Some(t("2026-12-03 02:30"))
        );
        assert_eq!(last_due(Schedule::Off, "UTC", t("2026-12-03 02:30")), None);
    }
}
