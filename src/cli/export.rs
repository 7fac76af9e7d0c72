//! `rapport export ENTITY --format csv|xlsx [--out FILE] [--filter field:op:value …] [--lang zh|en]`:
//! every record (administrators on the command line), streamed.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::config::Loaded;
use crate::core::i18n::Lang;
use crate::io::export::{self, CsvSink, Format, Formatter, Sink, XlsxSink};

use super::Failure;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// customers, contacts, leads, products, opportunities or followups.
    entity: String,
    #[arg(long, default_value = "csv")]
    format: String,
    /// Output file (default: standard output for CSV; required for .xlsx).
    #[arg(long)]
    out: Option<PathBuf>,
    /// `field:op:value`, as in the list API (repeatable).
    #[arg(long)]
    filter: Vec<String>,
    /// Column headers in zh or en.
    #[arg(long, default_value = "zh")]
    lang: String,
    /// Only these columns (comma-separated field names).
    #[arg(long)]
    columns: Option<String>,
}

pub fn run(loaded: &Loaded, a: &ExportArgs) -> Result<(), Failure> {
    let fail = |e: crate::core::error::AppError| Failure::usage(e.to_string());
    let spec = crate::io::columns::entity(&a.entity).map_err(fail)?;
    let format = Format::parse(&a.format).map_err(fail)?;
    let lang = Lang::parse(&a.lang).ok_or_else(|| Failure::usage("--lang: zh or en"))?;
    let qs: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(a.filter.iter().map(|f| ("filter", f.as_str())))
        .finish();
    let params = crate::core::list::parse_query(&qs).map_err(fail)?;
    let mut conn = crate::app::open_connection(&loaded.settings)?;
    let started = std::time::Instant::now();
    let cols: Vec<String> = a
        .columns
        .as_deref()
        .map(|c| {
            c.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut fmt = Formatter::new(&mut conn, spec, lang, &cols).map_err(fail)?;
    // Rows are read on a connection of their own (see `export::scan_all_into`).
    let mut reader = crate::app::open_connection(&loaded.settings)?;
    let rows: u64;
    let runtime = |e: crate::core::error::AppError| Failure::runtime(e.to_string());
    let mut copy_all = |sink: &mut dyn Sink| {
        export::scan_all_into(
            &mut reader,
            &mut conn,
            spec,
            &params.filters,
            &mut fmt,
            sink,
        )
        .map_err(runtime)
    };
    match format {
        Format::Csv => {
            let out: Box<dyn Write> = match &a.out {
                Some(p) => Box::new(std::io::BufWriter::with_capacity(
                    1 << 20,
                    std::fs::File::create(p)
                        .map_err(|e| Failure::runtime(format!("{}: {e}", p.display())))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut sink = CsvSink::new(out).map_err(runtime)?;
            rows = copy_all(&mut sink)?;
            sink.finish()
                .map_err(runtime)?
                .flush()
                .map_err(|e| Failure::runtime(e.to_string()))?;
        }
        Format::Xlsx => {
            let Some(out) = &a.out else {
                return Err(Failure::usage("--format xlsx needs --out FILE"));
            };
            let tmp = loaded.settings.data_dir.join("tmp");
            let mut sink = XlsxSink::new(&tmp).map_err(runtime)?;
            rows = copy_all(&mut sink)?;
            sink.save(out).map_err(runtime)?;
        }
    }
    export::audit_export(
        &mut conn,
        &crate::core::audit::AuditCtx::cli(),
        spec.name,
        rows,
        format,
        serde_json::json!({"filters": a.filter}),
    )
    .map_err(runtime)?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "exported {rows} {} in {secs:.1} s ({:.0} rows/s){}",
        spec.name,
        rows as f64 / secs.max(1e-6),
        a.out
            .as_ref()
            .map(|p| format!(" to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(())
}
