//! Output for people: colours only on a terminal, aligned `name  value` lines, values
//! summarised unless `--full`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};

use reem::dynamic::{ArrayBody, DynArray, DynValue, Number};

use crate::args::Color;

/// List elements shown before the rest is summarised (without `--full`).
const LIST_SHOWN: usize = 32;
/// Characters of a text or JSON value shown before it is cut (without `--full`).
const TEXT_SHOWN: usize = 200;
/// Names longer than this do not widen the name column.
const MAX_NAME_WIDTH: usize = 40;

/// ANSI styles, or nothing when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    on: bool,
}

impl Palette {
    /// Colour for stdout (or stderr) as `--color` and `NO_COLOR` say.
    pub fn new(choice: Color, terminal: bool) -> Self {
        let on = match choice {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        };
        Self { on }
    }

    pub fn stdout(choice: Color) -> Self {
        Self::new(choice, io::stdout().is_terminal())
    }

    pub fn stderr(choice: Color) -> Self {
        Self::new(choice, io::stderr().is_terminal())
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn name(&self, t: &str) -> String {
        self.paint("36", t)
    }
    pub fn strong(&self, t: &str) -> String {
        self.paint("1", t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
    pub fn bad(&self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn good(&self, t: &str) -> String {
        self.paint("32", t)
    }
}

/// How values are shown.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub palette: Palette,
    /// Everything in full: arrays, long lists, long texts.
    pub full: bool,
}

/// `name  value` lines whose values start in one column.
#[derive(Default)]
pub struct Table {
    rows: Vec<(String, String)>,
}

impl Table {
    /// Adds a row; the name (from stored data) is made [`printable`].
    pub fn push(&mut self, name: String, value: String) {
        let name = match printable(&name) {
            Cow::Borrowed(_) => name,
            Cow::Owned(safe) => safe,
        };
        self.rows.push((name, value));
    }

    /// Writes the rows with `indent`; names are painted by `paint` after alignment.
    pub fn write(
        &self,
        out: &mut impl Write,
        indent: &str,
        paint: impl Fn(&str) -> String,
    ) -> io::Result<()> {
        let width = self
            .rows
            .iter()
            .map(|(n, _)| n.chars().count())
            .filter(|w| *w <= MAX_NAME_WIDTH)
            .max()
            .unwrap_or(0);
        for (name, value) in &self.rows {
            let pad = width.saturating_sub(name.chars().count());
            writeln!(
                out,
                "{indent}{}{:pad$}  {value}",
                paint(name),
                "",
                pad = pad
            )?;
        }
        Ok(())
    }
}

impl View {
    /// One row per scalar below `value`, named by dotted path from `name`.
    pub fn rows(&self, name: &str, value: &DynValue, table: &mut Table) {
        match value {
            DynValue::Struct(fields) if !fields.is_empty() => {
                for (n, v) in fields {
                    self.rows(&join(name, n), v, table);
                }
            }
            DynValue::List(items) if !items.is_empty() => {
                let shown = if self.full {
                    items.len()
                } else {
                    items.len().min(LIST_SHOWN)
                };
                table.push(
                    display_name(name),
                    self.palette.dim(&format!("[{} elements]", items.len())),
                );
                for (i, v) in items.iter().take(shown).enumerate() {
                    self.rows(&join(name, &i.to_string()), v, table);
                }
                if shown < items.len() {
                    table.push(
                        join(name, "…"),
                        self.palette.dim(&format!(
                            "{} more elements (--full shows them)",
                            items.len() - shown
                        )),
                    );
                }
            }
            DynValue::Custom { format, fields } => {
                table.push(
                    display_name(name),
                    self.palette.dim(&format!("custom encoding {format:?}")),
                );
                for (n, v) in fields {
                    table.push(n.clone(), self.text(&String::from_utf8_lossy(v), true));
                }
            }
            v => table.push(display_name(name), self.scalar(v)),
        }
    }

    /// One value on one line.
    pub fn scalar(&self, v: &DynValue) -> String {
        match v {
            DynValue::Absent => self.palette.dim("None"),
            DynValue::Bool(b) => b.to_string(),
            DynValue::Int(i) => i.to_string(),
            DynValue::UInt(u) => u.to_string(),
            DynValue::F32(f) => float(f64::from(*f), format!("{f:?}")),
            DynValue::F64(f) => float(*f, format!("{f:?}")),
            DynValue::Char(c) => format!("{c:?}"),
            DynValue::String(s) => self.text(s, true),
            DynValue::Enum(e) => printable(e).into_owned(),
            DynValue::Json(j) => self.text(&j.to_string(), false),
            DynValue::Array(a) => self.array(a),
            DynValue::List(items) if items.is_empty() => "[]".to_owned(),
            DynValue::Struct(f) if f.is_empty() => "{}".to_owned(),
            // Groups are shown as rows; asked for as one value, JSON says it all.
            other => self.text(&serde_json::to_string(other).unwrap_or_default(), false),
        }
    }

    /// A text, quoted (and escaped) or not, cut at [`TEXT_SHOWN`] characters unless `--full`.
    fn text(&self, s: &str, quote: bool) -> String {
        let n = s.chars().count();
        let cut = !self.full && n > TEXT_SHOWN;
        let shown: String = if cut {
            s.chars().take(TEXT_SHOWN).collect()
        } else {
            s.to_owned()
        };
        let mut t = if quote {
            let q = format!("{shown:?}");
            if cut {
                format!("{}…\"", &q[..q.len() - 1])
            } else {
                q
            }
        } else if cut {
            format!("{shown}…")
        } else {
            shown
        };
        if cut {
            let _ = write!(t, " {}", self.palette.dim(&format!("({n} characters)")));
        }
        t
    }

    fn array(&self, a: &DynArray) -> String {
        let head = format!("{} {}", a.dtype, tuple(&a.shape));
        match &a.body {
            ArrayBody::Summary(st) => {
                let mut s = head;
                match (&st.min, &st.max, st.mean) {
                    (Some(lo), Some(hi), Some(mean)) => {
                        let _ = write!(
                            s,
                            "  {} {}  {} {}  {} {}",
                            self.palette.dim("min"),
                            number(lo),
                            self.palette.dim("max"),
                            number(hi),
                            self.palette.dim("mean"),
                            short_float(mean)
                        );
                    }
                    _ => {
                        let _ = write!(s, "  {}", self.palette.dim("no values"));
                    }
                }
                if st.nan > 0 {
                    let _ = write!(s, "  {} {}", self.palette.dim("nan"), st.nan);
                }
                s
            }
            ArrayBody::Full(_) | ArrayBody::Bytes(_) => {
                let data = serde_json::to_string(&DynValue::Array(a.clone())).unwrap_or_default();
                format!("{head}  {data}")
            }
        }
    }
}

fn number(n: &Number) -> String {
    match n {
        Number::Int(i) => i.to_string(),
        Number::Float(f) => float(*f, format!("{f:?}")),
    }
}

/// Floats as reem stores them: the shortest text that reads back the same, always with a
/// `.` or an exponent (`3.0`, `0.1`, `1e300`), or `nan`, `inf`, `-inf`.
fn float(v: f64, shortest: String) -> String {
    if v.is_nan() {
        "nan".to_owned()
    } else if v.is_infinite() {
        if v < 0.0 { "-inf" } else { "inf" }.to_owned()
    } else {
        shortest
    }
}

/// A float in at most about ten characters: its shortest text when that fits, else six
/// significant digits (for means).
pub fn short_float(v: f64) -> String {
    if !v.is_finite() {
        return float(v, String::new());
    }
    let shortest = format!("{v:?}");
    if shortest.len() <= 10 {
        return shortest;
    }
    let a = v.abs();
    if (1e-4..1e9).contains(&a) {
        let decimals = (5 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.decimals$}");
        match s.trim_end_matches('0') {
            t if t.ends_with('.') => format!("{t}0"),
            t => t.to_owned(),
        }
    } else {
        format!("{v:.5e}")
    }
}

/// Python's tuple text, as numpy prints shapes: `(480, 640, 3)`, `(5,)`, `()`.
pub fn tuple(dims: &[usize]) -> String {
    reem::marshal::array::format_tuple(dims)
}

fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}.{name}"),
    }
}

/// The name of a top-level value (a message that is one scalar, array or list).
fn display_name(name: &str) -> String {
    if name.is_empty() {
        "value".to_owned()
    } else {
        name.to_owned()
    }
}

/// Text from stored data made safe for a terminal: control characters (escape sequences,
/// new lines) are shown escaped, everything else as is.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// A Redis key as text a terminal shows safely: as is when it is printable UTF-8, else
/// quoted with escapes (`"bad\nkey"`, `"caf\xe9"`).
pub fn show_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if !s.is_empty() && !s.chars().any(|c| c.is_control() || c == '"') => s.to_owned(),
        Ok(s) => format!("{s:?}"),
        Err(_) => {
            let mut out = String::from("\"");
            for chunk in key.utf8_chunks() {
                let valid = format!("{:?}", chunk.valid());
                out.push_str(&valid[1..valid.len() - 1]);
                for b in chunk.invalid() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
            out.push('"');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_keep_six_significant_digits() {
        assert_eq!(short_float(127.33333333), "127.333");
        assert_eq!(short_float(499999.5), "499999.5");
        assert_eq!(short_float(2.0), "2.0");
        assert_eq!(short_float(2.000000001), "2.0");
        assert_eq!(short_float(0.000123456789), "0.000123457");
        assert_eq!(short_float(1e-9), "1e-9");
        assert_eq!(short_float(1.2345678912e-9), "1.23457e-9");
        assert_eq!(short_float(0.0), "0.0");
        assert_eq!(short_float(f64::NAN), "nan");
    }

    #[test]
    fn control_characters_from_redis_never_reach_the_terminal() {
        assert_eq!(printable("robot.Status"), "robot.Status");
        assert_eq!(printable("evil\x1b[2Jlabel\n"), "evil\\u{1b}[2Jlabel\\n");
        let mut t = Table::default();
        t.push("a\x07b".into(), "1".into());
        let mut out = Vec::new();
        t.write(&mut out, "", |n| n.to_owned()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a\\u{7}b  1\n");
    }

    #[test]
    fn hostile_keys_show_escaped() {
        assert_eq!(show_key(b"robot/pose"), "robot/pose");
        assert_eq!(show_key(b"a\nb"), "\"a\\nb\"");
        assert_eq!(show_key(b"caf\xe9"), "\"caf\\xe9\"");
        assert_eq!(show_key(b""), "\"\"");
    }

    #[test]
    fn long_texts_are_cut_unless_full() {
        let v = View {
            palette: Palette { on: false },
            full: false,
        };
        let long = "a".repeat(1000);
        let shown = v.scalar(&DynValue::String(long.clone()));
        assert!(
            shown.len() < 300 && shown.contains("1000 characters"),
            "{shown}"
        );
        let full = View { full: true, ..v };
        assert_eq!(
            full.scalar(&DynValue::String(long.clone())),
            format!("{long:?}")
        );
    }
}
