//! The sales CRM's pages: home and to-do centre, lists, detail pages and
//! forms for every object, the pipeline board, the customer pools, global
//! search and lead conversion. Server-rendered with askama; htmx does the
//! partial updates. Handlers call the same store functions as the JSON API,
//! so scope and validation are the API's.

pub mod board;
pub mod display;
pub mod form;
pub mod home;
mod i18n;
pub mod list;
pub mod objects;
pub mod pool;
pub mod record;
pub mod search;

use actix_web::{HttpRequest, web};
use diesel::prelude::*;

use crate::core::db::DbConn;
use crate::core::db::schema::users;
use crate::core::error::AppError;
use crate::core::web::{HtmlError, Ui};
pub use i18n::MESSAGES;
use objects::UiObject;

/// One option of a select or checkbox group.
#[derive(Debug, Clone, Default)]
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Opt {
    pub fn new(value: String, label: String) -> Opt {
        Opt {
            value,
            label,
            selected: false,
        }
    }
}

/// The object a URL names, or a 404 page.
pub fn find_object(ui: &Ui, key: &str) -> Result<&'static UiObject, HtmlError> {
    objects::object(key).ok_or_else(|| ui.fail(AppError::NotFound(format!("no page /{key}"))))
}

/// Active users to choose from (owner, assignee, collaborator).
pub fn people(conn: &mut DbConn) -> Result<Vec<Opt>, AppError> {
    Ok(users::table
        .filter(users::active.eq(true))
        .order(users::name)
        .select((users::id, users::name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .map(|(id, name)| Opt::new(id.to_string(), name))
        .collect())
}

/// The request's path and query, to come back to after a form.
pub fn url_of(req: &HttpRequest) -> String {
    req.uri()
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string())
}

/// The object segments as one route pattern.
const OBJ: &str = "{obj:customers|contacts|leads|opportunities|products|tasks|followups}";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home::home))
        .route("/home/stats", web::get().to(home::stats))
        .route("/home/todo/{key}", web::get().to(home::todo_part))
        .route("/search", web::get().to(search::search_page))
        .route("/pick/{entity}", web::get().to(search::pick))
        .route("/board", web::get().to(board::board_page))
        .route("/board/{id}", web::get().to(board::board_page_for))
        .route("/pools", web::get().to(pool::pools_page))
        .route("/pools/{id}", web::get().to(pool::pool_page))
        .route("/pools/{id}/claim", web::post().to(pool::claim))
        .route("/pools/{id}/assign", web::post().to(pool::assign))
        .route("/leads/{id}/convert", web::get().to(record::convert_page))
        .route("/leads/{id}/convert", web::post().to(record::convert))
        .route("/opportunities/{id}/stage", web::post().to(record::stage))
        .route(&format!("/{OBJ}"), web::get().to(list::list_page))
        .route(&format!("/{OBJ}/rows"), web::get().to(list::rows_part))
        .route(&format!("/{OBJ}/count"), web::get().to(list::count_part))
        .route(
            &format!("/{OBJ}/columns"),
            web::post().to(list::save_columns),
        )
        .route(&format!("/{OBJ}/views"), web::post().to(list::save_view))
        .route(
            &format!("/{OBJ}/views/{{id}}/delete"),
            web::post().to(list::delete_view),
        )
        .route(&format!("/{OBJ}/bulk"), web::post().to(list::bulk))
        .route(&format!("/{OBJ}/new"), web::get().to(record::new_page))
        .route(&format!("/{OBJ}/new"), web::post().to(record::create))
        .route(
            &format!("/{OBJ}/{{id:\\d+}}"),
            web::get().to(record::detail_page),
        )
        .route(
            &format!("/{OBJ}/{{id:\\d+}}/edit"),
            web::get().to(record::edit_page),
        )
        .route(
            &format!("/{OBJ}/{{id:\\d+}}/edit"),
            web::post().to(record::update),
        )
        .route(
            &format!("/{OBJ}/{{id:\\d+}}/delete"),
            web::post().to(record::delete),
        )
        .route(
            &format!("/{OBJ}/{{id:\\d+}}/followup"),
            web::post().to(record::quick_followup),
        )
        .route(
            &format!("/{OBJ}/{{id:\\d+}}/follow"),
            web::post().to(record::follow),
        )
        .route(
            &format!("/{OBJ}/{{id:\\d+}}/{{what:share|unshare}}"),
            web::post().to(record::share),
        );
}
