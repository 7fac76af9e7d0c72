//! Contacts, leads, follow-ups, tasks, attachments, saved views and the
//! to-do centre over HTTP on both backends: the lead → customer story,
//! validation on every write path, duplicates, versions, search, and the
//! permission matrix for each new endpoint.

mod common;

use common::{
    Backend, Client, PW, TestServer, create, field_of, id, ids, setup_admin, url_encode, user,
};
use serde_json::{Value, json};

fn lead_becomes_a_customer(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    // A custom field both leads and customers define travels across.
    for entity in ["leads", "customers"] {
        let r = admin.post(
            "/api/v1/custom-fields",
            &json!({"entity": entity, "key": "budget", "label_zh": "预算", "label_en": "Budget", "kind": "integer"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let lead = create(
        &admin,
        "leads",
        json!({"name": "李娜", "company": "广州云帆贸易有限公司", "title": "采购经理", "mobile": "139 0013 9000",
               "email": "Li.Na@YunFan.cn", "source": "展会", "city": "广州", "tags": ["展会"], "custom": {"budget": 50000}}),
    );
    assert_eq!(lead["status"], "new");
    assert_eq!(lead["email"], "li.na@yunfan.cn");
    let lid = id(&lead);
    // Only conversion makes a lead converted.
    let r = admin.patch(
        &format!("/api/v1/leads/{lid}"),
        &json!({"version": 1, "status": "converted"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(field_of(&r), "status");
    let r = admin.patch(
        &format!("/api/v1/leads/{lid}"),
        &json!({"version": 1, "converted_customer_id": 1}),
    );
    assert_eq!(field_of(&r), "converted_customer_id");

    let fu = create(
        &admin,
        "followups",
        json!({"lead_id": lid, "kind": "call", "content": "电话沟通：下周拜访，带报价", "occurred_at": "2026-11-30T10:00",
               "next_follow_up_at": "2026-12-08T09:30"}),
    );
    let lead_now = admin.get(&format!("/api/v1/leads/{lid}")).json();
    assert_eq!(lead_now["last_follow_up_at"], "2026-11-30T10:00:00");
    assert_eq!(lead_now["next_follow_up_at"], "2026-12-08T09:30:00");
    let up = admin.post_bytes(
        &format!(
            "/api/v1/attachments?entity=leads&record_id={lid}&name={}",
            url_encode("名片.pdf")
        ),
        b"%PDF-1.4 card",
        "application/octet-stream",
    );
    assert_eq!(up.status, 201, "{}", up.body);

    // A customer with the same company name exists: conversion offers it.
    let existing = create(&admin, "customers", json!({"name": "广州云帆贸易"}));
    let r = admin.post(&format!("/api/v1/leads/{lid}/convert"), &json!({}));
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["error"], "duplicate");
    assert_eq!(r.json()["candidates"][0]["id"], existing["id"]);
    // Nothing was written by the refused attempt.
    assert_eq!(
        admin.get(&format!("/api/v1/leads/{lid}")).json()["status"],
        "new"
    );
    let r = admin.post(
        &format!("/api/v1/leads/{lid}/convert"),
        &json!({"customer": {"level": "A"}, "colour": 1}),
    );
    assert_eq!(r.status, 400, "{}", r.body);

    let r = admin.post(
        &format!("/api/v1/leads/{lid}/convert"),
        &json!({"confirm_duplicates": true, "customer": {"level": "A"}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let out = r.json();
    let customer = &out["customer"];
    let cid = id(customer);
    assert_eq!(customer["name"], "广州云帆贸易有限公司");
    assert_eq!(customer["level"], "A");
    assert_eq!(customer["source"], "展会");
    assert_eq!(customer["custom"]["budget"], 50000);
    assert_eq!(customer["last_follow_up_at"], "2026-11-30T10:00:00");
    assert_eq!(customer["next_follow_up_at"], "2026-12-08T09:30:00");
    let contact = &out["contact"];
    assert_eq!(contact["name"], "李娜");
    assert_eq!(contact["customer_id"], cid);
    assert_eq!(contact["is_primary"], true);
    assert_eq!(out["lead"]["status"], "converted");
    assert_eq!(out["lead"]["converted_customer_id"], cid);
    assert_eq!(out["lead"]["converted_contact_id"], contact["id"]);
    // The follow-up and the file moved to the customer; the lead keeps its link.
    let fu_now = admin.get(&format!("/api/v1/followups/{}", id(&fu))).json();
    assert_eq!(fu_now["customer_id"], cid);
    assert_eq!(fu_now["lead_id"], lid);
    let files = admin
        .get(&format!(
            "/api/v1/attachments?entity=customers&record_id={cid}"
        ))
        .json();
    assert_eq!(files["attachments"][0]["file_name"], "名片.pdf");
    let listed = admin
        .get(&format!("/api/v1/followups?filter=customer_id:eq:{cid}"))
        .json();
    assert_eq!(ids(&listed), vec![id(&fu)]);
    // Once is enough; and a converted lead stays converted.
    let r = admin.post(&format!("/api/v1/leads/{lid}/convert"), &json!({}));
    assert_eq!(r.status, 409);
    let v = out["lead"]["version"].clone();
    let r = admin.patch(
        &format!("/api/v1/leads/{lid}"),
        &json!({"version": v, "status": "new"}),
    );
    assert_eq!(r.status, 400);
    // The audit trail has the conversion.
    let audit = admin
        .get(&format!("/api/v1/admin/audit?entity=leads&record_id={lid}"))
        .json();
    assert!(audit.to_string().contains("convert"), "{audit}");

    // Converting into an existing customer attaches instead of creating.
    let lead2 = create(
        &admin,
        "leads",
        json!({"name": "王芳", "company": "广州云帆贸易有限公司", "mobile": "13700137000", "confirm_duplicates": true}),
    );
    let r = admin.post(
        &format!("/api/v1/leads/{}/convert", id(&lead2)),
        &json!({"customer_id": cid}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["customer"]["id"], cid);
    assert_eq!(r.json()["contact"]["is_primary"], false);
    let contacts = admin
        .get(&format!("/api/v1/contacts?filter=customer_id:eq:{cid}"))
        .json();
    assert_eq!(contacts["items"].as_array().unwrap().len(), 2);
}

fn contacts_validate_dedupe_version_and_search(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let cust = create(
        &admin,
        "customers",
        json!({"name": "深圳市星河科技有限公司"}),
    );
    let other = create(&admin, "customers", json!({"name": "北京远山咨询"}));
    let cid = id(&cust);
    let c = create(
        &admin,
        "contacts",
        json!({"customer_id": cid, "name": "张伟明", "title": "总经理", "mobile": "+86 138-0013-8000", "email": "Zhang@XingHe.cn",
               "im": "wx_zhangwm", "is_primary": true, "is_decision_maker": true, "birthday": "1980-05-06", "notes": "喜欢喝茶"}),
    );
    assert_eq!(c["version"], 1);
    assert_eq!(c["owner_name"], "管理员");
    let c_id = id(&c);
    for (body, field) in [
        (json!({"name": "无客户"}), "customer_id"),
        (json!({"customer_id": cid}), "name"),
        (json!({"customer_id": 999_999, "name": "x"}), "customer_id"),
        (
            json!({"customer_id": cid, "name": "x", "mobile": "打电话"}),
            "mobile",
        ),
        (
            json!({"customer_id": cid, "name": "x", "email": "nope"}),
            "email",
        ),
        (
            json!({"customer_id": cid, "name": "x", "birthday": "1980-02-30"}),
            "birthday",
        ),
        (
            json!({"customer_id": cid, "name": "x", "is_primary": "yes"}),
            "is_primary",
        ),
        (json!({"customer_id": cid, "name": "x".repeat(101)}), "name"),
        (
            json!({"customer_id": cid, "name": "x", "wechat": "x"}),
            "wechat",
        ),
        (
            json!({"customer_id": cid, "name": "x", "custom": {"nope": 1}}),
            "custom.nope",
        ),
    ] {
        let r = admin.post("/api/v1/contacts", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(field_of(&r), field, "{body}: {}", r.body);
    }
    let r = admin.post_raw("/api/v1/contacts", "{\"name\": ");
    assert_eq!(r.status, 400);

    // Custom fields are checked on create, PATCH and PUT alike.
    let r = admin.post(
        "/api/v1/custom-fields",
        &json!({"entity": "contacts", "key": "wechat_group", "label_zh": "微信群", "label_en": "WeChat group", "kind": "text", "required": true}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = admin.post(
        "/api/v1/contacts",
        &json!({"customer_id": cid, "name": "没有群"}),
    );
    assert_eq!(field_of(&r), "custom.wechat_group", "{}", r.body);
    let with = create(
        &admin,
        "contacts",
        json!({"customer_id": cid, "name": "有群", "custom": {"wechat_group": "华南客户群"}}),
    );
    assert_eq!(with["custom"]["wechat_group"], "华南客户群");
    let r = admin.patch(
        &format!("/api/v1/contacts/{}", id(&with)),
        &json!({"version": 1, "custom": {"wechat_group": null}}),
    );
    assert_eq!(field_of(&r), "custom.wechat_group", "{}", r.body);
    let r = admin.put(
        &format!("/api/v1/contacts/{}", id(&with)),
        &json!({"version": 1, "customer_id": cid, "name": "有群"}),
    );
    assert_eq!(field_of(&r), "custom.wechat_group", "{}", r.body);
    let page = admin
        .get(&format!(
            "/api/v1/contacts?filter={}",
            url_encode("custom.wechat_group:eq:华南客户群")
        ))
        .json();
    assert_eq!(ids(&page), vec![id(&with)]);
    let r = admin.delete(&format!("/api/v1/contacts/{}?version=1", id(&with)));
    assert_eq!(r.status, 200);
    let fid = admin.get("/api/v1/custom-fields?entity=contacts").json()["fields"][0]["id"].clone();
    assert_eq!(
        admin.delete(&format!("/api/v1/custom-fields/{fid}")).status,
        200
    );

    // A deactivated field's stored value neither blocks later edits nor is lost.
    let r = admin.post(
        "/api/v1/custom-fields",
        &json!({"entity": "contacts", "key": "old_code", "label_zh": "旧编码", "kind": "text"}),
    );
    let old_field = r.json()["id"].clone();
    let coded = create(
        &admin,
        "contacts",
        json!({"customer_id": cid, "name": "旧客户联系人", "custom": {"old_code": "A-17"}}),
    );
    let r = admin.put(
        &format!("/api/v1/custom-fields/{old_field}"),
        &json!({"version": 1, "entity": "contacts", "key": "old_code", "label_zh": "旧编码", "kind": "text", "active": false}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin.patch(
        &format!("/api/v1/contacts/{}", id(&coded)),
        &json!({"version": 1, "title": "经理"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["custom"]["old_code"], "A-17");
    // Dates both backends can store, or a clear 400.
    let r = admin.post(
        "/api/v1/tasks",
        &json!({"title": "x", "due_at": "-5000-01-01T00:00"}),
    );
    assert_eq!(field_of(&r), "due_at", "{}", r.body);

    // The same mobile in another notation is a duplicate; confirming goes ahead.
    let r = admin.post(
        "/api/v1/contacts",
        &json!({"customer_id": id(&other), "name": "张伟", "mobile": "13800138000"}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["candidates"][0]["id"], c_id);
    let second = create(
        &admin,
        "contacts",
        json!({"customer_id": cid, "name": "张伟", "mobile": "13800138000", "is_primary": true, "confirm_duplicates": true}),
    );
    // One primary per customer.
    let first = admin.get(&format!("/api/v1/contacts/{c_id}")).json();
    assert_eq!(first["is_primary"], false);
    assert_eq!(second["is_primary"], true);

    // Lost update: the second writer with the old version gets 409 and the current record.
    let v = first["version"].as_i64().unwrap();
    let r = admin.patch(
        &format!("/api/v1/contacts/{c_id}"),
        &json!({"version": v, "title": "董事长"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin.patch(
        &format!("/api/v1/contacts/{c_id}"),
        &json!({"version": v, "notes": "覆盖"}),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["current"]["title"], "董事长");
    let r = admin.patch(
        &format!("/api/v1/contacts/{c_id}"),
        &json!({"notes": "没有版本"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(field_of(&r), "version");
    // PUT replaces: what is left out goes back to empty.
    let r = admin.put(
        &format!("/api/v1/contacts/{c_id}"),
        &json!({"version": v + 1, "customer_id": cid, "name": "张伟明", "mobile": "13800138000"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["title"], "");
    assert_eq!(r.json()["email"], "");

    // Search: one and two Chinese characters, Latin substrings, phone tails.
    create(
        &admin,
        "contacts",
        json!({"customer_id": cid, "name": "Anna Goldsmith", "email": "anna@example.com", "phone": "020-8765 4321"}),
    );
    for (q, want) in [
        ("张伟", 2),
        ("伟明", 1),
        ("smith", 1),
        ("4321", 1),
        ("87654321", 1),
        ("喝茶", 0),
        ("13800138000", 2),
    ] {
        let page = admin
            .get(&format!("/api/v1/contacts?q={}", url_encode(q)))
            .json();
        assert_eq!(page["items"].as_array().unwrap().len(), want, "{q}: {page}");
    }
    // Phone numbers typed the way people write them.
    for q in ["020-8765 4321", "8765-4321", "(020) 8765"] {
        let page = admin
            .get(&format!("/api/v1/contacts?q={}", url_encode(q)))
            .json();
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{q}: {page}");
    }
    // A rare term's matches come in the order asked for.
    let page = admin
        .get(&format!(
            "/api/v1/contacts?q={}&sort=name",
            url_encode("张伟")
        ))
        .json();
    assert_eq!(page["sort"], "name", "{page}");
    assert_eq!(page["items"][0]["name"], "张伟");
    // A record read, changed and sent back whole is accepted.
    let mut whole = admin.get(&format!("/api/v1/contacts/{c_id}")).json();
    whole["title"] = json!("创始人");
    let r = admin.put(&format!("/api/v1/contacts/{c_id}"), &whole);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["title"], "创始人");
    // A wrong type names its field on customers too.
    let r = admin.post("/api/v1/customers", &json!({"name": "x", "city": 123}));
    assert_eq!(field_of(&r), "city", "{}", r.body);
    // "深圳星河科技" is the same company as "深圳市星河科技有限公司".
    let r = admin.post("/api/v1/customers", &json!({"name": "深圳星河科技"}));
    assert_eq!(r.status, 409, "{}", r.body);
    let found = admin
        .get(&format!("/api/v1/search?q={}", url_encode("星河")))
        .json();
    assert_eq!(found["customers"][0]["id"], cid);
    let found = admin
        .get(&format!("/api/v1/search?q={}", url_encode("张伟")))
        .json();
    assert_eq!(found["contacts"].as_array().unwrap().len(), 2);

    // Deleting a customer takes its contacts along, each in the audit trail.
    let gone = create(&admin, "customers", json!({"name": "将删除的客户"}));
    let gone_contact = create(
        &admin,
        "contacts",
        json!({"customer_id": id(&gone), "name": "随客户删除"}),
    );
    let r = admin.delete(&format!("/api/v1/customers/{}?version=1", id(&gone)));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        admin
            .get(&format!("/api/v1/contacts/{}", id(&gone_contact)))
            .status,
        404
    );
    let audit = admin
        .get(&format!(
            "/api/v1/admin/audit?entity=contacts&record_id={}",
            id(&gone_contact)
        ))
        .json();
    assert!(audit.to_string().contains("delete"), "{audit}");

    // Delete names the version; the list forgets the contact.
    let cur = admin
        .get(&format!("/api/v1/contacts/{}", id(&second)))
        .json();
    let r = admin.delete(&format!("/api/v1/contacts/{}?version=99", id(&second)));
    assert_eq!(r.status, 409);
    let r = admin.delete(&format!(
        "/api/v1/contacts/{}?version={}",
        id(&second),
        cur["version"]
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        admin
            .get(&format!("/api/v1/contacts/{}", id(&second)))
            .status,
        404
    );
}

fn followups_move_dates_and_tasks_fill_the_todo(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let cust = create(&admin, "customers", json!({"name": "杭州青禾食品"}));
    let other = create(&admin, "customers", json!({"name": "成都川味"}));
    let cid = id(&cust);
    let contact = create(
        &admin,
        "contacts",
        json!({"customer_id": cid, "name": "陈静"}),
    );
    for (body, field) in [
        (json!({"content": "无对象"}), "customer_id"),
        (json!({"customer_id": cid}), "content"),
        (
            json!({"customer_id": cid, "content": "x", "kind": "telepathy"}),
            "kind",
        ),
        (
            json!({"customer_id": cid, "content": "x", "occurred_at": "yesterday"}),
            "occurred_at",
        ),
        (
            json!({"customer_id": id(&other), "contact_id": id(&contact), "content": "x"}),
            "contact_id",
        ),
    ] {
        let r = admin.post("/api/v1/followups", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(field_of(&r), field, "{body}: {}", r.body);
    }
    // A contact's follow-up lands on its customer and moves its dates.
    let f1 = create(
        &admin,
        "followups",
        json!({"contact_id": id(&contact), "kind": "visit", "content": "上门拜访，演示产品", "occurred_at": "2026-11-20T14:00", "next_follow_up_at": "2026-11-27T10:00"}),
    );
    assert_eq!(f1["customer_id"], cid);
    let f2 = create(
        &admin,
        "followups",
        json!({"customer_id": cid, "content": "发送报价", "occurred_at": "2026-11-25T09:00", "next_follow_up_at": "2026-12-02T10:00"}),
    );
    assert_eq!(
        f2["kind"], "call",
        "the first configured type is the default"
    );
    let c = admin.get(&format!("/api/v1/customers/{cid}")).json();
    assert_eq!(c["last_follow_up_at"], "2026-11-25T09:00:00");
    assert_eq!(c["next_follow_up_at"], "2026-12-02T10:00:00");
    // Deleting the latest one recomputes the last follow-up.
    let r = admin.delete(&format!("/api/v1/followups/{}?version=1", id(&f2)));
    assert_eq!(r.status, 200, "{}", r.body);
    let c = admin.get(&format!("/api/v1/customers/{cid}")).json();
    assert_eq!(c["last_follow_up_at"], "2026-11-20T14:00:00");
    // The type list is configurable by administrators.
    let r = admin.put(
        "/api/v1/followup-types",
        &json!({"types": ["电话", "拜访", "微信"]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        admin.get("/api/v1/followup-types").json()["types"][2],
        "微信"
    );
    let r = admin.post(
        "/api/v1/followups",
        &json!({"customer_id": cid, "content": "x", "kind": "call"}),
    );
    assert_eq!(field_of(&r), "kind");
    create(
        &admin,
        "followups",
        json!({"customer_id": cid, "content": "微信沟通", "kind": "微信"}),
    );

    // Tasks: links must be visible, finishing stamps the time, the to-do centre lists them.
    let now = chrono::Utc::now().naive_utc();
    let fmt = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let overdue = create(
        &admin,
        "tasks",
        json!({"title": "寄样品", "due_at": fmt(now - chrono::Duration::days(2)), "related_entity": "customers", "related_id": cid, "priority": "high"}),
    );
    assert_eq!(overdue["status"], "open");
    assert_eq!(
        overdue["assignee_id"],
        admin.get("/api/v1/me").json()["user"]["id"]
    );
    for (body, field) in [
        (
            json!({"title": "x", "related_entity": "customers"}),
            "related_id",
        ),
        (json!({"title": "x", "related_id": cid}), "related_entity"),
        (
            json!({"title": "x", "related_entity": "customers", "related_id": 999_999}),
            "related_id",
        ),
        (
            json!({"title": "x", "related_entity": "planets", "related_id": 1}),
            "related_entity",
        ),
        (json!({"title": "x", "status": "someday"}), "status"),
        (
            json!({"title": "x", "completed_at": "2026-01-01T00:00"}),
            "completed_at",
        ),
    ] {
        let r = admin.post("/api/v1/tasks", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(field_of(&r), field, "{body}: {}", r.body);
    }
    let later = create(
        &admin,
        "tasks",
        json!({"title": "准备合同", "due_at": fmt(now + chrono::Duration::days(20))}),
    );
    create(
        &admin,
        "leads",
        json!({"name": "新线索", "company": "温州鞋业"}),
    );
    let todo = admin.get("/api/v1/todo").json();
    assert_eq!(ids(&todo["tasks_overdue"]), vec![id(&overdue)], "{todo}");
    assert_eq!(todo["tasks_overdue"]["total"]["count"], 1);
    assert_eq!(todo["new_leads"]["items"][0]["name"], "新线索");
    assert!(!ids(&todo["tasks_overdue"]).contains(&id(&later)));
    let r = admin.patch(
        &format!("/api/v1/tasks/{}", id(&overdue)),
        &json!({"version": 1, "status": "done"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["completed_at"].is_string());
    let todo = admin.get("/api/v1/todo").json();
    assert!(
        todo["tasks_overdue"]["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let open = admin.get("/api/v1/tasks?view=open").json();
    assert_eq!(ids(&open), vec![id(&later)]);
    let r = admin.get("/api/v1/tasks?view=someday");
    assert_eq!(r.status, 400);
    assert_eq!(field_of(&r), "view");
}

fn permission_matrix_for_records(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let dep = |name: &str, parent: Option<i64>| -> i64 {
        admin
            .post(
                "/api/v1/admin/departments",
                &json!({"name": name, "parent_id": parent}),
            )
            .json()["id"]
            .as_i64()
            .unwrap()
    };
    let south = dep("华南", None);
    let sz = dep("深圳", Some(south));
    let north = dep("华北", None);
    let mgr = user(
        &admin,
        "mgr@example.cn",
        "sales_manager",
        json!({"department_id": south}),
    );
    let s1 = user(
        &admin,
        "s1@example.cn",
        "salesperson",
        json!({"department_id": sz, "supervisor_id": mgr}),
    );
    let s2 = user(
        &admin,
        "s2@example.cn",
        "salesperson",
        json!({"department_id": north}),
    );
    let svc = user(
        &admin,
        "svc@example.cn",
        "service_agent",
        json!({"department_id": south}),
    );
    let _ = svc;
    let login = |email: &str| Client::login(&srv, email, PW);
    let (c_mgr, c_s1, c_s2, c_svc) = (
        login("mgr@example.cn"),
        login("s1@example.cn"),
        login("s2@example.cn"),
        login("svc@example.cn"),
    );
    // Each owner has a customer, a contact, a lead, a follow-up and a task.
    let mut owned: std::collections::BTreeMap<(&str, i64), i64> = Default::default();
    for (who, client) in [(mgr, &c_mgr), (s1, &c_s1), (s2, &c_s2)] {
        let cust = create(client, "customers", json!({"name": format!("客户{who}")}));
        let con = create(
            client,
            "contacts",
            json!({"customer_id": id(&cust), "name": format!("联系人{who}"), "mobile": format!("1380000{who:04}")}),
        );
        let lead = create(
            client,
            "leads",
            json!({"name": format!("线索{who}"), "company": format!("公司{who}")}),
        );
        let fu = create(
            client,
            "followups",
            json!({"customer_id": id(&cust), "content": format!("跟进{who}")}),
        );
        let task = create(
            client,
            "tasks",
            json!({"title": format!("任务{who}"), "related_entity": "customers", "related_id": id(&cust)}),
        );
        owned.insert(("contacts", who), id(&con));
        owned.insert(("leads", who), id(&lead));
        owned.insert(("followups", who), id(&fu));
        owned.insert(("tasks", who), id(&task));
    }
    let of = |entity: &str, users: &[i64]| -> Vec<i64> {
        let mut v: Vec<i64> = users.iter().map(|u| owned[&(entity, *u)]).collect();
        v.sort_unstable();
        v
    };
    let everyone = [mgr, s1, s2];
    // (actor, entity, who's records they see); None: no permission at all.
    let table: Vec<(&Client, &str, Option<Vec<i64>>)> = vec![
        (&admin, "contacts", Some(everyone.to_vec())),
        (&c_mgr, "contacts", Some(vec![mgr, s1])),
        (&c_s1, "contacts", Some(vec![s1])),
        (&c_s2, "contacts", Some(vec![s2])),
        (&c_svc, "contacts", Some(vec![mgr])),
        (&c_mgr, "leads", Some(vec![mgr, s1])),
        (&c_s1, "leads", Some(vec![s1])),
        (&c_s2, "leads", Some(vec![s2])),
        (&c_svc, "leads", None),
        (&c_mgr, "followups", Some(vec![mgr, s1])),
        (&c_s2, "followups", Some(vec![s2])),
        (&c_svc, "followups", Some(vec![mgr])),
        (&c_mgr, "tasks", Some(vec![mgr, s1])),
        (&c_s1, "tasks", Some(vec![s1])),
        (&c_svc, "tasks", Some(vec![mgr])),
    ];
    for (client, entity, sees) in &table {
        let r = client.get(&format!("/api/v1/{entity}"));
        let Some(sees) = sees else {
            assert_eq!(r.status, 403, "{entity}: {}", r.body);
            continue;
        };
        assert_eq!(r.status, 200, "{entity}: {}", r.body);
        assert_eq!(ids(&r.json()), of(entity, sees), "{entity} list");
        let term = match *entity {
            "contacts" => "联系人",
            "leads" => "线索",
            "followups" => "跟进",
            _ => "任务",
        };
        let found = client
            .get(&format!("/api/v1/{entity}?q={}", url_encode(term)))
            .json();
        assert_eq!(ids(&found), of(entity, sees), "{entity} search");
        let global = client
            .get(&format!("/api/v1/search?q={}", url_encode(term)))
            .json();
        assert_eq!(
            global[*entity].as_array().unwrap().len(),
            sees.len(),
            "{entity} global search: {global}"
        );
        for who in everyone {
            let rid = owned[&(*entity, who)];
            let r = client.get(&format!("/api/v1/{entity}/{rid}"));
            if sees.contains(&who) {
                assert_eq!(r.status, 200, "{entity} {rid}");
            } else {
                assert_eq!(r.status, 404, "{entity} {rid}: existence must not leak");
                // 404, or 403 for lacking the action altogether (which
                // says nothing about the record).
                let hidden = |r: &common::Response| {
                    r.status == 404 || (r.status == 403 && !r.body.contains(&rid.to_string()))
                };
                let p = client.patch(
                    &format!("/api/v1/{entity}/{rid}"),
                    &json!({"version": 1, "notes": "x"}),
                );
                assert!(hidden(&p), "{entity} {rid} patch: {} {}", p.status, p.body);
                let d = client.delete(&format!("/api/v1/{entity}/{rid}?version=1"));
                assert!(hidden(&d), "{entity} {rid} delete: {} {}", d.status, d.body);
                let a = client.get(&format!(
                    "/api/v1/attachments?entity={entity}&record_id={rid}"
                ));
                assert_eq!(a.status, 404, "{entity} {rid} attachments");
            }
        }
    }
    // Salespeople clear away their own tasks.
    let r = c_s1.delete(&format!(
        "/api/v1/tasks/{}?version=1",
        owned[&("tasks", s1)]
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    // A follow-up naming a contact the actor cannot see learns nothing about it.
    let r = c_s1.post(
        "/api/v1/followups",
        &json!({"contact_id": owned[&("contacts", s2)], "content": "x"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(field_of(&r), "contact_id");
    assert!(!r.body.contains("belongs to"), "{}", r.body);
    // Seeing is not changing: the service agent views the manager's contact
    // but may not edit it.
    let mgr_contact = owned[&("contacts", mgr)];
    let r = c_svc.patch(
        &format!("/api/v1/contacts/{mgr_contact}"),
        &json!({"version": 1, "title": "x"}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // A salesperson cannot hang a contact on a customer they cannot see, nor
    // give a lead to someone outside their scope.
    let s2_customer = admin
        .get(&format!(
            "/api/v1/customers?q={}",
            url_encode(&format!("客户{s2}"))
        ))
        .json()["items"][0]["id"]
        .clone();
    let r = c_s1.post(
        "/api/v1/contacts",
        &json!({"customer_id": s2_customer, "name": "偷看"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(field_of(&r), "customer_id");
    let r = c_s1.post(
        "/api/v1/leads",
        &json!({"name": "转给别人", "owner_id": s2}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(field_of(&r), "owner_id");
    // Salespeople have no transfer right: reassigning their own lead is refused.
    let s1_lead = owned[&("leads", s1)];
    let r = c_s1.patch(
        &format!("/api/v1/leads/{s1_lead}"),
        &json!({"version": 1, "owner_id": mgr}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // The manager transfers in bulk within their scope; outside it is refused per id.
    let s2_lead = owned[&("leads", s2)];
    let r = c_mgr.post(
        "/api/v1/leads/bulk",
        &json!({"ids": [s1_lead, s2_lead], "action": "assign", "owner_id": mgr}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["done"], json!([s1_lead]));
    assert_eq!(r.json()["failed"][0]["id"], s2_lead);
    assert_eq!(r.json()["failed"][0]["error"], "not_found");
    // Sharing opens one record to a colleague.
    let s2_contact = owned[&("contacts", s2)];
    let c_s2_admin_view = admin.get(&format!("/api/v1/contacts/{s2_contact}"));
    assert_eq!(c_s2_admin_view.status, 200);
    let r = c_s2.post(
        &format!("/api/v1/contacts/{s2_contact}/collaborators"),
        &json!({"user_id": s1}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        c_s1.get(&format!("/api/v1/contacts/{s2_contact}")).status,
        200
    );
    let shared = c_s1.get("/api/v1/contacts?view=shared").json();
    assert_eq!(ids(&shared), vec![s2_contact]);
    let r = c_s1.patch(
        &format!("/api/v1/contacts/{s2_contact}"),
        &json!({"version": 1, "title": "x"}),
    );
    assert_eq!(
        r.status, 403,
        "a read share does not allow edits: {}",
        r.body
    );
    // Converting a lead into a customer one may only view is refused.
    let s2_cust = admin
        .get(&format!(
            "/api/v1/customers?q={}",
            url_encode(&format!("客户{s2}"))
        ))
        .json()["items"][0]["id"]
        .as_i64()
        .unwrap();
    let r = c_s2.post(
        &format!("/api/v1/customers/{s2_cust}/collaborators"),
        &json!({"user_id": s1}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let own_lead = create(&c_s1, "leads", json!({"name": "自己的线索"}));
    let r = c_s1.post(
        &format!("/api/v1/leads/{}/convert", id(&own_lead)),
        &json!({"customer_id": s2_cust}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
}

fn attachments_are_checked_and_only_downloaded(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    user(&admin, "s1@example.cn", "salesperson", json!({}));
    let s1 = Client::login(&srv, "s1@example.cn", PW);
    let cust = create(&admin, "customers", json!({"name": "附件客户"}));
    let fu = create(
        &admin,
        "followups",
        json!({"customer_id": id(&cust), "content": "带附件"}),
    );
    let path = |name: &str| {
        format!(
            "/api/v1/attachments?entity=followups&record_id={}&name={}",
            id(&fu),
            url_encode(name)
        )
    };
    let up = admin.post_bytes(
        &path("报价单 v2.pdf"),
        b"%PDF-1.7\n%binary",
        "application/pdf",
    );
    assert_eq!(up.status, 201, "{}", up.body);
    let att = up.json();
    assert_eq!(att["content_type"], "application/pdf");
    assert_eq!(att["size"], 16);
    for (name, data) in [
        (
            "invoice.pdf",
            &b"<html><script>alert(1)</script></html>"[..],
        ),
        (
            "logo.svg",
            b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        ),
        ("photo.png", b"%PDF-1.4 not a png"),
        ("tool.pdf", b"MZ\x90\x00\x03"),
        ("empty.txt", b""),
    ] {
        let r = admin.post_bytes(&path(name), data, "application/pdf");
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        assert_eq!(field_of(&r), "file", "{name}");
    }
    let r = admin.post_bytes(
        &path("big.txt"),
        &vec![b'a'; 21 * 1024 * 1024],
        "text/plain",
    );
    assert_eq!(r.status, 413, "oversized upload");
    let r = admin.post_bytes(
        "/api/v1/attachments?entity=followups&record_id=999999&name=a.txt",
        b"hello",
        "text/plain",
    );
    assert_eq!(r.status, 404);
    let d = admin.get(&format!("/api/v1/attachments/{}", id(&att)));
    assert_eq!(d.status, 200);
    assert_eq!(d.body, "%PDF-1.7\n%binary");
    let disposition = d.header("content-disposition").unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("UTF-8''%E6%8A%A5%E4%BB%B7%E5%8D%95"),
        "{disposition}"
    );
    assert_eq!(d.header("x-content-type-options"), Some("nosniff"));
    // Someone who cannot see the follow-up cannot see its file either.
    assert_eq!(
        s1.get(&format!("/api/v1/attachments/{}", id(&att))).status,
        404
    );
    assert_eq!(
        s1.delete(&format!("/api/v1/attachments/{}", id(&att)))
            .status,
        404
    );
    let r = admin.delete(&format!("/api/v1/attachments/{}", id(&att)));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        admin
            .get(&format!("/api/v1/attachments/{}", id(&att)))
            .status,
        404
    );
}

fn saved_views_bulk_and_keyset_paging(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    user(&admin, "s1@example.cn", "salesperson", json!({}));
    let s1 = Client::login(&srv, "s1@example.cn", PW);
    let cust = create(&admin, "customers", json!({"name": "分页客户"}));
    let mut made = Vec::new();
    for i in 0..23 {
        let l = create(
            &admin,
            "leads",
            json!({"name": format!("线索{i:02}"), "source": if i % 2 == 0 { "展会" } else { "官网" }, "tags": if i % 3 == 0 { json!(["重点"]) } else { json!([]) }}),
        );
        made.push(id(&l));
    }
    let _ = cust;
    // Keyset pages by name: every row exactly once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/leads?sort=name&limit=5&total=1".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = admin.get(&path).json();
        assert_eq!(page["total"]["count"], 23);
        seen.extend(page["items"].as_array().unwrap().iter().map(id));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, made, "sorted by name, which follows creation here");
    let r = admin.get("/api/v1/leads?sort=notes");
    assert_eq!(r.status, 400);
    assert_eq!(field_of(&r), "sort");
    let r = admin.get("/api/v1/leads?filter=colour:eq:red");
    assert_eq!(r.status, 400);
    // A saved view: filters and sort kept per user.
    // A misspelt field when creating a user is refused, not ignored.
    let r = admin.post(
        "/api/v1/admin/users",
        &json!({"email": "typo@example.cn", "name": "错字", "password": PW, "role_ids": [1]}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(field_of(&r), "role_ids");
    // A view that could not run is refused when saved, naming what is wrong.
    for (definition, field) in [
        (json!({"sort": "bogus"}), "definition.sort"),
        (
            json!({"filters": [{"field": "nosuch", "op": "eq", "value": ["x"]}]}),
            "definition.filters",
        ),
        (json!({"view": "someday"}), "definition.view"),
    ] {
        let r = admin.post(
            "/api/v1/views",
            &json!({"entity": "leads", "name": "坏视图", "definition": definition}),
        );
        assert_eq!(r.status, 400, "{definition}: {}", r.body);
        assert_eq!(field_of(&r), field);
    }
    let r = admin.post(
        "/api/v1/views",
        &json!({"entity": "leads", "name": "展会线索", "definition": {"filters": [{"field": "source", "op": "eq", "value": ["展会"]}], "sort": "-name"}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let vid = id(&r.json());
    let page = admin
        .get(&format!("/api/v1/leads?view={vid}&limit=100"))
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 12);
    assert_eq!(page["items"][0]["name"], "线索22");
    assert_eq!(page["sort"], "-name");
    let page = admin
        .get(&format!(
            "/api/v1/leads?view={vid}&filter={}&limit=100",
            url_encode("tags:contains:重点")
        ))
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    // Another user's view id is not theirs to use or see.
    assert_eq!(s1.get(&format!("/api/v1/leads?view={vid}")).status, 400);
    assert!(
        s1.get("/api/v1/views").json()["views"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(s1.delete(&format!("/api/v1/views/{vid}")).status, 404);
    let r = admin.patch(
        &format!("/api/v1/views/{vid}"),
        &json!({"version": 1, "name": "展会"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin.patch(
        &format!("/api/v1/views/{vid}"),
        &json!({"version": 1, "name": "旧版本"}),
    );
    assert_eq!(r.status, 409);
    let r = admin.post("/api/v1/views", &json!({"entity": "planets", "name": "x"}));
    assert_eq!(field_of(&r), "entity");
    // Following: a personal list of records to keep an eye on.
    let r = admin.put(&format!("/api/v1/follows/leads/{}", made[5]), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let followed = admin.get("/api/v1/leads?view=followed").json();
    assert_eq!(ids(&followed), vec![made[5]]);
    assert_eq!(
        admin.get("/api/v1/follows?entity=leads").json()["ids"],
        json!([made[5]])
    );
    assert_eq!(
        s1.put(&format!("/api/v1/follows/leads/{}", made[5]), &json!({}))
            .status,
        404
    );
    assert!(ids(&s1.get("/api/v1/leads?view=followed").json()).is_empty());
    admin.delete(&format!("/api/v1/follows/leads/{}", made[5]));
    assert!(ids(&admin.get("/api/v1/leads?view=followed").json()).is_empty());
    // Bulk tag and delete with per-id outcomes.
    let r = admin.post(
        "/api/v1/leads/bulk",
        &json!({"ids": [made[1], made[2]], "action": "add_tag", "tag": "跟进中"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        admin.get(&format!("/api/v1/leads/{}", made[1])).json()["tags"],
        json!(["跟进中"])
    );
    let r = admin.post(
        "/api/v1/leads/bulk",
        &json!({"ids": [made[3], 999_999], "action": "delete"}),
    );
    assert_eq!(r.json()["done"], json!([made[3]]));
    assert_eq!(r.json()["failed"][0]["error"], "not_found");
    let r = admin.post(
        "/api/v1/contacts/bulk",
        &json!({"ids": [1], "action": "add_tag", "tag": "x"}),
    );
    assert_eq!(r.status, 400, "contacts have no tags: {}", r.body);
    let r = admin.post(
        "/api/v1/leads/bulk",
        &json!({"ids": [], "action": "delete"}),
    );
    assert_eq!(field_of(&r), "ids");
}

fn wide_scope_search_over_many_matches(backend: Backend) {
    // A manager over six salespeople (more owners than a scope reads row by
    // row) searches a term with more matches than counts as rare, while a
    // colleague has shared one record: the shared part and the owned part
    // are read differently and must still page together.
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let dep = admin
        .post("/api/v1/admin/departments", &json!({"name": "华东"}))
        .json()["id"]
        .as_i64()
        .unwrap();
    let mgr = user(
        &admin,
        "mgr@example.cn",
        "sales_manager",
        json!({"department_id": dep}),
    );
    let team: Vec<i64> = (0..6)
        .map(|i| {
            user(
                &admin,
                &format!("s{i}@example.cn"),
                "salesperson",
                json!({"department_id": dep}),
            )
        })
        .collect();
    let outsider = user(&admin, "out@example.cn", "salesperson", json!({}));
    let cust = create(&admin, "customers", json!({"name": "大客户"}));
    {
        use rapport::core::records::store::{NewRow, insert_many_sql};
        let mut conn = srv.db.connect();
        let t = chrono::Utc::now().naive_utc();
        let empty = serde_json::Map::new();
        let recs: Vec<serde_json::Map<String, Value>> = (0..2100)
            .map(|i| {
                let input = json!({"customer_id": id(&cust), "name": format!("张伟{i}"),
                                   "owner_id": team[i % team.len()]});
                rapport::core::records::validate(
                    &rapport::crm::contacts::SPEC,
                    input.as_object().unwrap(),
                )
                .unwrap()
                .0
            })
            .collect();
        for chunk in recs.chunks(100) {
            let rows: Vec<NewRow> = chunk
                .iter()
                .map(|rec| NewRow {
                    rec,
                    custom: &empty,
                    by: None,
                    created_at: t,
                    updated_at: t,
                })
                .collect();
            insert_many_sql(conn.backend(), &rapport::crm::contacts::SPEC, &rows)
                .unwrap()
                .execute(&mut conn)
                .unwrap();
        }
    }
    let other = create(
        &admin,
        "contacts",
        json!({"customer_id": id(&cust), "name": "张伟外部", "owner_id": outsider}),
    );
    let out = Client::login(&srv, "out@example.cn", PW);
    let r = out.post(
        &format!("/api/v1/contacts/{}/collaborators", id(&other)),
        &json!({"user_id": mgr}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let m = Client::login(&srv, "mgr@example.cn", PW);
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/api/v1/contacts?limit=200&q={}", url_encode("张伟"));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = m.get(&path);
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.json();
        for item in page["items"].as_array().unwrap() {
            assert!(seen.insert(id(item)), "a row came twice");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        2101,
        "every team contact and the shared one, once each"
    );
    let _ = mgr;
}

fn children_of_a_shared_customer(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    user(&admin, "li@example.cn", "salesperson", json!({}));
    let wang_id = user(&admin, "wang@example.cn", "salesperson", json!({}));
    let c_li = Client::login(&srv, "li@example.cn", PW);
    let c_wang = Client::login(&srv, "wang@example.cn", PW);
    let shared = create(&c_li, "customers", json!({"name": "共享的客户"}));
    let private = create(&c_li, "customers", json!({"name": "不共享的客户"}));
    let contact = create(
        &c_li,
        "contacts",
        json!({"customer_id": id(&shared), "name": "共享联系人"}),
    );
    let hidden = create(
        &c_li,
        "contacts",
        json!({"customer_id": id(&private), "name": "私有联系人"}),
    );
    let fu = create(
        &c_li,
        "followups",
        json!({"customer_id": id(&shared), "content": "共享客户的跟进"}),
    );
    assert_eq!(
        c_wang
            .get(&format!("/api/v1/contacts/{}", id(&contact)))
            .status,
        404
    );
    // Shared read-only: the customer's contacts and follow-ups come along, read-only.
    let r = c_li.post(
        &format!("/api/v1/customers/{}/collaborators", id(&shared)),
        &json!({"user_id": wang_id}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        c_wang
            .get(&format!("/api/v1/contacts/{}", id(&contact)))
            .status,
        200
    );
    assert_eq!(
        c_wang.get(&format!("/api/v1/followups/{}", id(&fu))).status,
        200
    );
    assert_eq!(
        c_wang
            .get(&format!("/api/v1/contacts/{}", id(&hidden)))
            .status,
        404
    );
    let list = c_wang.get("/api/v1/contacts?view=all").json();
    assert_eq!(
        ids(&list),
        vec![id(&contact)],
        "only the shared customer's contacts"
    );
    let found = c_wang
        .get(&format!("/api/v1/contacts?q={}", url_encode("联系人")))
        .json();
    assert_eq!(
        ids(&found),
        vec![id(&contact)],
        "search keeps to the scope too"
    );
    let r = c_wang.patch(
        &format!("/api/v1/contacts/{}", id(&contact)),
        &json!({"version": 1, "title": "经理"}),
    );
    assert_eq!(
        r.status, 403,
        "a read share does not open edits: {}",
        r.body
    );
    // Writable: the contacts become editable too.
    let r = c_li.post(
        &format!("/api/v1/customers/{}/collaborators", id(&shared)),
        &json!({"user_id": wang_id, "can_write": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c_wang.patch(
        &format!("/api/v1/contacts/{}", id(&contact)),
        &json!({"version": 1, "title": "经理"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Unshared: gone again.
    let r = c_li.delete(&format!(
        "/api/v1/customers/{}/collaborators/{wang_id}",
        id(&shared)
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        c_wang
            .get(&format!("/api/v1/contacts/{}", id(&contact)))
            .status,
        404
    );
}

both_backends!(
    lead_becomes_a_customer,
    contacts_validate_dedupe_version_and_search,
    followups_move_dates_and_tasks_fill_the_todo,
    permission_matrix_for_records,
    attachments_are_checked_and_only_downloaded,
    saved_views_bulk_and_keyset_paging,
    wide_scope_search_over_many_matches,
    children_of_a_shared_customer,
);
