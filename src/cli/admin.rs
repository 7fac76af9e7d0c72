//! Administration from the shell: `init`, `user …`, `token …`, `audit verify`.
//! Passwords are read from standard input, never from arguments.

use std::io::Read;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::config::Loaded;
use crate::core::audit::{self, AuditCtx};
use crate::core::auth::token;
use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::org::{departments, roles, users};
use crate::core::setup;

use super::Failure;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// E-mail address of the first administrator (the login name).
    #[arg(long)]
    admin_email: String,
    /// Read the administrator's password from standard input (required).
    #[arg(long, required = true)]
    password_stdin: bool,
    /// Display name of the administrator.
    #[arg(long, default_value = "")]
    admin_name: String,
    /// Company name.
    #[arg(long, default_value = "")]
    company: String,
    /// Default language: zh-CN or en.
    #[arg(long, default_value = "zh-CN")]
    language: String,
    /// Default time zone, e.g. Asia/Shanghai.
    #[arg(long, default_value = "Asia/Shanghai")]
    time_zone: String,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password comes from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Role by built-in key (administrator, sales_manager, salesperson,
        /// service_agent, read_only), id or name; repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Department id.
        #[arg(long)]
        department: Option<i64>,
        /// E-mail of the user's supervisor.
        #[arg(long)]
        supervisor: Option<String>,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List users with their roles.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set a new password (from standard input); ends the user's sessions.
    Passwd {
        email: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: sessions end and tokens are revoked at once.
    Disable {
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Enable a disabled user.
    Enable {
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Show a user's roles, or replace them with --set.
    Roles {
        email: String,
        /// Comma-separated roles (key, id or name) replacing the current ones.
        #[arg(long, value_delimiter = ',')]
        set: Option<Vec<String>>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a personal API token; prints the token alone on stdout.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "cli")]
        name: String,
        #[arg(long)]
        read_only: bool,
        #[arg(long)]
        expires_days: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (all, or one user's).
    List {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain and report the first broken link.
    Verify,
}

fn connect(loaded: &Loaded) -> Result<DbConn, Failure> {
    Ok(crate::app::open_connection(&loaded.settings)?)
}

fn app_err(e: AppError) -> Failure {
    match e {
        AppError::Invalid {
            field: Some(f),
            message,
        } => Failure::usage(format!("{f}: {message}")),
        AppError::Invalid { message, .. }
        | AppError::NotFound(message)
        | AppError::Conflict(message) => Failure::usage(message),
        other => Failure::runtime(other.to_string()),
    }
}

fn read_password() -> Result<String, Failure> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| Failure::runtime(format!("reading the password from stdin: {e}")))?;
    let pw = s.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        return Err(Failure::usage("no password on standard input"));
    }
    Ok(pw)
}

fn role_ids(conn: &mut DbConn, names: &[String]) -> Result<Vec<i64>, Failure> {
    names
        .iter()
        .map(|n| roles::find(conn, n.trim()).map(|r| r.id).map_err(app_err))
        .collect()
}

fn print_json(v: &impl serde::Serialize) {
    say!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub fn init(loaded: &Loaded, a: &InitArgs) -> Result<(), Failure> {
    let pw = read_password()?;
    let mut conn = connect(loaded)?;
    let input = setup::SetupInput {
        company: a.company.clone(),
        time_zone: a.time_zone.clone(),
        language: a.language.clone(),
        admin_email: a.admin_email.clone(),
        admin_name: a.admin_name.clone(),
        admin_password: pw,
    };
    let user = setup::complete(&mut conn, &AuditCtx::cli(), None, &input).map_err(app_err)?;
    say!("created administrator {} (user {})", user.email, user.id);
    Ok(())
}

pub fn user(loaded: &Loaded, cmd: &UserCommand) -> Result<(), Failure> {
    let mut conn = connect(loaded)?;
    let conn = &mut conn;
    let ctx = AuditCtx::cli();
    match cmd {
        UserCommand::Add {
            email,
            name,
            roles: r,
            department,
            supervisor,
            json,
            ..
        } => {
            let pw = read_password()?;
            if let Some(d) = department {
                departments::get(conn, *d).map_err(app_err)?;
            }
            let supervisor_id = match supervisor {
                Some(s) => Some(users::by_email(conn, s).map_err(app_err)?.id),
                None => None,
            };
            let new = users::NewUser {
                email: email.clone(),
                name: name.clone(),
                password: pw,
                department_id: *department,
                supervisor_id,
                language: String::new(),
                time_zone: String::new(),
                roles: role_ids(conn, r)?,
            };
            let u = users::create(conn, &ctx, &new).map_err(app_err)?;
            if *json {
                print_json(&u);
            } else {
                say!("created user {} (id {})", u.email, u.id);
            }
        }
        UserCommand::List { json } => {
            let list = users::list(conn).map_err(|e| Failure::runtime(e.to_string()))?;
            if *json {
                print_json(&list);
            } else {
                say!(
                    "{:<6} {:<32} {:<20} {:<9} roles",
                    "id",
                    "email",
                    "name",
                    "status"
                );
                for u in list {
                    let roles: Vec<&str> = u.roles.iter().map(|r| r.name.as_str()).collect();
                    say!(
                        "{:<6} {:<32} {:<20} {:<9} {}",
                        u.user.id,
                        u.user.email,
                        u.user.name,
                        if u.user.active { "active" } else { "disabled" },
                        roles.join(", ")
                    );
                }
            }
        }
        UserCommand::Passwd { email, json, .. } => {
            let pw = read_password()?;
            let u = users::by_email(conn, email).map_err(app_err)?;
            users::set_password(conn, &ctx, u.id, &pw, None).map_err(app_err)?;
            if *json {
                // The same answer as the admin API's password reset.
                print_json(&json!({
                    "id": u.id,
                    "email": u.email,
                    "changed": true,
                    "sessions_ended": true,
                    "tokens_revoked": true,
                }));
            } else {
                say!(
                    "password changed for {}; their sessions have ended and API tokens are revoked",
                    u.email
                );
            }
        }
        UserCommand::Disable { email, json } | UserCommand::Enable { email, json } => {
            let enable = matches!(cmd, UserCommand::Enable { .. });
            let u = users::by_email(conn, email).map_err(app_err)?;
            let u = users::set_active(conn, &ctx, u.id, enable).map_err(app_err)?;
            if *json {
                // The user as `user add --json` and the admin API show it.
                print_json(&u);
            } else {
                say!(
                    "{} {}",
                    u.email,
                    if enable {
                        "enabled"
                    } else {
                        "disabled; sessions ended, tokens revoked"
                    }
                );
            }
        }
        UserCommand::Roles { email, set, json } => {
            let u = users::by_email(conn, email).map_err(app_err)?;
            if let Some(names) = set {
                let ids = role_ids(conn, names)?;
                users::set_roles(conn, &ctx, u.id, &ids).map_err(app_err)?;
            }
            let held = roles::for_user(conn, u.id).map_err(|e| Failure::runtime(e.to_string()))?;
            if *json {
                print_json(&held);
            } else {
                for r in held {
                    say!(
                        "{:<4} {:<16} {:<24} {}",
                        r.id,
                        r.builtin.as_deref().unwrap_or("-"),
                        r.name,
                        r.data_scope.as_str()
                    );
                }
            }
        }
    }
    Ok(())
}

pub fn token_cmd(loaded: &Loaded, cmd: &TokenCommand) -> Result<(), Failure> {
    let mut conn = connect(loaded)?;
    let conn = &mut conn;
    let ctx = AuditCtx::cli();
    match cmd {
        TokenCommand::Create {
            user,
            name,
            read_only,
            expires_days,
            json,
        } => {
            let u = users::by_email(conn, user).map_err(app_err)?;
            if !u.active {
                return Err(Failure::usage(format!("{} is disabled", u.email)));
            }
            let (secret, info) = token::create(conn, &ctx, u.id, name, *read_only, *expires_days)
                .map_err(app_err)?;
            if *json {
                print_json(&json!({"token": secret, "info": info}));
            } else {
                say!("{secret}");
            }
        }
        TokenCommand::List { user, json } => {
            let uid = match user {
                Some(e) => Some(users::by_email(conn, e).map_err(app_err)?.id),
                None => None,
            };
            let list = token::list(conn, uid).map_err(|e| Failure::runtime(e.to_string()))?;
            if *json {
                print_json(&list);
            } else {
                say!(
                    "{:<6} {:<6} {:<20} {:<12} {:<10} {:<20} state",
                    "id",
                    "user",
                    "name",
                    "prefix",
                    "access",
                    "expires"
                );
                for t in list {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    say!(
                        "{:<6} {:<6} {:<20} {:<12} {:<10} {:<20} {state}",
                        t.id,
                        t.user_id,
                        t.name,
                        t.prefix,
                        if t.read_only { "read-only" } else { "full" },
                        t.expires_at
                            .map(|e| e.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_else(|| "never".into()),
                    );
                }
            }
        }
        TokenCommand::Revoke { id, json } => {
            token::revoke(conn, &ctx, *id, None).map_err(app_err)?;
            if *json {
                // The token as `token list --json` shows it, now with `revoked_at`.
                let info = token::get(conn, *id).map_err(app_err)?;
                print_json(&info);
            } else {
                say!("token {id} revoked");
            }
        }
    }
    Ok(())
}

pub fn audit_cmd(loaded: &Loaded, cmd: &AuditCommand) -> Result<(), Failure> {
    let mut conn = connect(loaded)?;
    match cmd {
        AuditCommand::Verify => {
            let v = audit::verify(&mut conn).map_err(|e| Failure::runtime(e.to_string()))?;
            match v.broken {
                None => {
                    say!("audit trail intact: {} rows verified", v.rows);
                    Ok(())
                }
                Some((id, why)) => Err(Failure::runtime(format!(
                    "audit trail broken at row {id}: {why} ({} rows before it verified)",
                    v.rows
                ))),
            }
        }
    }
}
