//! Reading an import file: CSV in any common encoding (UTF-8 with or without
//! BOM, GB18030/GBK, UTF-16 with BOM; or as the user says), with its
//! delimiter detected and quoted newlines kept, or the first sheet of an
//! .xlsx/.xls workbook. Everything comes out as a header and rows of text
//! cells with the line (CSV) or row (Excel) each started on.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use encoding_rs::{Encoding, GB18030, UTF_8, UTF_16BE, UTF_16LE};

/// What kind of file it is, decided by its first bytes (not its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Xlsx,
    Xls,
}

/// A file that cannot be read, said so a user can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError(pub String);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(m: impl Into<String>) -> ReadError {
    ReadError(m.into())
}

/// One data row: where it starts in the file and its cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: u64,
    pub cells: Vec<String>,
}

/// An opened file: what was detected, the header, then the rows.
pub struct Source {
    pub format: Format,
    /// The encoding's name (`UTF-8`, `gb18030`, `UTF-16LE`); `xlsx` for workbooks.
    pub encoding: String,
    pub delimiter: Option<char>,
    pub header: Vec<String>,
    /// The line the header is on.
    pub header_line: u64,
    rows: Box<dyn Iterator<Item = Result<Row, ReadError>> + Send>,
}

impl Iterator for Source {
    type Item = Result<Row, ReadError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next()
    }
}

/// How many bytes the encoding and delimiter guesses look at.
const SAMPLE: usize = 64 * 1024;

/// The encoding named by `label` (utf-8, gbk, gb18030, gb2312, utf-16le …).
pub fn encoding_for(label: &str) -> Result<&'static Encoding, ReadError> {
    let l = label.trim().to_ascii_lowercase();
    // GBK and GB2312 files are read as GB18030, their superset.
    if matches!(l.as_str(), "gbk" | "gb2312" | "cp936" | "gb18030") {
        return Ok(GB18030);
    }
    Encoding::for_label(l.as_bytes()).ok_or_else(|| {
        err(format!(
            "unknown encoding `{label}`; use utf-8, gb18030 (also for GBK), utf-16le or utf-16be"
        ))
    })
}

/// Guess the format from the first bytes.
pub fn sniff_format(head: &[u8]) -> Format {
    if head.starts_with(b"PK\x03\x04") {
        Format::Xlsx
    } else if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        Format::Xls
    } else {
        Format::Csv
    }
}

/// The encoding of a text file and how many BOM bytes to skip.
pub fn detect_encoding(sample: &[u8]) -> Result<(&'static Encoding, usize), ReadError> {
    if let Some((enc, bom)) = Encoding::for_bom(sample) {
        return Ok((enc, bom));
    }
    // UTF-16 without a BOM: every other byte of ASCII text is zero.
    let zeros = sample.iter().take(4096).filter(|b| **b == 0).count();
    if zeros > 0 {
        let even = sample
            .iter()
            .step_by(2)
            .take(2048)
            .filter(|b| **b == 0)
            .count();
        let odd = sample
            .iter()
            .skip(1)
            .step_by(2)
            .take(2048)
            .filter(|b| **b == 0)
            .count();
        return if odd > zeros / 3 && even == 0 {
            Ok((UTF_16LE, 0))
        } else if even > zeros / 3 && odd == 0 {
            Ok((UTF_16BE, 0))
        } else {
            Err(err(
                "this does not look like a text (CSV) file or a workbook: it holds binary data",
            ))
        };
    }
    // Valid UTF-8 (a sequence cut off at the sample's end is fine).
    match std::str::from_utf8(sample) {
        Ok(_) => return Ok((UTF_8, 0)),
        Err(e) if e.error_len().is_none() => return Ok((UTF_8, 0)),
        Err(_) => {}
    }
    let (_, had_errors) = GB18030.decode_without_bom_handling(sample);
    if had_errors {
        return Err(err(
            "cannot tell the file's encoding (it is neither UTF-8 nor GB18030/GBK); save it as UTF-8 CSV or name the encoding",
        ));
    }
    Ok((GB18030, 0))
}

/// The delimiter that splits the first lines into the same number (> 1) of
/// fields most consistently; `,` when nothing stands out.
pub fn detect_delimiter(text: &str) -> char {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    let mut best = (',', 0usize, 0usize);
    for d in [',', ';', '\t', '|'] {
        let counts: Vec<usize> = lines
            .iter()
            .map(|l| {
                let mut quoted = false;
                l.chars()
                    .filter(|c| {
                        if *c == '"' {
                            quoted = !quoted;
                        }
                        !quoted && *c == d
                    })
                    .count()
            })
            .collect();
        let Some(first) = counts.first().copied().filter(|n| *n > 0) else {
            continue;
        };
        let same = counts.iter().filter(|n| **n == first).count();
        if (same, first) > (best.1, best.2) {
            best = (d, same, first);
        }
    }
    best.0
}

/// Decodes a byte stream of any encoding into UTF-8, failing (not replacing)
/// on malformed input.
struct Decode<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    name: &'static str,
    raw: Vec<u8>,
    raw_len: usize,
    out: Vec<u8>,
    out_pos: usize,
    out_len: usize,
    eof: bool,
}

impl<R: Read> Decode<R> {
    fn new(inner: R, enc: &'static Encoding) -> Self {
        Decode {
            inner,
            decoder: enc.new_decoder_without_bom_handling(),
            name: enc.name(),
            raw: vec![0; 64 * 1024],
            raw_len: 0,
            out: vec![0; 3 * 64 * 1024 + 16],
            out_pos: 0,
            out_len: 0,
            eof: false,
        }
    }
}

impl<R: Read> Read for Decode<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out_len {
            if self.eof && self.raw_len == 0 {
                return Ok(0);
            }
            if !self.eof && self.raw_len < self.raw.len() {
                let n = self.inner.read(&mut self.raw[self.raw_len..])?;
                if n == 0 {
                    self.eof = true;
                }
                self.raw_len += n;
            }
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.raw[..self.raw_len],
                &mut self.out,
                self.eof,
            );
            if let encoding_rs::DecoderResult::Malformed(_, _) = result {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the file is not valid {} text here; name its encoding (utf-8, gb18030, utf-16le)",
                        self.name
                    ),
                ));
            }
            self.raw.copy_within(read..self.raw_len, 0);
            self.raw_len -= read;
            self.out_pos = 0;
            self.out_len = written;
            if self.eof && read == 0 && written == 0 {
                self.raw_len = 0;
            }
        }
        let n = buf.len().min(self.out_len - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// Open `path`: detect the format, the encoding (unless `encoding` names
/// one) and the delimiter (unless given), read the header.
pub fn open(
    path: &Path,
    encoding: Option<&str>,
    delimiter: Option<char>,
) -> Result<Source, ReadError> {
    let mut f =
        File::open(path).map_err(|e| err(format!("cannot open {}: {e}", path.display())))?;
    let mut sample = vec![0u8; SAMPLE];
    let mut n = 0;
    while n < SAMPLE {
        let k = f
            .read(&mut sample[n..])
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    sample.truncate(n);
    if sample.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(err("the file is empty"));
    }
    match sniff_format(&sample) {
        Format::Xlsx => open_workbook(path, Format::Xlsx),
        Format::Xls => open_workbook(path, Format::Xls),
        Format::Csv => open_csv(path, &sample, encoding, delimiter),
    }
}

fn open_csv(
    path: &Path,
    sample: &[u8],
    encoding: Option<&str>,
    delimiter: Option<char>,
) -> Result<Source, ReadError> {
    let (enc, skip) = match encoding {
        Some(label) => {
            let enc = encoding_for(label)?;
            // A BOM of the named encoding is still skipped.
            let bom = Encoding::for_bom(sample)
                .filter(|(e, _)| *e == enc)
                .map_or(0, |(_, n)| n);
            (enc, bom)
        }
        None => detect_encoding(sample)?,
    };
    let (text, _) = enc.decode_without_bom_handling(&sample[skip..]);
    let delim = delimiter.unwrap_or_else(|| detect_delimiter(&text));
    if !delim.is_ascii() {
        return Err(err("the delimiter must be one ASCII character"));
    }
    let mut f = File::open(path).map_err(|e| err(e.to_string()))?;
    let mut bom = vec![0u8; skip];
    f.read_exact(&mut bom).map_err(|e| err(e.to_string()))?;
    let reader: Box<dyn Read + Send> = if enc == UTF_8 {
        // UTF-8 is checked cell by cell, which is faster than decoding.
        Box::new(BufReader::with_capacity(256 * 1024, f))
    } else {
        Box::new(Decode::new(BufReader::new(f), enc))
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delim as u8)
        .buffer_capacity(256 * 1024)
        .from_reader(reader);
    let mut rec = csv::ByteRecord::new();
    // The header: the first row that is not blank.
    let (header, header_line) = loop {
        match csv.read_byte_record(&mut rec) {
            Ok(false) => return Err(err("the file is empty")),
            Ok(true) => {
                let line = rec.position().map_or(1, |p| p.line());
                let cells = cells_of(&rec, line)?;
                if cells.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                break (cells, line);
            }
            Err(e) => return Err(csv_error(e)),
        }
    };
    let rows = std::iter::from_fn(move || {
        let mut rec = csv::ByteRecord::new();
        loop {
            return match csv.read_byte_record(&mut rec) {
                Ok(false) => None,
                Ok(true) => {
                    let line = rec.position().map_or(0, |p| p.line());
                    let cells = match cells_of(&rec, line) {
                        Ok(c) => c,
                        Err(e) => return Some(Err(e)),
                    };
                    if cells.iter().all(|c| c.trim().is_empty()) {
                        continue;
                    }
                    Some(Ok(Row { line, cells }))
                }
                Err(e) => Some(Err(csv_error(e))),
            };
        }
    });
    Ok(Source {
        format: Format::Csv,
        encoding: enc.name().to_string(),
        delimiter: Some(delim),
        header: header.into_iter().map(|h| h.trim().to_string()).collect(),
        header_line,
        rows: Box::new(rows),
    })
}

fn cells_of(rec: &csv::ByteRecord, line: u64) -> Result<Vec<String>, ReadError> {
    rec.iter()
        .enumerate()
        .map(|(i, b)| {
            String::from_utf8(b.to_vec()).map_err(|_| {
                err(format!(
                    "line {line}, column {}: not valid UTF-8 text; the file may be GB18030/GBK: name its encoding",
                    i + 1
                ))
            })
        })
        .collect()
}

fn csv_error(e: csv::Error) -> ReadError {
    match e.kind() {
        csv::ErrorKind::Io(io) => err(io.to_string()),
        _ => err(format!("unreadable CSV: {e}")),
    }
}

/// An Excel serial day number (days since 1899-12-30, the fraction the time)
/// as `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`.
pub fn excel_serial(serial: f64) -> Option<String> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let base = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?;
    let days = serial.floor();
    let date = base.checked_add_signed(chrono::Duration::days(days as i64))?;
    let secs = ((serial - days) * 86_400.0).round() as i64;
    if secs == 0 {
        return Some(date.format("%Y-%m-%d").to_string());
    }
    let t = date.and_hms_opt(0, 0, 0)? + chrono::Duration::seconds(secs);
    Some(t.format("%Y-%m-%dT%H:%M:%S").to_string())
}

/// A number as text: whole numbers without `.0` (phone numbers, codes).
fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

fn open_workbook(path: &Path, format: Format) -> Result<Source, ReadError> {
    use calamine::{Data, Reader};
    let what = if format == Format::Xlsx {
        ".xlsx"
    } else {
        ".xls"
    };
    let bad = |e: String| err(format!("not a readable {what} workbook: {e}"));
    let f = BufReader::new(File::open(path).map_err(|e| err(e.to_string()))?);
    let range = match format {
        Format::Xlsx => {
            let mut wb: calamine::Xlsx<_> =
                calamine::Xlsx::new(f).map_err(|e| bad(e.to_string()))?;
            wb.worksheet_range_at(0)
                .ok_or_else(|| err(format!("the {what} workbook has no sheet")))?
                .map_err(|e| bad(e.to_string()))?
        }
        _ => {
            let mut wb: calamine::Xls<_> = calamine::Xls::new(f).map_err(|e| bad(e.to_string()))?;
            wb.worksheet_range_at(0)
                .ok_or_else(|| err(format!("the {what} workbook has no sheet")))?
                .map_err(|e| bad(e.to_string()))?
        }
    };
    let first_row = range.start().map_or(0, |(r, _)| r) as u64;
    let cell_text = |d: &Data| -> String {
        match d {
            Data::Empty => String::new(),
            Data::String(s) => s.clone(),
            Data::Int(i) => i.to_string(),
            Data::Float(f) => number_text(*f),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(dt) => excel_serial(dt.as_f64()).unwrap_or_else(|| dt.to_string()),
            Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
            Data::Error(e) => format!("#{e:?}"),
        }
    };
    let mut all: Vec<Row> = range
        .rows()
        .enumerate()
        .map(|(i, r)| Row {
            line: first_row + i as u64 + 1,
            cells: r.iter().map(cell_text).collect(),
        })
        .filter(|r| r.cells.iter().any(|c| !c.trim().is_empty()))
        .collect();
    if all.is_empty() {
        return Err(err("the file is empty"));
    }
    let header_row = all.remove(0);
    let mut header: Vec<String> = header_row
        .cells
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    while header.last().is_some_and(String::is_empty) {
        header.pop();
    }
    Ok(Source {
        format,
        encoding: if format == Format::Xlsx {
            "xlsx"
        } else {
            "xls"
        }
        .into(),
        delimiter: None,
        header,
        header_line: header_row.line,
        rows: Box::new(all.into_iter().map(Ok)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_and_delimiters_are_detected() {
        assert_eq!(detect_encoding(b"\xEF\xBB\xBFname").unwrap(), (UTF_8, 3));
        assert_eq!(detect_encoding(b"\xFF\xFEn\0a\0").unwrap(), (UTF_16LE, 2));
        assert_eq!(detect_encoding("名称,电话".as_bytes()).unwrap(), (UTF_8, 0));
        let (gbk, _, _) = GB18030.encode("客户名称,电话\n深圳市星河科技有限公司,0755");
        assert_eq!(detect_encoding(&gbk).unwrap(), (GB18030, 0));
        assert!(detect_encoding(b"\x00\x01\x02\x03\xff\x00\x00").is_err());
        assert_eq!(detect_delimiter("a;b;c\n1;2;3\n"), ';');
        assert_eq!(detect_delimiter("a\tb\n1\t2\n"), '\t');
        assert_eq!(detect_delimiter("\"a,b\";c\n1;2\n"), ';');
        assert_eq!(detect_delimiter("name\nx\n"), ',');
    }

    #[test]
    fn excel_dates() {
        assert_eq!(excel_serial(46360.0).as_deref(), Some("2026-12-04"));
        assert_eq!(
            excel_serial(46360.5).as_deref(),
            Some("2026-12-04T12:00:00")
        );
        assert_eq!(excel_serial(-1.0), None);
        assert_eq!(number_text(13800138000.0), "13800138000");
        assert_eq!(number_text(1.5), "1.5");
    }
}
