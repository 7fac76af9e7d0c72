//! zh-CN and en messages for the UI. Every key has both languages; a test
//! checks that every key a template uses exists.

use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("zh") {
            Some(Lang::Zh)
        } else if s.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The first supported language in an `Accept-Language` header, by weight.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut langs: Vec<(f32, Lang)> = header
            .split(',')
            .filter_map(|part| {
                let mut it = part.split(';');
                let tag = it.next()?.trim();
                let q = it
                    .find_map(|p| {
                        p.trim()
                            .strip_prefix("q=")
                            .and_then(|q| q.parse::<f32>().ok())
                    })
                    .unwrap_or(1.0);
                Lang::parse(tag).map(|l| (q, l))
            })
            .collect();
        langs.sort_by(|a, b| b.0.total_cmp(&a.0));
        langs.first().map(|(_, l)| *l)
    }
}

/// Translator handed to templates: `{{ t.t("nav.users") }}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Self {
        Tr { lang }
    }

    /// The message for `key`; the key itself if it is missing (a test keeps
    /// that from shipping).
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        match catalog().get(key) {
            Some((en, zh)) => match self.lang {
                Lang::En => en,
                Lang::Zh => zh,
            },
            None => key,
        }
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }

    /// The label of a code the program writes (`group.code`), the code
    /// itself when there is none, so a new code shows up rather than vanishes.
    pub fn label<'a>(&self, group: &str, code: &'a str) -> &'a str {
        match catalog().get(format!("{group}.{code}").as_str()) {
            Some((en, zh)) => match self.lang {
                Lang::En => en,
                Lang::Zh => zh,
            },
            None => code,
        }
    }

    /// An audit action (`create`, `share`, …) in the reader's language.
    pub fn audit_action<'a>(&self, code: &'a str) -> &'a str {
        self.label("audit.action", code)
    }

    /// An audit record type (`user`, `customers`, …) in the reader's language.
    pub fn audit_entity<'a>(&self, code: &'a str) -> &'a str {
        self.label("audit.entity", code)
    }

    /// A login-log reason (`ok`, `wrong_password_locked`, …).
    pub fn login_reason<'a>(&self, code: &'a str) -> &'a str {
        self.label("login.reason", code)
    }
}

fn catalog() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static MAP: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    MAP.get_or_init(|| all_messages().map(|(k, en, zh)| (*k, (*en, *zh))).collect())
}

/// A built-in role's name and description in the reader's language, as long
/// as an administrator has not renamed it; otherwise what they typed.
pub fn role_text(t: Tr, builtin: Option<&str>, name: &str, description: &str) -> (String, String) {
    let Some(key) = builtin else {
        return (name.to_string(), description.to_string());
    };
    let Some(b) = crate::core::access::BUILTIN_ROLES
        .iter()
        .find(|b| b.key == key)
    else {
        return (name.to_string(), description.to_string());
    };
    let name_key = format!("role.{key}");
    let desc_key = format!("role.{key}.description");
    let n = if name == b.name && has_key(&name_key) {
        t.t(&name_key).to_string()
    } else {
        name.to_string()
    };
    let d = if description == b.description && has_key(&desc_key) {
        t.t(&desc_key).to_string()
    } else {
        description.to_string()
    };
    (n, d)
}

/// The codes that have a label in `group` (`audit.entity` → `user`, …),
/// sorted, for filter suggestions.
pub fn codes(group: &str) -> Vec<&'static str> {
    let prefix = format!("{group}.");
    let mut v: Vec<&'static str> = all_messages()
        .filter_map(|(k, _, _)| k.strip_prefix(prefix.as_str()))
        .filter(|code| !code.contains('.'))
        .collect();
    v.sort_unstable();
    v
}

pub fn has_key(key: &str) -> bool {
    catalog().contains_key(key)
}

/// Messages of the stores (English, with `{}` where a value goes) and their
/// Chinese form (`{0}`, `{1}` … for the values), so an error a form shows
/// reads in the user's language. Checked in order; the first match wins.
const PATTERNS: &[(&str, &str)] = &[
    ("is required", "必填"),
    ("a customer needs a name", "请填写客户名称"),
    ("at most {} characters", "最多 {0} 个字符"),
    ("`{}` is not an e-mail address", "“{0}”不是有效的邮箱地址"),
    ("`{}` is not a phone number", "“{0}”不是有效的电话号码"),
    (
        "`{}` is not a web address (http:// or https://)",
        "“{0}”不是有效的网址（以 http:// 或 https:// 开头）",
    ),
    ("`{}` is not a web address", "“{0}”不是有效的网址"),
    (
        "`{}` is not a date (YYYY-MM-DD)",
        "“{0}”不是有效的日期（YYYY-MM-DD）",
    ),
    ("`{}` is not a date and time", "“{0}”不是有效的日期时间"),
    ("`{}` is not a date-time{}", "“{0}”不是有效的日期时间"),
    ("`{}` is not a decimal number", "“{0}”不是有效的小数"),
    (
        "`{}` is not an amount (e.g. 1234.50)",
        "“{0}”不是有效的金额（例如 1234.50）",
    ),
    ("`{}` is not a whole number", "“{0}”不是整数"),
    (
        "`{}` is not a number with at most {} decimals",
        "“{0}”不是最多 {1} 位小数的数字",
    ),
    ("`{}` is not a number for `{}`", "“{0}”不是数字（字段 {1}）"),
    ("`{}` is not a number", "“{0}”不是数字"),
    ("`{}` is not one of: {}", "“{0}”不在可选值中：{1}"),
    ("`{}` is not {} for `{}`", "“{0}”不适用于字段 {2}"),
    ("`{}` needs {} value(s) for {}", "“{0}”需要 {1} 个值"),
    (
        "`{}` is already used by another record; this field must be unique",
        "“{0}”已被其他记录使用，此字段不能重复",
    ),
    (
        "`{}`: use field:op:value{}",
        "筛选条件“{0}”的格式应为 字段:条件:值",
    ),
    ("cannot sort by `{}`", "不能按“{0}”排序"),
    ("unknown field `{}`", "未知字段“{0}”"),
    ("must be a whole number{}", "必须是整数"),
    ("must be a number", "必须是数字"),
    ("must be text", "必须是文本"),
    ("must be true or false", "必须是“是”或“否”"),
    ("company or person", "请选择企业客户或个人客户"),
    ("at most 20 tags", "最多 20 个标签"),
    ("at most 20 labels", "最多 20 个标签"),
    (
        "{} customer(s) with the same name, phone or e-mail exist, owned by colleagues; ask an administrator, or confirm to create anyway",
        "同事名下有 {0} 个名称、电话或邮箱相同的客户；请联系管理员，或确认后仍然创建",
    ),
    (
        "similar customer(s) exist: {}; open one of them, or confirm to create anyway",
        "已有相似客户：{0}；请打开查看，或确认后仍然创建",
    ),
    (
        "similar {} record(s) exist: {}; open one of them, or confirm to go ahead anyway",
        "已有相似记录：{1}；请打开查看，或确认后继续",
    ),
    (
        "user {} is outside the people you may give {} to",
        "用户 {0} 不在您可以分配的范围内",
    ),
    (
        "{} {} does not exist or is not visible to you",
        "{0} {1} 不存在或您无权查看",
    ),
    (
        "contact {} is not a contact of customer {}",
        "联系人 {0} 不属于客户 {1}",
    ),
    ("say why the opportunity is {}", "请填写关闭商机的原因"),
    (
        "say why the customers go back to the pool",
        "请填写退回公海的原因",
    ),
    (
        "stage {} belongs to pipeline {}, not to {}",
        "阶段 {0} 属于销售流程 {1}，不属于 {2}",
    ),
    (
        "{} was changed by someone else since you read it; review the current version and try again",
        "{0} 在您打开后已被他人修改，请查看最新内容后重试",
    ),
    (
        "you may view {} but not {} it",
        "您可以查看 {0}，但无权执行此操作",
    ),
];

/// The values of `msg` when it has the shape of `pattern` (`{}` holes).
fn holes(pattern: &str, msg: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = pattern.split("{}").collect();
    let mut rest = msg.strip_prefix(parts[0])?;
    if parts.len() == 1 {
        return rest.is_empty().then(Vec::new);
    }
    let mut out = Vec::new();
    for (i, lit) in parts.iter().enumerate().skip(1) {
        let last = i == parts.len() - 1;
        let (value, after) = if last && lit.is_empty() {
            (rest, "")
        } else if last {
            let v = rest.strip_suffix(lit)?;
            (v, "")
        } else {
            let at = rest.find(lit)?;
            (&rest[..at], &rest[at + lit.len()..])
        };
        out.push(value.to_string());
        rest = after;
    }
    Some(out)
}

/// A store's message in the reader's language (English ones pass through).
pub fn localize(t: Tr, msg: &str) -> String {
    if t.lang == Lang::En {
        return msg.to_string();
    }
    for (en, zh) in PATTERNS {
        if let Some(values) = holes(en, msg) {
            let mut out = zh.to_string();
            for (i, v) in values.iter().enumerate() {
                out = out.replace(&format!("{{{i}}}"), v);
            }
            return out;
        }
    }
    msg.to_string()
}

/// Every module's message table; a module with many pages keeps its own
/// (key, English, 简体中文) slice and adds it here.
const CATALOGS: &[&[(&str, &str, &str)]] = &[
    MESSAGES,
    crate::crm::pages::MESSAGES,
    crate::crm::settings_web::i18n::MESSAGES,
    crate::io::i18n::MESSAGES,
];

fn all_messages() -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str)> {
    CATALOGS.iter().flat_map(|c| c.iter())
}

/// (key, English, 简体中文)
pub const MESSAGES: &[(&str, &str, &str)] = &[
    ("app.name", "Rapport CRM", "Rapport 客户管理"),
    ("nav.home", "Home", "首页"),
    ("nav.account", "My account", "我的账户"),
    ("nav.password", "Change password", "修改密码"),
    ("nav.tokens", "API tokens", "API 令牌"),
    ("nav.admin", "Administration", "系统管理"),
    ("nav.users", "Users", "用户"),
    ("nav.departments", "Departments", "部门"),
    ("nav.roles", "Roles", "角色"),
    ("nav.login_log", "Login log", "登录日志"),
    ("nav.audit", "Audit trail", "操作记录"),
    ("nav.logout", "Log out", "退出登录"),
    ("nav.logout_all", "Log out everywhere", "退出所有设备"),
    ("nav.language", "中文 / English", "English / 中文"),
    ("common.save", "Save", "保存"),
    ("common.create", "Create", "新建"),
    ("common.delete", "Delete", "删除"),
    ("common.edit", "Edit", "编辑"),
    ("common.cancel", "Cancel", "取消"),
    ("common.back", "Back", "返回"),
    ("common.filter", "Filter", "筛选"),
    ("common.older", "Older entries", "更早的记录"),
    ("common.none", "None", "无"),
    ("common.name", "Name", "名称"),
    ("common.email", "E-mail", "邮箱"),
    ("common.password", "Password", "密码"),
    ("common.status", "Status", "状态"),
    ("common.active", "Active", "启用"),
    ("common.disabled", "Disabled", "已停用"),
    ("common.enable", "Enable", "启用"),
    ("common.disable", "Disable", "停用"),
    ("common.actions", "Actions", "操作"),
    ("common.time", "Time", "时间"),
    ("common.user", "User", "用户"),
    ("common.never", "Never", "从不"),
    ("common.saved", "Saved.", "已保存。"),
    (
        "common.confirm_delete",
        "Delete this? It cannot be undone.",
        "确定删除？此操作无法撤销。",
    ),
    (
        "common.stale",
        "Someone else changed this record while you were editing. The form now shows their version; make your change again.",
        "您编辑期间，其他同事修改了这条记录。表单已显示对方保存的版本，请重新修改。",
    ),
    ("common.language", "Language", "语言"),
    ("common.time_zone", "Time zone", "时区"),
    ("common.department", "Department", "部门"),
    ("common.supervisor", "Supervisor", "直属上级"),
    ("common.roles", "Roles", "角色"),
    ("common.from", "From", "开始"),
    ("common.to", "To", "结束"),
    ("common.ip", "IP address", "IP 地址"),
    ("lang.zh", "简体中文", "简体中文"),
    ("lang.en", "English", "English"),
    ("login.title", "Log in", "登录"),
    ("login.submit", "Log in", "登录"),
    (
        "login.invalid",
        "Wrong e-mail or password.",
        "邮箱或密码错误。",
    ),
    (
        "login.locked",
        "Too many wrong passwords. The account is locked for a while; try again later.",
        "密码错误次数过多，账户已暂时锁定，请稍后再试。",
    ),
    (
        "login.disabled",
        "This account is disabled. Ask an administrator.",
        "该账户已停用，请联系管理员。",
    ),
    (
        "login.throttled",
        "Too many failed logins from your address. Wait a few minutes.",
        "您的地址登录失败次数过多，请几分钟后再试。",
    ),
    (
        "login.no_admin",
        "No administrator exists yet. Open the setup link from the server log, or run `rapport init` on the server.",
        "尚未创建管理员。请打开服务器日志中的初始化链接，或在服务器上运行 `rapport init`。",
    ),
    (
        "login.ended",
        "Your session has ended. Please log in again.",
        "会话已结束，请重新登录。",
    ),
    ("setup.title", "Set up Rapport", "初始化 Rapport"),
    (
        "setup.intro",
        "Create the company profile and the first administrator. This page works once.",
        "创建公司资料和第一个管理员账户。此页面只能使用一次。",
    ),
    ("setup.company", "Company name", "公司名称"),
    ("setup.admin_email", "Administrator e-mail", "管理员邮箱"),
    ("setup.admin_name", "Administrator name", "管理员姓名"),
    (
        "setup.password_confirm",
        "Repeat the password",
        "再次输入密码",
    ),
    (
        "setup.mismatch",
        "The two passwords differ.",
        "两次输入的密码不一致。",
    ),
    ("setup.submit", "Create administrator", "创建管理员"),
    (
        "setup.done",
        "Setup is complete. Log in with the administrator account.",
        "初始化已完成，请使用管理员账户登录。",
    ),
    (
        "setup.bad_token",
        "This setup link is not valid. Use the link from the newest server log.",
        "初始化链接无效，请使用服务器日志中最新的链接。",
    ),
    (
        "password.policy",
        "At least 10 characters; not a common password; not your name or e-mail.",
        "至少 10 个字符；不能是常见密码；不能包含姓名或邮箱。",
    ),
    ("home.title", "Welcome", "欢迎"),
    ("home.hello", "Hello", "您好"),
    ("home.company", "Company", "公司"),
    ("home.your_roles", "Your roles", "您的角色"),
    ("home.admin_steps", "Getting started", "开始使用"),
    (
        "home.step_departments",
        "Create the department tree",
        "建立部门结构",
    ),
    (
        "home.step_users",
        "Add your colleagues and give them roles",
        "添加同事并分配角色",
    ),
    (
        "home.step_roles",
        "Review what each role may do and see",
        "检查各角色的权限和数据范围",
    ),
    (
        "home.step_audit",
        "Every change is in the audit trail",
        "所有变更都记录在操作记录中",
    ),
    ("home.counts_users", "Users", "用户数"),
    ("home.counts_departments", "Departments", "部门数"),
    ("account.current_password", "Current password", "当前密码"),
    ("account.new_password", "New password", "新密码"),
    (
        "account.password_changed",
        "Password changed. Your other sessions have ended.",
        "密码已修改，其他设备上的登录已退出。",
    ),
    (
        "account.wrong_current",
        "The current password is wrong.",
        "当前密码错误。",
    ),
    (
        "tokens.intro",
        "Personal tokens let scripts and other systems use the API with your rights (or fewer). Send them as Authorization: Bearer.",
        "个人令牌让脚本和其他系统以您的权限（或更少）调用 API，请以 Authorization: Bearer 方式发送。",
    ),
    ("tokens.name", "Token name", "令牌名称"),
    ("tokens.read_only", "Read-only", "只读"),
    ("tokens.full", "Full", "完整"),
    (
        "tokens.expires_days",
        "Expires after (days, empty = never)",
        "有效期（天，留空为永久）",
    ),
    (
        "tokens.created",
        "Copy the token now. It is shown only once:",
        "请立即复制令牌，它只显示这一次：",
    ),
    ("tokens.prefix", "Starts with", "前缀"),
    ("tokens.expires", "Expires", "到期"),
    ("tokens.last_used", "Last used", "最近使用"),
    ("tokens.revoke", "Revoke", "吊销"),
    ("tokens.revoked", "Revoked", "已吊销"),
    ("tokens.access", "Access", "权限"),
    ("users.new", "New user", "新建用户"),
    ("users.initial_password", "Initial password", "初始密码"),
    ("users.last_login", "Last login", "最近登录"),
    ("users.edit", "Edit user", "编辑用户"),
    ("users.profile", "Profile", "基本资料"),
    ("users.reset_password", "Reset password", "重置密码"),
    (
        "users.reset_note",
        "Ends all of the user's sessions and revokes their API tokens.",
        "将退出该用户的所有登录并吊销其全部 API 令牌。",
    ),
    (
        "users.disable_note",
        "Disabling ends the user's sessions and revokes their tokens at once.",
        "停用后立即退出该用户的所有登录并吊销其令牌。",
    ),
    ("users.created", "User created.", "用户已创建。"),
    ("departments.new", "New department", "新建部门"),
    ("departments.parent", "Parent department", "上级部门"),
    ("departments.top", "(top level)", "（顶级）"),
    ("departments.order", "Order", "排序"),
    ("departments.members", "Members", "成员"),
    ("departments.edit", "Edit department", "编辑部门"),
    ("roles.new", "New role", "新建角色"),
    ("roles.edit", "Edit role", "编辑角色"),
    ("roles.description", "Description", "说明"),
    ("roles.scope", "Data scope", "数据权限"),
    ("roles.builtin", "Built-in", "内置"),
    ("roles.permissions", "Permissions", "功能权限"),
    ("roles.module", "Module", "模块"),
    ("role.administrator", "Administrator", "系统管理员"),
    ("role.sales_manager", "Sales manager", "销售经理"),
    ("role.salesperson", "Salesperson", "销售员"),
    ("role.service_agent", "Service agent", "客服专员"),
    ("role.read_only", "Read-only", "只读用户"),
    (
        "role.administrator.description",
        "Everything, including users, roles, departments and the audit log",
        "全部功能，包括用户、角色、部门和操作记录",
    ),
    (
        "role.sales_manager.description",
        "All sales work for their department and the departments below it",
        "本部门及下属部门的全部销售工作",
    ),
    (
        "role.salesperson.description",
        "Own customers, leads and opportunities; claims from the pool",
        "自己的客户、线索和商机；可从公海领取",
    ),
    (
        "role.service_agent.description",
        "Sees the department's customers and contacts; records follow-ups and tasks",
        "查看本部门的客户和联系人；记录跟进和任务",
    ),
    (
        "role.read_only.description",
        "Views every sales record; changes nothing",
        "查看全部销售数据，不能修改",
    ),
    ("scope.self", "Own records", "本人"),
    (
        "scope.self_and_subordinates",
        "Own and subordinates'",
        "本人及下属",
    ),
    ("scope.department", "Department", "本部门"),
    (
        "scope.department_and_children",
        "Department and sub-departments",
        "本部门及下属部门",
    ),
    ("scope.all", "All", "全部"),
    ("module.customers", "Customers", "客户"),
    ("module.contacts", "Contacts", "联系人"),
    ("module.leads", "Leads", "线索"),
    ("module.opportunities", "Opportunities", "商机"),
    ("module.products", "Products", "产品"),
    ("module.followups", "Follow-ups", "跟进记录"),
    ("module.tasks", "Tasks", "任务"),
    ("module.pool", "Customer pool", "公海"),
    ("module.reports", "Reports", "报表"),
    ("module.admin", "Administration", "系统管理"),
    ("action.view", "View", "查看"),
    ("action.create", "Create", "新建"),
    ("action.edit", "Edit", "编辑"),
    ("action.delete", "Delete", "删除"),
    ("action.export", "Export", "导出"),
    ("action.import", "Import", "导入"),
    ("action.transfer", "Transfer", "转移"),
    ("action.claim", "Claim", "领取"),
    ("action.manage", "Manage", "管理"),
    ("log.success", "Result", "结果"),
    ("log.ok", "Success", "成功"),
    ("log.failed", "Failed", "失败"),
    ("log.reason", "Reason", "原因"),
    ("audit.action", "Action", "动作"),
    ("audit.entity", "Record type", "记录类型"),
    ("audit.record", "Record", "记录"),
    ("audit.changes", "Changes", "变更内容"),
    ("audit.request", "Request", "请求"),
    ("audit.by_cli", "command line", "命令行"),
    ("audit.action.create", "Created", "新建"),
    ("audit.action.import", "Imported", "导入"),
    ("audit.action.import_undo", "Import undone", "撤销导入"),
    (
        "audit.action.import_rollback",
        "Import rolled back",
        "导入回滚",
    ),
    ("audit.action.export", "Exported", "导出"),
    ("audit.action.merge", "Merged", "合并"),
    ("audit.action.merge_undo", "Merge undone", "撤销合并"),
    ("audit.action.update", "Changed", "修改"),
    ("audit.action.delete", "Deleted", "删除"),
    ("audit.action.convert", "Converted", "转化"),
    ("audit.action.share", "Shared", "共享"),
    ("audit.action.unshare", "Stopped sharing", "取消共享"),
    ("audit.action.revoke", "Revoked", "吊销"),
    ("audit.action.enable", "Enabled", "启用"),
    ("audit.action.disable", "Disabled", "停用"),
    ("audit.action.password", "Password changed", "修改密码"),
    ("audit.action.setup", "First-run setup", "系统初始化"),
    ("audit.action.transfer", "Transferred", "转移"),
    ("audit.action.pool_put", "Put into the pool", "放入公海"),
    (
        "audit.action.pool_return",
        "Returned to the pool",
        "自动退回公海",
    ),
    (
        "audit.action.pool_claim",
        "Claimed from the pool",
        "从公海领取",
    ),
    (
        "audit.action.pool_assign",
        "Assigned from the pool",
        "公海分配",
    ),
    (
        "audit.action.pool_move",
        "Moved to another pool",
        "转移公海",
    ),
    (
        "audit.action.pool_transfer",
        "Transferred into the pool",
        "转移至公海",
    ),
    ("audit.entity.user", "User", "用户"),
    ("audit.entity.department", "Department", "部门"),
    ("audit.entity.role", "Role", "角色"),
    ("audit.entity.api_token", "API token", "API 令牌"),
    ("audit.entity.company", "Company", "公司"),
    ("audit.entity.settings", "Settings", "系统设置"),
    ("audit.entity.custom_field", "Custom field", "自定义字段"),
    ("audit.entity.custom_fields", "Custom fields", "自定义字段"),
    ("audit.entity.customers", "Customer", "客户"),
    ("audit.entity.contacts", "Contact", "联系人"),
    ("audit.entity.leads", "Lead", "线索"),
    ("audit.entity.opportunities", "Opportunity", "商机"),
    ("audit.entity.products", "Product", "产品"),
    ("audit.entity.followups", "Follow-up", "跟进记录"),
    ("audit.entity.tasks", "Task", "任务"),
    ("audit.entity.attachments", "Attachment", "附件"),
    ("audit.entity.pipelines", "Pipeline", "销售流程"),
    (
        "audit.entity.product_categories",
        "Product category",
        "产品分类",
    ),
    ("audit.entity.pools", "Customer pool", "公海"),
    ("audit.code", "Code", "代码"),
    ("login.reason.ok", "Logged in", "登录成功"),
    ("login.reason.wrong_password", "Wrong password", "密码错误"),
    (
        "login.reason.wrong_password_locked",
        "Wrong password; account locked",
        "密码错误，账户已锁定",
    ),
    ("login.reason.locked", "Account locked", "账户已锁定"),
    ("login.reason.disabled", "Account disabled", "账户已停用"),
    ("login.reason.unknown_user", "Unknown e-mail", "邮箱未注册"),
    (
        "login.reason.throttled",
        "Too many failures from this address",
        "该地址失败次数过多",
    ),
    (
        "account.preferences",
        "Language and time zone",
        "语言和时区",
    ),
    (
        "account.profile_saved",
        "Your settings are saved.",
        "您的设置已保存。",
    ),
    (
        "account.language_default",
        "As the browser asks",
        "跟随浏览器",
    ),
    ("account.time_zone_default", "Company default", "公司默认"),
    (
        "account.time_zone_hint",
        "An IANA name such as Asia/Shanghai or Europe/London, or an offset such as UTC+08:00. It decides what \"today\" means in lists.",
        "IANA 时区名称（如 Asia/Shanghai、Europe/London）或偏移量（如 UTC+08:00），决定列表中“今天”的范围。",
    ),
    ("error.title", "Something went wrong", "出错了"),
    (
        "error.not_found",
        "This page or record does not exist, or you may not see it.",
        "页面或记录不存在，或您无权查看。",
    ),
    (
        "error.forbidden",
        "You do not have permission for this.",
        "您没有执行此操作的权限。",
    ),
    (
        "error.internal",
        "An internal error occurred. Give the administrator this request id:",
        "发生内部错误。请将以下请求编号告知管理员：",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_negotiation() {
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Some(Lang::Zh)
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR, en;q=0.5"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("de"), None);
    }

    #[test]
    fn store_messages_read_in_chinese() {
        let zh = Tr::new(Lang::Zh);
        assert_eq!(localize(zh, "is required"), "必填");
        assert_eq!(localize(zh, "at most 200 characters"), "最多 200 个字符");
        assert_eq!(
            localize(zh, "`abc` is not a phone number"),
            "“abc”不是有效的电话号码"
        );
        assert_eq!(
            localize(zh, "`2026-13-45T99:99` is not a date and time"),
            "“2026-13-45T99:99”不是有效的日期时间"
        );
        assert_eq!(
            localize(zh, "stage 7 belongs to pipeline 2, not to 1"),
            "阶段 7 属于销售流程 2，不属于 1"
        );
        assert_eq!(localize(zh, "something new"), "something new");
        assert_eq!(localize(Tr::new(Lang::En), "is required"), "is required");
        assert_eq!(localize(zh, "is required!"), "is required!");
    }

    #[test]
    fn keys_are_unique_and_translated() {
        let mut seen = std::collections::HashSet::new();
        for (k, en, zh) in all_messages() {
            assert!(seen.insert(k), "duplicate key {k}");
            assert!(!en.is_empty() && !zh.is_empty(), "{k}");
        }
    }

    /// The string arguments of every call of `call` in the source (up to its
    /// closing `)?;`).
    fn literal_args(call: &str) -> Vec<(String, usize, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        let mut stack = vec![root.join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for (i, _) in text.match_indices(call) {
                    let before = &text[..i];
                    if before.ends_with("fn ") || before.ends_with(|c: char| c.is_alphanumeric()) {
                        continue;
                    }
                    let rest = &text[i + call.len()..];
                    let args = &rest[..rest.find(")?;").unwrap_or(0)];
                    for (n, arg) in args.split(',').enumerate() {
                        // Every literal of the argument (`if lock { "a" } else { "b" }`).
                        for (k, lit) in arg.split('"').enumerate() {
                            let code = k % 2 == 1
                                && !lit.is_empty()
                                && lit.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                            if code {
                                out.push((path.display().to_string(), n, lit.to_string()));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_audit_and_login_code_has_a_label() {
        let mut missing = Vec::new();
        let mut calls = literal_args("audit::record(");
        assert!(calls.len() > 10, "the scan found the audit calls");
        // Codes passed through variables.
        for e in crate::crm::RECORD_SPECS.iter().map(|s| s.name) {
            calls.push(("RECORD_SPECS".into(), 3, e.to_string()));
        }
        for e in crate::core::fields::ENTITIES {
            calls.push(("fields::ENTITIES".into(), 3, e.to_string()));
        }
        calls.push((
            "crm::customers".into(),
            3,
            crate::crm::customers::store::ENTITY.into(),
        ));
        for a in ["enable", "disable"] {
            calls.push(("users::set_active".into(), 2, a.into()));
        }
        for (file, n, code) in &calls {
            let group = match n {
                2 => "audit.action",
                3 => "audit.entity",
                _ => continue,
            };
            if !has_key(&format!("{group}.{code}")) {
                missing.push(format!("{file}: {group}.{code}"));
            }
        }
        let reasons: Vec<_> = literal_args("log(")
            .into_iter()
            .filter(|(file, _, _)| file.ends_with("auth/login.rs"))
            .collect();
        assert!(reasons.len() >= 6, "the scan found the login log calls");
        for (file, _, code) in reasons {
            if !has_key(&format!("login.reason.{code}")) {
                missing.push(format!("{file}: login.reason.{code}"));
            }
        }
        assert!(missing.is_empty(), "codes without a label: {missing:#?}");
    }

    #[test]
    fn labels_fall_back_to_the_code() {
        let zh = Tr::new(Lang::Zh);
        let en = Tr::new(Lang::En);
        assert_eq!(zh.audit_action("update"), "修改");
        assert_eq!(en.audit_entity("api_token"), "API token");
        assert_eq!(
            zh.login_reason("wrong_password_locked"),
            "密码错误，账户已锁定"
        );
        assert_eq!(zh.audit_action("teleport"), "teleport");
        assert_eq!(en.login_reason(""), "");
    }

    #[test]
    fn every_key_used_in_templates_and_code_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut missing = Vec::new();
        let mut stack = vec![root.join("templates"), root.join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for (i, _) in text.match_indices(".t(\"") {
                    let rest = &text[i + 4..];
                    let key = &rest[..rest.find('"').unwrap_or(0)];
                    let is_key = key.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'
                    });
                    if is_key && key.contains('.') && !has_key(key) {
                        missing.push(format!("{}: {key}", path.display()));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "missing translations: {missing:#?}");
    }
}
