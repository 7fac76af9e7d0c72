//! Customers over HTTP on both backends: CRUD with versions, validation,
//! custom fields, search in Chinese and Latin, duplicates, the permission
//! matrix, sharing, keyset paging, filters and bulk actions.

mod common;

use common::{Backend, Client, PW, TestServer, ids, role_id, setup_admin, user};
use serde_json::{Value, json};

fn create(c: &Client, body: Value) -> Value {
    let r = c.post("/api/v1/customers", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn crud_with_versions_and_validation(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let c = create(
        &admin,
        json!({"name": "深圳市星河科技有限公司", "short_name": "星河", "level": "A", "phone": "0755-8888 6666",
               "email": "Info@XingHe.cn", "province": "广东", "city": "深圳", "tags": ["VIP", "华南"],
               "next_follow_up_at": "2026-12-10T09:30"}),
    );
    assert_eq!(c["version"], 1);
    assert_eq!(c["email"], "info@xinghe.cn");
    assert_eq!(c["owner_name"], "管理员");
    let id = c["id"].as_i64().unwrap();
    let got = admin.get(&format!("/api/v1/customers/{id}")).json();
    assert_eq!(got["tags"], json!(["VIP", "华南"]));
    assert_eq!(got["next_follow_up_at"], "2026-12-10T09:30:00");

    // Two colleagues read version 1; the first write wins, the second gets 409
    // with the current record instead of overwriting it.
    let r = admin.patch(
        &format!("/api/v1/customers/{id}"),
        &json!({"version": 1, "level": "B"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 2);
    let r = admin.patch(
        &format!("/api/v1/customers/{id}"),
        &json!({"version": 1, "notes": "我的修改"}),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"], "stale");
    assert_eq!(r.json()["current"]["level"], "B");
    let r = admin.patch(
        &format!("/api/v1/customers/{id}"),
        &json!({"notes": "no version"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["field"], "version");

    // PUT replaces: fields left out go back to their defaults.
    let r = admin.put(
        &format!("/api/v1/customers/{id}"),
        &json!({"version": 2, "name": "星河科技", "level": "A"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["short_name"], "");
    assert_eq!(r.json()["tags"], json!([]));
    assert_eq!(r.json()["version"], 3);

    // Bad input names the field; nothing is written.
    for (body, field) in [
        (json!({"short_name": "x"}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": "a", "email": "not-mail"}), "email"),
        (json!({"name": "a", "phone": "call me maybe"}), "phone"),
        (json!({"name": "a", "colour": "red"}), "colour"),
        (json!({"name": "a", "tags": "VIP"}), "body"),
        (
            json!({"name": "a", "next_follow_up_at": "soon"}),
            "next_follow_up_at",
        ),
        (json!({"name": "a", "owner_id": 999999}), "owner_id"),
    ] {
        let r = admin.post("/api/v1/customers", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        if field != "body" {
            assert_eq!(r.json()["field"], field, "{body}: {}", r.body);
        }
    }
    let r = admin.post_raw("/api/v1/customers", "{not json");
    assert_eq!(r.status, 400);
    assert_eq!(
        admin.get("/api/v1/customers?total=1").json()["total"]["count"],
        1
    );
    assert!(
        admin.get("/api/v1/customers").json().get("total").is_none(),
        "counting is on request"
    );

    // Delete needs the current version too.
    assert_eq!(
        admin
            .delete(&format!("/api/v1/customers/{id}?version=1"))
            .status,
        409
    );
    assert_eq!(
        admin
            .delete(&format!("/api/v1/customers/{id}?version=3"))
            .status,
        200
    );
    assert_eq!(admin.get(&format!("/api/v1/customers/{id}")).status, 404);
}

fn search_finds_chinese_latin_and_phone_substrings(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let xinghe = create(
        &admin,
        json!({"name": "深圳市星河科技有限公司", "mobile": "+86 138-0013-8000"}),
    )["id"]
        .clone();
    let zhang = create(&admin, json!({"name": "张伟明", "kind": "person"}))["id"].clone();
    let gold = create(
        &admin,
        json!({"name": "Goldsmith Trading Ltd", "notes": "met at the Canton fair"}),
    )["id"]
        .clone();
    create(
        &admin,
        json!({"name": "北京蓝天贸易", "email": "sales@lantian.cn"}),
    );
    let search = |q: &str| -> Vec<Value> {
        let r = admin.get(&format!("/api/v1/customers?q={}", common::url_encode(q)));
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect()
    };
    assert_eq!(search("科技"), vec![xinghe.clone()]);
    assert_eq!(search("星河科技"), vec![xinghe.clone()]);
    assert_eq!(search("张伟"), vec![zhang.clone()]);
    assert_eq!(search("smith"), vec![gold.clone()]);
    assert_eq!(search("SMITH"), vec![gold.clone()]);
    assert_eq!(search("canton"), vec![gold.clone()]);
    assert_eq!(
        search("8000"),
        vec![xinghe.clone()],
        "a phone by its last digits"
    );
    assert_eq!(search("13800138000"), vec![xinghe.clone()]);
    assert_eq!(search("lantian.cn").len(), 1);
    assert!(search("不存在的公司").is_empty());
    assert!(search("星海").is_empty());
    // Global search groups by type.
    let r = admin.get(&format!("/api/v1/search?q={}", common::url_encode("星河")));
    assert_eq!(r.json()["customers"][0]["id"], xinghe);
    assert_eq!(admin.get("/api/v1/search?q=").status, 400);
}

fn duplicates_are_offered_before_a_second_customer(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let first = create(
        &admin,
        json!({"name": "深圳市星河科技有限公司", "phone": "0755-8888 6666"}),
    );
    // Same company without the company form, full-width, another phone.
    let r = admin.post(
        "/api/v1/customers",
        &json!({"name": "深圳市星河科技", "phone": "020-1234 5678"}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["error"], "duplicate");
    assert_eq!(r.json()["candidates"][0]["id"], first["id"]);
    // Another name but the same phone written differently.
    let r = admin.post(
        "/api/v1/customers",
        &json!({"name": "星河分部", "phone": "+86 0755 88886666"}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    let r = admin.post(
        "/api/v1/customers",
        &json!({"name": "ACME Co., Ltd.", "email": "a@acme.com"}),
    );
    assert_eq!(r.status, 201);
    let r = admin.post(
        "/api/v1/customers",
        &json!({"name": "Ａｃｍｅ", "email": "other@acme.com"}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    // Confirmed, it is created.
    let r = admin.post(
        "/api/v1/customers",
        &json!({"name": "深圳市星河科技", "confirm_duplicates": true}),
    );
    assert_eq!(r.status, 201, "{}", r.body);

    // A salesperson does not see the colleague's duplicate, only that one exists.
    let _ = user(&admin, "s1@example.cn", "salesperson", json!({}));
    let s1 = Client::login(&srv, "s1@example.cn", PW);
    let r = s1.post(
        "/api/v1/customers",
        &json!({"name": "深圳市星河科技股份有限公司"}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["candidates"], json!([]));
    assert_eq!(r.json()["hidden"], 2);
}

fn custom_fields_are_validated_on_every_write(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let def = |body: Value| {
        let r = admin.post("/api/v1/custom-fields", &body);
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()
    };
    def(
        json!({"entity": "customers", "key": "tax_no", "label_zh": "税号", "kind": "text", "required": true, "unique": true}),
    );
    def(
        json!({"entity": "customers", "key": "scale", "label_zh": "规模", "kind": "single_select", "options": ["小", "中", "大"], "default": "小"}),
    );
    def(json!({"entity": "customers", "key": "staff", "label_zh": "员工数", "kind": "integer"}));
    def(
        json!({"entity": "customers", "key": "parent", "label_zh": "上级客户", "kind": "customer"}),
    );
    let r = admin.post(
        "/api/v1/custom-fields",
        &json!({"entity": "customers", "key": "Bad Key", "label_zh": "x", "kind": "text"}),
    );
    assert_eq!(r.json()["field"], "key");
    let r = admin.post(
        "/api/v1/custom-fields",
        &json!({"entity": "customers", "key": "x", "label_zh": "x", "kind": "single_select"}),
    );
    assert_eq!(r.json()["field"], "options");

    let c = create(
        &admin,
        json!({"name": "甲公司", "custom": {"tax_no": "91440300MA5F", "staff": 120}}),
    );
    assert_eq!(
        c["custom"],
        json!({"tax_no": "91440300MA5F", "staff": 120, "scale": "小"}),
        "default filled in"
    );
    for (custom, field) in [
        (json!({}), "custom.tax_no"),
        (json!({"tax_no": "X1", "scale": "巨大"}), "custom.scale"),
        (json!({"tax_no": "X1", "staff": "many"}), "custom.staff"),
        (json!({"tax_no": "X1", "colour": "red"}), "custom.colour"),
        (json!({"tax_no": "91440300MA5F"}), "custom.tax_no"),
        (json!({"tax_no": "X1", "parent": 999999}), "custom.parent"),
    ] {
        let r = admin.post(
            "/api/v1/customers",
            &json!({"name": format!("乙{field}"), "custom": custom}),
        );
        assert_eq!(r.status, 400, "{custom}: {}", r.body);
        assert_eq!(r.json()["field"], field, "{custom}: {}", r.body);
    }
    // Updates are validated the same way; custom values merge key by key.
    let id = c["id"].as_i64().unwrap();
    let r = admin.patch(
        &format!("/api/v1/customers/{id}"),
        &json!({"version": 1, "custom": {"staff": -3.5}}),
    );
    assert_eq!(r.json()["field"], "custom.staff");
    let r = admin.patch(
        &format!("/api/v1/customers/{id}"),
        &json!({"version": 1, "custom": {"staff": 150, "parent": id}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["custom"]["tax_no"], "91440300MA5F");
    assert_eq!(r.json()["custom"]["staff"], 150);

    // Custom fields filter and sort lists.
    create(
        &admin,
        json!({"name": "丙公司", "custom": {"tax_no": "T3", "staff": 20, "scale": "大"}}),
    );
    let page = admin
        .get("/api/v1/customers?filter=custom.staff:gt:100")
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page = admin
        .get(&format!(
            "/api/v1/customers?filter={}",
            common::url_encode("custom.scale:eq:大")
        ))
        .json();
    assert_eq!(page["items"][0]["name"], "丙公司");
    let page = admin.get("/api/v1/customers?sort=custom.staff").json();
    assert_eq!(page["items"][0]["name"], "丙公司");
    assert_eq!(
        admin
            .get("/api/v1/customers?filter=custom.nope:eq:1")
            .status,
        400
    );
}

/// Who sees what: a department tree, users of every scope, customers owned
/// across it. Each actor's list, get, search, update and delete must touch
/// exactly the customers their scope allows; everything else is 404.
fn permission_matrix(backend: Backend) {
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
    let hq = dep("总部", None);
    let south = dep("华南", Some(hq));
    let sz = dep("深圳", Some(south));
    let north = dep("华北", Some(hq));
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
        json!({"department_id": south, "supervisor_id": mgr}),
    );
    let s2 = user(
        &admin,
        "s2@example.cn",
        "salesperson",
        json!({"department_id": sz, "supervisor_id": s1}),
    );
    let s3 = user(
        &admin,
        "s3@example.cn",
        "salesperson",
        json!({"department_id": north}),
    );
    let svc = user(
        &admin,
        "svc@example.cn",
        "service_agent",
        json!({"department_id": south}),
    );
    let ro = user(
        &admin,
        "ro@example.cn",
        "read_only",
        json!({"department_id": north}),
    );
    // A custom role: subordinates scope.
    let lead_role = admin
        .post("/api/v1/admin/roles", &json!({"name": "组长", "permissions": ["customers.view", "customers.edit"], "data_scope": "self_and_subordinates"}))
        .json()["id"]
        .clone();
    admin.put(
        &format!("/api/v1/admin/users/{s1}/roles"),
        &json!({"roles": [lead_role, role_id(&admin, "salesperson")]}),
    );

    // One customer per owner, named after the owner.
    let mut owned = std::collections::BTreeMap::new();
    for (owner, name) in [
        (mgr, "经理客户"),
        (s1, "销售一客户"),
        (s2, "销售二客户"),
        (s3, "销售三客户"),
    ] {
        let c = create(&admin, json!({"name": name, "owner_id": owner}));
        owned.insert(owner, c["id"].as_i64().unwrap());
    }
    let all: Vec<i64> = owned.values().copied().collect();
    let of = |users: &[i64]| -> Vec<i64> {
        let mut v: Vec<i64> = users.iter().map(|u| owned[u]).collect();
        v.sort_unstable();
        v
    };
    // (who, sees, may edit, may delete); None: the role lacks the permission
    // altogether, so every id gets the same 403 (which reveals nothing).
    type Row<'a> = (&'a str, Vec<i64>, Option<Vec<i64>>, Option<Vec<i64>>);
    let table: Vec<Row> = vec![
        (
            "mgr@example.cn",
            of(&[mgr, s1, s2]),
            Some(of(&[mgr, s1, s2])),
            Some(of(&[mgr, s1, s2])),
        ),
        ("s1@example.cn", of(&[s1, s2]), Some(of(&[s1, s2])), None),
        ("s2@example.cn", of(&[s2]), Some(of(&[s2])), None),
        ("s3@example.cn", of(&[s3]), Some(of(&[s3])), None),
        ("svc@example.cn", of(&[mgr, s1]), None, None),
        ("ro@example.cn", all.clone(), None, None),
        (
            common::ADMIN_EMAIL,
            all.clone(),
            Some(all.clone()),
            Some(all.clone()),
        ),
    ];
    let _ = (svc, ro);
    for (email, sees, edits, deletes) in &table {
        let pw = if *email == common::ADMIN_EMAIL {
            common::ADMIN_PASSWORD
        } else {
            PW
        };
        let c = Client::login(&srv, email, pw);
        let listed = ids(&c.get("/api/v1/customers?limit=200").json());
        assert_eq!(&listed, sees, "{email} list");
        let searched = ids(&c
            .get(&format!(
                "/api/v1/customers?q={}",
                common::url_encode("客户")
            ))
            .json());
        assert_eq!(&searched, sees, "{email} search");
        let global: Vec<i64> = {
            let mut v: Vec<i64> = c
                .get(&format!("/api/v1/search?q={}", common::url_encode("客户")))
                .json()["customers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["id"].as_i64().unwrap())
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(&global, sees, "{email} global search");
        for id in &all {
            let r = c.get(&format!("/api/v1/customers/{id}"));
            let expect = if sees.contains(id) { 200 } else { 404 };
            assert_eq!(r.status, expect, "{email} get {id}");
            let r = c.patch(
                &format!("/api/v1/customers/{id}"),
                &json!({"version": 1, "notes": "改"}),
            );
            let may = |set: &Option<Vec<i64>>| match set {
                None => 403,
                Some(v) if v.contains(id) => 0,
                Some(_) if sees.contains(id) => 403,
                Some(_) => 404,
            };
            let expect = match may(edits) {
                0 => 200,
                other => other,
            };
            assert_eq!(r.status, expect, "{email} patch {id}: {}", r.body);
            if expect == 200 {
                // Put it back to version 1 for the next actor.
                let v = r.json()["version"].as_i64().unwrap();
                let mut conn = srv.db.connect();
                use diesel::prelude::*;
                use rapport::core::db::schema::customers;
                diesel::update(customers::table.find(id))
                    .set(customers::version.eq(1))
                    .execute(&mut conn)
                    .unwrap();
                let _ = v;
            }
        }
        // Delete is probed with a wrong version so nothing is removed: the
        // status tells whether the scope allowed it (409) or not (403/404).
        for id in &all {
            let r = c.delete(&format!("/api/v1/customers/{id}?version=99"));
            let expect = match deletes {
                None => 403,
                Some(v) if v.contains(id) => 409,
                Some(_) if sees.contains(id) => 403,
                Some(_) => 404,
            };
            assert_eq!(r.status, expect, "{email} delete {id}: {}", r.body);
        }
    }
}

fn sharing_opens_one_record_to_a_colleague(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let a = user(&admin, "a@example.cn", "salesperson", json!({}));
    let b = user(&admin, "b@example.cn", "salesperson", json!({}));
    let ca = Client::login(&srv, "a@example.cn", PW);
    let cb = Client::login(&srv, "b@example.cn", PW);
    let c = create(&ca, json!({"name": "共享客户"}));
    let id = c["id"].as_i64().unwrap();
    assert_eq!(cb.get(&format!("/api/v1/customers/{id}")).status, 404);
    // B cannot share A's customer with themselves.
    let r = cb.post(
        &format!("/api/v1/customers/{id}/collaborators"),
        &json!({"user_id": b}),
    );
    assert_eq!(r.status, 404);
    let r = ca.post(
        &format!("/api/v1/customers/{id}/collaborators"),
        &json!({"user_id": b}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["collaborators"][0]["user_id"], b);
    assert_eq!(cb.get(&format!("/api/v1/customers/{id}")).status, 200);
    assert_eq!(
        ids(&cb.get("/api/v1/customers?view=shared").json()),
        vec![id]
    );
    assert_eq!(
        cb.patch(
            &format!("/api/v1/customers/{id}"),
            &json!({"version": 1, "notes": "b"})
        )
        .status,
        403,
        "read-only share"
    );
    ca.post(
        &format!("/api/v1/customers/{id}/collaborators"),
        &json!({"user_id": b, "can_write": true}),
    );
    assert_eq!(
        cb.patch(
            &format!("/api/v1/customers/{id}"),
            &json!({"version": 1, "notes": "b"})
        )
        .status,
        200
    );
    assert_eq!(
        ca.delete(&format!("/api/v1/customers/{id}/collaborators/{b}"))
            .status,
        200
    );
    assert_eq!(cb.get(&format!("/api/v1/customers/{id}")).status, 404);
    let _ = a;
}

fn keyset_paging_returns_every_row_once_while_rows_are_added(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let mut expected = Vec::new();
    for i in 0..45 {
        let level = ["A", "B", "C"][i % 3];
        let mut body = json!({"name": format!("客户{i:03}"), "level": level});
        if i % 4 == 0 {
            body["next_follow_up_at"] = json!(format!("2026-12-{:02}T10:00", 1 + i % 28));
        }
        expected.push(create(&admin, body)["id"].as_i64().unwrap());
    }
    expected.sort_unstable();
    for sort in [
        "-updated_at",
        "name",
        "-name",
        "next_follow_up_at",
        "-next_follow_up_at",
        "created_at",
        "-id",
    ] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        let mut pages = 0;
        loop {
            let url = format!(
                "/api/v1/customers?limit=10&total=1&sort={sort}{}",
                if cursor.is_empty() {
                    String::new()
                } else {
                    format!("&cursor={cursor}")
                }
            );
            let page = admin.get(&url).json();
            assert!(page["total"]["count"].as_i64().unwrap() >= 45, "{sort}");
            for it in page["items"].as_array().unwrap() {
                seen.push(it["id"].as_i64().unwrap());
            }
            // Someone adds a customer while we page: it must not disturb the walk.
            if sort == "-updated_at" && pages == 1 {
                create(
                    &admin,
                    json!({"name": "新来的客户", "confirm_duplicates": true}),
                );
            }
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => break,
            }
        }
        seen.retain(|id| expected.contains(id) || sort != "-updated_at");
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "{sort}: a row came twice");
        let missing: Vec<_> = expected.iter().filter(|e| !seen.contains(e)).collect();
        assert!(missing.is_empty(), "{sort}: missing {missing:?}");
        if sort == "-updated_at" {
            // Reset: delete the late arrival so the next sort sees 45 again.
            let list = admin
                .get(&format!(
                    "/api/v1/customers?q={}",
                    common::url_encode("新来的客户")
                ))
                .json();
            for it in list["items"].as_array().unwrap() {
                admin.delete(&format!(
                    "/api/v1/customers/{}?version={}",
                    it["id"], it["version"]
                ));
            }
        }
    }
    assert_eq!(admin.get("/api/v1/customers?cursor=nonsense").status, 400);
    assert_eq!(admin.get("/api/v1/customers?limit=1000").status, 400);
    assert_eq!(admin.get("/api/v1/customers?sort=password").status, 400);
}

fn filters_views_and_bulk_actions(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let s1 = user(&admin, "s1@example.cn", "salesperson", json!({}));
    create(&admin, json!({"name": "甲", "level": "A", "city": "深圳"}));
    create(
        &admin,
        json!({"name": "乙", "level": "B", "city": "广州", "owner_id": s1}),
    );
    let c = create(
        &admin,
        json!({"name": "丙", "level": "A", "city": "北京", "tags": ["VIP"]}),
    );
    let names = |url: &str| -> Vec<String> {
        let r = admin.get(url);
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        let mut v: Vec<String> = r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let enc = common::url_encode;
    assert_eq!(
        names("/api/v1/customers?filter=level:eq:A"),
        vec!["丙", "甲"]
    );
    assert_eq!(
        names(&format!(
            "/api/v1/customers?filter={}",
            enc("city:in:深圳,广州")
        )),
        vec!["乙", "甲"]
    );
    assert_eq!(
        names(&format!("/api/v1/customers?filter={}", enc("city:ne:深圳"))),
        vec!["丙", "乙"]
    );
    assert_eq!(
        names("/api/v1/customers?filter=tags:contains:VIP"),
        vec!["丙"]
    );
    assert_eq!(
        names("/api/v1/customers?filter=next_follow_up_at:empty"),
        vec!["丙", "乙", "甲"]
    );
    assert_eq!(names("/api/v1/customers?view=mine"), vec!["丙", "甲"]);
    assert_eq!(names("/api/v1/customers?view=stale_30_days").len(), 3);
    assert_eq!(admin.get("/api/v1/customers?view=nope").status, 400);
    assert_eq!(
        admin.get("/api/v1/customers?filter=level:approx:A").status,
        400
    );

    let all: Vec<i64> = ids(&admin.get("/api/v1/customers").json());
    let r = admin.post(
        "/api/v1/customers/bulk",
        &json!({"ids": all, "action": "add_tag", "tag": "重点"}),
    );
    assert_eq!(r.json()["done"].as_array().unwrap().len(), 3, "{}", r.body);
    assert_eq!(
        names(&format!(
            "/api/v1/customers?filter={}",
            enc("tags:contains:重点")
        ))
        .len(),
        3
    );
    let r = admin.post(
        "/api/v1/customers/bulk",
        &json!({"ids": [c["id"], 999999], "action": "assign", "owner_id": s1}),
    );
    assert_eq!(r.json()["done"], json!([c["id"]]));
    assert_eq!(r.json()["failed"][0]["error"], "not_found");
    assert_eq!(
        admin
            .post(
                "/api/v1/customers/bulk",
                &json!({"ids": [1], "action": "assign"})
            )
            .status,
        400
    );
    // A salesperson cannot hand customers to others.
    let cs = Client::login(&srv, "s1@example.cn", PW);
    let r = cs.post(
        "/api/v1/customers/bulk",
        &json!({"ids": [c["id"]], "action": "assign", "owner_id": 1}),
    );
    assert_eq!(r.json()["failed"][0]["error"], "forbidden", "{}", r.body);
}

both_backends!(
    crud_with_versions_and_validation,
    search_finds_chinese_latin_and_phone_substrings,
    duplicates_are_offered_before_a_second_customer,
    custom_fields_are_validated_on_every_write,
    permission_matrix,
    sharing_opens_one_record_to_a_colleague,
    keyset_paging_returns_every_row_once_while_rows_are_added,
    filters_views_and_bulk_actions,
);
