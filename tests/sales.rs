//! Sales core II over HTTP on both backends: pipelines and opportunities
//! with line items and stage history, products, the customer pool with its
//! rules under a moving clock, ownership transfer, and the permission
//! matrix for each new endpoint.

mod common;

use std::sync::Arc;

use chrono::Duration;
use common::{
    Backend, Client, PW, TestDb, TestServer, create, field_of, id, ids, setup_admin, url_encode,
    user,
};
use rapport::core::jobs::{self, Clock, ManualClock};
use serde_json::{Value, json};

fn pipeline(admin: &Client, name: &str, departments: Value) -> Value {
    create(
        admin,
        "pipelines",
        json!({"name": name, "departments": departments, "stages": [
            {"name": "初步接洽", "probability": 10},
            {"name": "需求确认", "probability": 30},
            {"name": "方案报价", "probability": 60},
            {"name": "谈判签约", "probability": 80},
        ]}),
    )
}

fn stage(p: &Value, n: usize) -> i64 {
    p["stages"][n]["id"].as_i64().unwrap()
}

fn lead_to_won_opportunity(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let p = pipeline(&admin, "标准销售流程", json!([]));
    let other = pipeline(&admin, "渠道流程", json!([]));
    let cat = create(&admin, "product-categories", json!({"name": "软件"}));
    let sub = create(
        &admin,
        "product-categories",
        json!({"name": "订阅", "parent_id": id(&cat)}),
    );
    let product = create(
        &admin,
        "products",
        json!({"code": "CRM-STD", "name": "CRM 标准版", "unit": "套", "list_price": 199_900,
               "category_id": id(&sub)}),
    );
    assert_eq!(
        product["active"], true,
        "products are active unless said otherwise"
    );
    assert_eq!(product["currency"], "CNY");
    let r = admin.post(
        "/api/v1/products",
        &json!({"code": "CRM-STD", "name": "另一个"}),
    );
    assert_eq!((r.status, field_of(&r)), (400, "code".into()), "{}", r.body);
    let tree = admin.get("/api/v1/product-categories").json();
    assert_eq!(tree["items"][1]["parent_id"], id(&cat));
    let r = admin.delete(&format!("/api/v1/product-categories/{}", id(&sub)));
    assert_eq!(r.status, 409, "a category with products stays: {}", r.body);

    let sp = user(&admin, "s1@example.cn", "salesperson", json!({}));
    let s1 = Client::login(&srv, "s1@example.cn", PW);
    let lead = create(
        &s1,
        "leads",
        json!({"name": "王芳", "company": "杭州青禾茶业有限公司", "mobile": "137 0000 1111", "source": "官网"}),
    );
    // Conversion opens the opportunity, with line items priced on the server.
    let r = s1.post(
        &format!("/api/v1/leads/{}/convert", id(&lead)),
        &json!({"opportunity": {"name": "青禾 CRM 采购", "pipeline_id": id(&p), "discount": 5,
                 "expected_close_date": "2027-01-15",
                 "items": [{"product_id": id(&product), "quantity": 2.5, "discount": 10},
                           {"name": "实施服务", "quantity": 3, "unit_price": 80_000}]}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let out = r.json();
    let opp = out["opportunity"].clone();
    let oid = id(&opp);
    let customer = id(&out["customer"]);
    assert_eq!(opp["customer_id"], customer);
    assert_eq!(opp["lead_id"], id(&lead));
    assert_eq!(opp["owner_id"], sp);
    assert_eq!(opp["contact_ids"], json!([id(&out["contact"])]));
    assert_eq!(
        opp["stage_id"],
        stage(&p, 0),
        "a new opportunity starts in the first stage"
    );
    assert_eq!(opp["probability"], 10);
    // 2.5 × 1999.00 × 90 % = 4497.75; 3 × 800.00 = 2400.00; sum 6897.75 × 95 % = 6552.8625 → 6552.86
    assert_eq!(opp["items"][0]["subtotal"], 449_775);
    assert_eq!(opp["items"][0]["name"], "CRM 标准版");
    assert_eq!(opp["items"][0]["unit"], "套");
    assert_eq!(opp["items"][1]["subtotal"], 240_000);
    assert_eq!(opp["amount"], 655_286);
    assert_eq!(out["lead"]["status"], "converted");

    // Bad line items: each a 400 naming the field, nothing changed.
    let v = opp["version"].as_i64().unwrap();
    for (items, field) in [
        (
            json!([{"name": "x", "quantity": -1, "unit_price": 100}]),
            "items[0].quantity",
        ),
        (
            json!([{"name": "x", "quantity": 1, "unit_price": -100}]),
            "items[0].unit_price",
        ),
        (
            json!([{"name": "x", "quantity": 1, "unit_price": 100, "discount": 120}]),
            "items[0].discount",
        ),
        (
            json!([{"name": "x", "quantity": 1.2345, "unit_price": 100}]),
            "items[0].quantity",
        ),
        (json!([{"quantity": 1, "unit_price": 100}]), "items[0].name"),
        (
            json!([{"product_id": 999_999, "quantity": 1}]),
            "items[0].product_id",
        ),
        (json!([{"name": "x", "price": 1}]), "items[0].price"),
    ] {
        let r = s1.patch(
            &format!("/api/v1/opportunities/{oid}"),
            &json!({"version": v, "items": items}),
        );
        assert_eq!(
            (r.status, field_of(&r)),
            (400, field.into()),
            "{items}: {}",
            r.body
        );
    }
    let r = s1.patch(
        &format!("/api/v1/opportunities/{oid}"),
        &json!({"version": v, "discount": "100.5"}),
    );
    assert_eq!((r.status, field_of(&r)), (400, "discount".into()));
    assert_eq!(
        s1.get(&format!("/api/v1/opportunities/{oid}")).json()["version"],
        v
    );

    // Stages: only the pipeline's own; closing needs a reason; a closed one is reopened first.
    let move_to = |body: Value| s1.post(&format!("/api/v1/opportunities/{oid}/stage"), &body);
    let r = move_to(json!({"version": v, "stage_id": stage(&other, 1)}));
    assert_eq!(
        (r.status, field_of(&r)),
        (400, "stage_id".into()),
        "{}",
        r.body
    );
    assert!(r.body.contains("belongs to pipeline"), "{}", r.body);
    let r = move_to(json!({"version": v, "stage_id": stage(&p, 2)}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["probability"], 60);
    let v = r.json()["version"].as_i64().unwrap();
    let r = move_to(json!({"version": v, "status": "won"}));
    assert_eq!(
        (r.status, field_of(&r)),
        (400, "close_reason".into()),
        "{}",
        r.body
    );
    let r = move_to(json!({"version": v, "status": "won", "reason": "价格与服务获认可"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let won = r.json();
    assert_eq!(won["probability"], 100);
    assert!(won["closed_at"].is_string());
    let v = won["version"].as_i64().unwrap();
    let r = move_to(json!({"version": v, "stage_id": stage(&p, 3)}));
    assert_eq!(r.status, 409, "a won opportunity does not move: {}", r.body);
    let r = move_to(json!({"version": v, "status": "lost", "reason": "x"}));
    assert_eq!(r.status, 409, "won → lost needs a reopen first: {}", r.body);
    let c = s1.get(&format!("/api/v1/customers/{customer}")).json();
    assert_eq!(c["deal_status"], "won");
    assert!(c["last_opportunity_at"].is_string());

    let h = s1
        .get(&format!("/api/v1/opportunities/{oid}/history"))
        .json();
    let steps: Vec<(Value, Value)> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["to_stage"].clone(), e["to_status"].clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (json!("初步接洽"), json!("open")),
            (json!("方案报价"), json!("open")),
            (json!("方案报价"), json!("won")),
        ]
    );
    assert_eq!(h["items"][2]["reason"], "价格与服务获认可");
    assert_eq!(h["items"][2]["changed_by"], sp);

    // Reopening clears the close and the customer's won mark.
    let r = move_to(json!({"version": v, "status": "open"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["closed_at"], Value::Null);
    let c = s1.get(&format!("/api/v1/customers/{customer}")).json();
    assert_eq!(c["deal_status"], "none");

    // A stage that holds opportunities cannot be removed from its pipeline.
    let mut def = admin.get(&format!("/api/v1/pipelines/{}", id(&p))).json();
    let stages: Vec<Value> = def["stages"].as_array().unwrap()[..2].to_vec();
    def["stages"] = json!(stages);
    let body = json!({"name": def["name"], "stages": def["stages"], "version": def["version"]});
    let r = admin.put(&format!("/api/v1/pipelines/{}", id(&p)), &body);
    assert_eq!(r.status, 409, "{}", r.body);
    let r = admin.delete(&format!("/api/v1/pipelines/{}", id(&p)));
    assert_eq!(r.status, 409, "{}", r.body);
    let r = admin.delete(&format!("/api/v1/pipelines/{}", id(&other)));
    assert_eq!(r.status, 204, "{}", r.body);

    // The board: counts, sums and cards per stage.
    let b = s1
        .get(&format!("/api/v1/pipelines/{}/board", id(&p)))
        .json();
    assert_eq!(b["stages"][2]["count"], 1);
    assert_eq!(b["stages"][2]["amounts"]["CNY"], 655_286);
    assert_eq!(b["stages"][2]["weighted_amounts"]["CNY"], 393_171);
    assert_eq!(b["stages"][2]["cards"][0]["id"], oid);
    assert_eq!(b["stages"][0]["count"], 0);

    // A customer with opportunities is not deleted with its sales history.
    let c = s1.get(&format!("/api/v1/customers/{customer}")).json();
    let r = admin.delete(&format!(
        "/api/v1/customers/{customer}?version={}",
        c["version"]
    ));
    assert_eq!(r.status, 409, "{}", r.body);

    // Follow-ups can be about the opportunity and land on its customer.
    let f = create(
        &s1,
        "followups",
        json!({"content": "电话确认合同条款", "opportunity_id": oid}),
    );
    assert_eq!(f["customer_id"], customer);
}

fn opportunity_and_product_permissions(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let dep = |name: &str| -> i64 {
        admin
            .post("/api/v1/admin/departments", &json!({"name": name}))
            .json()["id"]
            .as_i64()
            .unwrap()
    };
    let (south, north) = (dep("华南"), dep("华北"));
    let s1_id = user(
        &admin,
        "s1@example.cn",
        "salesperson",
        json!({"department_id": south}),
    );
    user(
        &admin,
        "s2@example.cn",
        "salesperson",
        json!({"department_id": north}),
    );
    user(&admin, "ro@example.cn", "read_only", json!({}));
    let open_to_all = pipeline(&admin, "通用", json!([]));
    let south_only = pipeline(&admin, "华南大客户", json!([south]));
    let s1 = Client::login(&srv, "s1@example.cn", PW);
    let s2 = Client::login(&srv, "s2@example.cn", PW);
    let ro = Client::login(&srv, "ro@example.cn", PW);

    // Pipelines limited to a department are hidden from the others.
    let names = |c: &Client| -> Vec<String> {
        c.get("/api/v1/pipelines").json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&s1), vec!["通用", "华南大客户"]);
    assert_eq!(names(&s2), vec!["通用"]);
    let c1 = create(&s1, "customers", json!({"name": "南方客户甲"}));
    let c2 = create(&s2, "customers", json!({"name": "北方客户乙"}));
    let r = s2.post(
        "/api/v1/opportunities",
        &json!({"name": "x", "customer_id": id(&c2), "pipeline_id": id(&south_only)}),
    );
    assert_eq!(
        (r.status, field_of(&r)),
        (400, "pipeline_id".into()),
        "{}",
        r.body
    );
    let o1 = create(
        &s1,
        "opportunities",
        json!({"name": "南方大单", "customer_id": id(&c1), "pipeline_id": id(&south_only), "amount": 100_000}),
    );
    let o2 = create(
        &s2,
        "opportunities",
        json!({"name": "北方小单", "customer_id": id(&c2), "pipeline_id": id(&open_to_all), "amount": 5_000}),
    );
    // Someone else's customer cannot carry my opportunity.
    let r = s2.post(
        "/api/v1/opportunities",
        &json!({"name": "x", "customer_id": id(&c1), "pipeline_id": id(&open_to_all)}),
    );
    assert_eq!(
        (r.status, field_of(&r)),
        (400, "customer_id".into()),
        "{}",
        r.body
    );

    // Lists, reads, search and the board keep to the scope.
    assert_eq!(ids(&s1.get("/api/v1/opportunities").json()), vec![id(&o1)]);
    assert_eq!(ids(&s2.get("/api/v1/opportunities").json()), vec![id(&o2)]);
    assert_eq!(
        ids(&ro.get("/api/v1/opportunities").json()),
        vec![id(&o1), id(&o2)]
    );
    assert_eq!(
        s2.get(&format!("/api/v1/opportunities/{}", id(&o1))).status,
        404
    );
    let r = s2.get(&format!("/api/v1/search?q={}", url_encode("南方大单")));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["opportunities"], json!([]));
    let r = s1.get(&format!("/api/v1/search?q={}", url_encode("南方大单")));
    assert_eq!(r.json()["opportunities"][0]["id"], id(&o1));
    let b = s2
        .get(&format!("/api/v1/pipelines/{}/board", id(&open_to_all)))
        .json();
    assert_eq!(b["stages"][0]["count"], 1);
    assert_eq!(b["stages"][0]["amounts"]["CNY"], 5_000);
    let b = s1
        .get(&format!("/api/v1/pipelines/{}/board", id(&open_to_all)))
        .json();
    assert_eq!(
        b["stages"][0]["count"], 0,
        "s2's opportunity is not on s1's board"
    );
    // Shared with s1, it is.
    let r = s2.post(
        &format!("/api/v1/opportunities/{}/collaborators", id(&o2)),
        &json!({"user_id": s1_id}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let b = s1
        .get(&format!("/api/v1/pipelines/{}/board", id(&open_to_all)))
        .json();
    assert_eq!(b["stages"][0]["count"], 1);
    assert_eq!(b["stages"][0]["amounts"]["CNY"], 5_000);
    assert_eq!(b["stages"][0]["cards"][0]["id"], id(&o2));
    let b = s1
        .get(&format!(
            "/api/v1/pipelines/{}/board?view=mine",
            id(&open_to_all)
        ))
        .json();
    assert_eq!(
        b["stages"][0]["count"], 0,
        "view=mine leaves out what is shared"
    );
    assert_eq!(
        s2.get(&format!("/api/v1/pipelines/{}/board", id(&south_only)))
            .status,
        404
    );
    let r = ro.patch(
        &format!("/api/v1/opportunities/{}", id(&o1)),
        &json!({"version": 1, "name": "改名"}),
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // The catalogue is the company's: salespeople read all of it, change none.
    let p = create(
        &admin,
        "products",
        json!({"name": "年度维保", "list_price": 50_000}),
    );
    assert_eq!(ids(&s1.get("/api/v1/products").json()), vec![id(&p)]);
    assert_eq!(s2.get(&format!("/api/v1/products/{}", id(&p))).status, 200);
    let r = s1.post("/api/v1/products", &json!({"name": "私自加的"}));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s1.post("/api/v1/product-categories", &json!({"name": "x"}));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s1.post(
        "/api/v1/pipelines",
        &json!({"name": "x", "stages": [{"name": "a"}]}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // An inactive product cannot be sold any more.
    let r = admin.patch(
        &format!("/api/v1/products/{}", id(&p)),
        &json!({"version": 1, "active": false}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s1.patch(
        &format!("/api/v1/opportunities/{}", id(&o1)),
        &json!({"version": 1, "items": [{"product_id": id(&p), "quantity": 1}]}),
    );
    assert_eq!(
        (r.status, field_of(&r)),
        (400, "items[0].product_id".into()),
        "{}",
        r.body
    );
}

/// A pool whose rules the test moves through by the day.
fn pool_rules_day_by_day(backend: Backend) {
    let start = rapport::core::db::now();
    let clock = Arc::new(ManualClock::new(start));
    let srv = TestServer::start_with_clock(TestDb::new(&backend), |_| {}, clock.clone());
    let admin = setup_admin(&srv);
    let s1 = user(&admin, "s1@example.cn", "salesperson", json!({}));
    let s2 = user(&admin, "s2@example.cn", "salesperson", json!({}));
    let outsider = user(&admin, "out@example.cn", "salesperson", json!({}));
    let boss = user(&admin, "boss@example.cn", "sales_manager", json!({}));
    let pool = create(
        &admin,
        "pools",
        json!({"name": "华南公海", "members": [
                  {"user_id": s1}, {"user_id": s2}, {"user_id": boss, "is_admin": true}],
               "rules": {"no_follow_up": {"days": 10, "by_level": {"A": 20}}, "exempt_won": true,
                         "warn_days": 3, "claims_per_day": 1, "reclaim_cooldown_days": 5}}),
    );
    let pid = id(&pool);
    let c1 = Client::login(&srv, "s1@example.cn", PW);
    let c2 = Client::login(&srv, "s2@example.cn", PW);
    let cout = Client::login(&srv, "out@example.cn", PW);
    let cboss = Client::login(&srv, "boss@example.cn", PW);
    let plain = create(&c1, "customers", json!({"name": "普通客户", "level": "B"}));
    let key = create(&c1, "customers", json!({"name": "重点客户", "level": "A"}));
    let locked = create(
        &c1,
        "customers",
        json!({"name": "锁定客户", "locked": true}),
    );
    let won = create(
        &c1,
        "customers",
        json!({"name": "成交客户", "deal_status": "won"}),
    );
    let contact = create(
        &c1,
        "contacts",
        json!({"name": "联系人甲", "customer_id": id(&plain)}),
    );
    let returns = || {
        let r = admin.post("/api/v1/pools/returns", &json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["summary"].as_str().unwrap().to_string()
    };
    let at_day = |d: i64| {
        let now = clock.now();
        clock.advance(start + Duration::days(d) + Duration::minutes(1) - now);
    };
    assert!(returns().starts_with("0 customer"));

    // Day 8: the owner is warned about the plain customer only.
    at_day(8);
    let todo = c1.get("/api/v1/todo").json();
    let soon: Vec<Value> = todo["pool_returns_soon"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["customer_id"].clone())
        .collect();
    assert_eq!(soon, vec![json!(id(&plain))], "{todo}");
    assert!(returns().starts_with("0 customer"));

    // Day 10: it returns, with its contact; locked and won customers never do.
    at_day(10);
    // A follow-up on day 9 keeps the key customer (level A: 20 days) for longer.
    let day9 = (start + Duration::days(9))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    create(
        &c1,
        "followups",
        json!({"content": "拜访", "customer_id": id(&key), "occurred_at": day9}),
    );
    assert!(
        returns().starts_with("1 customer"),
        "only the plain customer returns"
    );
    assert_eq!(
        c1.get(&format!("/api/v1/customers/{}", id(&plain))).status,
        404
    );
    assert_eq!(
        c1.get(&format!("/api/v1/contacts/{}", id(&contact))).status,
        404
    );
    let inside = c2.get(&format!("/api/v1/pools/{pid}/customers")).json();
    assert_eq!(ids(&inside), vec![id(&plain)]);
    assert_eq!(inside["items"][0]["previous_owner_id"], s1);
    assert_eq!(
        cout.get(&format!("/api/v1/pools/{pid}/customers")).status,
        404
    );
    at_day(28);
    assert!(returns().starts_with("0 customer"), "day 9 + 20 is day 29");
    at_day(29);
    assert!(returns().starts_with("1 customer"), "locked and won stay");
    for c in [&locked, &won] {
        assert_eq!(c1.get(&format!("/api/v1/customers/{}", id(c))).status, 200);
    }

    // Cool-down: the previous owner may not claim it back for 5 days.
    let claim = |c: &Client, cid: i64| {
        c.post(
            &format!("/api/v1/pools/{pid}/claim"),
            &json!({"customer_ids": [cid]}),
        )
    };
    let r = claim(&c1, id(&key));
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("cool-down"), "{}", r.body);
    // Someone else may; the contact comes along.
    let r = claim(&c2, id(&plain));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        c2.get(&format!("/api/v1/contacts/{}", id(&contact))).json()["owner_id"],
        s2
    );
    let got = c2.get(&format!("/api/v1/customers/{}", id(&plain))).json();
    assert_eq!(got["owner_id"], s2);
    // One claim a day.
    let r = claim(&c2, id(&key));
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("daily claim limit"), "{}", r.body);
    let lim = c2.get(&format!("/api/v1/pools/{pid}/limits")).json();
    assert_eq!(lim["claims_today"], 1);
    assert_eq!(lim["claims_left_today"], 0);
    // Claiming something not in the pool, or from outside it.
    let r = claim(&c2, id(&won));
    assert_eq!(
        r.status, 404,
        "an owned customer is not in the pool: {}",
        r.body
    );
    assert_eq!(claim(&cout, id(&key)).status, 404);
    // After the cool-down the previous owner may claim it back.
    at_day(33);
    assert_eq!(claim(&c1, id(&key)).status, 409, "still a day short");
    at_day(35);
    let r = claim(&c1, id(&key));
    assert_eq!(r.status, 200, "{}", r.body);

    // Ownership limit.
    let cur = admin.get(&format!("/api/v1/pools/{pid}")).json();
    let mut rules = cur["rules"].clone();
    rules["max_owned"] = json!(1);
    rules["claims_per_day"] = json!(0);
    let r = admin.put(
        &format!("/api/v1/pools/{pid}"),
        &json!({"name": cur["name"], "members": cur["members"], "rules": rules, "version": cur["version"]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c2.post(
        &format!("/api/v1/pools/{pid}/put"),
        &json!({"customer_ids": [id(&plain)]}),
    );
    assert_eq!(r.status, 400, "a reason is required: {}", r.body);
    let r = c2.post(
        &format!("/api/v1/pools/{pid}/put"),
        &json!({"customer_ids": [id(&plain)], "reason": "客户暂无需求"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = claim(&c1, id(&plain));
    assert_eq!(r.status, 409, "s1 owns 3 already: {}", r.body);
    assert!(r.body.contains("ownership limit"), "{}", r.body);

    // Assigning: pool administrators only, and only to members.
    let assign = |c: &Client, to: i64| {
        c.post(
            &format!("/api/v1/pools/{pid}/assign"),
            &json!({"customer_ids": [id(&plain)], "user_id": to}),
        )
    };
    assert_eq!(assign(&c1, s2).status, 403);
    let r = assign(&cboss, outsider);
    assert_eq!(
        (r.status, field_of(&r)),
        (400, "user_id".into()),
        "{}",
        r.body
    );
    let r = assign(&cboss, s2);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        c2.get(&format!("/api/v1/customers/{}", id(&plain))).json()["owner_id"],
        s2
    );

    // Moving between pools.
    let other = create(
        &admin,
        "pools",
        json!({"name": "华北公海", "members": [{"user_id": s2}]}),
    );
    let r = c2.post(
        &format!("/api/v1/pools/{pid}/put"),
        &json!({"customer_ids": [id(&plain)], "reason": "换区域"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = cboss.post(
        &format!("/api/v1/pools/{pid}/move"),
        &json!({"customer_ids": [id(&plain)], "to_pool_id": id(&other)}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ids(&c2
            .get(&format!("/api/v1/pools/{}/customers", id(&other)))
            .json()),
        vec![id(&plain)]
    );
    let audit = admin
        .get(&format!(
            "/api/v1/admin/audit?entity=customers&record_id={}",
            id(&plain)
        ))
        .json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "pool_return",
        "pool_claim",
        "pool_put",
        "pool_assign",
        "pool_move",
    ] {
        assert!(actions.contains(&a), "{a} missing in {actions:?}");
    }
}

/// Two workers run the return job at once: every due customer returns exactly once.
fn pool_job_runs_once(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let s1 = user(&admin, "s1@example.cn", "salesperson", json!({}));
    create(
        &admin,
        "pools",
        json!({"name": "公海", "members": [{"user_id": s1}], "rules": {"no_follow_up": {"days": 1}}}),
    );
    let c1 = Client::login(&srv, "s1@example.cn", PW);
    let n = 30;
    for i in 0..n {
        create(&c1, "customers", json!({"name": format!("客户{i}")}));
    }
    let later = rapport::core::db::now() + Duration::days(2);
    let settings = Arc::new(common::settings_for(&srv.db));
    let results: Vec<jobs::Ran> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let settings = settings.clone();
                let mut conn = srv.db.connect();
                s.spawn(move || {
                    let clock = ManualClock::new(later);
                    let ctx = jobs::JobCtx {
                        clock: &clock,
                        settings: &settings,
                    };
                    jobs::run_once(&mut conn, &rapport::crm::pools::returns_job(), &ctx)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let returned: usize = results
        .iter()
        .map(|r| match r {
            jobs::Ran::Done(s) => s.split(' ').next().unwrap().parse::<usize>().unwrap(),
            jobs::Ran::Busy | jobs::Ran::NotDue(_) => 0,
            jobs::Ran::Failed(e) => panic!("job failed: {e}"),
        })
        .sum();
    assert_eq!(returned, n, "{results:?}");
    let mut conn = srv.db.connect();
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    use diesel::RunQueryDsl;
    let events: Vec<N> = match &mut conn {
        rapport::core::db::DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pool_events WHERE action = 'return' GROUP BY customer_id",
        )
        .load(c)
        .unwrap(),
        rapport::core::db::DbConn::Pg(c) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pool_events WHERE action = 'return' GROUP BY customer_id",
        )
        .load(c)
        .unwrap(),
    };
    assert_eq!(events.len(), n);
    assert!(events.iter().all(|e| e.n == 1));
}

fn transfer_moves_exactly_what_was_chosen(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let a = user(&admin, "a@example.cn", "salesperson", json!({}));
    let b = user(&admin, "b@example.cn", "salesperson", json!({}));
    let p = pipeline(&admin, "流程", json!([]));
    let ca = Client::login(&srv, "a@example.cn", PW);
    let cb = Client::login(&srv, "b@example.cn", PW);
    let cust: Vec<Value> = (0..3)
        .map(|i| create(&ca, "customers", json!({"name": format!("A的客户{i}")})))
        .collect();
    let contact = create(
        &ca,
        "contacts",
        json!({"name": "张三", "customer_id": id(&cust[0])}),
    );
    let lead = create(&ca, "leads", json!({"name": "线索一"}));
    let opp = create(
        &ca,
        "opportunities",
        json!({"name": "商机一", "customer_id": id(&cust[0]), "pipeline_id": id(&p)}),
    );
    let open_task = create(&ca, "tasks", json!({"title": "回访"}));
    let done_task = create(&ca, "tasks", json!({"title": "已完成", "status": "done"}));

    // Salespeople cannot transfer; a typo in an entity is refused.
    let body = json!({"from_user_id": a, "to_user_id": b});
    assert_eq!(ca.post("/api/v1/transfers", &body).status, 403);
    let r = admin.post(
        "/api/v1/transfers",
        &json!({"from_user_id": a, "to_user_id": b, "entities": ["customer"]}),
    );
    assert_eq!((r.status, field_of(&r)), (400, "entities".into()));
    let r = admin.post(
        "/api/v1/transfers",
        &json!({"from_user_id": a, "to_user_id": b, "entities": ["customers"], "ids": {"customers": [id(&open_task)+1000]}}),
    );
    assert_eq!(
        (r.status, field_of(&r)),
        (400, "ids.customers".into()),
        "{}",
        r.body
    );

    // A dry run counts and changes nothing.
    let r = admin.post(
        "/api/v1/transfers",
        &json!({"from_user_id": a, "to_user_id": b, "dry_run": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["moved"],
        json!({"customers": 3, "contacts": 1, "leads": 1, "opportunities": 1, "tasks": 1})
    );
    assert_eq!(ids(&cb.get("/api/v1/customers").json()), Vec::<i64>::new());

    // One customer, the lead, the opportunity and open tasks; A keeps read access.
    let r = admin.post(
        "/api/v1/transfers",
        &json!({"from_user_id": a, "to_user_id": b,
                "entities": ["customers", "leads", "opportunities", "tasks"],
                "ids": {"customers": [id(&cust[0])]}, "keep_collaborator": true, "reason": "离职交接"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["moved"],
        json!({"customers": 1, "leads": 1, "opportunities": 1, "tasks": 1})
    );
    assert_eq!(ids(&cb.get("/api/v1/customers").json()), vec![id(&cust[0])]);
    assert_eq!(ids(&cb.get("/api/v1/leads").json()), vec![id(&lead)]);
    assert_eq!(ids(&cb.get("/api/v1/opportunities").json()), vec![id(&opp)]);
    assert_eq!(ids(&cb.get("/api/v1/tasks").json()), vec![id(&open_task)]);
    assert_eq!(
        ca.get(&format!("/api/v1/tasks/{}", id(&done_task))).json()["assignee_id"],
        a,
        "finished tasks stay with their assignee"
    );
    assert_eq!(
        ca.get(&format!("/api/v1/contacts/{}", id(&contact))).json()["owner_id"],
        a,
        "contacts were not chosen"
    );
    // The old owner now reads the customer as a collaborator, and cannot edit it.
    let got = ca.get(&format!("/api/v1/customers/{}", id(&cust[0])));
    assert_eq!(got.status, 200, "{}", got.body);
    let r = ca.patch(
        &format!("/api/v1/customers/{}", id(&cust[0])),
        &json!({"version": got.json()["version"], "notes": "x"}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let audit = admin.get("/api/v1/admin/audit?entity=opportunities").json();
    let transfers = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "transfer")
        .count();
    assert_eq!(transfers, 1);

    // The rest of A's customers go into a pool, their contacts with them.
    let pool = create(
        &admin,
        "pools",
        json!({"name": "公海", "members": [{"user_id": b}]}),
    );
    let r = admin.post(
        "/api/v1/transfers",
        &json!({"from_user_id": a, "to_pool_id": id(&pool), "entities": ["customers", "contacts"]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["moved"]["customers"], 2);
    assert_eq!(
        ids(&cb
            .get(&format!("/api/v1/pools/{}/customers", id(&pool)))
            .json()),
        vec![id(&cust[1]), id(&cust[2])]
    );
    assert_eq!(ids(&ca.get("/api/v1/customers").json()), vec![id(&cust[0])]);
}

both_backends!(
    lead_to_won_opportunity,
    opportunity_and_product_permissions,
    pool_rules_day_by_day,
    pool_job_runs_once,
    transfer_moves_exactly_what_was_chosen,
);
