//! The administrators' settings and backup pages, driven as a browser
//! would: urlencoded form posts with the session cookie and the CSRF token
//! in the action URL, on both backends.

mod common;

use std::time::{Duration, Instant};

use common::{
    Backend, Client, PW, Response, TestServer, create, id, setup_admin, url_encode, user,
};
use serde_json::json;

/// Post a urlencoded form the way the pages' forms do (`?_csrf=` in the URL).
fn post_form(c: &Client, path: &str, pairs: &[(&str, &str)]) -> Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let sep = if path.contains('?') { '&' } else { '?' };
    let csrf = c.csrf.clone().unwrap_or_default();
    let mut req = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("{}{path}{sep}_csrf={csrf}", c.base))
        .header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(k) = &c.cookie {
        req = req.header("Cookie", k);
    }
    Response::from(c.agent.run(req.body(body).unwrap()))
}

/// A page in English (the admin's language is Chinese otherwise).
fn english(c: &Client) {
    let r = c.put("/api/v1/me", &json!({"language": "en"}));
    assert_eq!(r.status, 200, "{}", r.body);
}

fn audit_actions(admin: &Client, entity: &str) -> Vec<String> {
    admin
        .get(&format!("/api/v1/admin/audit?entity={entity}"))
        .json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

fn pipeline_named(admin: &Client, name: &str) -> serde_json::Value {
    admin.get("/api/v1/pipelines").json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no pipeline {name}"))
        .clone()
}

fn pipeline_pages(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    english(&admin);
    let dept = create(&admin, "admin/departments", json!({"name": "华南销售部"}));
    let page = admin.get("/settings/pipelines/new");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("华南销售部"), "departments offered");

    // "Add a stage" re-renders the form with one more row, nothing saved.
    let typed = [
        ("name", "华南项目"),
        ("position", "0"),
        ("active", "1"),
        ("stage_id", ""),
        ("stage_name", "初步接洽"),
        ("stage_probability", "10"),
    ];
    let mut with_op = typed.to_vec();
    with_op.push(("op", "add"));
    let r = post_form(&admin, "/settings/pipelines", &with_op);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#"id="stage-1-name""#), "{}", r.body);
    assert!(r.body.contains(r#"value="初步接洽""#), "typed values kept");

    // Save two stages, limited to one department.
    let dept_id = id(&dept).to_string();
    let r = post_form(
        &admin,
        "/settings/pipelines",
        &[
            ("name", "华南项目"),
            ("position", "0"),
            ("active", "1"),
            ("departments", &dept_id),
            ("stage_id", ""),
            ("stage_name", "初步接洽"),
            ("stage_probability", "10"),
            ("stage_id", ""),
            ("stage_name", "方案报价"),
            ("stage_probability", "50"),
            ("op", "save"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/settings/pipelines?saved=1"));
    let p = pipeline_named(&admin, "华南项目");
    let stages: Vec<(String, i64)> = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["probability"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        vec![("初步接洽".into(), 10), ("方案报价".into(), 50)]
    );
    assert_eq!(p["departments"], json!([id(&dept)]));
    let list = admin.get("/settings/pipelines");
    assert!(list.body.contains("华南项目"), "{}", list.body);

    let pid = id(&p);
    let edit = admin.get(&format!("/settings/pipelines/{pid}"));
    assert_eq!(edit.status, 200, "{}", edit.body);
    let s0 = p["stages"][0]["id"].to_string();
    let s1 = p["stages"][1]["id"].to_string();
    let version = p["version"].to_string();
    let stage_form = |first: (&str, &str, &str), second: (&str, &str, &str), op: &str| {
        post_form(
            &admin,
            &format!("/settings/pipelines/{pid}"),
            &[
                ("version", version.as_str()),
                ("name", "华南项目"),
                ("position", "0"),
                ("active", "1"),
                ("stage_id", first.0),
                ("stage_name", first.1),
                ("stage_probability", first.2),
                ("stage_id", second.0),
                ("stage_name", second.1),
                ("stage_probability", second.2),
                ("op", op),
            ],
        )
    };

    // Down on the first row swaps the rows, unsaved.
    let r = stage_form((&s0, "初步接洽", "10"), (&s1, "方案报价", "50"), "down-0");
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.body.find(r#"value="方案报价""#).unwrap();
    let b = r.body.find(r#"value="初步接洽""#).unwrap();
    assert!(a < b, "rows swapped");
    assert_eq!(
        pipeline_named(&admin, "华南项目")["stages"][0]["name"],
        "初步接洽"
    );

    // A probability the store refuses is shown next to its input, typed values kept.
    let r = stage_form((&s0, "初步接洽", "10"), (&s1, "方案报价", "150"), "save");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains(r#"aria-invalid="true" aria-describedby="stage-1-probability-error""#),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains(r#"id="stage-1-probability-error">A win probability from 0 to 100 (%).</p>"#),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"value="150""#), "typed value kept");
    // Not a number: refused at the same field before the store.
    let r = stage_form((&s0, "初步接洽", "ten"), (&s1, "方案报价", "50"), "save");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains(r#"id="stage-0-probability-error""#),
        "{}",
        r.body
    );

    // Reordered and saved: the API shows the new order.
    let r = stage_form((&s1, "方案报价", "50"), (&s0, "初步接洽", "10"), "save");
    assert_eq!(r.status, 303, "{}", r.body);
    let now = pipeline_named(&admin, "华南项目");
    assert_eq!(now["stages"][0]["name"], "方案报价");

    // The old version again: the conflict is explained, the current values shown.
    let r = stage_form((&s0, "初步接洽", "20"), (&s1, "方案报价", "60"), "save");
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("Someone else changed this"), "{}", r.body);
    assert!(r.body.contains("What you typed"), "{}", r.body);
    assert!(
        r.body
            .contains(&format!(r#"name="version" value="{}""#, now["version"])),
        "the form now carries the current version"
    );

    // A stage that holds an opportunity cannot be dropped; a used pipeline
    // cannot be deleted: both explained on the form.
    let customer = create(&admin, "customers", json!({"name": "星河科技"}));
    create(
        &admin,
        "opportunities",
        json!({"name": "大单", "customer_id": id(&customer), "pipeline_id": pid, "stage_id": now["stages"][0]["id"]}),
    );
    let v = now["version"].to_string();
    let kept = now["stages"][1]["id"].to_string();
    let r = post_form(
        &admin,
        &format!("/settings/pipelines/{pid}"),
        &[
            ("version", v.as_str()),
            ("name", "华南项目"),
            ("active", "1"),
            ("stage_id", kept.as_str()),
            ("stage_name", "初步接洽"),
            ("stage_probability", "10"),
            ("op", "save"),
        ],
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("still holds 1 opportunities"), "{}", r.body);
    let r = post_form(&admin, &format!("/settings/pipelines/{pid}/delete"), &[]);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("holds 1 opportunities"), "{}", r.body);
    assert!(
        pipeline_named(&admin, "华南项目")["stages"]
            .as_array()
            .unwrap()
            .len()
            == 2
    );

    let actions = audit_actions(&admin, "pipelines");
    assert!(
        actions.contains(&"create".to_string()) && actions.contains(&"update".to_string()),
        "{actions:?}"
    );
}

fn custom_field_pages(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    english(&admin);
    let page = admin.get("/settings/fields?entity=contacts");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"aria-current="page""#));
    let field = |key: &str, default: &str| {
        post_form(
            &admin,
            "/settings/fields",
            &[
                ("entity", "customers"),
                ("key", key),
                ("label_zh", "客户来源"),
                ("label_en", "Source"),
                ("kind", "single_select"),
                ("options", "展会\n转介绍\n"),
                ("default", default),
                ("help", "第一次接触的渠道"),
                ("sort_order", "2"),
                ("required", "1"),
                ("active", "1"),
            ],
        )
    };
    // A bad key, then a default that is not an option: each next to its field.
    let r = field("Bad Key", "");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains(r#"aria-describedby="key-hint key-error" aria-invalid="true""#),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("Lower-case letters, digits and _"),
        "{}",
        r.body
    );
    let r = field("source", "广告");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains(r#"id="default-error""#), "{}", r.body);
    assert!(
        r.body.contains(r#"value="广告""#) && r.body.contains("转介绍"),
        "typed values kept"
    );
    let r = field("source", "展会");
    assert_eq!(r.status, 303, "{}", r.body);
    let defs = admin.get("/api/v1/custom-fields?entity=customers").json()["fields"].clone();
    let def = &defs[0];
    assert_eq!(
        (
            def["key"].as_str(),
            def["kind"].as_str(),
            def["required"].as_bool()
        ),
        (Some("source"), Some("single_select"), Some(true))
    );
    assert_eq!(def["options"], json!(["展会", "转介绍"]));
    assert_eq!(def["default"], "展会");
    let fid = id(def);
    // Edit with a stale version: the conflict and the current labels.
    let edit = |version: &str, label: &str| {
        post_form(
            &admin,
            &format!("/settings/fields/{fid}"),
            &[
                ("version", version),
                ("entity", "customers"),
                ("key", "source"),
                ("kind", "single_select"),
                ("label_zh", label),
                ("label_en", "Source"),
                ("options", "展会\n转介绍"),
                ("active", "1"),
            ],
        )
    };
    let v1 = def["version"].to_string();
    assert_eq!(edit(&v1, "来源渠道").status, 303);
    let r = edit(&v1, "渠道");
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains(r#"value="来源渠道""#),
        "current value shown: {}",
        r.body
    );
    let list = admin.get("/settings/fields?entity=customers&saved=1");
    assert!(
        list.body.contains("Source") && list.body.contains("Saved."),
        "{}",
        list.body
    );
    let r = post_form(&admin, &format!("/settings/fields/{fid}/delete"), &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        admin.get("/api/v1/custom-fields?entity=customers").json()["fields"],
        json!([])
    );
    let actions = audit_actions(&admin, "custom_field");
    assert_eq!(actions, vec!["delete", "update", "create"]);
}

fn followup_type_page(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let page = admin.get("/settings/followup-types");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"value="visit""#), "{}", page.body);
    // Up on the second row, unsaved.
    let r = post_form(
        &admin,
        "/settings/followup-types",
        &[("type", "call"), ("type", "visit"), ("op", "up-1")],
    );
    assert_eq!(r.status, 200);
    assert!(r.body.find(r#"value="visit""#) < r.body.find(r#"value="call""#));
    let r = post_form(
        &admin,
        "/settings/followup-types",
        &[("type", "上门拜访"), ("type", " "), ("op", "save")],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains(r#"aria-describedby="type-1-error""#),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("每个类型 1 到 30 个字符"),
        "in the admin's language: {}",
        r.body
    );
    let r = post_form(
        &admin,
        "/settings/followup-types",
        &[("type", "上门拜访"), ("type", "电话"), ("op", "save")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        admin.get("/api/v1/followup-types").json()["types"],
        json!(["上门拜访", "电话"])
    );
    assert_eq!(audit_actions(&admin, "settings")[0], "update");
}

fn pool_pages(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    english(&admin);
    let dept = create(&admin, "admin/departments", json!({"name": "华东销售部"}));
    let lead = user(&admin, "lead@example.cn", "salesperson", json!({}));
    let page = admin.get("/settings/pools/new");
    assert_eq!(page.status, 200, "{}", page.body);
    let (d, u) = (id(&dept).to_string(), lead.to_string());
    let pool = |claims: &str| {
        post_form(
            &admin,
            "/settings/pools",
            &[
                ("name", "华东公海"),
                ("description", "华东区域"),
                ("active", "1"),
                ("no_follow_up.days", "30"),
                ("no_follow_up.level", "A"),
                ("no_follow_up.level_days", "60"),
                ("no_follow_up.level", ""),
                ("no_follow_up.level_days", ""),
                ("no_opportunity.days", "0"),
                ("not_won.days", "90"),
                ("exempt_won", "1"),
                ("warn_days", "3"),
                ("claims_per_day", claims),
                ("max_owned", "0"),
                ("reclaim_cooldown_days", "7"),
                ("member_department", &d),
                ("member_user", &u),
                ("admin_user", &u),
            ],
        )
    };
    let r = pool("lots");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains(r#"id="claims_per_day-error""#),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"value="lots""#), "typed value kept");
    let r = pool("999999");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains(r#"id="claims_per_day-error">between 0 and 100000"#),
        "{}",
        r.body
    );
    let r = pool("5");
    assert_eq!(r.status, 303, "{}", r.body);
    let p = admin.get("/api/v1/pools").json()["items"][0].clone();
    assert_eq!(p["name"], "华东公海");
    assert_eq!(
        p["rules"]["no_follow_up"],
        json!({"days": 30, "by_level": {"A": 60}})
    );
    assert_eq!(p["rules"]["claims_per_day"], 5);
    assert_eq!(p["rules"]["exempt_won"], true);
    assert_eq!(
        p["members"],
        json!([{"user_id": null, "department_id": id(&dept), "is_admin": false}, {"user_id": lead, "department_id": null, "is_admin": true}])
    );
    let pid = id(&p);
    let edit = admin.get(&format!("/settings/pools/{pid}"));
    assert!(edit.body.contains(r#"value="60""#), "{}", edit.body);
    // A pool holding a customer cannot be deleted.
    let c = create(&admin, "customers", json!({"name": "退回客户"}));
    let r = admin.post(
        &format!("/api/v1/pools/{pid}/put"),
        &json!({"customer_ids": [id(&c)], "reason": "不再跟进"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_form(&admin, &format!("/settings/pools/{pid}/delete"), &[]);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("holds 1 customers"), "{}", r.body);
    assert!(audit_actions(&admin, "pools").contains(&"create".to_string()));
}

fn non_admins_are_refused(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    user(&admin, "sales@example.cn", "salesperson", json!({}));
    let sales = Client::login(&srv, "sales@example.cn", PW);
    for path in [
        "/settings",
        "/settings/pipelines",
        "/settings/pipelines/new",
        "/settings/pipelines/1",
        "/settings/fields",
        "/settings/fields/new",
        "/settings/fields/1",
        "/settings/pools",
        "/settings/pools/new",
        "/settings/pools/1",
        "/settings/followup-types",
        "/admin/backups",
        "/admin/backups/status",
        "/admin/backups/download/rapport-20260101T000000Z.tar.zst",
    ] {
        assert_eq!(sales.get(path).status, 403, "GET {path}");
    }
    for path in [
        "/settings/pipelines",
        "/settings/pipelines/1",
        "/settings/pipelines/1/delete",
        "/settings/fields",
        "/settings/fields/1",
        "/settings/fields/1/delete",
        "/settings/pools",
        "/settings/pools/1",
        "/settings/pools/1/delete",
        "/settings/followup-types",
        "/admin/backups/run",
        "/admin/backups/verify/rapport-20260101T000000Z.tar.zst",
    ] {
        let r = post_form(&sales, path, &[("name", "x"), ("type", "x")]);
        assert_eq!(r.status, 403, "POST {path}: {}", r.body);
    }
    // Logged out: the login page, not the settings.
    let r = srv.get("/settings/pipelines");
    assert_eq!(r.status, 303);
    assert!(r.header("location").unwrap().starts_with("/login"));
    // The nav shows the links to administrators only.
    assert!(admin.get("/").body.contains(r#"href="/settings""#));
    assert!(!sales.get("/").body.contains(r#"href="/settings""#));
}

fn backup_page(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    create(&admin, "customers", json!({"name": "备份客户"}));
    let page = admin.get("/admin/backups");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("每天 02:30"),
        "the schedule: {}",
        page.body
    );
    assert!(page.body.contains("rapport.toml"));

    let r = post_form(&admin, "/admin/backups/run", &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/admin/backups?started=1"));
    // Poll the status fragment as htmx does until the run has finished.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let s = admin.get("/admin/backups/status");
        assert_eq!(s.status, 200, "{}", s.body);
        if !s.body.contains("hx-trigger=\"every 1s\"") {
            break s;
        }
        assert!(Instant::now() < deadline, "the backup did not finish");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.body.contains("上次备份已完成并通过校验"),
        "{}",
        status.body
    );
    let dir = srv.data_dir.join("backups");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    assert!(rapport::core::backup::verify_archive(&dir.join(name), None).is_ok());
    let page = admin.get("/admin/backups");
    assert!(page.body.contains(name.as_str()), "listed: {}", page.body);
    assert!(page.body.contains("已校验"), "verified: {}", page.body);

    let r = admin.get(&format!("/admin/backups/download/{name}"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"{name}\"").as_str())
    );
    let size = std::fs::metadata(dir.join(name)).unwrap().len();
    assert_eq!(r.header("content-length"), Some(size.to_string().as_str()));

    // Only archives of the backup directory, by name.
    std::fs::write(srv.data_dir.join("secret.txt"), "x").unwrap();
    for bad in [
        "..%2Fsecret.txt".to_string(),
        url_encode("../secret.txt"),
        url_encode(&format!("../backups/{name}")),
        "rapport-20200101T000000Z.tar.zst".to_string(),
        "secret.txt".to_string(),
    ] {
        let r = admin.get(&format!("/admin/backups/download/{bad}"));
        assert_eq!(r.status, 404, "{bad}: {}", r.body);
    }
    let r = post_form(&admin, &format!("/admin/backups/verify/{name}"), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("所有校验和均一致"), "{}", r.body);

    let actions = audit_actions(&admin, "backups");
    assert_eq!(actions, vec!["verify", "download", "backup"], "{actions:?}");
}

both_backends!(
    pipeline_pages,
    custom_field_pages,
    followup_type_page,
    pool_pages,
    non_admins_are_refused,
    backup_page,
);
