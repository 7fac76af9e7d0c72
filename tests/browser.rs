//! The web shell in a real headless Chromium: the newcomer's first steps
//! from the setup link to a second user, in Chinese and in English.
//! Skipped (with a notice) where chromium/chromedriver are not installed;
//! .ci/run installs them.

mod common;

use common::browser::Browser;
use common::{Backend, TestServer};

struct Words {
    lang: &'static str,
    hello: &'static str,
    users: &'static str,
    saved_user: &'static str,
    audit: &'static str,
    login: &'static str,
    wrong_password: &'static str,
}

const ZH: Words = Words {
    lang: "zh-CN",
    hello: "您好",
    users: "用户",
    saved_user: "用户已创建",
    audit: "操作记录",
    login: "登录",
    wrong_password: "邮箱或密码错误",
};

const EN: Words = Words {
    lang: "en",
    hello: "Hello",
    users: "Users",
    saved_user: "User created",
    audit: "Audit trail",
    login: "Log in",
    wrong_password: "Wrong e-mail or password",
};

fn newcomer_story(w: &Words) {
    let srv = TestServer::start(&Backend::Sqlite);
    let Some(b) = Browser::start(w.lang) else {
        eprintln!("skipped: chromium and chromedriver are not installed");
        return;
    };
    let token = {
        let mut conn = srv.db.connect();
        rapport::core::setup::issue_token(&mut conn)
            .unwrap()
            .unwrap()
    };
    // Set RAPPORT_TEST_SCREENSHOTS=DIR to keep screenshots of the pages.
    let shot = |name: &str| {
        if let Ok(dir) = std::env::var("RAPPORT_TEST_SCREENSHOTS") {
            b.screenshot(&std::path::Path::new(&dir).join(format!("{name}-{}.png", w.lang)));
        }
    };

    // Anything but the setup link leads to the login page.
    b.goto(&srv.url("/admin/users"));
    b.wait_text("h1", w.login);

    // The setup link from the server log.
    b.goto(&srv.url(&format!("/setup?token={token}")));
    b.fill("#company", "深圳市星河科技有限公司");
    b.fill("#admin_email", "it@example.cn");
    b.fill("#admin_name", "王管理");
    b.fill("#admin_password", "Silver-Pine-Harbor-61");
    b.fill("#password_confirm", "Silver-Pine-Harbor-61");
    b.click("form button[type=submit]");
    b.wait_text("h1", w.hello);
    b.wait_text("main", "深圳市星河科技有限公司");

    // A department.
    b.goto(&srv.url("/admin/departments"));
    b.fill("#name", "华南销售部");
    b.click("main form button[type=submit]");
    b.wait_text("table", "华南销售部");

    // A salesperson in it; a weak password is refused with the values kept.
    b.goto(&srv.url("/admin/users"));
    b.fill("#email", "li.lei@example.cn");
    b.fill("#name", "李雷");
    b.select("#department_id", "华南销售部");
    b.fill("#password", "12345678");
    b.click("input[name=roles][value='3']");
    b.click("main form button[type=submit]");
    b.wait_text(".notice.error", "password");
    shot("user-error");
    assert_eq!(
        b.call_value("#email"),
        "li.lei@example.cn",
        "the form keeps what was typed"
    );
    b.fill("#password", "Autumn-River-Lamp-27");
    b.click("main form button[type=submit]");
    b.wait_text(".notice.ok", w.saved_user);
    b.wait_text("table", "李雷");
    b.wait_text("table", "华南销售部");
    shot("users");

    // A personal API token, shown once.
    b.goto(&srv.url("/account/tokens"));
    b.fill("#name", "ERP 对接");
    b.click("main form button[type=submit]");
    b.wait_text("#new-token", "rpt_");
    shot("tokens");

    // Every step is in the audit trail.
    b.goto(&srv.url("/admin/audit"));
    b.wait_text("h1", w.audit);
    for needle in [
        "department",
        "华南销售部",
        "user",
        "li.lei@example.cn",
        "api_token",
        "setup",
    ] {
        b.wait_text("table", needle);
    }
    shot("audit");

    // Log out (from the user menu); the salesperson logs in and sees no administration.
    b.click("header details.menu summary");
    b.click("header form[action^='/logout'] button");
    b.wait_text("h1", w.login);
    b.fill("#email", "li.lei@example.cn");
    b.fill("#password", "wrong-password-1");
    b.click("main form button[type=submit]");
    b.wait_text(".notice.error", w.wrong_password);
    b.fill("#password", "Autumn-River-Lamp-27");
    b.click("main form button[type=submit]");
    b.wait_text("h1", w.hello);
    let nav = b.text("header nav");
    assert!(
        !nav.contains(w.users),
        "salesperson sees admin links: {nav}"
    );
    b.goto(&srv.url("/admin/users"));
    b.wait_text(
        "main",
        if w.lang == "en" {
            "permission"
        } else {
            "权限"
        },
    );
}

#[test]
fn newcomer_story_in_chinese() {
    newcomer_story(&ZH);
}

#[test]
fn newcomer_story_in_english() {
    newcomer_story(&EN);
}

/// No sideways scrolling: the page fits the window.
fn fits(b: &Browser) -> bool {
    b.eval("return document.documentElement.scrollWidth <= window.innerWidth;")
        .as_bool()
        .unwrap_or(false)
}

/// A salesperson's day on a 375 px phone: a customer from the form, a
/// follow-up from its page, the list and the header search as one types.
#[test]
fn sales_pages_on_a_phone() {
    let srv = TestServer::start(&Backend::Sqlite);
    common::setup_admin(&srv);
    let Some(b) = Browser::start("zh-CN") else {
        eprintln!("skipped: chromium and chromedriver are not installed");
        return;
    };
    b.set_window(375, 812);
    b.goto(&srv.url("/login"));
    b.fill("#email", common::ADMIN_EMAIL);
    b.fill("#password", common::ADMIN_PASSWORD);
    b.click("main form button[type=submit]");
    b.wait_text("h1", "您好");
    assert!(fits(&b), "home fits 375 px");

    b.goto(&srv.url("/customers/new"));
    b.fill("#f-name", "深圳市星辰科技有限公司");
    b.fill("#f-email", "not-an-email");
    b.click("main form button[type=submit]");
    b.wait_text(".field-error", "邮箱");
    assert_eq!(
        b.call_value("#f-name"),
        "深圳市星辰科技有限公司",
        "typed values stay"
    );
    b.fill("#f-email", "sales@xingchen.cn");
    b.fill("#f-city", "深圳");
    b.click("main form button[type=submit]");
    b.wait_text("h1", "深圳市星辰科技有限公司");
    assert!(fits(&b), "detail page fits 375 px");

    b.fill("#qf-content", "上门拜访，客户要报价单");
    b.click(".quick-followup button[type=submit]");
    b.wait_text(".timeline", "上门拜访，客户要报价单");

    b.goto(&srv.url("/customers"));
    b.wait_text("table.list", "深圳市星辰科技有限公司");
    assert!(fits(&b), "list fits 375 px");

    b.fill("#global-q", "星辰");
    b.wait_text("#global-results", "深圳市星辰科技有限公司");
}

/// The rest of a salesperson's day in the browser: a custom field on the
/// form, a hostile name shown as text, a lead converted, an opportunity
/// dragged to the next stage, a customer claimed from the pool, and the
/// language switched.
#[test]
fn sales_story_in_a_browser() {
    use serde_json::json;
    let srv = TestServer::start(&Backend::Sqlite);
    let admin = common::setup_admin(&srv);
    let Some(b) = Browser::start("zh-CN") else {
        eprintln!("skipped: chromium and chromedriver are not installed");
        return;
    };
    let r = admin.post(
        "/api/v1/custom-fields",
        &json!({"entity": "customers", "key": "wechat_group", "label_zh": "微信群", "label_en": "WeChat group", "kind": "text"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let p = admin.post(
        "/api/v1/pipelines",
        &json!({"name": "标准流程", "stages": [{"name": "初步接洽", "probability": 10}, {"name": "方案报价", "probability": 50}]}),
    );
    assert_eq!(p.status, 201, "{}", p.body);
    let p = p.json();
    let hostile = common::create(
        &admin,
        "customers",
        json!({"name": "<img src=x onerror=alert(1)>"}),
    );
    let opp = common::create(
        &admin,
        "opportunities",
        json!({"name": "云端 ERP 项目", "customer_id": common::id(&hostile), "pipeline_id": common::id(&p)}),
    );
    let lead = common::create(
        &admin,
        "leads",
        json!({"name": "赵敏", "company": "武汉光谷生物"}),
    );
    let me = admin.get("/api/v1/me").json();
    let me_id = me["id"]
        .as_i64()
        .or_else(|| me["user"]["id"].as_i64())
        .unwrap();
    let pool = admin.post(
        "/api/v1/pools",
        &json!({"name": "华南公海", "members": [{"user_id": me_id}]}),
    );
    assert_eq!(pool.status, 201, "{}", pool.body);
    let pool_id = common::id(&pool.json());
    let loose = common::create(&admin, "customers", json!({"name": "佛山顺德家具厂"}));
    let r = admin.post(
        &format!("/api/v1/pools/{pool_id}/put"),
        &json!({"customer_ids": [common::id(&loose)], "reason": "无人跟进"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    b.goto(&srv.url("/login"));
    b.fill("#email", common::ADMIN_EMAIL);
    b.fill("#password", common::ADMIN_PASSWORD);
    b.click("main form button[type=submit]");
    b.wait_text("h1", "您好");

    // A custom field on the form, saved with the customer.
    b.goto(&srv.url("/customers/new"));
    b.fill("#f-name", "杭州西湖茶业有限公司");
    b.fill("#f-custom-wechat_group", "西湖茶友群");
    b.click("main form button[type=submit]");
    b.wait_text("h1", "杭州西湖茶业有限公司");
    b.wait_text(".fields", "西湖茶友群");

    // A hostile name is text on the list and the detail page.
    for path in [
        "/customers".to_string(),
        format!("/customers/{}", common::id(&hostile)),
    ] {
        b.goto(&srv.url(&path));
        b.wait_text("main", "<img src=x onerror=alert(1)>");
        assert_eq!(
            b.eval("return document.querySelectorAll('img[src=x]').length;"),
            json!(0),
            "{path} runs nothing"
        );
    }

    // Lead conversion.
    b.goto(&srv.url(&format!("/leads/{}/convert", common::id(&lead))));
    b.click("main form button[type=submit]");
    b.wait_text("h1", "武汉光谷生物");

    // Drag the opportunity's card to the next stage.
    b.goto(&srv.url(&format!("/board/{}", common::id(&p))));
    b.find(&format!("[data-card-id='{}']", common::id(&opp)));
    let second = p["stages"][1]["id"].as_i64().unwrap();
    b.eval(&format!(
        "const card = document.querySelector(\"[data-card-id='{}']\"); \
         const col = document.querySelector(\"[data-stage-id='{second}']\"); \
         const dt = new DataTransfer(); \
         card.dispatchEvent(new DragEvent('dragstart', {{bubbles: true, dataTransfer: dt}})); \
         col.dispatchEvent(new DragEvent('dragover', {{bubbles: true, cancelable: true, dataTransfer: dt}})); \
         col.dispatchEvent(new DragEvent('drop', {{bubbles: true, cancelable: true, dataTransfer: dt}})); \
         return true;",
        common::id(&opp)
    ));
    let mut moved = false;
    for _ in 0..50 {
        let o = admin
            .get(&format!("/api/v1/opportunities/{}", common::id(&opp)))
            .json();
        if o["stage_id"].as_i64() == Some(second) {
            moved = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(moved, "the drop moved the opportunity");
    b.wait_text(&format!("[data-stage-id='{second}']"), "云端 ERP 项目");

    // Claim from the pool.
    b.goto(&srv.url(&format!("/pools/{pool_id}")));
    b.click(&format!("input[name=ids][value='{}']", common::id(&loose)));
    b.click("button[form=pool-claim]");
    b.wait_text(".notice.ok", "1");
    assert_eq!(
        admin
            .get(&format!("/api/v1/customers/{}", common::id(&loose)))
            .json()["owner_id"],
        me_id
    );

    // Switch the language from the user menu.
    b.click("header details.menu summary");
    b.click("header form[action^='/lang'] button");
    b.wait_text("header nav", "Customers");
}
