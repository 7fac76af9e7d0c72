//! The sales pages over HTTP on both backends: forms with inline errors,
//! duplicates and conflicts, detail pages with their timeline, lists with
//! views, filters, columns, keyset paging and bulk actions, the board, the
//! pools, global search and lead conversion — and the data scope on each.

mod common;

use common::{Backend, Client, PW, TestServer, create, id, setup_admin, url_encode, user};
use serde_json::json;

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
            .starts_with("text/html")
    );
    r.body
}

fn salesperson(admin: &Client, srv: &TestServer, email: &str) -> (i64, Client) {
    let uid = user(admin, email, "salesperson", json!({}));
    (uid, Client::login(srv, email, PW))
}

fn customer_forms_and_detail(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let (_, li) = salesperson(&admin, &srv, "li@example.cn");

    // The home page is the to-do centre.
    let home = page(&li, "/");
    assert!(home.contains("今日待跟进客户"), "{home}");
    assert!(home.contains("/customers"), "the header links the lists");
    assert!(
        home.contains("hx-get=\"/home/todo/followups_due_today\""),
        "sections load after the page"
    );
    let part = page(&li, "/home/todo/tasks_overdue");
    assert!(part.contains("class=\"count\""), "{part}");
    assert_eq!(li.get("/home/todo/nosuch").status, 404);

    // A bad e-mail is shown beside its field, with what was typed kept.
    let r = form(
        &li,
        "/customers/new",
        &[
            ("name", "深圳市星辰科技有限公司"),
            ("email", "not-an-email"),
            ("city", "深圳"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("id=\"f-email-err\""), "{}", r.body);
    assert!(r.body.contains("aria-invalid=\"true\""));
    assert!(
        r.body.contains("value=\"深圳市星辰科技有限公司\""),
        "typed values are kept"
    );
    assert!(r.body.contains("value=\"not-an-email\""));

    // Saved, it opens its page.
    let r = form(
        &li,
        "/customers/new",
        &[
            ("name", "深圳市星辰科技有限公司"),
            ("email", "sales@xingchen.cn"),
            ("city", "深圳"),
            ("mobile", "13800138000"),
            ("tags", "重点, 华南"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let href = location(&r);
    assert!(href.starts_with("/customers/"), "{href}");
    let cid: i64 = href.rsplit('/').next().unwrap().parse().unwrap();
    let detail = page(&li, &href);
    assert!(
        detail.contains("深圳市星辰科技有限公司") && detail.contains("华南"),
        "{detail}"
    );

    // A second one like it is offered as a duplicate, then saved when confirmed.
    let dup = [("name", "深圳星辰科技"), ("mobile", "138 0013 8000")];
    let r = form(&li, "/customers/new", &dup);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains(&format!("href=\"/customers/{cid}\"")),
        "the candidate is linked: {}",
        r.body
    );
    assert!(r.body.contains("name=\"confirm_duplicates\""));
    let mut confirmed = dup.to_vec();
    confirmed.push(("confirm_duplicates", "1"));
    assert_eq!(form(&li, "/customers/new", &confirmed).status, 303);

    // A quick follow-up lands in the timeline and moves the follow-up dates.
    let r = form(
        &li,
        &format!("/customers/{cid}/followup"),
        &[
            ("kind", "visit"),
            ("content", "拜访张总，确认下周报价"),
            ("next_follow_up_at", "2030-01-15T10:00"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let detail = page(&li, &format!("/customers/{cid}"));
    assert!(detail.contains("拜访张总，确认下周报价"), "{detail}");
    assert!(
        detail.contains("2030-01-15 10:00"),
        "next follow-up in the user's zone: {detail}"
    );
    let c = li.get(&format!("/api/v1/customers/{cid}")).json();
    assert_eq!(
        c["next_follow_up_at"], "2030-01-15T02:00:00",
        "stored in UTC"
    );

    // Editing: a colleague's change meanwhile is explained, not overwritten silently.
    let edit = page(&li, &format!("/customers/{cid}/edit"));
    let v = c["version"].as_i64().unwrap().to_string();
    assert!(
        edit.contains(&format!("name=\"version\" value=\"{v}\"")),
        "{edit}"
    );
    let r = li.patch(
        &format!("/api/v1/customers/{cid}"),
        &json!({"version": c["version"], "industry": "制造业"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = form(
        &li,
        &format!("/customers/{cid}/edit"),
        &[
            ("version", &v),
            ("name", "深圳市星辰科技有限公司"),
            ("industry", "软件"),
            ("city", "深圳"),
        ],
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("制造业") && r.body.contains("软件"),
        "both values shown: {}",
        r.body
    );
    let newer = (c["version"].as_i64().unwrap() + 1).to_string();
    assert!(
        r.body
            .contains(&format!("name=\"version\" value=\"{newer}\"")),
        "saving again keeps mine"
    );
    let r = form(
        &li,
        &format!("/customers/{cid}/edit"),
        &[
            ("version", &newer),
            ("name", "深圳市星辰科技有限公司"),
            ("industry", "软件"),
            ("city", "深圳"),
            ("confirm_duplicates", "1"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        li.get(&format!("/api/v1/customers/{cid}")).json()["industry"],
        "软件"
    );
    // The field history shows in the timeline.
    assert!(page(&li, &format!("/customers/{cid}")).contains("软件"));

    // Followed from its page, it shows under "我关注的".
    assert!(page(&li, &format!("/customers/{cid}")).contains("关注"));
    assert_eq!(
        form(&li, &format!("/customers/{cid}/follow"), &[("follow", "1")]).status,
        303
    );
    assert!(page(&li, "/customers?view=followed").contains(&format!("/customers/{cid}\"")));
    assert!(page(&li, &format!("/customers/{cid}")).contains("取消关注"));

    // A contact from the customer's page is linked to it.
    let r = form(
        &li,
        "/contacts/new",
        &[
            ("customer_id", &cid.to_string()),
            ("name", "张伟"),
            ("title", "总经理"),
            ("mobile", "13900139000"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(page(&li, &format!("/customers/{cid}")).contains("张伟"));

    // Global search, as the header box asks for it and as a page.
    let r = li.get(&format!("/search?q={}", url_encode("星辰")));
    assert!(r.body.contains("深圳市星辰科技有限公司"), "{}", r.body);
    let r = li.get(&format!("/search?q={}", url_encode("张伟")));
    assert!(r.body.contains("张伟"));
    // The record picker of forms.
    let r = li.get(&format!(
        "/pick/customers?q={}&field=f-customer_id",
        url_encode("星辰")
    ));
    assert!(r.body.contains(&format!("data-id=\"{cid}\"")), "{}", r.body);

    // Delete from the page needs the version.
    let cur = li
        .get(&format!("/api/v1/contacts?filter=customer_id:eq:{cid}"))
        .json();
    let contact = &cur["items"][0];
    let r = form(
        &admin,
        &format!("/contacts/{}/delete", contact["id"]),
        &[("version", &contact["version"].to_string())],
    );
    assert_eq!(r.status, 303, "{}", r.body);
}

fn lists_views_filters_columns_and_paging(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    for i in 0..55 {
        let city = if i % 5 == 0 { "广州" } else { "深圳" };
        create(
            &admin,
            "customers",
            json!({"name": format!("客户{i:02}号有限公司"), "city": city, "level": "A"}),
        );
    }
    let list = page(&admin, "/customers");
    assert_eq!(list.matches("name=\"ids\"").count(), 50, "one page of 50");
    assert!(
        list.contains("hx-get=\"/customers/count?"),
        "the total loads after the page"
    );
    let count = admin.get("/customers/count?view=all");
    assert_eq!(count.status, 200);
    assert!(count.body.contains(">55<"), "{}", count.body);
    let start = list.find("hx-get=\"/customers/rows?").expect("load more");
    let rest = &list[start + 8..];
    let more = rest[..rest.find('"').unwrap()]
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let r = admin.get(&more);
    assert_eq!(r.status, 200, "{more}: {}", r.body);
    assert_eq!(r.body.matches("name=\"ids\"").count(), 5, "the rest");
    assert!(r.body.contains("hx-swap-oob"), "the button is replaced");
    assert!(!r.body.contains("/customers/rows?"), "no more pages");

    // The filter builder's rows become API filters.
    let r = page(
        &admin,
        &format!(
            "/customers?view=all&ff=city&fo=eq&fv={}",
            url_encode("广州")
        ),
    );
    assert_eq!(r.matches("name=\"ids\"").count(), 11, "{r}");
    // A bad filter is a message, not a 500.
    let r = admin.get("/customers?filter=nosuch:eq:1");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("notice error"));

    // Columns are remembered per user.
    let r = form(
        &admin,
        "/customers/columns",
        &[
            ("cols", "name"),
            ("cols", "created_at"),
            ("back", "/customers"),
        ],
    );
    assert_eq!(r.status, 303);
    let list = page(&admin, "/customers");
    assert!(
        list.contains("创建时间") && !list.contains("<th scope=\"col\">城市</th>"),
        "chosen columns only"
    );

    // A saved view appears as a tab.
    let r = form(
        &admin,
        "/customers/views",
        &[
            ("name", "广州客户"),
            (
                "query",
                &format!("/customers?view=all&filter=city:eq:{}", url_encode("广州")),
            ),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let to = location(&r);
    let list = page(&admin, &to);
    assert!(list.contains("广州客户"));
    assert_eq!(list.matches("name=\"ids\"").count(), 11);

    // The export link carries the list's filters.
    let start = list
        .find("href=\"/api/v1/customers/export?format=csv")
        .expect("export link");
    let rest = &list[start + 6..];
    let link = rest[..rest.find('"').unwrap()]
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let r = admin.get(&link);
    assert_eq!(r.status, 200, "{link}: {}", r.body);
    assert_eq!(
        r.body.lines().count(),
        12,
        "header and the 11 customers of 广州: {}",
        r.body
    );
    assert!(page(&admin, "/customers").contains("href=\"/import?entity=customers\""));

    // Bulk: a confirmation first, then the work.
    let ids: Vec<String> = admin.get("/api/v1/customers?limit=3").json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].to_string())
        .collect();
    let mut pairs: Vec<(&str, &str)> = ids.iter().map(|i| ("ids", i.as_str())).collect();
    pairs.extend([
        ("action", "add_tag"),
        ("tag", "展会"),
        ("back", "/customers"),
    ]);
    let r = form(&admin, "/customers/bulk", &pairs);
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("name=\"confirmed\" value=\"1\""),
        "{}",
        r.body
    );
    pairs.push(("confirmed", "1"));
    let r = form(&admin, "/customers/bulk", &pairs);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(location(&r).contains("done=3"), "{}", location(&r));
    let tagged = admin
        .get(&format!(
            "/api/v1/customers?filter=tags:contains:{}",
            url_encode("展会")
        ))
        .json();
    assert_eq!(tagged["items"].as_array().unwrap().len(), 3);

    // Every object's list, new form and detail page render.
    for (what, body) in [
        (
            "contacts",
            json!({"name": "王芳", "customer_id": tagged["items"][0]["id"]}),
        ),
        ("leads", json!({"name": "陈静", "company": "杭州青木"})),
        ("tasks", json!({"title": "寄样品"})),
        (
            "products",
            json!({"name": "标准版", "code": "STD-1", "list_price": 99900}),
        ),
        (
            "followups",
            json!({"content": "电话沟通", "customer_id": tagged["items"][0]["id"]}),
        ),
    ] {
        let rec = create(&admin, what, body);
        page(&admin, &format!("/{what}"));
        page(&admin, &format!("/{what}/new"));
        let d = page(&admin, &format!("/{what}/{}", id(&rec)));
        assert!(d.contains("<h1>"), "{what}");
        page(&admin, &format!("/{what}/{}/edit", id(&rec)));
    }
    assert!(
        page(
            &admin,
            &format!(
                "/products/{}",
                id(&admin.get("/api/v1/products").json()["items"][0])
            )
        )
        .contains("999.00")
    );
    assert_eq!(admin.get("/nosuch").status, 404);
}

fn pages_keep_to_the_data_scope(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let (li_id, li) = salesperson(&admin, &srv, "li@example.cn");
    let (wang_id, wang) = salesperson(&admin, &srv, "wang@example.cn");
    let mine = create(
        &li,
        "customers",
        json!({"name": "李雷的客户甲", "city": "北京"}),
    );
    let cid = id(&mine);
    create(
        &wang,
        "customers",
        json!({"name": "王芳的客户乙", "city": "北京"}),
    );

    // Another salesperson neither sees nor finds nor edits it.
    let r = wang.get(&format!("/customers/{cid}"));
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html"),
        "a normal not-found page"
    );
    assert_eq!(wang.get(&format!("/customers/{cid}/edit")).status, 404);
    let list = page(&wang, "/customers?view=all");
    assert!(list.contains("王芳的客户乙") && !list.contains("李雷的客户甲"));
    let r = wang.get(&format!("/search?q={}", url_encode("客户")));
    assert!(!r.body.contains("李雷的客户甲"), "{}", r.body);
    let r = wang.get(&format!("/pick/customers?q={}", url_encode("李雷")));
    assert!(!r.body.contains("李雷的客户甲"));
    // An id typed into a form's address does not reveal the record's name.
    for path in [
        format!("/contacts/new?customer_id={cid}"),
        format!("/followups/new?customer_id={cid}"),
    ] {
        let r = page(&wang, &path);
        assert!(!r.contains("李雷的客户甲"), "{path}: {r}");
    }
    // The owner choice offers only those one may give records to.
    let f = page(&wang, "/customers/new");
    assert!(f.contains(&format!("<option value=\"{wang_id}\"")), "{f}");
    assert!(!f.contains(&format!("<option value=\"{li_id}\"")), "{f}");
    let r = form(
        &wang,
        &format!("/customers/{cid}/followup"),
        &[("kind", "call"), ("content", "x")],
    );
    assert_eq!(r.status, 404);
    let r = form(
        &wang,
        "/customers/bulk",
        &[
            ("ids", &cid.to_string()),
            ("action", "delete"),
            ("confirmed", "1"),
            ("back", "/customers"),
        ],
    );
    assert_eq!(r.status, 303);
    assert!(location(&r).contains("done=0&failed=1"), "{}", location(&r));
    assert_eq!(
        li.get(&format!("/api/v1/customers/{cid}")).status,
        200,
        "still there"
    );

    // Shared read-only from the page: visible, not editable.
    let r = form(
        &li,
        &format!("/customers/{cid}/share"),
        &[("user_id", &wang_id.to_string())],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let d = page(&wang, &format!("/customers/{cid}"));
    assert!(d.contains("李雷的客户甲") && !d.contains(&format!("/customers/{cid}/edit")));
    assert_eq!(wang.get(&format!("/customers/{cid}/edit")).status, 403);
    // Without a session a page asks to log in, and comes back.
    let anon = Client::anonymous(&srv);
    let r = anon.get("/customers");
    assert!(r.status == 303 || r.status == 401, "{}", r.status);
}

fn board_pools_and_conversion(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    let (li_id, li) = salesperson(&admin, &srv, "li@example.cn");
    let p = admin.post(
        "/api/v1/pipelines",
        &json!({"name": "标准销售流程", "stages": [{"name": "初步接洽", "probability": 10}, {"name": "方案报价", "probability": 50}, {"name": "谈判", "probability": 80}]}),
    );
    assert_eq!(p.status, 201, "{}", p.body);
    let p = p.json();
    let pid = id(&p);
    let cust = create(&li, "customers", json!({"name": "成都天府软件有限公司"}));
    let r = form(
        &li,
        "/opportunities/new",
        &[
            ("name", "天府 ERP 项目"),
            ("customer_id", &id(&cust).to_string()),
            ("pipeline_id", &pid.to_string()),
            ("amount", "120,000.50"),
            ("currency", "CNY"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let oid: i64 = location(&r).rsplit('/').next().unwrap().parse().unwrap();
    let o = li.get(&format!("/api/v1/opportunities/{oid}")).json();
    assert_eq!(
        o["amount"], 12_000_050,
        "money typed with decimals is kept in fen"
    );

    let board = page(&li, &format!("/board/{pid}"));
    assert!(
        board.contains("天府 ERP 项目") && board.contains("120,000.50"),
        "{board}"
    );
    assert!(board.contains(&format!("data-card-id=\"{oid}\"")));
    let stage2 = p["stages"][1]["id"].to_string();
    let r = form(
        &li,
        &format!("/opportunities/{oid}/stage"),
        &[
            ("version", &o["version"].to_string()),
            ("stage_id", &stage2),
            ("back", &format!("/board/{pid}")),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(location(&r), format!("/board/{pid}"));
    let o = li.get(&format!("/api/v1/opportunities/{oid}")).json();
    assert_eq!(o["stage_id"].to_string(), stage2);
    // Closing needs a reason; with one it is won and shows on the timeline.
    let r = form(
        &li,
        &format!("/opportunities/{oid}/stage"),
        &[
            ("version", &o["version"].to_string()),
            ("status", "won"),
            ("back", &format!("/board/{pid}")),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        location(&r).starts_with(&format!("/board/{pid}?error=")),
        "back on the board with the reason: {}",
        location(&r)
    );
    assert!(page(&li, &location(&r)).contains("请填写关闭商机的原因"));
    let r = form(
        &li,
        &format!("/opportunities/{oid}/stage"),
        &[
            ("version", &o["version"].to_string()),
            ("status", "won"),
            ("reason", "价格和服务都满意"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let d = page(&li, &format!("/customers/{}", id(&cust)));
    assert!(
        d.contains("价格和服务都满意") && d.contains("天府 ERP 项目"),
        "{d}"
    );
    let home = page(&li, "/home/stats");
    assert!(home.contains("120,000.50"), "won this month: {home}");
    assert!(home.contains("<svg class=\"funnel\""), "the funnel");
    assert!(
        page(&li, "/").contains("hx-get=\"/home/stats\""),
        "loaded after the page"
    );

    // A pool: browse and claim within the limits shown.
    let pool = admin.post(
        "/api/v1/pools",
        &json!({"name": "华南公海", "members": [{"user_id": li_id}], "rules": {"claims_per_day": 5}}),
    );
    assert_eq!(pool.status, 201, "{}", pool.body);
    let pool_id = id(&pool.json());
    let loose = create(&admin, "customers", json!({"name": "佛山顺德家具厂"}));
    let r = admin.post(
        &format!("/api/v1/pools/{pool_id}/put"),
        &json!({"customer_ids": [id(&loose)], "reason": "无人跟进"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let pp = page(&li, &format!("/pools/{pool_id}"));
    assert!(
        pp.contains("佛山顺德家具厂") && pp.contains("0 / 5"),
        "{pp}"
    );
    let r = form(
        &li,
        &format!("/pools/{pool_id}/claim"),
        &[("ids", &id(&loose).to_string())],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        li.get(&format!("/api/v1/customers/{}", id(&loose))).json()["owner_id"],
        li_id
    );

    // Lead conversion from its page, with an opportunity.
    let lead = create(
        &li,
        "leads",
        json!({"name": "赵敏", "company": "武汉光谷生物", "mobile": "13700137000"}),
    );
    let conv = page(&li, &format!("/leads/{}/convert", id(&lead)));
    assert!(conv.contains("武汉光谷生物"));
    let r = form(
        &li,
        &format!("/leads/{}/convert", id(&lead)),
        &[
            ("customer_name", "武汉光谷生物科技有限公司"),
            ("with_opportunity", "1"),
            ("opportunity_name", "光谷试剂采购"),
            ("pipeline_id", &pid.to_string()),
            ("amount", "5000"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let d = page(&li, &location(&r).replace("?saved=1", ""));
    assert!(
        d.contains("武汉光谷生物科技有限公司") && d.contains("赵敏") && d.contains("光谷试剂采购"),
        "{d}"
    );
}

/// The value of a hidden input in a page.
fn hidden(html: &str, name: &str) -> String {
    let (_, rest) = html
        .split_once(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} field in {html}"));
    rest.split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
}

fn expired_session_keeps_the_form(backend: Backend) {
    let srv = TestServer::start(&backend);
    let admin = setup_admin(&srv);
    salesperson(&admin, &srv, "li@example.cn");
    // A session that ended (here: one the server does not know).
    let mut c = Client::anonymous(&srv);
    c.cookie = Some("rapport_session=0123456789abcdef".into());
    let r = form(
        &c,
        "/customers/new",
        &[
            ("name", "昆明春城花卉有限公司"),
            ("notes", "下周三 10 点拜访，带样品"),
        ],
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.body.contains("name=\"password\""),
        "the login page: {}",
        r.body
    );
    let data = hidden(&r.body, "resume_data");
    assert!(
        data.contains(&url_encode("昆明春城花卉有限公司")) || data.contains("%E6%98%86"),
        "{data}"
    );
    let login_csrf = hidden(&r.body, "_csrf");
    let form_cookie = r
        .set_cookie("rapport_form")
        .expect("login form cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    c.cookie = Some(form_cookie);
    let r = form(
        &c,
        "/login",
        &[
            ("email", "li@example.cn"),
            ("password", PW),
            ("_csrf", &login_csrf),
            ("next", "/customers/new"),
            ("resume_to", "/customers/new"),
            ("resume_data", &data),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("昆明春城花卉有限公司") && r.body.contains("带样品"),
        "{}",
        r.body
    );
    let session = r
        .set_cookie("rapport_session")
        .expect("session")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (_, rest) = r.body.split_once("action=\"").unwrap();
    let action = rest
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(action.starts_with("/customers/new?_csrf="), "{action}");
    let mut li = Client::anonymous(&srv);
    li.cookie = Some(session);
    let r = form(
        &li,
        &action,
        &[
            ("name", "昆明春城花卉有限公司"),
            ("notes", "下周三 10 点拜访，带样品"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let d = page(&li, &location(&r));
    assert!(d.contains("昆明春城花卉有限公司") && d.contains("带样品"));
}

both_backends!(
    customer_forms_and_detail,
    lists_views_filters_columns_and_paging,
    pages_keep_to_the_data_scope,
    board_pools_and_conversion,
    expired_session_keeps_the_form,
);
