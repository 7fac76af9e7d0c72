//! The columns an import file may have and an export writes, per entity:
//! each field with its zh-CN/en labels and the other headers people use for
//! it, the mapping of a file's headers onto them, and the conversion of a
//! cell's text into the value the API would have been sent.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::fields::FieldDef;
use crate::core::i18n::Lang;
use crate::core::records::{EntitySpec, Kind};

/// The entities that can be imported and exported.
pub const ENTITIES: &[&str] = &[
    "customers",
    "contacts",
    "leads",
    "products",
    "opportunities",
    "followups",
];

/// The record-kernel description of an entity (customers: its API description).
pub fn spec(entity: &str) -> Option<&'static EntitySpec> {
    if entity == "customers" {
        return Some(&crate::crm::customers::model::DOC_SPEC);
    }
    if !ENTITIES.contains(&entity) {
        return None;
    }
    crate::crm::RECORD_SPECS
        .iter()
        .copied()
        .find(|s| s.name == entity)
}

/// An entity named on the command line or in a URL, or a 400 listing the choices.
pub fn entity(name: &str) -> Result<&'static EntitySpec, AppError> {
    spec(name).ok_or_else(|| {
        AppError::invalid(
            "entity",
            format!(
                "`{name}` cannot be imported or exported; one of {}",
                ENTITIES.join(", ")
            ),
        )
    })
}

/// How a column's text becomes a value.
#[derive(Debug, Clone, PartialEq)]
pub enum ColKind {
    Field(Kind),
    /// The owner (or assignee), by user name, e-mail or id.
    Owner,
    /// A custom field of this type (`text`, `integer`, `multi_select` …).
    Custom(String),
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Col {
    /// The API field name (`name`, `owner_id`, `custom.grade`).
    pub key: String,
    pub label_zh: String,
    pub label_en: String,
    pub kind: ColKind,
    pub required: bool,
    /// Other headers that mean it.
    pub synonyms: Vec<&'static str>,
}

impl Col {
    pub fn label(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.label_zh,
            Lang::En => &self.label_en,
        }
    }
}

/// zh-CN label, en label and synonyms of common field names; `entity:field`
/// entries override for one entity.
const LABELS: &[(&str, &str, &str, &[&str])] = &[
    (
        "name",
        "名称",
        "Name",
        &[
            "客户名称",
            "公司名称",
            "客户",
            "单位名称",
            "企业名称",
            "名字",
            "customer",
            "customer name",
            "company name",
        ],
    ),
    (
        "contacts:name",
        "姓名",
        "Name",
        &[
            "联系人",
            "联系人姓名",
            "名字",
            "contact",
            "contact name",
            "full name",
        ],
    ),
    (
        "leads:name",
        "姓名",
        "Name",
        &["线索名称", "联系人", "名字", "lead", "lead name"],
    ),
    (
        "products:name",
        "产品名称",
        "Name",
        &["名称", "产品", "product", "product name"],
    ),
    (
        "opportunities:name",
        "商机名称",
        "Name",
        &["名称", "商机", "opportunity", "deal", "deal name"],
    ),
    (
        "short_name",
        "简称",
        "Short name",
        &["客户简称", "公司简称", "short"],
    ),
    ("kind", "类型", "Type", &["客户类型", "type"]),
    ("industry", "行业", "Industry", &["所属行业", "客户行业"]),
    (
        "level",
        "级别",
        "Level",
        &["客户级别", "等级", "客户等级", "grade", "rating"],
    ),
    (
        "source",
        "来源",
        "Source",
        &["客户来源", "线索来源", "渠道"],
    ),
    ("status", "状态", "Status", &["客户状态"]),
    (
        "phone",
        "电话",
        "Phone",
        &[
            "固定电话",
            "座机",
            "办公电话",
            "公司电话",
            "tel",
            "telephone",
            "phone number",
        ],
    ),
    (
        "mobile",
        "手机",
        "Mobile",
        &[
            "手机号",
            "手机号码",
            "移动电话",
            "cell",
            "cellphone",
            "mobile phone",
        ],
    ),
    (
        "email",
        "邮箱",
        "E-mail",
        &[
            "电子邮件",
            "电子邮箱",
            "邮件",
            "email address",
            "mail",
            "e-mail address",
        ],
    ),
    (
        "website",
        "网址",
        "Website",
        &["网站", "公司网址", "主页", "url", "web", "homepage"],
    ),
    (
        "province",
        "省份",
        "Province",
        &["省", "省/直辖市", "state", "region"],
    ),
    ("city", "城市", "City", &["市", "地市"]),
    (
        "district",
        "区县",
        "District",
        &["区", "县", "区/县", "county"],
    ),
    (
        "address",
        "地址",
        "Address",
        &[
            "详细地址",
            "联系地址",
            "公司地址",
            "street",
            "street address",
        ],
    ),
    ("tags", "标签", "Tags", &["tag", "labels"]),
    (
        "notes",
        "备注",
        "Notes",
        &["说明", "备注信息", "note", "remarks", "comment", "comments"],
    ),
    ("locked", "锁定", "Locked", &["是否锁定", "lock"]),
    ("deal_status", "成交状态", "Deal status", &["成交"]),
    (
        "next_follow_up_at",
        "下次联系时间",
        "Next follow-up",
        &["下次跟进时间", "下次联系", "next follow up"],
    ),
    (
        "last_follow_up_at",
        "最后跟进时间",
        "Last follow-up",
        &["最近跟进时间"],
    ),
    (
        "owner_id",
        "负责人",
        "Owner",
        &[
            "所有者",
            "归属人",
            "销售",
            "业务员",
            "owner name",
            "owner_name",
            "sales",
            "salesperson",
        ],
    ),
    (
        "customer_id",
        "客户",
        "Customer",
        &[
            "客户名称",
            "所属客户",
            "公司名称",
            "公司",
            "customer name",
            "customer_name",
            "company",
            "客户编号",
        ],
    ),
    (
        "contacts:customer_id",
        "客户",
        "Customer",
        &[
            "客户名称",
            "所属客户",
            "公司名称",
            "公司",
            "单位",
            "customer name",
            "customer_name",
            "company",
            "客户编号",
        ],
    ),
    (
        "title",
        "职务",
        "Title",
        &["职位", "头衔", "job title", "position"],
    ),
    ("department", "部门", "Department", &["所在部门", "dept"]),
    (
        "im",
        "微信",
        "WeChat / IM",
        &["微信号", "QQ", "即时通讯", "wechat", "im handle"],
    ),
    (
        "is_primary",
        "首要联系人",
        "Primary",
        &["是否首要联系人", "主联系人", "primary contact"],
    ),
    (
        "is_decision_maker",
        "关键决策人",
        "Decision maker",
        &["决策人", "是否决策人"],
    ),
    (
        "birthday",
        "生日",
        "Birthday",
        &["出生日期", "date of birth", "dob"],
    ),
    (
        "company",
        "公司",
        "Company",
        &["公司名称", "单位", "单位名称", "企业", "company name"],
    ),
    (
        "code",
        "编码",
        "Code",
        &["产品编码", "编号", "产品编号", "sku", "product code"],
    ),
    (
        "category_id",
        "分类",
        "Category",
        &["产品分类", "类别", "category"],
    ),
    ("unit", "单位", "Unit", &["计量单位"]),
    (
        "list_price",
        "标准价格",
        "List price",
        &["价格", "单价", "标准价", "price"],
    ),
    ("currency", "币种", "Currency", &["货币"]),
    ("active", "上架", "Active", &["是否上架", "启用", "状态"]),
    (
        "description",
        "描述",
        "Description",
        &["产品描述", "介绍", "说明"],
    ),
    (
        "pipeline_id",
        "商机组",
        "Pipeline",
        &["销售流程", "pipeline"],
    ),
    (
        "stage_id",
        "阶段",
        "Stage",
        &["商机阶段", "销售阶段", "stage"],
    ),
    (
        "close_reason",
        "结束原因",
        "Close reason",
        &["赢单原因", "输单原因"],
    ),
    (
        "amount",
        "金额",
        "Amount",
        &["商机金额", "预计金额", "value"],
    ),
    ("discount", "整单折扣", "Discount", &["折扣"]),
    (
        "expected_close_date",
        "预计成交日期",
        "Expected close date",
        &["预计成交", "成交日期", "close date"],
    ),
    (
        "content",
        "跟进内容",
        "Content",
        &["内容", "跟进记录", "记录", "text"],
    ),
    (
        "followups:kind",
        "跟进方式",
        "Type",
        &["类型", "方式", "跟进类型", "type"],
    ),
    (
        "occurred_at",
        "跟进时间",
        "Time",
        &["时间", "日期", "跟进日期", "date", "when"],
    ),
    (
        "contact_id",
        "联系人",
        "Contact",
        &["联系人姓名", "contact"],
    ),
    ("lead_id", "线索", "Lead", &["lead"]),
    (
        "opportunity_id",
        "商机",
        "Opportunity",
        &["opportunity", "deal"],
    ),
];

fn labels_of(entity: &str, field: &str) -> (String, String, Vec<&'static str>) {
    let scoped = format!("{entity}:{field}");
    LABELS
        .iter()
        .find(|(k, ..)| *k == scoped)
        .or_else(|| LABELS.iter().find(|(k, ..)| *k == field))
        .map_or_else(
            || (field.to_string(), field.to_string(), vec![]),
            |(_, zh, en, syn)| (zh.to_string(), en.to_string(), syn.to_vec()),
        )
}

/// Fields an import may not set (kept by the server) or that have no text form.
fn importable(f: &crate::core::records::Field) -> bool {
    f.input && !matches!(f.kind, Kind::Json)
}

/// Every column of `entity`: its input fields, the owner and the active
/// custom fields.
pub fn columns(conn: &mut DbConn, spec: &EntitySpec) -> Result<Vec<Col>, AppError> {
    let mut cols = Vec::new();
    for f in spec.fields.iter().filter(|f| importable(f)) {
        let (zh, en, syn) = labels_of(spec.name, f.name);
        cols.push(Col {
            key: f.name.to_string(),
            label_zh: zh,
            label_en: en,
            kind: ColKind::Field(f.kind),
            required: f.required,
            synonyms: syn,
        });
    }
    let (zh, en, syn) = if spec.owner_col == "owner_id" {
        labels_of(spec.name, "owner_id")
    } else {
        ("负责人".into(), "Assignee".into(), vec!["assignee"])
    };
    cols.push(Col {
        key: spec.owner_col.to_string(),
        label_zh: zh,
        label_en: en,
        kind: ColKind::Owner,
        required: false,
        synonyms: syn,
    });
    let defs: Vec<FieldDef> = if crate::core::fields::ENTITIES.contains(&spec.name) {
        crate::core::fields::list(conn, Some(spec.name), false)?
    } else {
        vec![]
    };
    for d in defs.into_iter().filter(|d| d.active) {
        cols.push(Col {
            key: format!("custom.{}", d.key),
            label_zh: d.label_zh.clone(),
            label_en: d.label_en.clone(),
            kind: ColKind::Custom(d.kind.clone()),
            required: d.required,
            synonyms: vec![],
        });
    }
    Ok(cols)
}

/// A header as compared: half-width, lower case, without spaces, `_`, `-`,
/// `*` (a required marker) and a trailing `(…)` hint.
pub fn norm_header(h: &str) -> String {
    let h = crate::core::text::half_width(h.trim());
    let h = match h.find('(') {
        Some(i) if i > 0 && h.ends_with(')') => h[..i].to_string(),
        _ => h,
    };
    h.chars()
        .filter(|c| !c.is_whitespace() && !"_-*:：".contains(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The error file's own columns, recognised and left out when it is re-imported.
pub const ERROR_COLUMNS: [&str; 3] = ["import_line", "import_column", "import_error"];

/// For each header, the column it maps to (`None`: not imported). Exact
/// field names and labels win over synonyms; each column is taken once.
pub fn auto_map(header: &[String], cols: &[Col]) -> Vec<Option<String>> {
    let mut taken: Vec<String> = Vec::new();
    let mut out = vec![None; header.len()];
    for pass in 0..2 {
        for (i, h) in header.iter().enumerate() {
            if out[i].is_some() || ERROR_COLUMNS.contains(&h.as_str()) {
                continue;
            }
            let n = norm_header(h);
            if n.is_empty() {
                continue;
            }
            let hit = cols.iter().find(|c| {
                if taken.contains(&c.key) {
                    return false;
                }
                let key_short = c.key.strip_prefix("custom.").unwrap_or(&c.key);
                let owner_alias = c.kind == ColKind::Owner && n == "owner";
                let id_alias =
                    c.key.ends_with("_id") && n == norm_header(c.key.trim_end_matches("_id"));
                if pass == 0 {
                    n == norm_header(&c.key)
                        || n == norm_header(key_short)
                        || n == norm_header(&c.label_zh)
                        || n == norm_header(&c.label_en)
                        || owner_alias
                        || id_alias
                } else {
                    c.synonyms.iter().any(|s| norm_header(s) == n)
                }
            });
            if let Some(c) = hit {
                taken.push(c.key.clone());
                out[i] = Some(c.key.clone());
            }
        }
    }
    out
}

/// Apply a mapping file (`{"表头": "field", "其他": null}` or TOML
/// `"表头" = "field"`) over the automatic mapping.
pub fn apply_mapping(
    header: &[String],
    cols: &[Col],
    auto: Vec<Option<String>>,
    given: &HashMap<String, Option<String>>,
) -> Result<Vec<Option<String>>, AppError> {
    let mut out = auto;
    for (h, target) in given {
        let Some(i) = header
            .iter()
            .position(|x| x == h || norm_header(x) == norm_header(h))
        else {
            return Err(AppError::invalid(
                "mapping",
                format!("the mapping names the column `{h}`, which the file does not have"),
            ));
        };
        match target.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => out[i] = None,
            Some(t) => {
                let Some(c) = cols.iter().find(|c| c.key == t) else {
                    return Err(AppError::invalid(
                        "mapping",
                        format!(
                            "`{h}` is mapped to `{t}`, which is not a field; fields: {}",
                            cols.iter()
                                .map(|c| c.key.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                };
                for (j, o) in out.iter_mut().enumerate() {
                    if j != i && o.as_deref() == Some(c.key.as_str()) {
                        *o = None;
                    }
                }
                out[i] = Some(c.key.clone());
            }
        }
    }
    Ok(out)
}

/// Parse a mapping file's text (JSON object or TOML table of header → field).
pub fn parse_mapping(text: &str) -> Result<HashMap<String, Option<String>>, String> {
    let v: Value = match serde_json::from_str::<Value>(text) {
        Ok(v) => v,
        Err(_) => {
            let t: toml::Table = toml::from_str(text)
                .map_err(|e| format!("the mapping is neither JSON nor TOML: {e}"))?;
            serde_json::to_value(t).map_err(|e| e.to_string())?
        }
    };
    let obj = v
        .as_object()
        .ok_or("the mapping must be an object of column header to field name")?;
    let obj = obj.get("columns").and_then(Value::as_object).unwrap_or(obj);
    obj.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), Some(s.clone()))),
            Value::Null | Value::Bool(false) => Ok((k.clone(), None)),
            _ => Err(format!("`{k}`: map it to a field name (text) or null")),
        })
        .collect()
}

/// A cell exported with a leading `'` against formula injection, back as it was.
pub fn unneutralise(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => s,
    }
}

/// `2026-12-04`, `2026/12/4`, `04.12.2026`, `2026年12月4日`, `20261204`
/// or an Excel serial day number, as `YYYY-MM-DD`.
pub fn normalize_date(s: &str) -> Option<String> {
    use chrono::NaiveDate;
    let s = s.trim();
    for f in [
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%d.%m.%Y",
        "%Y.%m.%d",
        "%Y年%m月%d日",
        "%Y%m%d",
    ] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Some(d.format("%Y-%m-%d").to_string());
        }
    }
    if let Ok(n) = s.parse::<f64>()
        && (1.0..120_000.0).contains(&n)
    {
        return crate::io::read::excel_serial(n.floor());
    }
    None
}

/// A date-time in the forms above, with an optional `HH:MM[:SS]`.
pub fn normalize_datetime(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(t) = crate::core::fields::parse_datetime(s) {
        return Some(t.format("%Y-%m-%dT%H:%M:%S").to_string());
    }
    if let Ok(n) = s.parse::<f64>()
        && (1.0..120_000.0).contains(&n)
    {
        return crate::io::read::excel_serial(n).map(|d| {
            if d.contains('T') {
                d
            } else {
                format!("{d}T00:00:00")
            }
        });
    }
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, t.trim()),
        None => (s, ""),
    };
    let d = normalize_date(date)?;
    let time = match time.split(':').count() {
        1 if time.is_empty() => "00:00:00".to_string(),
        2 => format!("{time}:00"),
        3 => time.to_string(),
        _ => return None,
    };
    crate::core::fields::parse_datetime(&format!("{d}T{time}"))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
}

/// Yes/no in either language.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_lowercase().as_str() {
        "1" | "true" | "yes" | "y" | "是" | "有" | "对" | "√" | "x" | "on" => Some(true),
        "0" | "false" | "no" | "n" | "否" | "无" | "不" | "" | "off" => Some(false),
        _ => None,
    }
}

/// Split a list cell (`VIP, 华南；重点`).
pub fn split_list(s: &str) -> Vec<String> {
    s.split([',', '，', ';', '；', '、', '|'])
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// A cell's text as the JSON value the API expects for a plain (non-reference)
/// column; an `Err` is the reason shown for the cell.
pub fn convert(kind: &ColKind, text: &str) -> Result<Value, String> {
    let t = unneutralise(text.trim());
    if t.is_empty() {
        return Ok(Value::Null);
    }
    let is_bool = matches!(kind, ColKind::Field(Kind::Bool))
        || matches!(kind, ColKind::Custom(k) if k == "boolean");
    if is_bool {
        return Ok(Value::Bool(
            parse_bool(t).ok_or_else(|| format!("`{t}` is not yes/no (是/否)"))?,
        ));
    }
    Ok(match kind {
        ColKind::Field(Kind::Date) => {
            Value::from(normalize_date(t).unwrap_or_else(|| t.to_string()))
        }
        ColKind::Field(Kind::DateTime) => {
            Value::from(normalize_datetime(t).unwrap_or_else(|| t.to_string()))
        }
        ColKind::Field(Kind::Tags) => json!(split_list(t)),
        ColKind::Field(Kind::Int) => match t.replace([',', ' '], "").parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::from(t),
        },
        ColKind::Custom(k) => match k.as_str() {
            "integer" | "money" => match t.replace([',', ' '], "").parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => return Err(format!("`{t}` is not a whole number")),
            },
            "multi_select" => json!(split_list(t)),
            "date" => Value::from(normalize_date(t).unwrap_or_else(|| t.to_string())),
            "datetime" => Value::from(normalize_datetime(t).unwrap_or_else(|| t.to_string())),
            _ => Value::from(t),
        },
        _ => Value::from(t),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(entity: &str) -> Vec<Col> {
        let spec = spec(entity).unwrap();
        spec.fields
            .iter()
            .filter(|f| importable(f))
            .map(|f| {
                let (zh, en, syn) = labels_of(entity, f.name);
                Col {
                    key: f.name.into(),
                    label_zh: zh,
                    label_en: en,
                    kind: ColKind::Field(f.kind),
                    required: f.required,
                    synonyms: syn,
                }
            })
            .chain([Col {
                key: "owner_id".into(),
                label_zh: "负责人".into(),
                label_en: "Owner".into(),
                kind: ColKind::Owner,
                required: false,
                synonyms: vec!["销售"],
            }])
            .collect()
    }

    #[test]
    fn chinese_and_english_headers_map() {
        let h: Vec<String> = [
            "客户名称",
            "手机号",
            "电话",
            "电子邮件",
            "省份",
            "城市",
            "区县",
            "地址",
            "行业",
            "级别",
            "来源",
            "负责人",
            "Website",
            "无关列",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let m = auto_map(&h, &cols("customers"));
        let got: Vec<&str> = m.iter().map(|o| o.as_deref().unwrap_or("-")).collect();
        assert_eq!(
            got,
            [
                "name", "mobile", "phone", "email", "province", "city", "district", "address",
                "industry", "level", "source", "owner_id", "website", "-"
            ]
        );
        // In a contacts file the company is the customer link, 姓名 the name.
        let h: Vec<String> = ["姓名", "客户名称", "Mobile", "E-mail"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = auto_map(&h, &cols("contacts"));
        assert_eq!(m[0].as_deref(), Some("name"));
        assert_eq!(m[1].as_deref(), Some("customer_id"));
        assert_eq!(m[2].as_deref(), Some("mobile"));
        assert_eq!(m[3].as_deref(), Some("email"));
    }

    #[test]
    fn dates_in_several_forms() {
        for s in [
            "2026-12-04",
            "2026/12/4",
            "04.12.2026",
            "2026年12月4日",
            "46360",
        ] {
            assert_eq!(normalize_date(s).as_deref(), Some("2026-12-04"), "{s}");
        }
        assert_eq!(normalize_date("next week"), None);
        assert_eq!(
            normalize_datetime("2026/12/4 9:30").as_deref(),
            Some("2026-12-04T09:30:00")
        );
        assert_eq!(
            normalize_datetime("2026-12-04").as_deref(),
            Some("2026-12-04T00:00:00")
        );
        assert_eq!(unneutralise("'=1+1"), "=1+1");
        assert_eq!(unneutralise("'hello"), "'hello");
        assert_eq!(split_list("VIP, 华南；重点"), ["VIP", "华南", "重点"]);
    }

    #[test]
    fn mapping_files_in_json_and_toml() {
        let j = parse_mapping(r#"{"公司": "name", "备用": null}"#).unwrap();
        assert_eq!(j["公司"].as_deref(), Some("name"));
        assert_eq!(j["备用"], None);
        let t = parse_mapping("\"公司\" = \"name\"\n").unwrap();
        assert_eq!(t["公司"].as_deref(), Some("name"));
        assert!(parse_mapping("[1, 2]").is_err());
    }
}
