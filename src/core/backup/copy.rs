//! PostgreSQL restore: archive lines loaded with `COPY … FROM STDIN`.
//!
//! An archive line is a JSON array of a row's values in canonical form
//! ([`super::format::write_value`]); each is turned into a line of COPY's
//! text format straight from the JSON tokens, without building values.
//! Compared with `INSERT … SELECT FROM json_array_elements(…)`, the server
//! no longer parses the JSON once per column it extracts.

use std::cell::RefCell;
use std::fmt;
use std::io::Write;

use diesel::pg::{CopyFormat, CopyTarget, Pg};
use diesel::query_builder::AstPass;
use diesel::{ExecuteCopyFromDsl, PgConnection, QueryResult};
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};

use super::BackupError;
use super::catalog::{ColType, Table, ident};

thread_local! {
    /// `"table" ("column", …)` of the COPY [`ArchiveTable`] is about to
    /// name: diesel builds `COPY` targets only from `table!` types, and a
    /// restore's tables come from the archive.
    static TARGET: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The COPY target set in [`TARGET`]. `Table` only satisfies diesel's
/// builder; the SQL comes from [`CopyTarget::walk_target`].
struct ArchiveTable;

impl CopyTarget for ArchiveTable {
    type Table = crate::core::db::schema::settings::table;
    type SqlType = diesel::sql_types::Text;

    fn walk_target(mut pass: AstPass<'_, '_, Pg>) -> QueryResult<()> {
        TARGET.with(|t| pass.push_sql(&t.borrow()));
        Ok(())
    }
}

/// How the target stores each archive column: only `bytea` needs its own
/// spelling in COPY's text format.
pub struct CopyPlan {
    target: String,
    bytes: Vec<bool>,
}

impl CopyPlan {
    /// `archived` is the archive's table, `target` the same table in the
    /// database being built (its columns are known to exist).
    pub fn new(archived: &Table, target: &Table) -> CopyPlan {
        let cols: Vec<String> = archived.columns.iter().map(|c| ident(&c.name)).collect();
        let bytes = archived
            .columns
            .iter()
            .map(|c| {
                target
                    .column(&c.name)
                    .is_some_and(|t| t.ty == ColType::Bytes)
            })
            .collect();
        CopyPlan {
            target: format!("{} ({})", ident(&archived.name), cols.join(", ")),
            bytes,
        }
    }

    /// Load `lines` (archive lines, one row each) into the table.
    pub fn load(
        &self,
        conn: &mut PgConnection,
        table: &str,
        lines: &[u8],
    ) -> Result<(), BackupError> {
        let mut data = Vec::with_capacity(lines.len() + lines.len() / 8);
        for (n, line) in lines
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            self.line(line, &mut data).map_err(|e| {
                BackupError::Corrupt(format!("table {table}: row {} of a chunk: {e}", n + 1))
            })?;
        }
        if data.is_empty() {
            return Ok(());
        }
        TARGET.with(|t| t.replace(self.target.clone()));
        diesel::copy_from(crate::core::db::schema::settings::table)
            .from_raw_data(ArchiveTable, |out: &mut dyn Write| {
                out.write_all(&data)
                    .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
            })
            .with_format(CopyFormat::Text)
            // Rows written frozen: the restore's tables are created in the
            // same transaction (a fresh schema), which FREEZE requires, and
            // the read-back then does not rewrite every page to set hint bits.
            .with_freeze(true)
            .execute(conn)
            .map_err(|e| BackupError::Database(format!("restoring table {table}: {e}")))?;
        Ok(())
    }

    /// One archive line as one COPY line (newline included).
    fn line(&self, line: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let mut de = serde_json::Deserializer::from_slice(line);
        let n = de
            .deserialize_seq(Row { plan: self, out })
            .map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        if n != self.bytes.len() {
            return Err(format!("{n} values for {} columns", self.bytes.len()));
        }
        out.push(b'\n');
        Ok(())
    }
}

struct Row<'a> {
    plan: &'a CopyPlan,
    out: &'a mut Vec<u8>,
}

impl<'de> Visitor<'de> for Row<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of a row's values")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        loop {
            if n > 0 && n < self.plan.bytes.len() {
                self.out.push(b'\t');
            }
            let bytes = self.plan.bytes.get(n).copied().unwrap_or(false);
            let value = Field {
                bytes,
                out: &mut *self.out,
            };
            if seq.next_element_seed(value)?.is_none() {
                return Ok(n);
            }
            n += 1;
        }
    }
}

/// One value, written in COPY's text format.
struct Field<'a> {
    bytes: bool,
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Field<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Field<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a null, boolean, number or string")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"\\N");
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // The shortest text that reads back as the same double, as the
        // archive wrote it.
        let _ = serde_json::to_writer(&mut *self.out, &v);
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.bytes {
            // bytea's hex input, its backslash escaped for COPY.
            self.out.extend_from_slice(b"\\\\x");
            self.out.extend_from_slice(v.as_bytes());
            return Ok(());
        }
        for b in v.bytes() {
            match b {
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                b'\r' => self.out.extend_from_slice(b"\\r"),
                b'\t' => self.out.extend_from_slice(b"\\t"),
                _ => self.out.push(b),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::backup::format::tests::table;

    #[test]
    fn archive_lines_become_copy_text() {
        use ColType::*;
        let t = table(&[Int, Text, Bool, Real, Bytes, Timestamp, Text, Real]);
        let plan = CopyPlan::new(&t, &t);
        let mut out = Vec::new();
        plan.line(
            r#"[-7,"a\tb\\c\nd\r 深圳\"",true,1.5,"00ff","2026-01-02 03:04:05.123456",null,"NaN"]"#
                .as_bytes(),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-7\ta\\tb\\\\c\\nd\\r 深圳\"\ttrue\t1.5\t\\\\x00ff\t2026-01-02 03:04:05.123456\t\\N\tNaN\n"
        );
        let mut out = Vec::new();
        assert!(plan.line(br#"[1,"x"]"#, &mut out).is_err());
        assert!(
            plan.line(br#"[1,"x",true,1,"","",null,1,9]"#, &mut out)
                .is_err()
        );
        assert!(plan.line(br#"{"a":1}"#, &mut out).is_err());
    }
}
