//! Customer pools: members (departments, users), pool administrators and
//! the return and claim rules. Saved through [`pools::save`] and removed
//! through [`pools::delete`], as the REST API does; both check and audit.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{
    Errors, Form, Pick, Refusal, SavedQuery, department_picks, number, refusal, user_picks,
};
use crate::app::AppState;
use crate::core::error::AppError;
use crate::core::i18n::Tr;
use crate::core::web::{Chrome, HtmlError, Ui, html, see_other};
use crate::crm::pools::rules::{Days, Rules};
use crate::crm::pools::{self, Member, Pool, PoolInput};

/// The day rules, in the order the form shows them: (name, label key).
const DAY_RULES: &[(&str, &str)] = &[
    ("no_follow_up", "settings.pool.no_follow_up"),
    ("no_opportunity", "settings.pool.no_opportunity"),
    ("not_won", "settings.pool.not_won"),
];

/// The number rules: (name, label key, hint key).
const NUMBER_RULES: &[(&str, &str, &str)] = &[
    (
        "warn_days",
        "settings.pool.warn_days",
        "settings.pool.warn_days_hint",
    ),
    (
        "claims_per_day",
        "settings.pool.claims_per_day",
        "settings.pool.zero_no_limit",
    ),
    (
        "max_owned",
        "settings.pool.max_owned",
        "settings.pool.zero_no_limit",
    ),
    (
        "reclaim_cooldown_days",
        "settings.pool.reclaim_cooldown_days",
        "settings.pool.reclaim_hint",
    ),
];

struct ListRow {
    id: i64,
    name: String,
    active: bool,
    members: usize,
    rules: Vec<String>,
}

#[derive(Template)]
#[template(path = "settings/pools.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<ListRow>,
    saved: bool,
}

fn rule_summary(t: Tr, r: &Rules) -> Vec<String> {
    let mut out = Vec::new();
    for ((name, label), days) in
        DAY_RULES
            .iter()
            .zip([&r.no_follow_up, &r.no_opportunity, &r.not_won])
    {
        if days.days > 0 || !days.by_level.is_empty() {
            let levels: Vec<String> = days
                .by_level
                .iter()
                .map(|(l, d)| format!("{l}: {d}"))
                .collect();
            let _ = name;
            out.push(if levels.is_empty() {
                format!("{} {}", t.t(label), days.days)
            } else {
                format!("{} {} ({})", t.t(label), days.days, levels.join(", "))
            });
        }
    }
    if r.claims_per_day > 0 {
        out.push(format!(
            "{} {}",
            t.t("settings.pool.claims_per_day"),
            r.claims_per_day
        ));
    }
    out
}

async fn list_page(
    ui: Ui,
    state: web::Data<AppState>,
    q: web::Query<SavedQuery>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let actor = ui.actor.clone();
    let items = state
        .db(move |c| pools::list(c, &actor))
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.t();
    let rows = items
        .into_iter()
        .map(|p| ListRow {
            id: p.id,
            rules: rule_summary(t, &p.rules),
            name: p.name,
            active: p.active,
            members: p.members.len(),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        &ListPage {
            c: ui.chrome("settings"),
            rows,
            saved: q.saved.is_some(),
        },
    ))
}

/// One day rule as typed: days for every level, and per-level rows.
#[derive(Debug, Clone, Default)]
struct DaysForm {
    days: String,
    levels: Vec<(String, String)>,
}

/// The pool form as typed.
#[derive(Debug, Clone, Default)]
struct PoolForm {
    name: String,
    description: String,
    active: bool,
    departments: Vec<i64>,
    users: Vec<i64>,
    admins: Vec<i64>,
    days: Vec<DaysForm>,
    exempt_won: bool,
    numbers: Vec<String>,
}

/// Blank rows offered for more per-level days.
const SPARE_LEVELS: usize = 2;

impl PoolForm {
    fn from_pool(p: &Pool) -> PoolForm {
        let r = &p.rules;
        let days = [&r.no_follow_up, &r.no_opportunity, &r.not_won]
            .into_iter()
            .map(|d| DaysForm {
                days: d.days.to_string(),
                levels: d
                    .by_level
                    .iter()
                    .map(|(l, n)| (l.clone(), n.to_string()))
                    .collect(),
            })
            .collect();
        PoolForm {
            name: p.name.clone(),
            description: p.description.clone(),
            active: p.active,
            departments: p.members.iter().filter_map(|m| m.department_id).collect(),
            users: p
                .members
                .iter()
                .filter(|m| !m.is_admin)
                .filter_map(|m| m.user_id)
                .collect(),
            admins: p
                .members
                .iter()
                .filter(|m| m.is_admin)
                .filter_map(|m| m.user_id)
                .collect(),
            days,
            exempt_won: r.exempt_won,
            numbers: [
                r.warn_days,
                r.claims_per_day,
                r.max_owned,
                r.reclaim_cooldown_days,
            ]
            .iter()
            .map(i64::to_string)
            .collect(),
        }
    }

    fn new_pool() -> PoolForm {
        PoolForm {
            active: true,
            days: DAY_RULES
                .iter()
                .map(|_| DaysForm {
                    days: "0".into(),
                    levels: Vec::new(),
                })
                .collect(),
            numbers: NUMBER_RULES.iter().map(|_| "0".to_string()).collect(),
            ..PoolForm::default()
        }
    }

    fn parse(f: &Form) -> PoolForm {
        let days = DAY_RULES
            .iter()
            .map(|(name, _)| {
                let levels = f.all(&format!("{name}.level"));
                let level_days = f.all(&format!("{name}.level_days"));
                DaysForm {
                    days: f.get(&format!("{name}.days")),
                    levels: levels
                        .into_iter()
                        .zip(level_days)
                        .filter(|(l, d)| !l.trim().is_empty() || !d.trim().is_empty())
                        .collect(),
                }
            })
            .collect();
        let admins = f.ids("admin_user");
        PoolForm {
            name: f.get("name"),
            description: f.get("description"),
            active: f.checked("active"),
            departments: f.ids("member_department"),
            users: f
                .ids("member_user")
                .into_iter()
                .filter(|u| !admins.contains(u))
                .collect(),
            admins,
            days,
            exempt_won: f.checked("exempt_won"),
            numbers: NUMBER_RULES
                .iter()
                .map(|(name, _, _)| f.get(name))
                .collect(),
        }
    }

    fn input(&self, t: Tr, version: Option<i32>) -> Result<PoolInput, AppError> {
        let mut days = Vec::with_capacity(DAY_RULES.len());
        for ((name, _), d) in DAY_RULES.iter().zip(&self.days) {
            let field = format!("rules.{name}");
            let mut by_level = BTreeMap::new();
            for (level, n) in &d.levels {
                if level.trim().is_empty() {
                    return Err(AppError::invalid(
                        &field,
                        t.t("settings.pool.level_missing"),
                    ));
                }
                by_level.insert(level.trim().to_string(), number(t, &field, n, 0)?);
            }
            days.push(Days {
                days: number(t, &field, &d.days, 0)?,
                by_level,
            });
        }
        let mut n = Vec::with_capacity(NUMBER_RULES.len());
        for ((name, _, _), v) in NUMBER_RULES.iter().zip(&self.numbers) {
            n.push(number(t, &format!("rules.{name}"), v, 0)?);
        }
        let mut days = days.into_iter();
        let rules = Rules {
            no_follow_up: days.next().unwrap_or_default(),
            no_opportunity: days.next().unwrap_or_default(),
            not_won: days.next().unwrap_or_default(),
            exempt_won: self.exempt_won,
            warn_days: n.first().copied().unwrap_or(0),
            claims_per_day: n.get(1).copied().unwrap_or(0),
            max_owned: n.get(2).copied().unwrap_or(0),
            reclaim_cooldown_days: n.get(3).copied().unwrap_or(0),
        };
        let members = self
            .departments
            .iter()
            .map(|d| Member {
                user_id: None,
                department_id: Some(*d),
                is_admin: false,
            })
            .chain(self.users.iter().map(|u| Member {
                user_id: Some(*u),
                department_id: None,
                is_admin: false,
            }))
            .chain(self.admins.iter().map(|u| Member {
                user_id: Some(*u),
                department_id: None,
                is_admin: true,
            }))
            .collect();
        Ok(PoolInput {
            name: self.name.clone(),
            description: self.description.clone(),
            active: self.active,
            rules,
            members,
            version,
        })
    }
}

struct DaysView {
    name: &'static str,
    label: &'static str,
    days: String,
    levels: Vec<(usize, String, String)>,
    error: String,
}

struct NumberView {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: String,
    error: String,
}

struct UserRow {
    id: i64,
    label: String,
    member: bool,
    admin: bool,
}

#[derive(Template)]
#[template(path = "settings/pool_edit.html")]
struct EditPage {
    c: Chrome,
    /// 0 for a new pool.
    id: i64,
    version: i32,
    form: PoolForm,
    departments: Vec<Pick>,
    users: Vec<UserRow>,
    days: Vec<DaysView>,
    numbers: Vec<NumberView>,
    errors: Errors,
}

async fn render(
    ui: &Ui,
    state: &AppState,
    status: StatusCode,
    id: i64,
    version: i32,
    form: PoolForm,
    errors: Errors,
) -> Result<HttpResponse, HtmlError> {
    let checked = form.departments.clone();
    let people: Vec<i64> = form.users.iter().chain(&form.admins).copied().collect();
    let (departments, picks) = state
        .db(move |c| Ok((department_picks(c, &checked)?, user_picks(c, &people)?)))
        .await
        .map_err(|e| ui.fail(e))?;
    let users = picks
        .into_iter()
        .map(|p| UserRow {
            member: form.users.contains(&p.id),
            admin: form.admins.contains(&p.id),
            id: p.id,
            label: p.label,
        })
        .collect();
    let errors = errors.placed(|f| f == "name" || f == "description" || f.starts_with("rules."));
    let days = DAY_RULES
        .iter()
        .zip(&form.days)
        .map(|((name, label), d)| {
            let mut levels: Vec<(usize, String, String)> = d
                .levels
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, (l, n))| (i, l, n))
                .collect();
            for _ in 0..SPARE_LEVELS {
                levels.push((levels.len(), String::new(), String::new()));
            }
            DaysView {
                name,
                label,
                days: d.days.clone(),
                levels,
                error: errors.get(&format!("rules.{name}")).to_string(),
            }
        })
        .collect();
    let numbers = NUMBER_RULES
        .iter()
        .zip(&form.numbers)
        .map(|((name, label, hint), v)| NumberView {
            name,
            label,
            hint,
            value: v.clone(),
            error: errors.get(&format!("rules.{name}")).to_string(),
        })
        .collect();
    Ok(html(
        status,
        &EditPage {
            c: ui.chrome("settings"),
            id,
            version,
            form,
            departments,
            users,
            days,
            numbers,
            errors,
        },
    ))
}

async fn read(ui: &Ui, state: &AppState, id: i64) -> Result<Pool, HtmlError> {
    state
        .db(move |c| pools::read(c, id))
        .await
        .map_err(|e| ui.fail(e))
}

async fn new_page(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let form = PoolForm::new_pool();
    render(&ui, &state, StatusCode::OK, 0, 0, form, Errors::default()).await
}

async fn edit_page(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let p = read(&ui, &state, path.into_inner()).await?;
    let form = PoolForm::from_pool(&p);
    render(
        &ui,
        &state,
        StatusCode::OK,
        p.id,
        p.version,
        form,
        Errors::default(),
    )
    .await
}

async fn submit(
    ui: Ui,
    state: &AppState,
    id: Option<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let f = Form::parse(&body);
    let form = PoolForm::parse(&f);
    let version = f.version();
    let result = match form.input(ui.t(), version) {
        Ok(input) => {
            let actor = ui.actor.clone();
            state.db(move |c| pools::save(c, &actor, id, input)).await
        }
        Err(e) => Err(e),
    };
    let pid = id.unwrap_or(0);
    match result {
        Ok(_) => Ok(see_other("/settings/pools?saved=1")),
        Err(e) => match refusal(&ui, e)? {
            Refusal::Inline(status, errors) => {
                render(&ui, state, status, pid, version.unwrap_or(0), form, errors).await
            }
            Refusal::Stale(errors) => {
                let current = read(&ui, state, pid).await?;
                render(
                    &ui,
                    state,
                    StatusCode::CONFLICT,
                    pid,
                    current.version,
                    PoolForm::from_pool(&current),
                    errors,
                )
                .await
            }
        },
    }
}

async fn create(
    ui: Ui,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    submit(ui, &state, None, body).await
}

async fn update(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    submit(ui, &state, Some(path.into_inner()), body).await
}

async fn delete(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let id = path.into_inner();
    let actor = ui.actor.clone();
    let Err(e) = state.db(move |c| pools::delete(c, &actor, id)).await else {
        return Ok(see_other("/settings/pools?saved=1"));
    };
    let (status, errors) = match refusal(&ui, e)? {
        Refusal::Inline(status, errors) => (status, errors),
        Refusal::Stale(errors) => (StatusCode::CONFLICT, errors),
    };
    let p = read(&ui, &state, id).await?;
    let form = PoolForm::from_pool(&p);
    render(&ui, &state, status, p.id, p.version, form, errors).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/pools", web::get().to(list_page))
        .route("/settings/pools", web::post().to(create))
        .route("/settings/pools/new", web::get().to(new_page))
        .route("/settings/pools/{id}", web::get().to(edit_page))
        .route("/settings/pools/{id}", web::post().to(update))
        .route("/settings/pools/{id}/delete", web::post().to(delete));
}
