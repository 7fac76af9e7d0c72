//! Identity over HTTP on both backends: first-run setup, login, CSRF,
//! lockout, disabling, tokens, admin invariants, audit chain, data scopes.

mod common;

use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Client, TestServer, setup_admin};
use serde_json::{Value, json};

const PW: &str = "Quiet-River-Stone-42";

fn create_user(admin: &Client, email: &str, name: &str, role: &str, extra: Value) -> Value {
    let roles = admin.get("/api/v1/admin/roles").json();
    let role_id = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["builtin"] == role)
        .unwrap_or_else(|| panic!("role {role}"))["id"]
        .clone();
    let mut body = json!({"email": email, "name": name, "password": PW, "roles": [role_id]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = admin.post("/api/v1/admin/users", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn setup_needs_the_token_and_works_once(backend: Backend) {
    let srv = TestServer::start(&backend);
    let anon = Client::anonymous(&srv);
    assert_eq!(anon.get("/api/v1/me").status, 401);

    let token = {
        let mut conn = srv.db.connect();
        rapport::core::setup::issue_token(&mut conn)
            .unwrap()
            .unwrap()
    };
    let body = |t: &str| {
        json!({"token": t, "company": "星河科技", "admin_email": ADMIN_EMAIL,
               "admin_password": ADMIN_PASSWORD, "language": "zh-CN"})
    };
    let r = anon.post("/api/v1/setup", &body("not-the-token"));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = anon.post(
        "/api/v1/setup",
        &json!({"token": token, "admin_email": ADMIN_EMAIL, "admin_password": "123456"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["field"], "password");

    let mut admin = Client::anonymous(&srv);
    let r = admin.post("/api/v1/setup", &body(&token));
    assert_eq!(r.status, 201, "{}", r.body);
    let cookie = r.header("set-cookie").unwrap().to_lowercase();
    assert!(
        cookie.contains("httponly") && cookie.contains("samesite=lax"),
        "{cookie}"
    );
    admin.adopt_session(&r);
    let me = admin.get("/api/v1/me").json();
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
    assert_eq!(me["is_admin"], true);
    assert!(
        me["user"].get("password_hash").is_none(),
        "hash must never leave the server"
    );

    // The same token, or any other, is useless now.
    assert_eq!(anon.post("/api/v1/setup", &body(&token)).status, 404);
    let mut conn = srv.db.connect();
    assert_eq!(rapport::core::setup::issue_token(&mut conn).unwrap(), None);
}

fn login_csrf_and_sessions(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let a = Client::login(&srv, ADMIN_EMAIL, ADMIN_PASSWORD);
    let b = Client::login(&srv, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_ne!(a.cookie, b.cookie, "every login gets a new session id");
    assert_ne!(a.cookie, admin.cookie);

    // State-changing request with the session but without the CSRF header.
    let mut no_csrf = a.clone();
    no_csrf.csrf = None;
    let r = no_csrf.post("/api/v1/admin/departments", &json!({"name": "销售部"}));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("CSRF"));
    let mut wrong = a.clone();
    wrong.csrf = Some("0".repeat(48));
    assert_eq!(
        wrong
            .post("/api/v1/admin/departments", &json!({"name": "销售部"}))
            .status,
        403
    );
    let r = a.post("/api/v1/admin/departments", &json!({"name": "销售部"}));
    assert_eq!(r.status, 201, "{}", r.body);
    // Reads need no CSRF token.
    assert_eq!(no_csrf.get("/api/v1/me").status, 200);

    // Logout ends that session only; logout-all ends the rest.
    assert_eq!(a.post("/api/v1/auth/logout", &json!({})).status, 200);
    assert_eq!(a.get("/api/v1/me").status, 401);
    assert_eq!(b.get("/api/v1/me").status, 200);
    assert_eq!(b.post("/api/v1/auth/logout-all", &json!({})).status, 200);
    assert_eq!(b.get("/api/v1/me").status, 401);
    assert_eq!(admin.get("/api/v1/me").status, 401);

    // Malformed input is a 4xx with a message.
    let r = Client::anonymous(&srv).post("/api/v1/auth/login", &json!({"email": 5}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid");
}

fn lockout_after_repeated_failures_and_its_expiry(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    create_user(&admin, "li.na@example.cn", "李娜", "salesperson", json!({}));
    let anon = Client::anonymous(&srv);
    let attempt = |pw: &str| {
        anon.post(
            "/api/v1/auth/login",
            &json!({"email": "li.na@example.cn", "password": pw}),
        )
    };
    for _ in 0..4 {
        assert_eq!(attempt("wrong-password-1").status, 401);
    }
    assert_eq!(
        attempt("wrong-password-1").status,
        423,
        "fifth failure locks"
    );
    let r = attempt(PW);
    assert_eq!(
        r.status, 423,
        "locked even with the right password: {}",
        r.body
    );
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("locked until")
    );

    // Unknown e-mails are not told apart from wrong passwords.
    let r = anon.post(
        "/api/v1/auth/login",
        &json!({"email": "nobody@example.cn", "password": PW}),
    );
    assert_eq!(r.status, 401);

    // The lock expires.
    {
        use diesel::prelude::*;
        use rapport::core::db::schema::users;
        let mut conn = srv.db.connect();
        diesel::update(users::table.filter(users::email.eq("li.na@example.cn")))
            .set(users::locked_until.eq(rapport::core::db::now() - chrono::Duration::minutes(1)))
            .execute(&mut conn)
            .unwrap();
    }
    assert_eq!(attempt(PW).status, 200);

    let log = admin.get("/api/v1/admin/login-log?limit=100").json();
    let entries = log["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["reason"] == "wrong_password_locked")
    );
    assert!(entries.iter().any(|e| e["reason"] == "locked"));
    assert!(
        entries
            .iter()
            .any(|e| e["reason"] == "unknown_user" && e["user_id"].is_null())
    );
    assert_eq!(entries[0]["success"], true);
}

fn disabling_ends_sessions_and_tokens_at_once(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let u = create_user(
        &admin,
        "wang.fang@example.cn",
        "王芳",
        "salesperson",
        json!({}),
    );
    let sales = Client::login(&srv, "wang.fang@example.cn", PW);
    let r = sales.post(
        "/api/v1/me/tokens",
        &json!({"name": "手机", "expires_days": 30}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let secret = r.json()["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("rpt_"));
    let bearer = Client::with_token(&srv, &secret);
    assert_eq!(bearer.get("/api/v1/me").status, 200);
    assert_eq!(bearer.get("/api/v1/me").json()["via"], "token");

    let id = u["id"].as_i64().unwrap();
    let r = admin.post(&format!("/api/v1/admin/users/{id}/disable"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sales.get("/api/v1/me").status, 401);
    let r = bearer.get("/api/v1/me");
    assert_eq!(r.status, 401);
    assert!(r.json()["message"].as_str().unwrap().contains("revoked"));
    let r = Client::anonymous(&srv).post(
        "/api/v1/auth/login",
        &json!({"email": "wang.fang@example.cn", "password": PW}),
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // Re-enabling lets them log in again, but revoked tokens stay revoked.
    assert_eq!(
        admin
            .post(&format!("/api/v1/admin/users/{id}/enable"), &json!({}))
            .status,
        200
    );
    let sales = Client::login(&srv, "wang.fang@example.cn", PW);
    assert_eq!(bearer.get("/api/v1/me").status, 401);

    // Changing one's own password keeps that session and the tokens; an
    // administrator's reset (a compromised account) ends both.
    let r = sales.post("/api/v1/me/tokens", &json!({"name": "erp"}));
    let erp = Client::with_token(&srv, r.json()["token"].as_str().unwrap());
    let other = Client::login(&srv, "wang.fang@example.cn", PW);
    let r = sales.post(
        "/api/v1/me/password",
        &json!({"current_password": "wrong-one-1234", "new_password": "Tall-Maple-Window-88"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["field"], "current_password");
    let r = sales.post(
        "/api/v1/me/password",
        &json!({"current_password": PW, "new_password": "Tall-Maple-Window-88"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sales.get("/api/v1/me").status, 200);
    assert_eq!(other.get("/api/v1/me").status, 401);
    assert_eq!(erp.get("/api/v1/me").status, 200);
    let r = admin.post(
        &format!("/api/v1/admin/users/{id}/password"),
        &json!({"password": "Green-Copper-Bridge-31"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sales.get("/api/v1/me").status, 401);
    assert_eq!(erp.get("/api/v1/me").status, 401);
    Client::login(&srv, "wang.fang@example.cn", "Green-Copper-Bridge-31");
}

fn tokens_never_exceed_their_owner(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    create_user(
        &admin,
        "zhao.lei@example.cn",
        "赵磊",
        "salesperson",
        json!({}),
    );
    let sales = Client::login(&srv, "zhao.lei@example.cn", PW);
    let secret = sales
        .post("/api/v1/me/tokens", &json!({"name": "erp"}))
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = Client::with_token(&srv, &secret);
    assert_eq!(
        bearer.get("/api/v1/admin/users").status,
        403,
        "salesperson token is no admin"
    );
    assert_eq!(
        bearer
            .post("/api/v1/admin/departments", &json!({"name": "x"}))
            .status,
        403
    );

    // An admin's read-only token can read admin data but change nothing.
    let r = admin.post(
        "/api/v1/me/tokens",
        &json!({"name": "report", "read_only": true}),
    );
    let ro = Client::with_token(&srv, r.json()["token"].as_str().unwrap());
    assert_eq!(ro.get("/api/v1/admin/users").status, 200);
    assert_eq!(
        ro.post("/api/v1/admin/departments", &json!({"name": "x"}))
            .status,
        403
    );
    // No token, read-only or full, can mint or revoke credentials or end
    // sessions: a leaked token must not be able to entrench itself.
    for t in [&ro, &bearer] {
        let r = t.post("/api/v1/me/tokens", &json!({"name": "escalate"}));
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(t.delete("/api/v1/me/tokens/1").status, 403);
        assert_eq!(t.post("/api/v1/auth/logout-all", &json!({})).status, 403);
    }
    assert_eq!(admin.get("/api/v1/me").status, 200);

    // Revoked and unknown tokens are refused with a clear message.
    let tokens = admin.get("/api/v1/me/tokens").json();
    let id = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "report")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(admin.delete(&format!("/api/v1/me/tokens/{id}")).status, 200);
    assert_eq!(ro.get("/api/v1/me").status, 401);
    // Someone else's token id is not found, not forbidden.
    assert_eq!(sales.delete(&format!("/api/v1/me/tokens/{id}")).status, 404);
    assert_eq!(
        Client::with_token(&srv, "rpt_nonsense")
            .get("/api/v1/me")
            .status,
        401
    );
}

fn admin_invariants_are_kept(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let me = admin.get("/api/v1/me").json();
    let admin_id = me["user"]["id"].as_i64().unwrap();
    let admin_role = me["roles"][0].clone();

    // Removing the last administrator's role, or admin.manage from the role: refused.
    let r = admin.put(
        &format!("/api/v1/admin/users/{admin_id}/roles"),
        &json!({"roles": []}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    let r = admin.put(
        &format!("/api/v1/admin/roles/{}", admin_role["id"]),
        &json!({"version": admin_role["version"], "name": "Administrator",
                "permissions": ["customers.view"], "data_scope": "all"}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        admin
            .post(
                &format!("/api/v1/admin/users/{admin_id}/disable"),
                &json!({})
            )
            .status,
        409
    );
    assert_eq!(
        admin.get("/api/v1/me").json()["is_admin"],
        true,
        "nothing changed"
    );

    // Unknown permissions and scopes are named.
    let r = admin.post(
        "/api/v1/admin/roles",
        &json!({"name": "x", "permissions": ["customers.fly"], "data_scope": "all"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["field"], "permissions");
    let r = admin.post(
        "/api/v1/admin/roles",
        &json!({"name": "x", "permissions": [], "data_scope": "galaxy"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // Department cycles are refused.
    let top = admin
        .post("/api/v1/admin/departments", &json!({"name": "总部"}))
        .json();
    let sub = admin
        .post(
            "/api/v1/admin/departments",
            &json!({"name": "华南区", "parent_id": top["id"]}),
        )
        .json();
    let r = admin.put(
        &format!("/api/v1/admin/departments/{}", top["id"]),
        &json!({"version": top["version"], "name": "总部", "parent_id": sub["id"]}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["field"], "parent_id");
    let r = admin.delete(&format!(
        "/api/v1/admin/departments/{}?version={}",
        top["id"], top["version"]
    ));
    assert_eq!(r.status, 409, "a department with sub-departments stays");

    // A stale version gets 409 with the current record.
    let ok = admin.put(
        &format!("/api/v1/admin/departments/{}", sub["id"]),
        &json!({"version": sub["version"], "name": "华南大区", "parent_id": top["id"]}),
    );
    assert_eq!(ok.status, 200);
    let stale = admin.put(
        &format!("/api/v1/admin/departments/{}", sub["id"]),
        &json!({"version": sub["version"], "name": "华南", "parent_id": top["id"]}),
    );
    assert_eq!(stale.status, 409);
    assert_eq!(stale.json()["current"]["name"], "华南大区");

    // Supervisor loops are refused.
    let a = create_user(&admin, "a@example.cn", "甲", "sales_manager", json!({}));
    let b = create_user(
        &admin,
        "b@example.cn",
        "乙",
        "salesperson",
        json!({"supervisor_id": a["id"]}),
    );
    let r = admin.put(
        &format!("/api/v1/admin/users/{}", a["id"]),
        &json!({"version": a["version"], "name": "甲", "supervisor_id": b["id"]}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["field"], "supervisor_id");
}

fn audit_trail_records_and_detects_tampering(backend: Backend) {
    use diesel::prelude::*;
    use rapport::core::db::schema::audit_log;
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let dep = admin
        .post("/api/v1/admin/departments", &json!({"name": "市场部"}))
        .json();
    create_user(
        &admin,
        "sun.li@example.cn",
        "孙丽",
        "salesperson",
        json!({"department_id": dep["id"]}),
    );

    let log = admin.get("/api/v1/admin/audit?entity=department").json();
    let row = &log["entries"][0];
    assert_eq!(row["action"], "create");
    assert_eq!(row["record_id"], dep["id"]);
    let changes: Value = serde_json::from_str(row["changes"].as_str().unwrap()).unwrap();
    assert_eq!(changes["name"], json!([null, "市场部"]));
    assert!(!row["request_id"].as_str().unwrap().is_empty());
    let users_log = admin.get("/api/v1/admin/audit?entity=user").json();
    assert!(
        !users_log["entries"][0]["changes"]
            .as_str()
            .unwrap()
            .contains("argon2"),
        "no hashes in the trail"
    );

    let mut conn = srv.db.connect();
    let v = rapport::core::audit::verify(&mut conn).unwrap();
    assert!(v.broken.is_none(), "{v:?}");
    assert!(v.rows >= 4);

    // Alter one row's content: detected at that row.
    let target: i64 = audit_log::table
        .filter(audit_log::entity.eq("department"))
        .select(audit_log::id)
        .first(&mut conn)
        .unwrap();
    diesel::update(audit_log::table.find(target))
        .set(audit_log::changes.eq("{}"))
        .execute(&mut conn)
        .unwrap();
    let v = rapport::core::audit::verify(&mut conn).unwrap();
    assert_eq!(v.broken.as_ref().map(|b| b.0), Some(target), "{v:?}");
}

fn data_scopes_resolve_to_owner_sets(backend: Backend) {
    use rapport::core::access::{DataScope, OwnerFilter, owners_for_scope};
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let hq = admin
        .post("/api/v1/admin/departments", &json!({"name": "总部"}))
        .json();
    let south = admin
        .post(
            "/api/v1/admin/departments",
            &json!({"name": "华南", "parent_id": hq["id"]}),
        )
        .json();
    let sz = admin
        .post(
            "/api/v1/admin/departments",
            &json!({"name": "深圳", "parent_id": south["id"]}),
        )
        .json();
    let north = admin
        .post(
            "/api/v1/admin/departments",
            &json!({"name": "华北", "parent_id": hq["id"]}),
        )
        .json();
    let mgr = create_user(
        &admin,
        "mgr@example.cn",
        "经理",
        "sales_manager",
        json!({"department_id": south["id"]}),
    );
    let s1 = create_user(
        &admin,
        "s1@example.cn",
        "销售一",
        "salesperson",
        json!({"department_id": south["id"], "supervisor_id": mgr["id"]}),
    );
    let s2 = create_user(
        &admin,
        "s2@example.cn",
        "销售二",
        "salesperson",
        json!({"department_id": sz["id"], "supervisor_id": s1["id"]}),
    );
    let s3 = create_user(
        &admin,
        "s3@example.cn",
        "销售三",
        "salesperson",
        json!({"department_id": north["id"]}),
    );
    let id = |v: &Value| v["id"].as_i64().unwrap();

    let mut conn = srv.db.connect();
    let mut owners = |user: &Value, dep: &Value, scope| match owners_for_scope(
        &mut conn,
        id(user),
        dep["id"].as_i64(),
        scope,
    )
    .unwrap()
    {
        OwnerFilter::Owners(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(owners(&s1, &south, DataScope::SelfOnly), vec![id(&s1)]);
    assert_eq!(
        owners(&mgr, &south, DataScope::SelfAndSubordinates),
        vec![id(&mgr), id(&s1), id(&s2)]
    );
    assert_eq!(
        owners(&s1, &south, DataScope::Department),
        vec![id(&mgr), id(&s1)]
    );
    assert_eq!(
        owners(&mgr, &south, DataScope::DepartmentAndChildren),
        vec![id(&mgr), id(&s1), id(&s2)]
    );
    assert_eq!(
        owners(&s3, &north, DataScope::DepartmentAndChildren),
        vec![id(&s3)]
    );
    assert_eq!(
        owners_for_scope(&mut conn, id(&s3), None, DataScope::All).unwrap(),
        OwnerFilter::All
    );
    // The salesperson's own grants: self scope on sales modules, nothing on admin.
    let me = Client::login(&srv, "s1@example.cn", PW)
        .get("/api/v1/me")
        .json();
    assert_eq!(me["grants"]["customers"]["view"], "self");
    assert_eq!(me["grants"]["customers"]["edit"], "self");
    assert!(me["grants"].get("admin").is_none());
}

/// A urlencoded form post from a page: session cookie, CSRF header and the
/// page it was sent from as `Referer`.
fn post_page_form(c: &Client, path: &str, form: &str, referer: &str) -> common::Response {
    let mut req = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("{}{path}", c.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Referer", format!("{}{referer}", c.base));
    if let Some(k) = &c.cookie {
        req = req.header("Cookie", k);
    }
    if let Some(t) = &c.csrf {
        req = req.header("X-CSRF-Token", t);
    }
    common::Response::from(c.agent.run(req.body(form.to_string()).unwrap()))
}

fn zh_admin_sees_translated_log_labels(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let r = Client::anonymous(&srv).post(
        "/api/v1/auth/login",
        &json!({"email": ADMIN_EMAIL, "password": "wrong-password-1"}),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    Client::login(&srv, ADMIN_EMAIL, ADMIN_PASSWORD);
    let r = admin.post("/api/v1/admin/departments", &json!({"name": "华南销售部"}));
    assert_eq!(r.status, 201, "{}", r.body);
    let r = admin.post("/api/v1/me/tokens", &json!({"name": "erp"}));
    assert_eq!(r.status, 201, "{}", r.body);

    let page = admin.get("/admin/audit");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"<html lang="zh-CN">"#));
    for label in ["新建", "部门", "API 令牌", "用户", "系统初始化", "公司"] {
        assert!(page.body.contains(label), "audit page lacks {label}");
    }
    // The raw codes stay visible for filtering.
    for code in [
        r#"title="create""#,
        r#"title="department""#,
        r#"title="api_token""#,
    ] {
        assert!(page.body.contains(code), "audit page lacks {code}");
    }
    assert!(
        !page.body.contains("<td>create</td>") && !page.body.contains("<td>api_token</td>"),
        "untranslated codes in cells"
    );
    let filtered = admin.get("/admin/audit?entity=api_token");
    assert!(filtered.body.contains("API 令牌") && !filtered.body.contains(r#"title="department""#));

    let page = admin.get("/admin/login-log");
    assert_eq!(page.status, 200, "{}", page.body);
    for label in [
        "密码错误",
        "登录成功",
        r#"title="wrong_password""#,
        r#"title="ok""#,
    ] {
        assert!(page.body.contains(label), "login log lacks {label}");
    }

    // The same pages in English once the admin switches.
    let r = admin.put("/api/v1/me", &json!({"language": "en"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let page = admin.get("/admin/login-log");
    assert!(page.body.contains("Wrong password") && page.body.contains("Logged in"));
    let page = admin.get("/admin/audit");
    assert!(page.body.contains("API token") && page.body.contains("First-run setup"));
}

fn users_choose_their_language_and_time_zone(backend: Backend) {
    let srv = TestServer::start(&backend);
    // Setup refuses an unknown zone, naming the field.
    let token = {
        let mut conn = srv.db.connect();
        rapport::core::setup::issue_token(&mut conn)
            .unwrap()
            .unwrap()
    };
    let r = Client::anonymous(&srv).post(
        "/api/v1/setup",
        &json!({"token": token, "admin_email": ADMIN_EMAIL, "admin_password": ADMIN_PASSWORD,
               "time_zone": "Mars/Olympus"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["field"], "time_zone");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("Asia/Shanghai")
    );
    let admin = setup_admin(&srv);
    let user = create_user(
        &admin,
        "wang.fang@example.cn",
        "王芳",
        "salesperson",
        json!({}),
    );
    let uid = user["id"].as_i64().unwrap();

    let c = Client::login(&srv, "wang.fang@example.cn", PW);
    let r = c.put(
        "/api/v1/me",
        &json!({"language": "en", "time_zone": "Europe/London"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["user"]["language"], "en");
    assert_eq!(r.json()["user"]["time_zone"], "Europe/London");
    let home = c.get("/");
    assert!(home.body.contains(r#"<html lang="en">"#), "{}", home.body);
    assert!(home.body.contains("Log out"));

    // Bad input: 400 naming the field, nothing changed.
    for (body, field) in [
        (json!({"time_zone": "Mars/Olympus"}), "time_zone"),
        (json!({"language": "fr"}), "language"),
        (json!({"language": ""}), "language"),
        (json!({"name": ""}), "name"),
    ] {
        let r = c.put("/api/v1/me", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.json()["field"], field, "{body}: {}", r.body);
    }
    // Department, supervisor and roles stay an administrator's business.
    let r = c.put("/api/v1/me", &json!({"department_id": 1}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("department_id"), "{}", r.body);
    let msg = c
        .put("/api/v1/me", &json!({"time_zone": "Mars/Olympus"}))
        .json()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("Mars/Olympus") && msg.contains("Asia/Shanghai"),
        "{msg}"
    );
    let me = c.get("/api/v1/me").json();
    assert_eq!(me["user"]["language"], "en");
    assert_eq!(me["user"]["time_zone"], "Europe/London");
    let mut no_csrf = c.clone();
    no_csrf.csrf = None;
    assert_eq!(
        no_csrf
            .put("/api/v1/me", &json!({"language": "zh-CN"}))
            .status,
        403
    );
    let secret = c.post(
        "/api/v1/me/tokens",
        &json!({"name": "ro", "read_only": true}),
    );
    let ro = Client::with_token(&srv, secret.json()["token"].as_str().unwrap());
    assert_eq!(
        ro.put("/api/v1/me", &json!({"language": "zh-CN"})).status,
        403
    );

    // The change is in the audit trail, by the user themselves.
    let log = admin
        .get(&format!("/api/v1/admin/audit?entity=user&record_id={uid}"))
        .json();
    let own = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "update" && e["user_id"] == uid)
        .expect("audit row of the user's own change");
    assert!(own["changes"].as_str().unwrap().contains("Europe/London"));

    // The header switch saves the choice and goes back to the page.
    let r = post_page_form(&c, "/lang", "to=zh-CN", "/account/tokens");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/account/tokens"));
    assert_eq!(c.get("/api/v1/me").json()["user"]["language"], "zh-CN");
    assert!(
        c.get("/account/tokens")
            .body
            .contains(r#"<html lang="zh-CN">"#)
    );
    let mut no_csrf = c.clone();
    no_csrf.csrf = None;
    assert_eq!(post_page_form(&no_csrf, "/lang", "to=en", "/").status, 403);

    // The account page form.
    let page = c.get("/account");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("语言和时区") && page.body.contains("Europe/London"));
    let r = post_page_form(
        &c,
        "/account",
        "name=%E7%8E%8B%E8%8A%B3&language=en&time_zone=Asia%2FTokyo",
        "/account",
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let page = c.get("/account?saved=1");
    assert!(page.body.contains(r#"<html lang="en">"#) && page.body.contains("Asia/Tokyo"));
    assert!(page.body.contains("Your settings are saved."));
    let r = post_page_form(
        &c,
        "/account",
        "name=%E7%8E%8B%E8%8A%B3&language=en&time_zone=Mars%2FOlympus",
        "/account",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("Mars/Olympus") && r.body.contains(r#"aria-invalid="true""#));
    assert_eq!(
        c.get("/api/v1/me").json()["user"]["time_zone"],
        "Asia/Tokyo"
    );

    // An administrator's edit is held to the same zones.
    let u = admin.get(&format!("/api/v1/admin/users/{uid}")).json()["user"].clone();
    let r = admin.put(
        &format!("/api/v1/admin/users/{uid}"),
        &json!({"version": u["version"], "name": "王芳", "time_zone": "Mars/Olympus"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["field"], "time_zone");
}

/// The value of the hidden `_csrf` field in a rendered form.
fn hidden_csrf(html: &str) -> String {
    let (_, rest) = html
        .split_once(r#"name="_csrf" value=""#)
        .unwrap_or_else(|| panic!("no _csrf field in {html}"));
    rest.split('"').next().unwrap().to_string()
}

/// `name=value` of a `Set-Cookie` header, for sending back.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn login_with_headers(
    srv: &TestServer,
    email: &str,
    pw: &str,
    headers: &[(&str, &str)],
) -> common::Response {
    srv.request(
        "POST",
        "/api/v1/auth/login",
        headers,
        Some((
            "application/json",
            &json!({"email": email, "password": pw}).to_string(),
        )),
    )
}

fn forwarded_headers_are_ignored_from_untrusted_peers(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let spoofed = [
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-Proto", "https"),
    ];
    let r = login_with_headers(&srv, ADMIN_EMAIL, ADMIN_PASSWORD, &spoofed);
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r.set_cookie("rapport_session").unwrap();
    assert!(!cookie.to_lowercase().contains("secure"), "{cookie}");
    assert!(r.header("strict-transport-security").is_none());
    let r = login_with_headers(&srv, "nobody@example.cn", "wrong-password", &spoofed);
    assert_eq!(r.status, 401);

    let log = admin.get("/api/v1/admin/login-log?limit=10").json();
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries[0]["reason"], "unknown_user");
    for e in &entries[..2] {
        assert_eq!(
            e["ip"], "127.0.0.1",
            "spoofed X-Forwarded-For believed: {e}"
        );
    }
}

fn trusted_proxy_forwards_client_address_and_https(backend: Backend) {
    let srv = TestServer::start_with(&backend, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
        s.auth.ip_max_failures = 3;
    });
    setup_admin(&srv);
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];

    // One forwarded client guessing is throttled; prepending an address of
    // its own choosing does not get it out.
    for _ in 0..3 {
        let r = login_with_headers(
            &srv,
            "nobody@example.cn",
            "guess-1234",
            &from("198.51.100.1"),
        );
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let r = login_with_headers(&srv, ADMIN_EMAIL, ADMIN_PASSWORD, &from("198.51.100.1"));
    assert_eq!(r.status, 429, "{}", r.body);
    let r = login_with_headers(
        &srv,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        &from("10.9.9.9, 198.51.100.1"),
    );
    assert_eq!(r.status, 429, "{}", r.body);

    // Another client behind the same proxy is not blocked.
    let r = login_with_headers(&srv, ADMIN_EMAIL, ADMIN_PASSWORD, &from("198.51.100.2"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.set_cookie("rapport_session")
            .unwrap()
            .to_lowercase()
            .contains("secure"),
        "plain HTTP without X-Forwarded-Proto"
    );
    assert!(r.header("strict-transport-security").is_none());
    let mut admin = Client::anonymous(&srv);
    admin.adopt_session(&r);

    // X-Forwarded-Proto: https from the proxy: Secure cookies and HSTS.
    let r = login_with_headers(
        &srv,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        &[
            ("X-Forwarded-For", "198.51.100.2"),
            ("X-Forwarded-Proto", "https"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r.set_cookie("rapport_session").unwrap().to_lowercase();
    assert!(
        cookie.contains("secure") && cookie.contains("httponly"),
        "{cookie}"
    );
    assert!(
        r.header("strict-transport-security")
            .is_some_and(|h| h.contains("max-age=")),
        "{:?}",
        r.headers
    );
    let r = srv.request("GET", "/login", &[("X-Forwarded-Proto", "https")], None);
    assert_eq!(r.status, 200);
    assert!(
        r.set_cookie("rapport_form")
            .unwrap()
            .to_lowercase()
            .contains("secure")
    );
    assert!(r.header("strict-transport-security").is_some());

    // The audit trail names the forwarded client too.
    let dep = srv.request(
        "POST",
        "/api/v1/admin/departments",
        &[
            ("Cookie", admin.cookie.as_deref().unwrap()),
            ("X-CSRF-Token", admin.csrf.as_deref().unwrap()),
            ("X-Forwarded-For", "198.51.100.2"),
        ],
        Some(("application/json", r#"{"name":"渠道部"}"#)),
    );
    assert_eq!(dep.status, 201, "{}", dep.body);
    let audit = admin.get("/api/v1/admin/audit?entity=department").json();
    assert_eq!(audit["entries"][0]["ip"], "198.51.100.2");

    let log = admin.get("/api/v1/admin/login-log?limit=20").json();
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries[0]["ip"], "198.51.100.2");
    assert_eq!(entries[0]["success"], true);
    let failed: Vec<&Value> = entries.iter().filter(|e| e["success"] == false).collect();
    assert_eq!(failed.len(), 5, "{entries:?}");
    assert!(
        failed.iter().all(|e| e["ip"] == "198.51.100.1"),
        "{failed:?}"
    );
    assert_eq!(
        failed.iter().filter(|e| e["reason"] == "throttled").count(),
        2
    );
}

fn login_and_setup_forms_need_their_csrf_token(backend: Backend) {
    let srv = TestServer::start(&backend);
    let token = {
        let mut conn = srv.db.connect();
        rapport::core::setup::issue_token(&mut conn)
            .unwrap()
            .unwrap()
    };
    let form = "application/x-www-form-urlencoded";
    let page = srv.get(&format!("/setup?token={token}"));
    assert_eq!(page.status, 200, "{}", page.body);
    let set = page.set_cookie("rapport_form").expect("form cookie");
    let lower = set.to_lowercase();
    assert!(
        lower.contains("httponly")
            && lower.contains("samesite=strict")
            && lower.contains("max-age="),
        "{set}"
    );
    let cookie = cookie_pair(set);
    let csrf = hidden_csrf(&page.body);
    assert_eq!(cookie, format!("rapport_form={csrf}"));

    let fields = |csrf: &str| {
        form_body(&[
            ("_csrf", csrf),
            ("token", &token),
            ("company", "星河科技"),
            ("language", "zh-CN"),
            ("time_zone", "Asia/Shanghai"),
            ("admin_email", ADMIN_EMAIL),
            ("admin_name", "管理员"),
            ("admin_password", ADMIN_PASSWORD),
            ("password_confirm", ADMIN_PASSWORD),
        ])
    };
    // No token, a wrong one, or the token without its cookie: refused.
    for (headers, body) in [
        (vec![("Cookie", cookie.as_str())], fields("")),
        (vec![("Cookie", cookie.as_str())], fields(&"0".repeat(48))),
        (vec![], fields(&csrf)),
    ] {
        let r = srv.request("POST", "/setup", &headers, Some((form, &body)));
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("表单已过期"), "{}", r.body);
        assert!(r.set_cookie("rapport_session").is_none());
    }
    // A cross-site post with the right token is refused too.
    let r = srv.request(
        "POST",
        "/setup",
        &[("Cookie", &cookie), ("Origin", "http://evil.example")],
        Some((form, &fields(&csrf))),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("cross-site"), "{}", r.body);
    // The real form works.
    let origin = srv.base.clone();
    let r = srv.request(
        "POST",
        "/setup",
        &[("Cookie", &cookie), ("Origin", &origin)],
        Some((form, &fields(&csrf))),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.set_cookie("rapport_session").is_some());

    // The login form, likewise.
    let page = srv.get("/login");
    assert_eq!(page.status, 200);
    let cookie = cookie_pair(page.set_cookie("rapport_form").unwrap());
    let csrf = hidden_csrf(&page.body);
    let creds = |csrf: &str| {
        form_body(&[
            ("_csrf", csrf),
            ("next", "/"),
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
        ])
    };
    let r = srv.request(
        "POST",
        "/login",
        &[("Cookie", &cookie)],
        Some((form, &creds(""))),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.set_cookie("rapport_session").is_none());
    // The refused page offers a fresh form that works.
    let retry = hidden_csrf(&r.body);
    assert!(!retry.is_empty());
    let r = srv.request(
        "POST",
        "/login",
        &[("Cookie", &cookie), ("Origin", "https://evil.example:8080")],
        Some((form, &creds(&csrf))),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.set_cookie("rapport_session").is_none());
    let r = srv.request(
        "POST",
        "/login",
        &[("Cookie", &cookie), ("Origin", &origin)],
        Some((form, &creds(&csrf))),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.set_cookie("rapport_session").is_some());
    assert!(
        r.set_cookie("rapport_form")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the form cookie is removed at login: {:?}",
        r.headers
    );

    // Refused form posts are not login attempts.
    let admin = Client::login(&srv, ADMIN_EMAIL, ADMIN_PASSWORD);
    let log = admin.get("/api/v1/admin/login-log").json();
    assert_eq!(log["entries"].as_array().unwrap().len(), 2, "{log}");

    // The JSON API needs no form token, but refuses a foreign Origin.
    let r = login_with_headers(
        &srv,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"], "forbidden");
    let r = login_with_headers(&srv, ADMIN_EMAIL, ADMIN_PASSWORD, &[("Origin", &origin)]);
    assert_eq!(r.status, 200, "{}", r.body);
}

fn bad_query_parameters_are_json_errors(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let dep = admin
        .post("/api/v1/admin/departments", &json!({"name": "客服部"}))
        .json();

    let r = admin.get("/api/v1/admin/login-log?limit=abc");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.header("content-type").unwrap().contains("json"));
    assert_eq!(r.json()["error"], "invalid");
    assert_eq!(r.json()["field"], "limit");
    let r = admin.get("/api/v1/admin/login-log?user_id=1&limit=abc");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid");
    let r = admin.get("/api/v1/admin/audit?from=yesterday");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["field"], "from");
    let r = admin.get("/api/v1/admin/users/abc");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid");
    assert_eq!(r.json()["field"], "id");

    // Dates alone filter by whole days; `to` includes its day.
    let all = admin.get("/api/v1/admin/audit?entity=department").json();
    let row = &all["entries"][0];
    assert_eq!(row["record_id"], dep["id"]);
    let day =
        chrono::NaiveDate::parse_from_str(&row["at"].as_str().unwrap()[..10], "%Y-%m-%d").unwrap();
    let count = |q: String| {
        let r = admin.get(&format!("/api/v1/admin/audit?entity=department&{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        r.json()["entries"].as_array().unwrap().len()
    };
    let (prev, next) = (day.pred_opt().unwrap(), day.succ_opt().unwrap());
    assert_eq!(count(format!("from={day}")), 1);
    assert_eq!(count(format!("from={day}&to={day}")), 1);
    assert_eq!(count(format!("to={day}")), 1);
    assert_eq!(count(format!("to={prev}")), 0);
    assert_eq!(count(format!("from={next}")), 0);
    assert_eq!(count(format!("from={day}T00:00:00&to={next}T00:00:00")), 1);
    assert_eq!(count(format!("to={day}T00:00:00")), 0);
}

both_backends!(
    setup_needs_the_token_and_works_once,
    login_csrf_and_sessions,
    lockout_after_repeated_failures_and_its_expiry,
    disabling_ends_sessions_and_tokens_at_once,
    tokens_never_exceed_their_owner,
    admin_invariants_are_kept,
    audit_trail_records_and_detects_tampering,
    data_scopes_resolve_to_owner_sets,
    zh_admin_sees_translated_log_labels,
    users_choose_their_language_and_time_zone,
    forwarded_headers_are_ignored_from_untrusted_peers,
    trusted_proxy_forwards_client_address_and_https,
    login_and_setup_forms_need_their_csrf_token,
    bad_query_parameters_are_json_errors,
);
