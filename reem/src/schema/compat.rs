//! Can a reader of one schema read a message stored with another?

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::{FieldSchema, FieldType, Schema};

/// Bound on cached verdicts, so that hostile fingerprints cannot grow memory.
const CACHE_LIMIT: usize = 1024;

/// Decides whether a message stored with `stored` (its `@schema` text, fingerprint
/// `stored_fp`) can be read as `reader`. Verdicts are cached per pair of fingerprints.
pub(crate) fn check_compatible(
    reader: &Schema,
    stored_fp: &[u8],
    stored: Option<&[u8]>,
) -> Result<(), String> {
    type Verdicts = HashMap<(u64, Vec<u8>), Result<(), String>>;
    static CACHE: OnceLock<Mutex<Verdicts>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = (reader.fingerprint, stored_fp.to_vec());
    if let Some(v) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return v.clone();
    }
    let verdict = match stored {
        None => Err("the message carries no schema".to_owned()),
        Some(text) => match Schema::parse(text) {
            Err(e) => Err(format!("its stored schema is unreadable ({e})")),
            Ok(s) if s.fingerprint_hex.as_bytes() != stored_fp => {
                Err("its stored schema does not match its fingerprint".to_owned())
            }
            Ok(s) => compare(&reader.fields, &s.fields, ""),
        },
    };
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    if c.len() >= CACHE_LIMIT {
        c.clear();
    }
    c.insert(id, verdict.clone());
    verdict
}

fn compare(reader: &[FieldSchema], stored: &[FieldSchema], prefix: &str) -> Result<(), String> {
    for r in reader {
        let name = if prefix.is_empty() {
            r.name.clone()
        } else {
            format!("{prefix}.{}", r.name)
        };
        match stored.iter().find(|s| s.name == r.name) {
            None if r.optional => {}
            None => return Err(format!("the required field `{name}` is not stored")),
            Some(s) => accepts(&r.ty, &s.ty, &name)?,
        }
    }
    Ok(())
}

fn accepts(reader: &FieldType, stored: &FieldType, name: &str) -> Result<(), String> {
    let differ = || {
        Err(format!(
            "field `{name}` is stored as {} but read as {}",
            show(stored),
            show(reader)
        ))
    };
    match (reader, stored) {
        (FieldType::List { items: r }, FieldType::List { items: s }) => compare(r, s, name),
        (
            FieldType::Array {
                dtype: rd,
                ndim: rn,
                shape: rs,
            },
            FieldType::Array {
                dtype: sd,
                ndim: sn,
                shape: ss,
            },
        ) => {
            let fits = rd == sd
                && (rn.is_none() || sn.is_none() || rn == sn)
                && (rs.is_none() || ss.is_none() || rs == ss);
            if fits {
                Ok(())
            } else {
                differ()
            }
        }
        (FieldType::Enum { variants: r }, FieldType::Enum { variants: s }) => {
            match s.iter().find(|v| !r.contains(v)) {
                None => Ok(()),
                Some(v) => Err(format!(
                    "field `{name}` may hold the variant `{v}`, unknown to the reader"
                )),
            }
        }
        (r, s) if r == s => Ok(()),
        _ => differ(),
    }
}

fn show(t: &FieldType) -> String {
    serde_json::to_string(t).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, ty: FieldType, optional: bool) -> FieldSchema {
        FieldSchema {
            name: name.into(),
            ty,
            optional,
        }
    }

    #[test]
    fn added_optional_field_reads_old_messages() {
        let old = Schema::new("P".into(), vec![f("x", FieldType::F64, false)]);
        let new = Schema::new(
            "P".into(),
            vec![f("x", FieldType::F64, false), f("y", FieldType::F64, true)],
        );
        assert!(check_compatible(
            &new,
            old.fingerprint_hex.as_bytes(),
            Some(old.json.as_bytes())
        )
        .is_ok());
        let required = Schema::new(
            "P".into(),
            vec![f("x", FieldType::F64, false), f("z", FieldType::F64, false)],
        );
        let err = check_compatible(
            &required,
            old.fingerprint_hex.as_bytes(),
            Some(old.json.as_bytes()),
        )
        .unwrap_err();
        assert!(err.contains("`z`"), "{err}");
    }

    #[test]
    fn changed_type_is_refused() {
        let old = Schema::new("P".into(), vec![f("x", FieldType::F64, false)]);
        let new = Schema::new("P".into(), vec![f("x", FieldType::I64, false)]);
        let err = check_compatible(
            &new,
            old.fingerprint_hex.as_bytes(),
            Some(old.json.as_bytes()),
        )
        .unwrap_err();
        assert!(
            err.contains("`x`") && err.contains("f64") && err.contains("i64"),
            "{err}"
        );
    }

    #[test]
    fn forged_fingerprint_is_refused() {
        let old = Schema::new("P".into(), vec![f("x", FieldType::F64, false)]);
        let new = Schema::new(
            "P".into(),
            vec![f("x", FieldType::F64, false), f("y", FieldType::F64, true)],
        );
        assert!(check_compatible(&new, b"0000000000000001", Some(old.json.as_bytes())).is_err());
        assert!(check_compatible(&new, b"0000000000000002", Some(b"{not json")).is_err());
    }
}
