//! Pipelines and their ordered stages. Stage rows are reordered, added and
//! removed by submit buttons that re-render the form unsaved, so the page
//! works without JavaScript; "Save" sends the whole definition to
//! [`pipelines::save`], which checks it and writes the audit trail.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Errors, Form, Pick, Refusal, SavedQuery, department_picks, number, refusal};
use crate::app::AppState;
use crate::core::error::AppError;
use crate::core::i18n::Tr;
use crate::core::web::{Chrome, HtmlError, Ui, html, see_other};
use crate::crm::pipelines::{self, Pipeline, PipelineInput, StageInput};

struct ListRow {
    id: i64,
    name: String,
    active: bool,
    stages: String,
    departments: usize,
}

#[derive(Template)]
#[template(path = "settings/pipelines.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<ListRow>,
    saved: bool,
}

async fn list_page(
    ui: Ui,
    state: web::Data<AppState>,
    q: web::Query<SavedQuery>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let actor = ui.actor.clone();
    let items = state
        .db(move |c| pipelines::list(c, &actor))
        .await
        .map_err(|e| ui.fail(e))?;
    let rows = items
        .into_iter()
        .map(|p| ListRow {
            id: p.id,
            name: p.name,
            active: p.active,
            stages: p
                .stages
                .iter()
                .map(|s| format!("{} ({}%)", s.name, s.probability))
                .collect::<Vec<_>>()
                .join(" → "),
            departments: p.departments.len(),
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

/// One stage row as typed.
#[derive(Debug, Clone, Default)]
struct StageRow {
    /// Empty for a stage not saved yet.
    id: String,
    name: String,
    probability: String,
}

/// The pipeline form as typed.
#[derive(Debug, Clone, Default)]
struct PipelineForm {
    name: String,
    position: String,
    active: bool,
    departments: Vec<i64>,
    stages: Vec<StageRow>,
}

impl PipelineForm {
    fn from_pipeline(p: &Pipeline) -> PipelineForm {
        PipelineForm {
            name: p.name.clone(),
            position: p.position.to_string(),
            active: p.active,
            departments: p.departments.clone(),
            stages: p
                .stages
                .iter()
                .map(|s| StageRow {
                    id: s.id.to_string(),
                    name: s.name.clone(),
                    probability: s.probability.to_string(),
                })
                .collect(),
        }
    }

    fn new_pipeline() -> PipelineForm {
        PipelineForm {
            position: "0".into(),
            active: true,
            stages: vec![StageRow {
                probability: "10".into(),
                ..StageRow::default()
            }],
            ..PipelineForm::default()
        }
    }

    fn parse(f: &Form) -> PipelineForm {
        let ids = f.all("stage_id");
        let names = f.all("stage_name");
        let probs = f.all("stage_probability");
        let stages = names
            .iter()
            .enumerate()
            .map(|(i, n)| StageRow {
                id: ids.get(i).cloned().unwrap_or_default(),
                name: n.clone(),
                probability: probs.get(i).cloned().unwrap_or_default(),
            })
            .collect();
        PipelineForm {
            name: f.get("name"),
            position: f.get("position"),
            active: f.checked("active"),
            departments: f.ids("departments"),
            stages,
        }
    }

    /// The definition for the store; a number that does not parse is
    /// refused at its field.
    fn input(&self, t: Tr, version: Option<i32>) -> Result<PipelineInput, AppError> {
        let mut stages = Vec::with_capacity(self.stages.len());
        for (i, s) in self.stages.iter().enumerate() {
            let field = format!("stages[{i}].probability");
            let probability = number(t, &field, &s.probability, 0)?;
            stages.push(StageInput {
                id: s.id.trim().parse().ok(),
                name: s.name.clone(),
                probability: i32::try_from(probability)
                    .map_err(|_| AppError::invalid(&field, t.t("settings.not_a_number")))?,
                position: None,
            });
        }
        let position = number(t, "position", &self.position, 0)?;
        Ok(PipelineInput {
            name: self.name.clone(),
            departments: self.departments.clone(),
            active: self.active,
            position: i32::try_from(position)
                .map_err(|_| AppError::invalid("position", t.t("settings.not_a_number")))?,
            stages,
            version,
        })
    }

    /// Apply a row button: `add`, `up-N`, `down-N`, `remove-N`.
    fn apply(&mut self, op: &str) {
        let at = |prefix: &str| {
            op.strip_prefix(prefix)
                .and_then(|n| n.parse::<usize>().ok())
        };
        let n = self.stages.len();
        if op == "add" {
            self.stages.push(StageRow::default());
        } else if let Some(i) = at("up-").filter(|i| *i > 0 && *i < n) {
            self.stages.swap(i - 1, i);
        } else if let Some(i) = at("down-").filter(|i| i + 1 < n) {
            self.stages.swap(i, i + 1);
        } else if let Some(i) = at("remove-").filter(|i| *i < n) {
            self.stages.remove(i);
        }
    }

    /// What the user typed, for the stale-version explanation.
    fn summary(&self) -> String {
        self.stages
            .iter()
            .map(|s| format!("{} ({}%)", s.name.trim(), s.probability.trim()))
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

/// A stage row for the template, with its errors.
struct StageView {
    index: usize,
    id: String,
    name: String,
    probability: String,
    name_error: String,
    probability_error: String,
    last: bool,
}

#[derive(Template)]
#[template(path = "settings/pipeline_edit.html")]
struct EditPage {
    c: Chrome,
    /// 0 for a new pipeline.
    id: i64,
    version: i32,
    form: PipelineForm,
    stages: Vec<StageView>,
    departments: Vec<Pick>,
    errors: Errors,
    /// After a stale save: what the user had typed.
    yours: Option<(String, String)>,
}

#[expect(clippy::too_many_arguments, reason = "one page's parts")]
async fn render(
    ui: &Ui,
    state: &AppState,
    status: StatusCode,
    id: i64,
    version: i32,
    form: PipelineForm,
    errors: Errors,
    yours: Option<(String, String)>,
) -> Result<HttpResponse, HtmlError> {
    let checked = form.departments.clone();
    let departments = state
        .db(move |c| department_picks(c, &checked))
        .await
        .map_err(|e| ui.fail(e))?;
    let n = form.stages.len();
    let errors = errors.placed(|f| {
        ["name", "departments", "stages", "position"].contains(&f)
            || (f.starts_with("stages[") && (f.ends_with("].name") || f.ends_with("].probability")))
    });
    let stages = form
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| StageView {
            index: i,
            id: s.id.clone(),
            name: s.name.clone(),
            probability: s.probability.clone(),
            name_error: errors.get(&format!("stages[{i}].name")).to_string(),
            probability_error: errors.get(&format!("stages[{i}].probability")).to_string(),
            last: i + 1 == n,
        })
        .collect();
    Ok(html(
        status,
        &EditPage {
            c: ui.chrome("settings"),
            id,
            version,
            form,
            stages,
            departments,
            errors,
            yours,
        },
    ))
}

async fn read(ui: &Ui, state: &AppState, id: i64) -> Result<Pipeline, HtmlError> {
    state
        .db(move |c| pipelines::read(c, id))
        .await
        .map_err(|e| ui.fail(e))
}

async fn new_page(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let form = PipelineForm::new_pipeline();
    render(
        &ui,
        &state,
        StatusCode::OK,
        0,
        0,
        form,
        Errors::default(),
        None,
    )
    .await
}

async fn edit_page(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let p = read(&ui, &state, path.into_inner()).await?;
    let form = PipelineForm::from_pipeline(&p);
    render(
        &ui,
        &state,
        StatusCode::OK,
        p.id,
        p.version,
        form,
        Errors::default(),
        None,
    )
    .await
}

/// Create (`id` None) or change: a row button re-renders, "Save" saves.
async fn submit(
    ui: Ui,
    state: &AppState,
    id: Option<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let f = Form::parse(&body);
    let mut form = PipelineForm::parse(&f);
    let version = f.version();
    let op = f.get("op");
    if !op.is_empty() && op != "save" {
        form.apply(&op);
        return render(
            &ui,
            state,
            StatusCode::OK,
            id.unwrap_or(0),
            version.unwrap_or(0),
            form,
            Errors::default(),
            None,
        )
        .await;
    }
    let t = ui.t();
    let result = match form.input(t, version) {
        Ok(input) => {
            let actor = ui.actor.clone();
            state
                .db(move |c| pipelines::save(c, &actor, id, input))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/settings/pipelines?saved=1")),
        Err(e) => match refusal(&ui, e)? {
            Refusal::Inline(status, errors) => {
                render(
                    &ui,
                    state,
                    status,
                    id.unwrap_or(0),
                    version.unwrap_or(0),
                    form,
                    errors,
                    None,
                )
                .await
            }
            Refusal::Stale(errors) => {
                let pid = id.unwrap_or(0);
                let current = read(&ui, state, pid).await?;
                let yours = Some((form.name.clone(), form.summary()));
                render(
                    &ui,
                    state,
                    StatusCode::CONFLICT,
                    pid,
                    current.version,
                    PipelineForm::from_pipeline(&current),
                    errors,
                    yours,
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
    let Err(e) = state.db(move |c| pipelines::delete(c, &actor, id)).await else {
        return Ok(see_other("/settings/pipelines?saved=1"));
    };
    let (status, errors) = match refusal(&ui, e)? {
        Refusal::Inline(status, errors) => (status, errors),
        Refusal::Stale(errors) => (StatusCode::CONFLICT, errors),
    };
    let p = read(&ui, &state, id).await?;
    render(
        &ui,
        &state,
        status,
        p.id,
        p.version,
        PipelineForm::from_pipeline(&p),
        errors,
        None,
    )
    .await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/pipelines", web::get().to(list_page))
        .route("/settings/pipelines", web::post().to(create))
        .route("/settings/pipelines/new", web::get().to(new_page))
        .route("/settings/pipelines/{id}", web::get().to(edit_page))
        .route("/settings/pipelines/{id}", web::post().to(update))
        .route("/settings/pipelines/{id}/delete", web::post().to(delete));
}
