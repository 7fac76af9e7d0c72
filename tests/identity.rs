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

both_backends!(
    setup_needs_the_token_and_works_once,
    login_csrf_and_sessions,
    lockout_after_repeated_failures_and_its_expiry,
    disabling_ends_sessions_and_tokens_at_once,
    tokens_never_exceed_their_owner,
    admin_invariants_are_kept,
    audit_trail_records_and_detects_tampering,
    data_scopes_resolve_to_owner_sets,
);
