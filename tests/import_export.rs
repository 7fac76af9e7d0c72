//! Import, export and data quality through the real server, on both backends.

mod common;

use std::time::Duration;

use common::{Backend, Client, TestServer, create, id, setup_admin, url_encode, user};
use serde_json::{Value, json};

/// Upload `bytes` as an import of `entity`; the answer (batch + preview).
fn upload(c: &Client, entity: &str, name: &str, bytes: &[u8]) -> common::Response {
    c.post_bytes(
        &format!("/api/v1/imports?entity={entity}&name={}", url_encode(name)),
        bytes,
        "text/csv",
    )
}

/// Upload and run an import to its end; the finished batch.
fn import(c: &Client, entity: &str, bytes: &[u8], opts: Value) -> Value {
    let r = upload(c, entity, "data.csv", bytes);
    assert_eq!(r.status, 201, "{}", r.body);
    let bid = r.json()["batch"]["id"].as_i64().unwrap();
    let r = c.post(&format!("/api/v1/imports/{bid}/run"), &opts);
    assert!(r.status == 202 || r.status == 200, "{}", r.body);
    for _ in 0..200 {
        let b = c.get(&format!("/api/v1/imports/{bid}")).json()["batch"].clone();
        if b["status"] != "running" && b["status"] != "pending" {
            return b;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("import {bid} did not finish");
}

fn customers(c: &Client, q: &str) -> Vec<Value> {
    let r = c.get(&format!("/api/v1/customers?limit=200&q={}", url_encode(q)));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["items"].as_array().unwrap().clone()
}

fn all_customers(c: &Client) -> Vec<Value> {
    let r = c.get("/api/v1/customers?limit=200&sort=id");
    r.json()["items"].as_array().unwrap().clone()
}

const HEADER: &str =
    "客户名称,手机号,电子邮件,省份,城市,行业,级别,来源,负责人,下次联系时间,无关列\n";

fn encodings_mapping_duplicates_undo(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    // GB18030 with Chinese headers, mapped by header; an unknown column left out.
    let text = format!(
        "{HEADER}深圳市星河科技有限公司,13800138000,info@xinghe.cn,广东,深圳,软件,A,展会,管理员,2026/12/4 9:30,x\n\
         北京蓝海贸易有限公司,13900139000,,北京,北京,贸易,B,,,04.12.2026,y\n\
         上海云帆有限公司,13700137000,,上海,上海,,C,,,2026-12-04,z\n"
    );
    let (gbk, _, _) = encoding_rs::GB18030.encode(&text);
    let r = upload(&admin, "customers", "客户.csv", &gbk);
    assert_eq!(r.status, 201, "{}", r.body);
    let preview = &r.json()["preview"];
    assert_eq!(preview["encoding"], "gb18030", "{preview}");
    assert_eq!(preview["delimiter"], ",");
    let mapping: Vec<Value> = preview["mapping"].as_array().unwrap().clone();
    assert_eq!(mapping[0], json!(["客户名称", "name"]));
    assert_eq!(mapping[1], json!(["手机号", "mobile"]));
    assert_eq!(mapping[8], json!(["负责人", "owner_id"]));
    assert_eq!(mapping[10], json!(["无关列", null]));
    let b = import(&admin, "customers", &gbk, json!({}));
    assert_eq!(b["status"], "done", "{b}");
    assert_eq!(
        (b["created"].as_i64(), b["rejected"].as_i64()),
        (Some(3), Some(0)),
        "{b}"
    );
    let found = customers(&admin, "星河科技");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["city"], "深圳");
    assert_eq!(found[0]["level"], "A");
    assert_eq!(found[0]["owner_name"], "管理员");
    // Three date forms, one moment.
    let dates: Vec<String> = all_customers(&admin)
        .iter()
        .map(|c| {
            c["next_follow_up_at"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(10)
                .collect()
        })
        .collect();
    assert_eq!(dates, ["2026-12-04"; 3]);

    // UTF-8 with BOM: the same companies again (normalised: suffixes,
    // spaces, full-width), one new, one duplicated within the file.
    let again = format!(
        "\u{feff}{HEADER}深圳 星河科技,,,,,,A+,,,,\n北京蓝海贸易有限公司,,,,,电子,,,,,\n杭州新客户,13600136000,,,,,,,,,\n杭州新客户有限公司,,,,,,,,,,\n"
    );
    // skip: only the new one is created.
    let b = import(
        &admin,
        "customers",
        again.as_bytes(),
        json!({"on_duplicate": "skip"}),
    );
    assert_eq!(
        (b["created"].as_i64(), b["skipped"].as_i64()),
        (Some(1), Some(3)),
        "{b}"
    );
    let skip_batch = b["id"].as_i64().unwrap();
    // update: the existing ones take the file's non-empty values.
    let b = import(
        &admin,
        "customers",
        again.as_bytes(),
        json!({"on_duplicate": "update"}),
    );
    assert_eq!(b["updated"].as_i64(), Some(3), "{b}");
    let update_batch = b["id"].as_i64().unwrap();
    let xinghe = customers(&admin, "星河科技");
    assert_eq!(xinghe.len(), 1);
    assert_eq!(xinghe[0]["level"], "A+");
    assert_eq!(xinghe[0]["city"], "深圳", "empty cells leave fields alone");
    assert_eq!(customers(&admin, "蓝海贸易")[0]["industry"], "电子");
    // create: everything is created anyway.
    let b = import(
        &admin,
        "customers",
        again.as_bytes(),
        json!({"on_duplicate": "create"}),
    );
    assert_eq!(b["created"].as_i64(), Some(4), "{b}");
    let create_batch = b["id"].as_i64().unwrap();
    assert_eq!(all_customers(&admin).len(), 8);

    // Undo: the created ones go, the updated ones come back.
    let r = admin.post(&format!("/api/v1/imports/{create_batch}/undo"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["deleted"], 4);
    assert_eq!(all_customers(&admin).len(), 4);
    let r = admin.post(&format!("/api/v1/imports/{update_batch}/undo"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["reverted"], 3);
    assert_eq!(customers(&admin, "星河科技")[0]["level"], "A");
    assert_eq!(customers(&admin, "蓝海贸易")[0]["industry"], "贸易");
    // Undone twice: refused.
    let r = admin.post(&format!("/api/v1/imports/{update_batch}/undo"), &json!({}));
    assert_eq!(r.status, 409, "{}", r.body);
    let r = admin.post(&format!("/api/v1/imports/{skip_batch}/undo"), &json!({}));
    assert_eq!(r.status, 200);
    assert_eq!(all_customers(&admin).len(), 3);
    // The audit trail has one row per batch and per undo.
    let log = admin.get("/api/v1/admin/audit?limit=200").body;
    assert!(
        log.contains("\"import\"") && log.contains("\"import_undo\""),
        "{log}"
    );

    // Contacts linked to their customer by name.
    let r = import(
        &admin,
        "contacts",
        "姓名,客户名称,手机,职务\n张伟,深圳市星河科技有限公司,13512345678,经理\n李娜,不存在的公司,13512345679,\n".as_bytes(),
        json!({}),
    );
    assert_eq!(
        (r["created"].as_i64(), r["rejected"].as_i64()),
        (Some(1), Some(1)),
        "{r}"
    );
    let contacts = admin.get("/api/v1/contacts?limit=10").json();
    assert_eq!(contacts["items"][0]["customer_id"], xinghe[0]["id"]);
}

fn error_file_and_bad_input(backend: Backend) {
    let srv = TestServer::start_with(&backend, |s| s.import.max_upload_mb = 1);
    let admin = setup_admin(&srv);
    let file = format!(
        "{HEADER}好公司,13800138000,ok@a.cn,,,,,,,,\n坏邮箱公司,13800138001,not-an-email,,,,,,,,\n,13800138002,,,,,,,,,\n坏日期公司,,,,,,,,,下周,\n多字段公司,,,,,,,,,,,,多余\n少字段公司,1380013\n"
    );
    let b = import(&admin, "customers", file.as_bytes(), json!({}));
    assert_eq!(
        (b["created"].as_i64(), b["rejected"].as_i64()),
        (Some(1), Some(5)),
        "{b}"
    );
    let bid = b["id"].as_i64().unwrap();
    let r = admin.get(&format!("/api/v1/imports/{bid}/errors?format=csv"));
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with('\u{feff}'), "UTF-8 BOM");
    assert!(
        r.body.contains("import_line,import_column,import_error"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("3,电子邮件,`not-an-email` is not an e-mail address"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("客户名称") && r.body.contains("下次联系时间"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("the row has 13 fields, the header 11"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("the row has 2 fields, the header 11"),
        "{}",
        r.body
    );
    let r = admin.get(&format!("/api/v1/imports/{bid}/errors?format=xlsx"));
    assert_eq!(r.status, 200);
    // Fix the file and import it again: the error columns are recognised.
    let fixed = admin
        .get(&format!("/api/v1/imports/{bid}/errors?format=csv"))
        .body
        .replace("not-an-email", "fixed@a.cn")
        .replace(",13800138002,", "补名公司,13800138002,")
        .replace("下周", "2026-12-04")
        .replace(",,多余", "")
        .replace(
            "少字段公司,1380013,,,,,,,,,",
            "少字段公司,13800138009,,,,,,,,,",
        );
    let b = import(&admin, "customers", fixed.as_bytes(), json!({}));
    assert_eq!(b["rejected"].as_i64(), Some(0), "{b}: {fixed}");
    assert_eq!(b["created"].as_i64(), Some(5), "{b}");

    // Bad files: each a clear 400 (or 413), never a 500.
    for (bytes, expect) in [
        (b"".to_vec(), "empty"),
        (b"   \n\n".to_vec(), "empty"),
        ("客户名称,电话\n".as_bytes().to_vec(), ""),
        (b"colour,shape\nred,round\n".to_vec(), "none of the columns"),
        (
            b"PK\x03\x04garbage that is no zip".to_vec(),
            "not a readable .xlsx",
        ),
        (vec![0u8, 1, 2, 3, 0, 0, 0xff, 0xfe, 0, 1], "binary"),
    ] {
        let r = upload(&admin, "customers", "bad.csv", &bytes);
        assert!(
            r.status == 201 || r.status == 400,
            "{}: {}",
            r.status,
            r.body
        );
        let text = r.body.clone();
        assert!(text.contains(expect), "{expect}: {text}");
        if r.status == 201 {
            let bid = r.json()["batch"]["id"].as_i64().unwrap();
            let run = admin.post(&format!("/api/v1/imports/{bid}/run"), &json!({}));
            if expect.is_empty() {
                // Header only: nothing to do, nothing wrong.
                assert!(run.status == 202, "{}", run.body);
            } else {
                assert_eq!(run.status, 400, "{}", run.body);
                assert!(run.body.contains(expect), "{}", run.body);
            }
        }
    }
    // A file in the wrong encoding named by the user.
    let (gbk, _, _) = encoding_rs::GB18030.encode("客户名称\n星河\n");
    let r = upload(&admin, "customers", "g.csv", &gbk);
    let bid = r.json()["batch"]["id"].as_i64().unwrap();
    let r = admin.get(&format!("/api/v1/imports/{bid}/preview?encoding=utf-8"));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("not valid UTF-8"), "{}", r.body);
    let r = admin.get(&format!("/api/v1/imports/{bid}/preview?encoding=gbk"));
    assert_eq!(r.status, 200, "{}", r.body);
    // Too large: 413 naming the limit.
    let big = vec![b'a'; 1024 * 1024 + 10];
    let r = upload(&admin, "customers", "big.csv", &big);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("1 MiB"), "{}", r.body);
    // An unknown entity.
    let r = upload(&admin, "spaceships", "x.csv", b"name\nx\n");
    assert_eq!(r.status, 400, "{}", r.body);
}

fn export_round_trip_scope_and_formulas(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    // A role that exports its own customers only.
    let r = admin.post(
        "/api/v1/admin/roles",
        &json!({"name": "导出销售", "data_scope": "self",
                "permissions": ["customers.view", "customers.create", "customers.edit", "customers.export", "customers.import"]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let role = r.json()["id"].clone();
    let r = admin.post(
        "/api/v1/admin/users",
        &json!({"email": "sales@a.cn", "name": "王销售", "password": common::PW, "roles": [role]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let sales = Client::login(&srv, "sales@a.cn", common::PW);
    let other = user(&admin, "s2@a.cn", "salesperson", json!({}));
    let _ = other;
    create(
        &sales,
        "customers",
        json!({"name": "=HYPERLINK(\"http://evil\")", "phone": "+86 755 8888 6666",
        "tags": ["VIP", "华南"], "city": "深圳", "email": "a@b.cn"}),
    );
    create(
        &sales,
        "customers",
        json!({"name": "深圳市星河科技有限公司", "notes": "@SUM(A1)\n第二行", "level": "A"}),
    );
    create(&admin, "customers", json!({"name": "管理员的客户"}));
    // The salesperson's export holds only their customers.
    let r = sales.get("/api/v1/customers/export?format=csv");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.starts_with('\u{feff}'));
    assert!(
        r.header("content-disposition")
            .unwrap()
            .contains("customers-")
    );
    assert!(!r.body.contains("管理员的客户"), "{}", r.body);
    assert!(r.body.contains("'=HYPERLINK"), "neutralised: {}", r.body);
    assert!(r.body.contains("'+86 755 8888 6666"), "{}", r.body);
    assert!(r.body.contains("'@SUM(A1)"), "{}", r.body);
    assert!(r.body.contains("名称,简称"), "zh headers: {}", r.body);
    let r = admin.get(&format!(
        "/api/v1/customers/export?filter={}&columns=name,city",
        url_encode("city:eq:深圳")
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.lines().count(), 2, "{}", r.body);
    // Without the permission: 403.
    let plain = user(&admin, "s3@a.cn", "salesperson", json!({}));
    let _ = plain;
    let p = Client::login(&srv, "s3@a.cn", common::PW);
    assert_eq!(p.get("/api/v1/customers/export").status, 403);
    // A per-role limit refuses larger exports.
    let r = admin.put(
        "/api/v1/admin/export-limits",
        &json!({"limits": {role.to_string(): 1}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = sales.get("/api/v1/customers/export");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("at most 1"), "{}", r.body);
    admin.put("/api/v1/admin/export-limits", &json!({"limits": {}}));
    // Export → import into a fresh server: the same records.
    let exported = admin
        .get("/api/v1/customers/export?format=csv&sort=id")
        .body;
    let srv2 = TestServer::start(&backend);
    let admin2 = setup_admin(&srv2);
    let r = admin2.post("/api/v1/admin/users", &json!({"email": "sales@a.cn", "name": "王销售", "password": common::PW, "roles": [common::role_id(&admin2, "salesperson")]}));
    assert_eq!(r.status, 201);
    let b = import(&admin2, "customers", exported.as_bytes(), json!({}));
    assert_eq!(
        (b["created"].as_i64(), b["rejected"].as_i64()),
        (Some(3), Some(0)),
        "{b}"
    );
    let keys = [
        "name",
        "phone",
        "tags",
        "city",
        "email",
        "notes",
        "level",
        "owner_name",
        "kind",
        "deal_status",
        "locked",
    ];
    let pick = |v: &Vec<Value>| -> Vec<Value> {
        let mut out: Vec<Value> = v
            .iter()
            .map(|c| json!(keys.iter().map(|k| c[*k].clone()).collect::<Vec<_>>()))
            .collect();
        out.sort_by_key(|x| x.to_string());
        out
    };
    assert_eq!(pick(&all_customers(&admin)), pick(&all_customers(&admin2)));
    // An export is audited with its row count.
    let log = admin.get("/api/v1/admin/audit?limit=50").body;
    assert!(
        log.contains("\"export\"") && log.contains("\\\"rows\\\":"),
        "{log}"
    );
}

fn merge_moves_everything(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let a = id(&create(
        &admin,
        "customers",
        json!({"name": "深圳市星河科技", "phone": "0755-88886666"}),
    ));
    let b = id(&create(
        &admin,
        "customers",
        json!({"name": "深圳市星河科技有限公司", "email": "info@xinghe.cn", "confirm_duplicates": true}),
    ));
    let contact = id(&create(
        &admin,
        "contacts",
        json!({"customer_id": b, "name": "张伟"}),
    ));
    let fu = id(&create(
        &admin,
        "followups",
        json!({"customer_id": b, "content": "拜访", "occurred_at": "2026-12-01T10:00:00"}),
    ));
    let task = id(&create(
        &admin,
        "tasks",
        json!({"title": "回访", "related_entity": "customers", "related_id": b}),
    ));
    let sp = user(&admin, "s@a.cn", "salesperson", json!({}));
    let r = admin.post(
        &format!("/api/v1/customers/{b}/collaborators"),
        &json!({"user_id": sp, "can_write": false}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let clusters = admin.get("/api/v1/quality/duplicates").json();
    let c = &clusters["clusters"][0];
    assert_eq!(c["ids"], json!([a, b]), "{clusters}");
    let r = admin.post(
        "/api/v1/quality/merge",
        &json!({"survivor_id": a, "merged_ids": [b], "fields": {"name": b, "email": b}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let merge_id = r.json()["merge_id"].as_i64().unwrap();
    let s = admin.get(&format!("/api/v1/customers/{a}")).json();
    assert_eq!(s["name"], "深圳市星河科技有限公司");
    assert_eq!(s["email"], "info@xinghe.cn");
    assert_eq!(s["phone"], "0755-88886666");
    assert_eq!(admin.get(&format!("/api/v1/customers/{b}")).status, 404);
    assert_eq!(
        admin.get(&format!("/api/v1/contacts/{contact}")).json()["customer_id"],
        a
    );
    assert_eq!(
        admin.get(&format!("/api/v1/followups/{fu}")).json()["customer_id"],
        a
    );
    assert_eq!(
        admin.get(&format!("/api/v1/tasks/{task}")).json()["related_id"],
        a
    );
    let collab = admin
        .get(&format!("/api/v1/customers/{a}/collaborators"))
        .json();
    assert_eq!(collab["collaborators"][0]["user_id"], sp, "{collab}");
    assert!(
        admin.get("/api/v1/quality/duplicates").json()["clusters"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Undo: both back as they were.
    let r = admin.post(
        &format!("/api/v1/quality/merges/{merge_id}/undo"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        admin.get(&format!("/api/v1/customers/{a}")).json()["name"],
        "深圳市星河科技"
    );
    assert_eq!(
        admin.get(&format!("/api/v1/customers/{b}")).json()["email"],
        "info@xinghe.cn"
    );
    assert_eq!(
        admin.get(&format!("/api/v1/contacts/{contact}")).json()["customer_id"],
        b
    );
    assert_eq!(
        admin.get(&format!("/api/v1/followups/{fu}")).json()["customer_id"],
        b
    );
    assert_eq!(
        admin.get(&format!("/api/v1/tasks/{task}")).json()["related_id"],
        b
    );
    let q = admin.get("/api/v1/quality/report?days=30").json();
    assert_eq!(q["customers"], 2, "{q}");
    assert!(q["company_score"].as_f64().unwrap() > 0.0);
    assert_eq!(q["missing"]["email"], 1);
    let log = admin.get("/api/v1/admin/audit?limit=50").body;
    assert!(
        log.contains("\"merge\"") && log.contains("\"merge_undo\""),
        "{log}"
    );
}

#[test]
fn xlsx_written_is_read_back_with_chinese_and_dates() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = rapport::io::export::XlsxSink::new(dir.path()).unwrap();
    use rapport::io::export::Sink;
    sink.row(&["客户名称".into(), "下次联系时间".into()])
        .unwrap();
    sink.row(&["深圳市星河科技有限公司".into(), "2026-12-04".into()])
        .unwrap();
    let path = dir.path().join("x.xlsx");
    sink.save(&path).unwrap();
    let mut src = rapport::io::read::open(&path, None, None).unwrap();
    assert_eq!(src.header, ["客户名称", "下次联系时间"]);
    let row = src.next().unwrap().unwrap();
    assert_eq!(row.cells, ["深圳市星河科技有限公司", "2026-12-04"]);
    assert_eq!(row.line, 2);
}

/// The records of a CSV export (BOM removed), header first, the rest sorted.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut recs: Vec<Vec<String>> = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    recs[1..].sort();
    recs
}

/// `rapport export` (every record, rows built by the database) writes the
/// same cells as the list export an administrator downloads: owner and
/// reference names, booleans, lists, times, custom fields, formulas
/// neutralised, quotes and newlines kept; and .xlsx holds the same.
fn command_line_export_matches_the_list_export(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    for body in [
        json!({"entity": "customers", "key": "vip", "label_zh": "重要", "kind": "boolean"}),
        json!({"entity": "customers", "key": "regions", "label_zh": "区域", "kind": "multi_select", "options": ["华南", "华北"]}),
        json!({"entity": "customers", "key": "advisor", "label_zh": "顾问", "kind": "user"}),
        json!({"entity": "customers", "key": "parent", "label_zh": "上级客户", "kind": "customer"}),
        json!({"entity": "customers", "key": "budget", "label_zh": "预算", "kind": "decimal"}),
        json!({"entity": "contacts", "key": "hobby", "label_zh": "爱好", "kind": "text"}),
    ] {
        let r = admin.post("/api/v1/custom-fields", &body);
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let me = admin.get("/api/v1/me").json();
    let my_id = me["user"]["id"].as_i64().unwrap();
    let c1 = create(
        &admin,
        "customers",
        json!({"name": "深圳市星河科技有限公司", "address": "=HYPERLINK(\"x\")", "phone": "+86 755 8888 6666", "tags": ["重点", "展会"],
               "locked": true, "next_follow_up_at": "2026-12-05T09:30:00",
               "notes": "第一行\n\"引号\", 逗号", "city": "深圳",
               "custom": {"vip": true, "regions": ["华南", "华北"], "advisor": my_id, "budget": 12.5}}),
    );
    create(
        &admin,
        "customers",
        json!({"name": "Goldsmith Ltd", "custom": {"parent": id(&c1), "vip": false}}),
    );
    create(&admin, "customers", json!({"name": "王五"}));
    create(
        &admin,
        "contacts",
        json!({"customer_id": id(&c1), "name": "张伟", "is_primary": true, "birthday": "1990-02-03",
               "custom": {"hobby": "@围棋"}}),
    );
    let dir = srv.db.dir.path();
    let data = srv.data_dir.display().to_string();
    // `rapport export ARGS…` on the server's database; its output file's text.
    let export_cli = |args: &[&str]| -> String {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
            .current_dir(dir)
            .arg("export")
            .args(args)
            .env("RAPPORT_DATABASE__URL", &srv.db.url)
            .env("RAPPORT_DATA_DIR", &data)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = args.iter().position(|a| *a == "--out").unwrap() + 1;
        String::from_utf8_lossy(&std::fs::read(args[out]).unwrap()).into_owned()
    };
    // Follow-ups' times have microseconds (PostgreSQL's JSON drops the
    // fraction's trailing zeros; both exports print them the same way).
    for content in ["电话沟通报价", "拜访，带样品"] {
        create(
            &admin,
            "followups",
            json!({"customer_id": id(&c1), "kind": "call", "content": content}),
        );
    }
    for entity in ["customers", "contacts", "followups"] {
        let listed = admin.get(&format!("/api/v1/{entity}/export?format=csv"));
        assert_eq!(listed.status, 200, "{}", listed.body);
        let out = dir.join(format!("{entity}.csv"));
        let cli = export_cli(&[entity, "--out", out.to_str().unwrap()]);
        assert!(cli.starts_with('\u{feff}'));
        let recs = csv_records(&cli);
        assert_eq!(recs, csv_records(&listed.body), "{entity}: {cli}");
        let xlsx = dir.join(format!("{entity}.xlsx"));
        export_cli(&[entity, "--format", "xlsx", "--out", xlsx.to_str().unwrap()]);
        let mut src = rapport::io::read::open(&xlsx, None, None).unwrap();
        let mut sheet = vec![src.header.clone()];
        for row in src.by_ref() {
            let mut cells = row.unwrap().cells;
            cells.resize(sheet[0].len(), String::new());
            sheet.push(cells);
        }
        sheet[1..].sort();
        assert_eq!(sheet, recs, "{entity}.xlsx");
        let col_of = |col: &str| -> usize {
            recs[0]
                .iter()
                .position(|h| h == col)
                .unwrap_or_else(|| panic!("{col}: {:?}", recs[0]))
        };
        let cell = |name: &str, col: &str| -> String {
            let name_col = col_of(if entity == "customers" {
                "名称"
            } else {
                "姓名"
            });
            recs.iter().find(|r| r[name_col] == name).unwrap()[col_of(col)].clone()
        };
        if entity == "customers" {
            assert_eq!(recs.len(), 4);
            let star = "深圳市星河科技有限公司";
            assert_eq!(cell(star, "重要"), "是");
            assert_eq!(cell(star, "区域"), "华南, 华北");
            assert_eq!(cell(star, "顾问"), "管理员");
            assert_eq!(cell(star, "预算"), "12.5");
            assert_eq!(cell(star, "标签"), "重点, 展会");
            // Stored in UTC; written as `YYYY-MM-DD HH:MM:SS`.
            let next = cell(star, "下次联系时间");
            assert!(
                next.starts_with("2026-12-05 ") && next.len() == 19,
                "{next}"
            );
            assert_eq!(cell(star, "电话"), "'+86 755 8888 6666");
            assert_eq!(cell(star, "地址"), "'=HYPERLINK(\"x\")");
            assert_eq!(cell(star, "备注"), "第一行\n\"引号\", 逗号");
            assert_eq!(cell(star, "负责人"), "管理员");
            assert_eq!(cell("Goldsmith Ltd", "上级客户"), star);
            assert_eq!(cell("Goldsmith Ltd", "重要"), "否");
            assert_eq!(cell("王五", "重要"), "");
        } else if entity == "followups" {
            assert_eq!(recs.len(), 3);
        } else {
            assert_eq!(recs.len(), 2);
            assert_eq!(cell("张伟", "爱好"), "'@围棋");
            assert!(
                recs[1].contains(&"深圳市星河科技有限公司".to_string()),
                "{:?}",
                recs[1]
            );
            assert!(recs[1].contains(&"1990-02-03".to_string()), "{:?}", recs[1]);
        }
    }
    // Custom values that are not an object (Rapport never writes that, a
    // hand edit might) read as empty cells instead of failing the export.
    {
        use diesel::RunQueryDsl;
        let mut conn = srv.db.connect();
        diesel::sql_query("UPDATE customers SET custom = '' WHERE name = '王五'")
            .execute(&mut conn)
            .unwrap();
    }
    let out = dir.join("again.csv");
    let recs = csv_records(&export_cli(&["customers", "--out", out.to_str().unwrap()]));
    assert_eq!(recs.len(), 4);
    let vip = recs[0].iter().position(|h| h == "重要").unwrap();
    let row = recs.iter().find(|r| r[0] == "王五").unwrap();
    assert_eq!(row[vip], "");
}

both_backends!(
    encodings_mapping_duplicates_undo,
    error_file_and_bad_input,
    export_round_trip_scope_and_formulas,
    command_line_export_matches_the_list_export,
    merge_moves_everything,
);
