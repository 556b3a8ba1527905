//! Can a reader of one schema read a message stored with another?

use std::sync::{Arc, OnceLock};

use super::{FieldSchema, FieldType, Schema};
use crate::cache::BoundedCache;

/// Verdicts cached per generation of the cache (so that hostile fingerprints cannot grow
/// memory).
const CACHE_LIMIT: usize = 256;

/// Stored schemas longer than this are checked at every read instead of being cached.
const MAX_CACHED_SCHEMA: usize = 64 << 10;

/// A verdict and the stored schema text it was decided on.
type Verdict = (Arc<[u8]>, Result<(), String>);

/// Decides whether a message stored with `stored` (its `@schema` text, fingerprint
/// `stored_fp`) can be read as `reader`.
///
/// Only a verdict decided on a stored schema that parses and matches its fingerprint is
/// cached, with that schema's text, and it is reused only for the same text: a hash with a
/// real fingerprint and a missing, broken or forged (colliding) schema is refused without
/// changing what any other message's read decides.
pub(crate) fn check_compatible(
    reader: &Schema,
    stored_fp: &[u8],
    stored: Option<&[u8]>,
) -> Result<(), String> {
    static CACHE: OnceLock<BoundedCache<(u64, Vec<u8>), Verdict>> = OnceLock::new();
    let Some(text) = stored else {
        return Err("the message carries no schema".to_owned());
    };
    let cache = CACHE.get_or_init(|| BoundedCache::new(CACHE_LIMIT));
    let id = (reader.fingerprint, stored_fp.to_vec());
    if let Some((decided_on, verdict)) = cache.get(&id) {
        if *decided_on == *text {
            return verdict;
        }
    }
    let schema =
        Schema::parse(text).map_err(|e| format!("its stored schema is unreadable ({e})"))?;
    if schema.fingerprint_hex.as_bytes() != stored_fp {
        return Err("its stored schema does not match its fingerprint".to_owned());
    }
    let verdict = compare(&reader.fields, &schema.fields, "");
    if text.len() <= MAX_CACHED_SCHEMA {
        cache.insert(id, (Arc::from(text), verdict.clone()));
    }
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

    #[test]
    fn a_broken_schema_under_a_real_fingerprint_does_not_decide_for_the_real_one() {
        let old = Schema::new("Q".into(), vec![f("a", FieldType::U8, false)]);
        let new = Schema::new(
            "Q".into(),
            vec![f("a", FieldType::U8, false), f("b", FieldType::U8, true)],
        );
        let fp = old.fingerprint_hex.as_bytes();
        assert!(check_compatible(&new, fp, None).is_err());
        assert!(check_compatible(&new, fp, Some(b"{not json")).is_err());
        // Another schema's text under this fingerprint does not match it.
        let other = Schema::new("Q".into(), vec![f("a", FieldType::I8, false)]);
        assert!(check_compatible(&new, fp, Some(other.json.as_bytes())).is_err());
        assert_eq!(
            check_compatible(&new, fp, Some(old.json.as_bytes())),
            Ok(())
        );
        // And the cached verdict is not reused for another text under the same fingerprint.
        assert!(check_compatible(&new, fp, None).is_err());
        assert!(check_compatible(&new, fp, Some(b"{not json")).is_err());
        assert_eq!(
            check_compatible(&new, fp, Some(old.json.as_bytes())),
            Ok(())
        );
    }
}
