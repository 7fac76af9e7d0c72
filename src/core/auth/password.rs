//! Argon2id password hashes and the password policy.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 10;
/// Longest password accepted (hashing cost stays bounded).
pub const MAX_LENGTH: usize = 256;

/// Passwords that are tried first by anyone guessing; bundled so the check
/// works offline. Compared case-insensitively, also with trailing digits and
/// punctuation removed.
const COMMON: &str = include_str!("common-passwords.txt");

/// Hash with Argon2id and a fresh random salt (PHC string format).
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("password hashing failed: {e}"))
}

/// Does `password` match the stored PHC `hash`? A malformed hash never matches.
pub fn verify(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash of a random password: verifying against it costs the same as a
/// real check, so unknown e-mail addresses take as long as wrong passwords.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&crate::core::tls::random_hex(16)).unwrap_or_default())
}

/// Check the policy; `personal` are strings the password must not contain
/// (e-mail local part, name).
pub fn check_policy(password: &str, personal: &[&str]) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!("must be at least {MIN_LENGTH} characters long"));
    }
    if chars > MAX_LENGTH {
        return Err(format!("must be at most {MAX_LENGTH} characters long"));
    }
    let lower = password.to_lowercase();
    let first = lower.chars().next().unwrap_or(' ');
    if lower.chars().all(|c| c == first) {
        return Err("must not repeat a single character".into());
    }
    if is_sequence(&lower) {
        return Err("must not be a simple sequence such as 1234567890 or abcdefghij".into());
    }
    let stripped = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    if COMMON
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|c| c == lower || c == stripped)
    {
        return Err("is one of the most common passwords; choose another".into());
    }
    for p in personal {
        // For an e-mail address, its local part.
        let p = p.split('@').next().unwrap_or("").trim().to_lowercase();
        if p.chars().count() >= 4 && lower.contains(&p) {
            return Err("must not contain your name or e-mail address".into());
        }
    }
    Ok(())
}

fn is_sequence(s: &str) -> bool {
    let b: Vec<u32> = s.chars().map(u32::from).collect();
    b.windows(2).all(|w| w[1] == w[0] + 1) || b.windows(2).all(|w| w[0] == w[1] + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterz", &h));
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn policy() {
        assert!(check_policy("short", &[]).is_err());
        assert!(check_policy("aaaaaaaaaaaa", &[]).is_err());
        assert!(check_policy("1234567890", &[]).is_err());
        assert!(check_policy("password123", &[]).is_err());
        assert!(check_policy("Password2024!", &[]).is_err());
        assert!(check_policy("qwertyuiop", &[]).is_err());
        assert!(check_policy("zhangwei-secret-9", &["zhangwei@corp.cn"]).is_err());
        assert!(check_policy("蓝色的海洋和远山2026", &[]).is_ok());
        assert!(check_policy("tiger-lantern-93", &["zhangwei@corp.cn"]).is_ok());
    }
}
