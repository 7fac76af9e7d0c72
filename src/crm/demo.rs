//! Demo data: a realistic company at any size, deterministic for a seed.
//! Departments, users with roles, and customers with Chinese and Western
//! names, addresses, phones, tags and follow-up dates over two years,
//! inserted in batches inside transactions.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::core::audit::AuditCtx;
use crate::core::db::schema::{customers, users};
use crate::core::db::{DbConn, now};
use crate::core::error::AppError;
use crate::core::org::{departments, roles, users as user_store};
use crate::crm::customers::model::{CustomerInput, NewCustomer, validate};

/// SplitMix64: small, fast, and the same sequence on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Zh,
    En,
    Mixed,
}

impl Locale {
    pub fn parse(s: &str) -> Option<Locale> {
        match s {
            "zh" => Some(Locale::Zh),
            "en" => Some(Locale::En),
            "mixed" => Some(Locale::Mixed),
            _ => None,
        }
    }
}

/// `small` ≈ 1k customers, `medium` 100k, `large` 1M, or a number.
pub fn parse_size(s: &str) -> Option<usize> {
    match s {
        "small" => Some(1_000),
        "medium" => Some(100_000),
        "large" => Some(1_000_000),
        n => n
            .replace('_', "")
            .parse()
            .ok()
            .filter(|n| (1..=20_000_000).contains(n)),
    }
}

const CITIES: &[(&str, &str, &[&str])] = &[
    ("广东", "深圳", &["南山区", "福田区", "宝安区", "龙岗区"]),
    ("广东", "广州", &["天河区", "海珠区", "番禺区", "白云区"]),
    ("上海", "上海", &["浦东新区", "徐汇区", "闵行区", "静安区"]),
    ("北京", "北京", &["朝阳区", "海淀区", "丰台区", "东城区"]),
    ("浙江", "杭州", &["西湖区", "滨江区", "余杭区", "拱墅区"]),
    ("江苏", "南京", &["鼓楼区", "江宁区", "玄武区", "建邺区"]),
    ("江苏", "苏州", &["工业园区", "姑苏区", "吴中区", "相城区"]),
    ("四川", "成都", &["高新区", "锦江区", "武侯区", "青羊区"]),
    ("湖北", "武汉", &["江汉区", "洪山区", "武昌区", "汉阳区"]),
    ("陕西", "西安", &["雁塔区", "碑林区", "未央区", "长安区"]),
    ("重庆", "重庆", &["渝中区", "江北区", "渝北区", "南岸区"]),
    ("湖南", "长沙", &["岳麓区", "芙蓉区", "天心区", "开福区"]),
    ("福建", "厦门", &["思明区", "湖里区", "集美区", "海沧区"]),
    ("山东", "青岛", &["市南区", "崂山区", "黄岛区", "李沧区"]),
    ("河南", "郑州", &["金水区", "二七区", "中原区", "郑东新区"]),
    ("安徽", "合肥", &["蜀山区", "包河区", "庐阳区", "瑶海区"]),
];

const BRAND_CHARS: &str = "星河蓝天华创恒通金鼎盛世鸿远德信瑞丰新航宇中联科达博源宏图汇嘉禾永泰安同聚力景东方海纳正和卓越领云帆智万象隆昌兴旺荣耀光明华夏鼎新启明辰泽润晟峰岚逸凯旭晨思锐拓迅捷";
const INDUSTRIES: &[&str] = &[
    "科技",
    "贸易",
    "制造",
    "电子",
    "物流",
    "医疗器械",
    "教育科技",
    "建材",
    "食品",
    "服饰",
    "网络",
    "信息技术",
    "新能源",
    "环保",
    "化工",
    "机械",
    "传媒",
    "咨询",
    "置业",
    "生物",
];
const INDUSTRY_LABELS: &[&str] = &[
    "制造业",
    "批发零售",
    "信息技术",
    "医疗健康",
    "教育",
    "房地产",
    "物流运输",
    "金融",
    "能源",
    "其他",
];
const SUFFIXES: &[&str] = &[
    "有限公司",
    "有限公司",
    "有限公司",
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
];
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";
const GIVEN: &str = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏飞宇浩凯鑫婷雪琳晨辉建文斌波宁燕峰龙林欣佳怡晶健亮俊帅";
const FIRST: &[&str] = &[
    "John",
    "Mary",
    "James",
    "Linda",
    "Robert",
    "Patricia",
    "Michael",
    "Jennifer",
    "William",
    "Elizabeth",
    "David",
    "Susan",
    "Richard",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Goldsmith",
    "Walker",
    "Hall",
    "Allen",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Carter",
    "Evans",
    "Turner",
    "Parker",
];
const EN_WORDS: &[&str] = &[
    "Trading",
    "Logistics",
    "Systems",
    "Technologies",
    "Industries",
    "Foods",
    "Electronics",
    "Partners",
    "Holdings",
    "Solutions",
    "Imports",
    "Engineering",
];
const EN_SUFFIXES: &[&str] = &["Co., Ltd.", "Inc.", "LLC", "GmbH", "Ltd."];
const SOURCES: &[&str] = &[
    "展会",
    "官网",
    "转介绍",
    "电话营销",
    "广告",
    "老客户",
    "合作伙伴",
    "社交媒体",
];
const STATUSES: &[&str] = &["潜在", "意向", "洽谈", "成交", "流失"];
const LEVELS: &[&str] = &["A", "B", "B", "C", "C", "C"];
const TAGS: &[&str] = &[
    "VIP",
    "重点",
    "华南",
    "华东",
    "老客户",
    "大客户",
    "待回访",
    "展会",
];

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

struct Names {
    brand: Vec<char>,
    surnames: Vec<char>,
    given: Vec<char>,
}

fn person_zh(rng: &mut Rng, n: &Names) -> String {
    let mut s = String::new();
    s.push(*rng.pick(&n.surnames));
    s.push(*rng.pick(&n.given));
    if rng.chance(60) {
        s.push(*rng.pick(&n.given));
    }
    s
}

fn digits(rng: &mut Rng, count: usize) -> String {
    (0..count)
        .map(|_| char::from(b'0' + rng.below(10) as u8))
        .collect()
}

fn mobile(rng: &mut Rng) -> String {
    format!(
        "1{}{}",
        rng.pick(&["3", "5", "7", "8", "9"]),
        digits(rng, 9)
    )
}

fn ts_between(rng: &mut Rng, from: NaiveDateTime, days: i64) -> NaiveDateTime {
    from + Duration::seconds((rng.next_u64() % (days.max(1) as u64 * 86_400)) as i64)
}

/// One generated customer and its timestamps.
fn customer(
    rng: &mut Rng,
    n: &Names,
    locale: Locale,
    owner: Option<i64>,
    base: NaiveDateTime,
) -> (CustomerInput, NaiveDateTime, Option<NaiveDateTime>) {
    let roll = rng.below(100);
    let kind_zh_company = match locale {
        Locale::Zh => roll < 70,
        Locale::En => false,
        Locale::Mixed => roll < 50,
    };
    let kind_zh_person = match locale {
        Locale::Zh => roll >= 70,
        Locale::En => false,
        Locale::Mixed => (50..80).contains(&roll),
    };
    let (province, city, districts) = *rng.pick(CITIES);
    let mut input = CustomerInput {
        province: province.into(),
        city: city.into(),
        district: rng.pick(districts).to_string(),
        level: rng.pick(LEVELS).to_string(),
        source: rng.pick(SOURCES).to_string(),
        status: rng.pick(STATUSES).to_string(),
        industry: rng.pick(INDUSTRY_LABELS).to_string(),
        owner_id: owner,
        ..Default::default()
    };
    if kind_zh_company {
        let brand: String = [*rng.pick(&n.brand), *rng.pick(&n.brand)].iter().collect();
        let industry = rng.pick(INDUSTRIES);
        let city_part = if rng.chance(70) {
            format!("{city}市")
        } else {
            String::new()
        };
        input.name = format!("{city_part}{brand}{industry}{}", rng.pick(SUFFIXES));
        input.short_name = format!("{brand}{industry}");
        input.phone = format!("0{}-{}", rng.below(900) + 100, digits(rng, 8));
        input.email = if rng.chance(50) {
            format!(
                "info@{}{}.cn",
                ["xh", "lt", "hc", "ht", "jd"][rng.below(5)],
                digits(rng, 4)
            )
        } else {
            String::new()
        };
        input.address = format!(
            "{}路{}号",
            rng.pick(&["科技", "人民", "中山", "解放", "建设", "滨海", "创业"]),
            rng.below(999) + 1
        );
    } else if kind_zh_person {
        input.kind = "person".into();
        input.name = person_zh(rng, n);
        input.mobile = mobile(rng);
    } else {
        let last = rng.pick(LAST);
        if rng.chance(60) {
            input.name = format!("{last} {} {}", rng.pick(EN_WORDS), rng.pick(EN_SUFFIXES));
            input.email = format!("sales@{}{}.com", last.to_lowercase(), digits(rng, 3));
            input.website = format!("https://www.{}{}.com", last.to_lowercase(), digits(rng, 3));
        } else {
            input.kind = "person".into();
            let first = rng.pick(FIRST);
            input.name = format!("{first} {last}");
            input.email = format!(
                "{}.{}{}@example.com",
                first.to_lowercase(),
                last.to_lowercase(),
                digits(rng, 2)
            );
        }
        input.phone = format!(
            "+1 {} {} {}",
            digits(rng, 3),
            digits(rng, 3),
            digits(rng, 4)
        );
    }
    if rng.chance(25) {
        input.tags = vec![rng.pick(TAGS).to_string()];
    }
    if rng.chance(10) {
        input.notes = format!(
            "{}介绍，关注{}方案",
            person_zh(rng, n),
            rng.pick(INDUSTRIES)
        );
    }
    if rng.chance(8) {
        input.deal_status = "won".into();
    }
    let created = ts_between(rng, base - Duration::days(730), 720);
    let last_follow = if rng.chance(70) {
        Some(ts_between(rng, created, (base - created).num_days().max(1)))
    } else {
        None
    };
    if rng.chance(30) {
        input.next_follow_up_at = Some(
            ts_between(rng, base - Duration::days(3), 30)
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string(),
        );
    }
    (input, created, last_follow)
}

/// What was created.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub departments: usize,
    pub users: usize,
    pub customers: usize,
    pub contacts: usize,
    pub leads: usize,
    pub followups: usize,
    pub tasks: usize,
    pub products: usize,
    pub opportunities: usize,
    pub pooled: usize,
    pub admin_email: String,
    pub password: String,
    pub seconds: f64,
    /// How long each step took, in order.
    pub steps: Vec<(&'static str, f64)>,
}

/// Generate on a second thread while this one writes, so that building
/// records and writing them use both cores. `generate` runs on the helper
/// thread and hands batches to `send` (which says `false` once the writer
/// has stopped); `write` gets them here, in order. The generator is one
/// sequential thread, so the data stays the same for a seed.
fn pipelined<B: Send, G: Send>(
    generate: impl FnOnce(&mut dyn FnMut(B) -> bool) -> Result<G, AppError> + Send,
    write: impl FnOnce(&mut dyn FnMut() -> Option<B>) -> Result<(), AppError>,
) -> Result<G, AppError> {
    // A few batches in flight: enough to keep both threads busy, little memory.
    let (tx, rx) = std::sync::mpsc::sync_channel::<B>(8);
    std::thread::scope(|scope| {
        let generator = scope.spawn(move || generate(&mut |batch| tx.send(batch).is_ok()));
        let written = write(&mut || rx.recv().ok());
        drop(rx);
        let generated = generator
            .join()
            .map_err(|_| AppError::Internal("the demo data generator failed".into()))?;
        // The generator's own error first: it explains a writer that ran dry.
        let generated = generated?;
        written?;
        Ok(generated)
    })
}

/// Insert `count` generated records of `spec` with its secondary indexes
/// dropped, in statements of a few hundred binds' worth of rows and
/// transactions of 20,000; `make` gives a record (as the API takes it) and
/// its creation time.
fn load(
    conn: &mut DbConn,
    rng: &mut Rng,
    spec: &crate::core::records::EntitySpec,
    count: usize,
    mut make: impl FnMut(&mut Rng) -> (serde_json::Value, NaiveDateTime) + Send,
) -> Result<(usize, f64), AppError> {
    use crate::core::records::store::{NewRow, insert_many_sql};
    const ROWS_PER_TRANSACTION: usize = 20_000;
    // SQLite binds at most 32,766 values per statement; a few thousand keep
    // statements quick to prepare.
    let per_statement = (3000 / (spec.fields.len() + 12)).max(1);
    let empty = serde_json::Map::new();
    let backend = conn.backend();
    let mut written = 0;
    let ((), indexes) = crate::core::db::bulk::without_indexes_timed(
        conn,
        spec.name,
        |conn| -> Result<(), AppError> {
            pipelined(
                |send| -> Result<(), AppError> {
                    let mut made = 0;
                    while made < count {
                        let n = per_statement.min(count - made);
                        let mut recs = Vec::with_capacity(n);
                        for _ in 0..n {
                            let (input, created) = make(rng);
                            let mut input = input.as_object().cloned().unwrap_or_default();
                            // Server-kept fields (an opportunity's close time) are
                            // history here, not input: set after validation.
                            let kept: Vec<(String, serde_json::Value)> = spec
                                .fields
                                .iter()
                                .filter(|f| !f.input)
                                .filter_map(|f| {
                                    input.remove(f.name).map(|v| (f.name.to_string(), v))
                                })
                                .collect();
                            let (mut rec, _) = crate::core::records::validate(spec, &input)?;
                            rec.extend(kept);
                            recs.push((rec, created));
                        }
                        made += n;
                        // The statement is built here too: the writer only runs it.
                        let rows: Vec<NewRow> = recs
                            .iter()
                            .map(|(rec, created)| NewRow {
                                rec,
                                custom: &empty,
                                by: None,
                                created_at: *created,
                                updated_at: *created,
                            })
                            .collect();
                        let Some(sql) = insert_many_sql(backend, spec, &rows) else {
                            continue;
                        };
                        if !send((sql, n)) {
                            break;
                        }
                    }
                    Ok(())
                },
                |next| {
                    write_batches(
                        conn,
                        &mut written,
                        count,
                        ROWS_PER_TRANSACTION,
                        next,
                        |conn, (sql, n): (crate::core::sql::Sql, usize)| {
                            sql.execute(conn)?;
                            Ok(n)
                        },
                        &mut |_| {},
                    )
                },
            )
        },
    )?;
    Ok((written, indexes.as_secs_f64()))
}

/// Write the batches `next` gives until `count` rows are written, in
/// transactions of at least `per_transaction` rows; `insert` writes one
/// batch and says how many rows it held. `progress` hears the running
/// total after each commit.
fn write_batches<B>(
    conn: &mut DbConn,
    written: &mut usize,
    count: usize,
    per_transaction: usize,
    next: &mut dyn FnMut() -> Option<B>,
    mut insert: impl FnMut(&mut DbConn, B) -> Result<usize, AppError>,
    progress: &mut dyn FnMut(usize),
) -> Result<(), AppError> {
    while *written < count {
        let mut done = 0;
        crate::core::db::write_tx(conn, |conn| -> Result<(), AppError> {
            while done < per_transaction && *written + done < count {
                let batch = next().ok_or_else(|| {
                    AppError::Internal("the demo data generator stopped early".into())
                })?;
                done += insert(conn, batch)?;
            }
            Ok(())
        })?;
        *written += done;
        progress(*written);
    }
    Ok(())
}

/// A product catalogue: three categories with sub-categories, 60 products.
fn demo_products(conn: &mut DbConn, rng: &mut Rng) -> Result<usize, AppError> {
    use crate::core::db::schema::product_categories as pc;
    let t = now();
    let mut leaves = Vec::new();
    for (i, (top, subs)) in [
        ("软件", &["订阅", "授权"][..]),
        ("硬件", &["服务器", "终端"][..]),
        ("服务", &["实施", "培训", "维保"][..]),
    ]
    .iter()
    .enumerate()
    {
        let parent: i64 = diesel::insert_into(pc::table)
            .values((
                pc::name.eq(top),
                pc::position.eq(i as i32),
                pc::created_at.eq(t),
                pc::updated_at.eq(t),
            ))
            .returning(pc::id)
            .get_result(conn)?;
        for (j, sub) in subs.iter().enumerate() {
            let id: i64 = diesel::insert_into(pc::table)
                .values((
                    pc::name.eq(sub),
                    pc::parent_id.eq(Some(parent)),
                    pc::position.eq(j as i32),
                    pc::created_at.eq(t),
                    pc::updated_at.eq(t),
                ))
                .returning(pc::id)
                .get_result(conn)?;
            leaves.push((id, *sub));
        }
    }
    let mut n = 0;
    let (count, _) = load(conn, rng, &crate::crm::products::SPEC, 60, |rng| {
        n += 1;
        let (cat, label) = *rng.pick(&leaves);
        let rec = serde_json::json!({
            "code": format!("P-{n:04}"), "name": format!("{label}{}号", n),
            "category_id": cat, "unit": rng.pick(&["套", "台", "人天", "年", "个"]),
            "list_price": (rng.below(2000) as i64 + 10) * 10_000, "currency": "CNY",
            "active": !rng.chance(10),
        });
        (rec, t)
    })?;
    Ok(count)
}

/// A pipeline with its stages; its id and the stages' (id, probability).
fn demo_pipeline(
    conn: &mut DbConn,
    name: &str,
    stages: &[(&str, i32)],
) -> Result<(i64, Vec<(i64, i32)>), AppError> {
    use crate::core::db::schema::{pipeline_stages as st, pipelines as pl};
    let t = now();
    let id: i64 = diesel::insert_into(pl::table)
        .values((
            pl::name.eq(name),
            pl::created_at.eq(t),
            pl::updated_at.eq(t),
        ))
        .returning(pl::id)
        .get_result(conn)?;
    let mut out = Vec::new();
    for (i, (s, p)) in stages.iter().enumerate() {
        let sid: i64 = diesel::insert_into(st::table)
            .values((
                st::pipeline_id.eq(id),
                st::name.eq(s),
                st::position.eq(i as i32),
                st::probability.eq(p),
            ))
            .returning(st::id)
            .get_result(conn)?;
        out.push((sid, *p));
    }
    Ok((id, out))
}

/// One pool for every sales team, the managers as its administrators, and
/// the customers nobody owns inside it. Returns how many are pooled.
fn demo_pool(conn: &mut DbConn, teams: &[i64], managers: &[i64]) -> Result<usize, AppError> {
    use crate::core::db::schema::{pool_members as pm, pools};
    let t = now();
    let rules = crate::crm::pools::rules::Rules {
        no_follow_up: crate::crm::pools::rules::Days {
            days: 600,
            by_level: [("A".to_string(), 720)].into_iter().collect(),
        },
        exempt_won: true,
        warn_days: 7,
        claims_per_day: 20,
        reclaim_cooldown_days: 7,
        ..Default::default()
    };
    let id: i64 = diesel::insert_into(pools::table)
        .values((
            pools::name.eq("公海"),
            pools::description.eq("600 天（A 级客户 720 天）未跟进的客户自动退回"),
            pools::rules.eq(serde_json::to_string(&rules).unwrap_or_default()),
            pools::created_at.eq(t),
            pools::updated_at.eq(t),
        ))
        .returning(pools::id)
        .get_result(conn)?;
    for d in teams {
        diesel::insert_into(pm::table)
            .values((pm::pool_id.eq(id), pm::department_id.eq(Some(*d))))
            .execute(conn)?;
    }
    for m in managers {
        diesel::insert_into(pm::table)
            .values((
                pm::pool_id.eq(id),
                pm::user_id.eq(Some(*m)),
                pm::is_admin.eq(true),
            ))
            .execute(conn)?;
    }
    let n = diesel::update(customers::table.filter(customers::owner_id.is_null()))
        .set((
            customers::pool_id.eq(Some(id)),
            customers::pooled_at.eq(customers::created_at.nullable()),
        ))
        .execute(conn)?;
    Ok(n)
}

/// Does the database hold anything beyond an empty installation?
pub fn has_data(conn: &mut DbConn) -> QueryResult<bool> {
    let c: i64 = customers::table.count().get_result(conn)?;
    let u: i64 = users::table.count().get_result(conn)?;
    Ok(c > 0 || u > 1)
}

/// Fill the database. `progress` is told how many customers are written.
pub fn generate(
    conn: &mut DbConn,
    size: usize,
    locale: Locale,
    seed: u64,
    progress: &mut dyn FnMut(usize),
) -> Result<Report, AppError> {
    let started = std::time::Instant::now();
    let mut rng = Rng::new(seed);
    let names = Names {
        brand: chars(BRAND_CHARS),
        surnames: chars(SURNAMES),
        given: chars(GIVEN),
    };
    let ctx = AuditCtx::cli();
    if let DbConn::Sqlite(c) = conn {
        // A large page cache for this one connection (the server keeps
        // SQLite's default); the index builds set their own (see
        // `bulk::index_builds`).
        use diesel::connection::SimpleConnection;
        c.batch_execute("PRAGMA cache_size = -262144;")?;
    }
    roles::ensure_builtin(conn)?;
    let role = |conn: &mut DbConn, key: &str| roles::find(conn, key).map(|r| r.id);
    let admin_role = role(conn, "administrator")?;
    let manager_role = role(conn, "sales_manager")?;
    let sales_role = role(conn, "salesperson")?;
    let password = format!("Demo-{}", crate::core::tls::random_hex(6));
    let hash = crate::core::auth::password::hash(&password).map_err(AppError::Internal)?;

    // Organisation: head office, regions, city teams.
    let dep = |conn: &mut DbConn, name: &str, parent: Option<i64>| {
        departments::create(
            conn,
            &ctx,
            &departments::DepartmentInput {
                name: name.into(),
                parent_id: parent,
                sort_order: 0,
            },
        )
        .map(|d| d.id)
    };
    let hq = dep(conn, "总部", None)?;
    let regions = [
        ("华南大区", &["深圳销售一部", "广州销售部"][..]),
        ("华东大区", &["上海销售部", "杭州销售部"][..]),
        ("华北大区", &["北京销售部", "天津销售部"][..]),
    ];
    let teams_per_size = if size >= 100_000 { 20 } else { 5 };
    let mut department_count = 1;
    let mut salespeople = Vec::new();
    let new_user =
        |conn: &mut DbConn, email: String, name: String, dep: i64, sup: Option<i64>, role: i64| {
            user_store::create_hashed(
                conn,
                &ctx,
                &user_store::NewUser {
                    email,
                    name,
                    password: String::new(),
                    department_id: Some(dep),
                    supervisor_id: sup,
                    language: String::new(),
                    time_zone: "Asia/Shanghai".into(),
                    roles: vec![role],
                },
                &hash,
            )
            .map(|u| u.id)
        };
    let admin_email = format!("admin{}@demo.rapport.local", rng.below(1000));
    new_user(
        conn,
        admin_email.clone(),
        "演示管理员".into(),
        hq,
        None,
        admin_role,
    )?;
    let mut user_count = 1;
    let mut team_ids = Vec::new();
    let mut managers = Vec::new();
    for (ri, (region, teams)) in regions.iter().enumerate() {
        let rid = dep(conn, region, Some(hq))?;
        department_count += 1;
        let mgr = new_user(
            conn,
            format!("manager{ri}@demo.rapport.local"),
            person_zh(&mut rng, &names),
            rid,
            None,
            manager_role,
        )?;
        user_count += 1;
        managers.push(mgr);
        for (ti, team) in teams.iter().enumerate() {
            let tid = dep(conn, team, Some(rid))?;
            team_ids.push(tid);
            department_count += 1;
            for k in 0..teams_per_size {
                let uid = new_user(
                    conn,
                    format!("sales{ri}{ti}{k:02}@demo.rapport.local"),
                    person_zh(&mut rng, &names),
                    tid,
                    Some(mgr),
                    sales_role,
                )?;
                salespeople.push(uid);
                user_count += 1;
            }
        }
    }

    // How long each step took, and how much of it rebuilding the table's
    // secondary indexes.
    let mut steps: Vec<(&'static str, f64)> = Vec::new();
    let mut lap = started;
    let mut step = |name: &'static str, indexes: f64| {
        steps.push((name, lap.elapsed().as_secs_f64()));
        if indexes > 0.0 {
            steps.push(("  of which rebuilding its indexes", indexes));
        }
        lap = std::time::Instant::now();
    };
    step("organisation", 0.0);

    // Customers, in batches of one transaction each; on SQLite the search
    // index is built once at the end instead of row by row.
    let bulk = matches!(conn, DbConn::Sqlite(_));
    if bulk {
        crate::core::settings::set(conn, "search.bulk_load", "demo")?;
    }
    let base = now();
    // Statements of 100 rows (larger ones get slower per row), transactions
    // of 20,000 (fewer commits of the same index pages).
    const ROWS_PER_STATEMENT: usize = 100;
    const ROWS_PER_TRANSACTION: usize = 20_000;
    let mut written = 0;
    let (owners, customer_indexes) = crate::core::db::bulk::without_indexes_timed(
        conn,
        "customers",
        |conn| -> Result<Vec<Option<i64>>, AppError> {
            pipelined(
                |send| -> Result<Vec<Option<i64>>, AppError> {
                    let mut owners: Vec<Option<i64>> = Vec::with_capacity(size);
                    while owners.len() < size {
                        let n = ROWS_PER_STATEMENT.min(size - owners.len());
                        let mut rows = Vec::with_capacity(n);
                        for _ in 0..n {
                            let owner = if rng.chance(5) {
                                None
                            } else {
                                Some(*rng.pick(&salespeople))
                            };
                            owners.push(owner);
                            let (input, created, last) =
                                customer(&mut rng, &names, locale, owner, base);
                            let clean = validate(&input)?;
                            let updated =
                                (created + Duration::hours(rng.below(2000) as i64)).min(base);
                            rows.push(NewCustomer::from_clean(
                                clean,
                                "{}".into(),
                                None,
                                created,
                                updated,
                                last,
                            ));
                        }
                        if !send(rows) {
                            break;
                        }
                    }
                    Ok(owners)
                },
                |next| {
                    write_batches(
                        conn,
                        &mut written,
                        size,
                        ROWS_PER_TRANSACTION,
                        next,
                        |conn, rows: Vec<NewCustomer>| {
                            match conn {
                                // One prepared single-row insert (see
                                // `NewCustomer::insert_sqlite`).
                                DbConn::Sqlite(c) => {
                                    NewCustomer::insert_sqlite(c, &rows)?;
                                }
                                // diesel keeps an insert of a fixed-size
                                // array prepared (one of a Vec is prepared
                                // anew each time).
                                DbConn::Pg(c) => {
                                    match <&[NewCustomer; ROWS_PER_STATEMENT]>::try_from(
                                        rows.as_slice(),
                                    ) {
                                        Ok(full) => diesel::insert_into(customers::table)
                                            .values(full)
                                            .execute(c)?,
                                        Err(_) => diesel::insert_into(customers::table)
                                            .values(&rows)
                                            .execute(c)?,
                                    };
                                }
                            }
                            Ok(rows.len())
                        },
                        progress,
                    )
                },
            )
        },
    )?;
    let first_customer: i64 = customers::table
        .select(diesel::dsl::min(customers::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(1);
    let customer_of = |rng: &mut Rng| {
        let i = rng.below(owners.len());
        (first_customer + i as i64, owners[i])
    };
    let owner_or_any = |rng: &mut Rng, o: Option<i64>| o.unwrap_or_else(|| *rng.pick(&salespeople));
    // Contacts: one per customer on average.
    step("customers", customer_indexes.as_secs_f64());
    let contacts = load(conn, &mut rng, &crate::crm::contacts::SPEC, size, |rng| {
        let (cid, owner) = customer_of(rng);
        let name = if locale == Locale::En || (locale == Locale::Mixed && rng.chance(30)) {
            format!("{} {}", rng.pick(FIRST), rng.pick(LAST))
        } else {
            person_zh(rng, &names)
        };
        let created = ts_between(rng, base - Duration::days(700), 690);
        let rec = serde_json::json!({
            "customer_id": cid, "name": name, "owner_id": owner_or_any(rng, owner),
            "title": rng.pick(&["总经理", "采购经理", "技术总监", "财务", "Purchasing Manager", "CTO", ""]),
            "mobile": mobile(rng), "is_primary": rng.chance(40), "is_decision_maker": rng.chance(20),
            "email": if rng.chance(40) { format!("contact{}@example.cn", digits(rng, 6)) } else { String::new() },
        });
        (rec, created)
    })?;
    // Leads: a fifth of the customers, newer.
    step("contacts", contacts.1);
    let contacts = contacts.0;
    let leads = load(conn, &mut rng, &crate::crm::leads::SPEC, size / 5, |rng| {
        let (_, owner) = customer_of(rng);
        let (province, city, _) = *rng.pick(CITIES);
        let brand: String = [*rng.pick(&names.brand), *rng.pick(&names.brand)]
            .iter()
            .collect();
        let created = ts_between(rng, base - Duration::days(180), 180);
        let rec = serde_json::json!({
            "name": person_zh(rng, &names), "owner_id": owner_or_any(rng, owner),
            "company": format!("{city}{brand}{}{}", rng.pick(INDUSTRIES), rng.pick(SUFFIXES)),
            "mobile": mobile(rng), "source": rng.pick(SOURCES), "province": province, "city": city,
            "status": rng.pick(&["new", "new", "contacted", "qualified", "unqualified"]),
        });
        (rec, created)
    })?;
    // Follow-ups: two per customer, spread over two years.
    step("leads", leads.1);
    let leads = leads.0;
    let followups = load(
        conn,
        &mut rng,
        &crate::crm::followups::SPEC,
        size * 2,
        |rng| {
            let (cid, owner) = customer_of(rng);
            let occurred = ts_between(rng, base - Duration::days(730), 730);
            let content = match rng.below(6) {
                0 => format!("电话沟通，客户关注{}方案，约下周拜访", rng.pick(INDUSTRIES)),
                1 => "发送报价单和产品资料".to_string(),
                2 => format!("上门拜访{}，演示产品，对价格有疑问", person_zh(rng, &names)),
                3 => "微信回复：合同条款在内部审批".to_string(),
                4 => "Call: discussed pricing and delivery dates".to_string(),
                _ => "Meeting with the purchasing team; follow up with a revised quote".to_string(),
            };
            let rec = serde_json::json!({
                "customer_id": cid, "owner_id": owner_or_any(rng, owner), "content": content,
                "kind": rng.pick(crate::crm::followups::DEFAULT_TYPES),
                "occurred_at": occurred.format("%Y-%m-%dT%H:%M:%S").to_string(),
                "next_follow_up_at": if rng.chance(30) { (occurred + Duration::days(7)).format("%Y-%m-%dT%H:%M:%S").to_string() } else { String::new() },
            });
            (rec, occurred)
        },
    )?;
    // Tasks: a tenth of the customers, some overdue, most ahead.
    step("follow-ups", followups.1);
    let followups = followups.0;
    let tasks = load(conn, &mut rng, &crate::crm::tasks::SPEC, size / 10, |rng| {
        let (cid, owner) = customer_of(rng);
        let due = ts_between(rng, base - Duration::days(10), 40);
        let created = (due - Duration::days(rng.below(20) as i64 + 1)).min(base);
        let rec = serde_json::json!({
            "title": rng.pick(&["寄送样品", "准备合同", "回访客户", "安排演示", "Send the revised quote", "Book a site visit"]),
            "assignee_id": owner_or_any(rng, owner), "due_at": due.format("%Y-%m-%dT%H:%M:%S").to_string(),
            "priority": rng.pick(&["normal", "normal", "high", "urgent", "low"]),
            "status": if due < base && rng.chance(60) { "done" } else { "open" },
            "related_entity": "customers", "related_id": cid,
        });
        (rec, created)
    })?;
    step("tasks", tasks.1);
    let tasks = tasks.0;
    let products = demo_products(conn, &mut rng)?;
    step("products", 0.0);
    let standard = demo_pipeline(
        conn,
        "标准销售流程",
        &[
            ("初步接洽", 10),
            ("需求确认", 25),
            ("方案报价", 50),
            ("商务谈判", 75),
            ("合同签订", 90),
        ],
    )?;
    let key_accounts = demo_pipeline(
        conn,
        "大客户流程",
        &[("立项", 10), ("招投标", 40), ("评审", 70), ("签约", 90)],
    )?;
    let mut opportunities = 0;
    let mut opportunity_indexes = 0.0;
    for ((pipeline, stages), count) in [(standard, size / 5), (key_accounts, size / 50)] {
        let (n, indexes) = load(
            conn,
            &mut rng,
            &crate::crm::opportunities::SPEC,
            count,
            |rng| {
                let (cid, owner) = customer_of(rng);
                let created = ts_between(rng, base - Duration::days(540), 540);
                let stage = *rng.pick(&stages);
                let status = match rng.below(100) {
                    0..70 => "open",
                    70..85 => "won",
                    85..97 => "lost",
                    _ => "invalid",
                };
                let closed = (status != "open")
                    .then(|| (created + Duration::days(rng.below(90) as i64 + 1)).min(base));
                let probability = match status {
                    "open" => stage.1,
                    "won" => 100,
                    _ => 0,
                };
                let rec = serde_json::json!({
                    "name": format!("{}项目", rng.pick(&["CRM 采购", "设备更新", "年度维保", "系统集成", "渠道合作", "培训服务"])),
                    "customer_id": cid, "owner_id": owner_or_any(rng, owner),
                    "pipeline_id": pipeline, "stage_id": stage.0, "status": status,
                    "close_reason": match status { "won" => "价格与服务获认可", "lost" => "选择了竞争对手", "invalid" => "需求取消", _ => "" },
                    "closed_at": closed.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()),
                    "probability": probability,
                    "amount": (rng.below(50_000) as i64 + 100) * 1000, "currency": "CNY",
                    "expected_close_date": (created + Duration::days(rng.below(180) as i64 + 14)).format("%Y-%m-%d").to_string(),
                    "source": rng.pick(SOURCES),
                });
                (rec, created)
            },
        )?;
        opportunities += n;
        opportunity_indexes += indexes;
    }
    step("opportunities", opportunity_indexes);
    let pooled = demo_pool(conn, &team_ids, &managers)?;
    step("customer pool", 0.0);
    if bulk {
        use diesel::connection::SimpleConnection;
        if let DbConn::Sqlite(c) = conn {
            use crate::core::db::bulk;
            let builds: Vec<bulk::SearchBuild> = bulk::SEARCH_TABLES
                .iter()
                .flat_map(|t| bulk::SearchBuild::of(t))
                .collect();
            // A new database filled without journal (nobody else has it
            // open): the indexes are built on every core beside it. A
            // database that held data (`--force`) rebuilds them in place.
            let beside = match (
                crate::core::db::sqlite_journal_mode(c)?.as_str(),
                crate::core::db::sqlite_file(c)?,
            ) {
                ("memory", Some(path)) => Some(path),
                _ => None,
            };
            match beside {
                Some(path) => {
                    bulk::build_search_beside(&path, &builds).map_err(AppError::Internal)?
                }
                None => {
                    for b in &builds {
                        // With FTS5's own 1 MiB buffer of pending terms. A 64 MiB
                        // buffer rebuilt about a third faster but left a few huge
                        // segments on level 0 that the first single-row writes then
                        // merged whole (see `rebuild_search`).
                        bulk::rebuild_search(c, &b.fts)?;
                    }
                }
            }
            c.batch_execute("DELETE FROM settings WHERE key = 'search.bulk_load';")?;
        }
    }
    // Fresh statistics so the query planner knows, e.g., that a level has
    // few distinct values and an owner few rows.
    step("search indexes", 0.0);
    if let DbConn::Sqlite(c) = conn {
        // Statistics from a sample of each index (SQLite reads about this
        // many rows per index) instead of every row of a 4 GB file.
        use diesel::connection::SimpleConnection;
        c.batch_execute("PRAGMA analysis_limit = 2000;")?;
    }
    diesel::sql_query("ANALYZE").execute(conn)?;
    step("statistics (ANALYZE)", 0.0);
    Ok(Report {
        departments: department_count,
        users: user_count,
        customers: written,
        contacts,
        leads,
        followups,
        tasks,
        products,
        opportunities,
        pooled,
        admin_email,
        password,
        seconds: started.elapsed().as_secs_f64(),
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data() {
        let n = Names {
            brand: chars(BRAND_CHARS),
            surnames: chars(SURNAMES),
            given: chars(GIVEN),
        };
        let base = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let a: Vec<String> = {
            let mut r = Rng::new(7);
            (0..50)
                .map(|_| customer(&mut r, &n, Locale::Mixed, None, base).0.name)
                .collect()
        };
        let b: Vec<String> = {
            let mut r = Rng::new(7);
            (0..50)
                .map(|_| customer(&mut r, &n, Locale::Mixed, None, base).0.name)
                .collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().any(|x| x.contains("有限公司")));
        assert!(a.iter().any(|x| x.is_ascii()));
        assert_eq!(parse_size("large"), Some(1_000_000));
        assert_eq!(parse_size("2_500"), Some(2500));
        assert_eq!(parse_size("lots"), None);
    }
}
