//! Text handling shared by search and duplicate checks: full-width to
//! half-width, normalised names, phones and e-mails, and the two search
//! columns (`search_text` for trigram substring search, `search_cjk` with one
//! token per Chinese character for one- and two-character queries).

/// Is `c` a CJK ideograph, kana or hangul syllable?
pub fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F
        | 0x3040..=0x30FF | 0xAC00..=0xD7AF)
}

/// Full-width ASCII forms and the ideographic space become their half-width
/// counterparts (`ＡＢＣ１２３` → `ABC123`).
pub fn half_width(s: &str) -> String {
    s.chars()
        .map(|c| match u32::from(c) {
            0xFF01..=0xFF5E => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            0x3000 => ' ',
            _ => c,
        })
        .collect()
}

/// Company-form suffixes that do not distinguish two customers, longest first.
const COMPANY_SUFFIXES: &[&str] = &[
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "分公司",
    "公司",
    "corporation",
    "co.,ltd.",
    "co.,ltd",
    "co.ltd",
    "co. ltd",
    "limited",
    "company",
    "gmbh",
    "corp.",
    "corp",
    "inc.",
    "inc",
    "llc",
    "ltd.",
    "ltd",
    "co.",
    "co",
];

/// The name as duplicates are compared: half-width, lower case, without
/// spaces, punctuation or a company-form suffix ("深圳星河科技有限公司" and
/// "深圳星河科技" compare equal, as do "Acme Co., Ltd." and "ACME").
pub fn normalize_name(name: &str) -> String {
    let mut s: String = half_width(name).to_lowercase().trim().to_string();
    // Strip suffixes repeatedly ("Acme Trading Co., Ltd." → "acme trading").
    loop {
        let compact = s.trim_end_matches(|c: char| c.is_whitespace() || ",.;()（）".contains(c));
        let before = compact.len();
        let mut next = compact.to_string();
        for suffix in COMPANY_SUFFIXES {
            if let Some(stripped) = compact.strip_suffix(suffix)
                && !stripped.trim().is_empty()
            {
                next = stripped.to_string();
                break;
            }
        }
        if next.len() == before {
            s = next;
            break;
        }
        s = next;
    }
    // "深圳市星河科技" and "深圳星河科技" are one company: the 市/省 of a
    // place name is left out on both sides of the comparison.
    s.chars()
        .filter(|c| c.is_alphanumeric() && !matches!(c, '市' | '省'))
        .collect()
}

/// Digits of a phone number without a Chinese country prefix (`+86 138-0013-8000`
/// → `13800138000`); empty when there are fewer than 5 digits.
pub fn normalize_phone(phone: &str) -> String {
    let digits: String = half_width(phone)
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let d = if let Some(rest) = digits.strip_prefix("0086") {
        rest.to_string()
    } else if digits.len() > 11 && digits.starts_with("86") {
        digits[2..].to_string()
    } else {
        digits
    };
    if d.len() < 5 { String::new() } else { d }
}

pub fn normalize_email(email: &str) -> String {
    half_width(email).trim().to_lowercase()
}

/// The trigram search column: the searchable fields, half-width and lower
/// case, separated so a match cannot span two fields; phones also as bare digits.
pub fn search_text(fields: &[&str], phones: &[&str]) -> String {
    let mut parts: Vec<String> = fields
        .iter()
        .map(|f| half_width(f).to_lowercase())
        .filter(|f| !f.trim().is_empty())
        .collect();
    for p in phones {
        let digits: String = half_width(p)
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect();
        if !digits.is_empty() {
            parts.push(digits);
        }
    }
    parts.join(" \u{1f} ")
}

/// The per-character column: each CJK character as its own token; runs that
/// are not adjacent (or in different fields) are kept apart by a `z` token so
/// a phrase query only matches contiguous text.
pub fn search_cjk(fields: &[&str]) -> String {
    let mut out = String::new();
    for f in fields {
        let mut in_run = false;
        for c in f.chars() {
            if is_cjk(c) {
                if !out.is_empty() && !in_run {
                    out.push_str(" z");
                }
                out.push(' ');
                out.push(c);
                in_run = true;
            } else {
                in_run = false;
            }
        }
    }
    out.trim_start().to_string()
}

/// How a search query is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchPlan {
    /// 3+ characters: trigram index, substring semantics.
    Trigram(String),
    /// 1–2 CJK characters: phrase over per-character tokens (`"张 伟"`).
    CjkPhrase(String),
    /// 1–2 other characters: a bounded substring scan.
    Short(String),
    Empty,
}

pub fn plan(query: &str) -> SearchPlan {
    let q = half_width(query).to_lowercase();
    let q = q.trim();
    if q.is_empty() {
        return SearchPlan::Empty;
    }
    // A phone number typed as it is written (0755-8888 6666, +86 137 1111
    // 2222) is searched as the bare digits the search column holds.
    let phone_like = q.chars().any(|c| c.is_ascii_digit())
        && q.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        && q.chars().any(|c| !c.is_ascii_digit());
    let digits;
    let q = if phone_like {
        digits = {
            let d: String = q.chars().filter(char::is_ascii_digit).collect();
            match d.strip_prefix("0086") {
                Some(rest) => rest.to_string(),
                None if q.starts_with('+') && d.starts_with("86") && d.len() > 11 => {
                    d[2..].to_string()
                }
                None => d,
            }
        };
        digits.as_str()
    } else {
        q
    };
    let n = q.chars().count();
    if n >= 3 {
        SearchPlan::Trigram(q.to_string())
    } else if q.chars().all(is_cjk) {
        SearchPlan::CjkPhrase(q.chars().map(String::from).collect::<Vec<_>>().join(" "))
    } else {
        SearchPlan::Short(q.to_string())
    }
}

/// Escape `%`, `_` and `\` for a LIKE pattern used with `ESCAPE '\'`.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An FTS5 string literal: the text in double quotes, inner quotes doubled.
pub fn fts5_phrase(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_company_forms_and_width() {
        assert_eq!(
            normalize_name("深圳市星河科技有限公司"),
            normalize_name("深圳市星河科技")
        );
        assert_eq!(normalize_name("Acme Co., Ltd."), "acme");
        assert_eq!(normalize_name("ＡＣＭＥ  Trading Ltd"), "acmetrading");
        assert_eq!(normalize_name("星河科技股份有限公司"), "星河科技");
        assert_eq!(normalize_name("公司"), "公司", "a bare suffix stays");
        assert_ne!(normalize_name("星河科技"), normalize_name("星海科技"));
        assert_eq!(
            normalize_name("深圳星辰科技"),
            normalize_name("深圳市星辰科技有限公司")
        );
    }

    #[test]
    fn phone_queries_search_their_digits() {
        assert_eq!(plan("0755-8888"), SearchPlan::Trigram("07558888".into()));
        assert_eq!(
            plan("+86 137 1111 2222"),
            SearchPlan::Trigram("13711112222".into())
        );
        assert_eq!(
            plan("137-1111-2222"),
            SearchPlan::Trigram("13711112222".into())
        );
        assert_eq!(plan("8888"), SearchPlan::Trigram("8888".into()));
        assert_eq!(plan("smith"), SearchPlan::Trigram("smith".into()));
    }

    #[test]
    fn phones_drop_formatting_and_country_code() {
        assert_eq!(normalize_phone("+86 138-0013-8000"), "13800138000");
        assert_eq!(normalize_phone("0086 13800138000"), "13800138000");
        assert_eq!(normalize_phone("(0755) 8888 6666"), "075588886666");
        assert_eq!(normalize_phone("１３８００１３８０００"), "13800138000");
        assert_eq!(normalize_phone("123"), "");
    }

    #[test]
    fn search_columns() {
        let t = search_text(
            &["深圳市星河科技有限公司", "Goldsmith"],
            &["+86 138-0013-8000"],
        );
        assert!(t.contains("goldsmith") && t.contains("8613800138000"));
        let c = search_cjk(&["张伟明 Ltd 北京", "王芳"]);
        assert_eq!(c, "张 伟 明 z 北 京 z 王 芳");
        assert_eq!(plan(" 张伟 "), SearchPlan::CjkPhrase("张 伟".into()));
        assert_eq!(plan("科技"), SearchPlan::CjkPhrase("科 技".into()));
        assert_eq!(plan("Smith"), SearchPlan::Trigram("smith".into()));
        assert_eq!(plan("ab"), SearchPlan::Short("ab".into()));
        assert_eq!(plan("  "), SearchPlan::Empty);
        assert_eq!(like_escape("50%_a\\"), "50\\%\\_a\\\\");
        assert_eq!(fts5_phrase("a\"b"), "\"a\"\"b\"");
    }
}
