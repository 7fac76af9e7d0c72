//! The import, data-quality and export-limit pages over HTTP on both
//! backends, as a user meets them: upload a file through the form, check the
//! mapping and the preview, run it with a progress bar, fetch the rejected
//! rows, undo; bad files explained on the page; the duplicate page within
//! the caller's scope, merge and its undo; the per-role export limits.

mod common;

use std::time::Duration;

use common::{Backend, Client, PW, TestServer, create, id, setup_admin, url_encode, user};
use serde_json::{Value, json};

const BOUNDARY: &str = "----rapport-test-7MA4YWxkTrZu0gW";

/// A multipart form with one file field, as a browser sends it.
fn multipart(file_name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn upload(c: &Client, path: &str, file_name: &str, bytes: &[u8]) -> common::Response {
    c.post_bytes(
        path,
        &multipart(file_name, bytes),
        &format!("multipart/form-data; boundary={BOUNDARY}"),
    )
}

fn form(c: &Client, path: &str, pairs: &[(&str, &str)]) -> common::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish();
    c.post_bytes(path, body.as_bytes(), "application/x-www-form-urlencoded")
}

fn location(r: &common::Response) -> String {
    r.header("location").unwrap_or("").to_string()
}

fn page(c: &Client, path: &str) -> String {
    let r = c.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html"),
        "{path}"
    );
    r.body
}

/// The `<select>` named `name` in `html`.
fn select<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no select {name}: {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</select>").unwrap()]
}

/// The table row of preview line `line`.
fn preview_row(html: &str, line: u64) -> &str {
    let marker = format!("data-label=\"行号\">{line}</td>");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no preview line {line}: {html}"));
    let row_start = html[..at].rfind("<tr").unwrap();
    let rest = &html[row_start..];
    &rest[..rest.find("</tr>").unwrap()]
}

fn count(html: &str, what: &str) -> i64 {
    let marker = format!("data-count=\"{what}\">");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no count {what}: {html}"))
        + marker.len();
    html[at..html[at..].find('<').unwrap() + at]
        .trim()
        .parse()
        .unwrap()
}

/// Poll the status fragment until it stops polling; the last fragment.
fn wait_done(c: &Client, batch: i64) -> String {
    for _ in 0..300 {
        let r = c.get(&format!("/imports/{batch}/status"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("<progress"), "{}", r.body);
        if !r.body.contains("hx-trigger=\"every 1s\"") {
            return r.body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("import {batch} did not finish");
}

fn customers(c: &Client, q: &str) -> Vec<Value> {
    let r = c.get(&format!("/api/v1/customers?limit=200&q={}", url_encode(q)));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["items"].as_array().unwrap().clone()
}

fn batch_of(r: &common::Response) -> i64 {
    assert_eq!(r.status, 303, "{}", r.body);
    let to = location(r);
    to.strip_prefix("/imports/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a batch page: {to}"))
}

fn import_flow(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);

    // The menu links the pages; the upload form posts the file with the CSRF
    // token in its action and says how large a file may be.
    let home = page(&admin, "/");
    assert!(home.contains("href=\"/import\"") && home.contains("href=\"/quality\""));
    let up = page(&admin, "/import?entity=customers");
    assert!(up.contains("enctype=\"multipart/form-data\""), "{up}");
    assert!(
        up.contains("action=\"/import?entity=customers&amp;_csrf="),
        "{up}"
    );
    assert!(up.contains("100 MiB"), "{up}");
    assert!(up.contains("<label for=\"import-file\">"));

    // A GB18030 file with Chinese headers, as Chinese Excel saves CSV.
    let text = "客户名称,手机号,电子邮件,城市,无关列\n\
                深圳市星河科技有限公司,13800138000,info@xinghe.cn,深圳,x\n\
                坏邮箱公司,13900139000,not-an-email,北京,y\n\
                上海云帆有限公司,13700137000,,上海,z\n";
    let (gbk, _, _) = encoding_rs::GB18030.encode(text);

    // Without the token the upload is refused; the token in the form's
    // action is enough (a browser without JavaScript sends no header).
    let mut bare = admin.clone();
    let token = bare.csrf.take().unwrap();
    let r = upload(&bare, "/import?entity=customers", "客户.csv", &gbk);
    assert_eq!(r.status, 403, "{}", r.body);
    let r = upload(
        &bare,
        &format!("/import?entity=customers&_csrf={token}"),
        "客户.csv",
        &gbk,
    );
    let bid = batch_of(&r);

    // The mapping screen: the encoding detected, each column pre-set.
    let m = page(&admin, &format!("/imports/{bid}"));
    assert!(m.contains("客户.csv"), "{m}");
    assert!(m.contains("id=\"detected-encoding\">gb18030<"), "{m}");
    assert!(m.contains("id=\"detected-delimiter\">,<"), "{m}");
    assert!(select(&m, "map.0").contains("value=\"name\" selected"));
    assert!(select(&m, "map.1").contains("value=\"mobile\" selected"));
    assert!(select(&m, "map.2").contains("value=\"email\" selected"));
    assert!(select(&m, "map.3").contains("value=\"city\" selected"));
    assert!(
        select(&m, "map.4").contains("value=\"\" selected"),
        "the unknown column is left out"
    );
    // Labels in the user's language; every select labelled.
    assert!(select(&m, "map.0").contains(">客户名称 *<"), "{m}");
    assert!(m.contains("<label class=\"sr-only\" for=\"map-4\">"));
    assert!(select(&m, "encoding").contains("value=\"gb18030\""));
    assert!(select(&m, "owner_id").contains("管理员"));
    for mode in ["skip", "update", "create"] {
        assert!(m.contains(&format!("name=\"on_duplicate\" value=\"{mode}\"")));
    }
    assert!(m.contains("name=\"dry_run\""));
    // The preview marks the bad row and cell, in words as well as colour.
    assert!(m.contains("深圳市星河科技有限公司"), "decoded: {m}");
    let bad = preview_row(&m, 3);
    assert!(bad.contains("class=\"row-bad\""), "{bad}");
    assert!(bad.contains("class=\"cell-bad\""), "{bad}");
    assert!(bad.contains("将被拒绝"), "{bad}");
    assert!(
        bad.contains("`not-an-email` is not an e-mail address"),
        "{bad}"
    );
    assert!(!preview_row(&m, 2).contains("cell-bad"));

    // Overriding the encoding with a wrong one says so and keeps the choice.
    let r = admin.get(&format!("/imports/{bid}?encoding=utf-8"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("not valid UTF-8"), "{}", r.body);
    assert!(select(&r.body, "encoding").contains("value=\"utf-8\" selected"));
    // Unmapping the required column is refused before anything runs.
    let r = form(&admin, &format!("/imports/{bid}/run"), &[("map.0", "")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("required field name"), "{}", r.body);
    assert!(r.body.contains("role=\"alert\""));

    // A dry run counts without saving.
    let choices = [
        ("encoding", ""),
        ("delimiter", ""),
        ("map.0", "name"),
        ("map.1", "mobile"),
        ("map.2", "email"),
        ("map.3", "city"),
        ("map.4", ""),
        ("on_duplicate", "skip"),
        ("owner_id", ""),
    ];
    let mut dry = choices.to_vec();
    dry.push(("dry_run", "1"));
    let r = form(&admin, &format!("/imports/{bid}/run"), &dry);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("试运行结果"), "{}", r.body);
    assert_eq!(
        (count(&r.body, "created"), count(&r.body, "rejected")),
        (2, 1)
    );
    assert!(
        customers(&admin, "星河").is_empty(),
        "a dry run saves nothing"
    );

    // The real run: a progress bar polled until done, then the result.
    let r = form(&admin, &format!("/imports/{bid}/run"), &choices);
    assert_eq!(batch_of(&r), bid);
    let p = page(&admin, &format!("/imports/{bid}"));
    assert!(p.contains("id=\"import-status\""), "{p}");
    assert!(p.contains("<progress"), "{p}");
    let done = wait_done(&admin, bid);
    assert!(done.contains("已完成"), "{done}");
    assert_eq!(count(&done, "created"), 2, "{done}");
    assert_eq!(count(&done, "updated"), 0);
    assert_eq!(count(&done, "skipped"), 0);
    assert_eq!(count(&done, "rejected"), 1);
    assert!(done.contains("href=\"/customers\""), "a link to the list");
    let found = customers(&admin, "星河科技");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["city"], "深圳");
    assert_eq!(found[0]["mobile"], "13800138000");

    // The error file links download the rejected row.
    let csv_link = format!("/api/v1/imports/{bid}/errors?format=csv");
    assert!(done.contains(&csv_link), "{done}");
    let r = admin.get(&csv_link);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("坏邮箱公司") && r.body.contains("not-an-email"));
    assert!(!r.body.contains("星河"), "only the rejected row");
    let xlsx_link = format!("/api/v1/imports/{bid}/errors?format=xlsx");
    assert!(done.contains(&xlsx_link));
    let r = admin.get(&xlsx_link);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .contains("spreadsheet")
    );

    // A run cannot start twice.
    let r = form(&admin, &format!("/imports/{bid}/run"), &choices);
    assert_eq!(r.status, 409, "{}", r.body);

    // The batch list shows it with its undo; undo (confirmed) removes the records.
    let list = page(&admin, "/imports");
    assert!(list.contains(&format!("href=\"/imports/{bid}\"")), "{list}");
    assert!(list.contains("客户.csv") && list.contains("已完成"));
    assert!(done.contains("hx-confirm="), "undo asks first: {done}");
    let r = form(&admin, &format!("/imports/{bid}/undo"), &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    let after = page(&admin, &location(&r));
    assert!(after.contains("已撤销"), "{after}");
    assert!(!after.contains("/undo?"), "no second undo: {after}");
    assert!(customers(&admin, "星河科技").is_empty());
    assert!(customers(&admin, "云帆").is_empty());

    // English pages for an English-speaking user.
    let r = admin.put("/api/v1/me", &json!({"language": "en"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let list = page(&admin, "/imports");
    assert!(
        list.contains("Undone") && list.contains("My imports"),
        "{list}"
    );
}

fn bad_uploads_are_explained(backend: Backend) {
    let srv = TestServer::start_with(&backend, |s| s.import.max_upload_mb = 1);
    let admin = setup_admin(&srv);
    let path = "/import?entity=customers";
    for (name, bytes, status, expect) in [
        ("empty.csv", b"".to_vec(), 400, "the file is empty"),
        ("blank.csv", b"  \n\n".to_vec(), 400, "the file is empty"),
        (
            "photo.png",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
            400,
            "不支持这种文件类型",
        ),
        (
            "binary.csv",
            vec![0u8, 1, 2, 3, 0, 0, 0xff, 0xfe, 0, 1],
            400,
            "binary",
        ),
        (
            "colours.csv",
            b"colour,shape\nred,round\n".to_vec(),
            400,
            "none of the columns",
        ),
        (
            "broken.xlsx",
            b"PK\x03\x04garbage that is no zip".to_vec(),
            400,
            "not a readable .xlsx",
        ),
        ("big.csv", vec![b'a'; 1024 * 1024 + 10], 413, "1 MiB"),
    ] {
        let r = upload(&admin, path, name, &bytes);
        assert_eq!(r.status, status, "{name}: {}", r.body);
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("text/html"),
            "{name}"
        );
        assert!(r.body.contains(expect), "{name}: {expect}: {}", r.body);
        assert!(r.body.contains("aria-invalid=\"true\""), "{name}");
        assert!(
            r.body
                .contains("aria-describedby=\"import-file-hint import-file-err\""),
            "{name}"
        );
        assert!(
            r.body.contains("enctype=\"multipart/form-data\""),
            "the form again"
        );
    }
    let list = page(&admin, "/imports");
    assert!(
        !list.contains("empty.csv") && !list.contains("photo.png"),
        "refused files leave no batch"
    );
    // Header only: accepted, and the preview says there are no rows.
    let r = upload(&admin, path, "header.csv", "客户名称,电话\n".as_bytes());
    let bid = batch_of(&r);
    let m = page(&admin, &format!("/imports/{bid}"));
    assert!(m.contains("文件除表头外没有数据行"), "{m}");
    // An entity that cannot be imported, and an unknown batch.
    assert_eq!(admin.get("/import?entity=spaceships").status, 400);
    assert_eq!(admin.get("/imports/999999").status, 404);

    // A salesperson may not import, nor open another user's batch.
    user(&admin, "li@example.cn", "salesperson", json!({}));
    let li = Client::login(&srv, "li@example.cn", PW);
    let own = page(&li, "/import");
    assert!(own.contains("没有导入权限"), "{own}");
    assert!(!page(&li, "/").contains("href=\"/import\""), "no menu link");
    let r = upload(&li, path, "x.csv", "客户名称\n星河\n".as_bytes());
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(li.get(&format!("/imports/{bid}")).status, 404);
    assert_eq!(li.get(&format!("/imports/{bid}/status")).status, 404);
    assert_eq!(form(&li, &format!("/imports/{bid}/run"), &[]).status, 404);
    assert_eq!(form(&li, &format!("/imports/{bid}/undo"), &[]).status, 404);
    assert!(!page(&li, "/imports").contains("header.csv"));
}

/// A role like a salesperson's (own records only) that may also merge.
fn merger(admin: &Client, srv: &TestServer, email: &str) -> (i64, Client) {
    let r = admin.get("/api/v1/admin/roles").json();
    let role = r["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "资深销售")
        .map(|r| r["id"].clone());
    let role = match role {
        Some(r) => r,
        None => {
            let r = admin.post(
                "/api/v1/admin/roles",
                &json!({"name": "资深销售", "data_scope": "self",
                        "permissions": ["customers.view", "customers.create", "customers.edit", "customers.delete",
                                        "followups.view", "followups.create", "followups.edit"]}),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["id"].clone()
        }
    };
    let r = admin.post(
        "/api/v1/admin/users",
        &json!({"email": email, "name": email.split('@').next().unwrap(), "password": PW, "roles": [role]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    (
        r.json()["id"].as_i64().unwrap(),
        Client::login(srv, email, PW),
    )
}

fn quality_scope_and_merge(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let (_, li) = merger(&admin, &srv, "li@example.cn");
    let (_, wang) = merger(&admin, &srv, "wang@example.cn");
    let a = id(&create(
        &li,
        "customers",
        json!({"name": "深圳市星河科技", "mobile": "13800138000", "city": "深圳"}),
    ));
    let b = id(&create(
        &li,
        "customers",
        json!({"name": "星河科技（深圳）", "mobile": "13800138000", "email": "info@xinghe.cn", "confirm_duplicates": true}),
    ));
    let fu = id(&create(
        &li,
        "followups",
        json!({"customer_id": b, "content": "电话沟通报价", "occurred_at": "2026-12-01T10:00:00"}),
    ));
    let w1 = id(&create(
        &wang,
        "customers",
        json!({"name": "北京蓝海贸易", "mobile": "13900139000"}),
    ));
    let w2 = id(&create(
        &wang,
        "customers",
        json!({"name": "北京蓝海贸易有限公司", "mobile": "13900139000", "confirm_duplicates": true}),
    ));

    // Li's page: only Li's cluster, a merge form per cluster with the
    // survivor and the differing fields as labelled radio buttons.
    let q = page(&li, "/quality");
    assert!(
        q.contains("深圳市星河科技") && q.contains("星河科技（深圳）"),
        "{q}"
    );
    assert!(!q.contains("北京蓝海"), "another user's customers: {q}");
    assert!(q.contains("action=\"/quality/merge?_csrf="), "{q}");
    assert!(
        q.contains("aria-labelledby=\"cluster-0-head\" hx-confirm="),
        "the merge asks first: {q}"
    );
    assert!(q.contains(&format!("name=\"survivor_id\" value=\"{a}\"")));
    assert!(
        q.contains(&format!("name=\"field.email\" value=\"{b}\"")),
        "{q}"
    );
    assert!(
        !q.contains("name=\"field.mobile\""),
        "equal values need no choice"
    );
    // The report: scores and the follow-up period to choose.
    assert!(q.contains("id=\"company-score\""), "{q}");
    assert!(q.contains("name=\"days\"") && q.contains("value=\"30\""));
    let q7 = page(&li, "/quality?days=7");
    assert!(
        q7.contains(
            "id=\"q-days\" type=\"number\" name=\"days\" min=\"1\" max=\"3650\" value=\"7\""
        ),
        "{q7}"
    );
    assert!(!q7.contains("wang"), "only Li's score: {q7}");
    let wq = page(&wang, "/quality");
    assert!(wq.contains("北京蓝海") && !wq.contains("星河"), "{wq}");

    // Li merges, keeping A with B's e-mail: the follow-up moves to A.
    let r = form(
        &li,
        "/quality/merge",
        &[
            ("days", "30"),
            ("survivor_id", &a.to_string()),
            ("ids", &a.to_string()),
            ("ids", &b.to_string()),
            ("field.email", &b.to_string()),
            ("field.name", &a.to_string()),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let after = page(&li, &location(&r));
    assert!(after.contains("客户已合并"), "{after}");
    let kept = li.get(&format!("/api/v1/customers/{a}")).json();
    assert_eq!(kept["email"], "info@xinghe.cn", "{kept}");
    assert_eq!(kept["name"], "深圳市星河科技");
    assert_eq!(li.get(&format!("/api/v1/customers/{b}")).status, 404);
    assert_eq!(
        li.get(&format!("/api/v1/followups/{fu}")).json()["customer_id"],
        a
    );
    // The history lists it with its undo; undo brings B and its follow-up back.
    assert!(after.contains("星河科技（深圳） (#"), "{after}");
    let undo = after
        .split("action=\"/quality/merges/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("no undo: {after}"))
        .to_string();
    assert!(
        page(&wang, "/quality").contains("还没有合并记录"),
        "Li's merge is Li's"
    );
    assert_eq!(
        form(&wang, &format!("/quality/merges/{undo}/undo"), &[]).status,
        404
    );
    let r = form(&li, &format!("/quality/merges/{undo}/undo"), &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(page(&li, &location(&r)).contains("已撤销合并"));
    assert_eq!(li.get(&format!("/api/v1/customers/{b}")).status, 200);
    assert_eq!(
        li.get(&format!("/api/v1/followups/{fu}")).json()["customer_id"],
        b
    );
    let r = form(&li, &format!("/quality/merges/{undo}/undo"), &[]);
    assert_eq!(r.status, 409, "a second undo is explained: {}", r.body);
    assert!(r.body.contains("already undone"));

    // Li cannot merge Wang's customers, nor merge without a survivor.
    let r = form(
        &li,
        "/quality/merge",
        &[
            ("survivor_id", &w1.to_string()),
            ("ids", &w1.to_string()),
            ("ids", &w2.to_string()),
        ],
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(wang.get(&format!("/api/v1/customers/{w2}")).status, 200);
    let r = form(&li, "/quality/merge", &[("ids", &a.to_string())]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("合并未完成"), "{}", r.body);

    // A plain salesperson sees the page but no merge button.
    user(&admin, "zhao@example.cn", "salesperson", json!({}));
    let zhao = Client::login(&srv, "zhao@example.cn", PW);
    create(
        &zhao,
        "customers",
        json!({"name": "广州白云", "mobile": "13600136000"}),
    );
    create(
        &zhao,
        "customers",
        json!({"name": "广州白云有限公司", "mobile": "13600136000", "confirm_duplicates": true}),
    );
    let zq = page(&zhao, "/quality");
    assert!(
        zq.contains("广州白云") && zq.contains("合并需要编辑和删除客户的权限"),
        "{zq}"
    );
}

fn export_limits_page(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let role = common::role_id(&admin, "salesperson").as_i64().unwrap();
    let settings = page(&admin, "/settings");
    assert!(settings.contains("href=\"/settings/export-limits\""));
    let p = page(&admin, "/settings/export-limits");
    assert!(
        p.contains(&format!("<label for=\"limit-{role}\">销售员</label>")),
        "{p}"
    );
    let field = format!("limit.{role}");
    let r = form(&admin, "/settings/export-limits", &[(&field, "lots")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains(&format!(
            "aria-describedby=\"limit-hint limit-{role}-err\" aria-invalid=\"true\""
        )),
        "{}",
        r.body
    );
    assert!(r.body.contains("value=\"lots\""), "what was typed is kept");
    let r = form(&admin, "/settings/export-limits", &[(&field, "500")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(page(&admin, &location(&r)).contains("导出上限已保存"));
    assert_eq!(
        admin.get("/api/v1/admin/export-limits").json()["limits"][role.to_string()],
        500
    );
    assert!(page(&admin, "/settings/export-limits").contains("value=\"500\""));
    let r = form(&admin, "/settings/export-limits", &[(&field, "")]);
    assert_eq!(r.status, 303);
    assert_eq!(
        admin.get("/api/v1/admin/export-limits").json()["limits"],
        json!({})
    );
    user(&admin, "li@example.cn", "salesperson", json!({}));
    let li = Client::login(&srv, "li@example.cn", PW);
    assert_eq!(li.get("/settings/export-limits").status, 403);
    assert_eq!(
        form(&li, "/settings/export-limits", &[(&field, "1")]).status,
        403
    );
}

/// No sideways scrolling: the page fits the window.
fn fits(b: &common::browser::Browser) -> bool {
    b.eval("return document.documentElement.scrollWidth <= window.innerWidth;")
        .as_bool()
        .unwrap_or(false)
}

/// The import in a real browser on a 375 px phone: the file chosen in the
/// form and sent by htmx, the mapping screen, the progress polled until
/// done, undo confirmed; the quality and list pages fit the screen.
#[test]
fn import_on_a_phone() {
    let srv = TestServer::start(&Backend::Sqlite);
    let admin = setup_admin(&srv);
    let Some(b) = common::browser::Browser::start("zh-CN") else {
        eprintln!("skipped: chromium and chromedriver are not installed");
        return;
    };
    let shot = |name: &str| {
        if let Ok(dir) = std::env::var("RAPPORT_TEST_SCREENSHOTS") {
            b.screenshot(&std::path::Path::new(&dir).join(format!("{name}.png")));
        }
    };
    create(
        &admin,
        "customers",
        json!({"name": "深圳市星河科技", "mobile": "13800138000"}),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("客户.csv");
    let (gbk, _, _) = encoding_rs::GB18030.encode(
        "客户名称,手机号,电子邮件,城市\n\
         深圳市星河科技有限公司,13800138000,info@xinghe.cn,深圳\n\
         坏邮箱公司,13900139000,not-an-email,北京\n\
         上海云帆有限公司,13700137000,,上海\n",
    );
    std::fs::write(&file, &gbk).unwrap();
    b.set_window(375, 812);
    b.goto(&srv.url("/login"));
    b.fill("#email", common::ADMIN_EMAIL);
    b.fill("#password", common::ADMIN_PASSWORD);
    b.click("main form button[type=submit]");
    b.wait_text("h1", "您好");

    b.goto(&srv.url("/import?entity=customers"));
    b.wait_text("h1", "导入数据");
    assert!(fits(&b), "upload page fits 375 px");
    b.fill("#import-file", &file.display().to_string());
    b.click("main form button[type=submit]");
    b.wait_text("h1", "核对导入");
    b.wait_text("#detected-encoding", "gb18030");
    b.wait_text("table.preview", "将被拒绝");
    b.wait_text("table.preview", "与已有记录重复");
    assert!(fits(&b), "mapping screen fits 375 px");
    shot("import-mapping");
    b.click("#mapping-form .actions button:not([formmethod])");
    b.wait_text("#import-status", "已完成");
    b.wait_text("#import-status", "新建");
    assert!(fits(&b), "result fits 375 px");
    shot("import-done");
    b.accept_confirms();
    b.click("#import-status button.danger");
    b.wait_text(".notice.ok", "已撤销");

    for path in ["/imports", "/quality", "/settings/export-limits"] {
        b.goto(&srv.url(path));
        b.find("h1");
        assert!(fits(&b), "{path} fits 375 px");
        shot(path.trim_start_matches('/').replace('/', "-").as_str());
    }
}

both_backends!(
    import_flow,
    bad_uploads_are_explained,
    quality_scope_and_merge,
    export_limits_page,
);
