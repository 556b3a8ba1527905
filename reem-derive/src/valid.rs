//! Every check on the input, each error pointing at the token that caused it.

use std::collections::HashMap;

use syn::{Data, Fields, GenericParam};

use crate::ast::{Enum, Input, Struct};
use crate::ctxt::Ctxt;

pub fn check(cx: &mut Ctxt, input: &Input<'_>) {
    check_generics(cx, input.original());
    match input {
        Input::Struct(s) => check_struct(cx, s),
        Input::Enum(e) => check_enum(cx, e),
        Input::Unsupported(original) => match &original.data {
            Data::Union(u) => cx.error_spanned_by(
                u.union_token,
                "ReemMarshal cannot be derived for a union: reem stores structs field by field and unit-only enums by name",
            ),
            Data::Struct(s) => match &s.fields {
                Fields::Unnamed(f) => cx.error_spanned_by(
                    f,
                    "ReemMarshal needs named fields: a tuple struct's fields have no names to store them under",
                ),
                _ => unreachable!("only tuple structs and unions are unsupported"),
            },
            Data::Enum(_) => unreachable!("enums are parsed"),
        },
    }
}

fn check_generics(cx: &mut Ctxt, input: &syn::DeriveInput) {
    for param in &input.generics.params {
        if let GenericParam::Lifetime(l) = param {
            cx.error_spanned_by(
                l,
                "ReemMarshal types own their data: a message read from Redis cannot borrow, so lifetime parameters are not supported",
            );
        }
    }
}

fn check_label(cx: &mut Ctxt, attrs: &crate::attr::ContainerAttrs) {
    if let Some(label) = &attrs.label {
        if label.value.trim().is_empty() || label.value.chars().any(char::is_whitespace) {
            cx.syn_error(syn::Error::new(
                label.span,
                "a reem label must be non-empty and contain no whitespace",
            ));
        }
    }
}

fn check_struct(cx: &mut Ctxt, s: &Struct<'_>) {
    check_label(cx, &s.attrs);
    let mut seen: HashMap<&str, &syn::Ident> = HashMap::new();
    for field in &s.fields {
        let a = &field.attrs;
        if let Some(skip) = a.skip {
            for (other, name) in [
                (a.rename.as_ref().map(|r| r.span), "rename"),
                (a.json, "json"),
                (a.default, "default"),
            ] {
                if other.is_some() {
                    cx.syn_error(syn::Error::new(
                        skip,
                        format!("`skip` conflicts with `{name}`: a skipped field is not stored"),
                    ));
                }
            }
            continue;
        }
        if let Some(rename) = &a.rename {
            if let Err(why) = stored_name_problem(&rename.value) {
                cx.syn_error(syn::Error::new(
                    rename.span,
                    format!("invalid stored name {:?}: {why}", rename.value),
                ));
                continue;
            }
        }
        match seen.get(field.stored.as_str()) {
            Some(first) => {
                let at = field
                    .attrs
                    .rename
                    .as_ref()
                    .map_or_else(|| field.member.span(), |r| r.span);
                cx.syn_error(syn::Error::new(
                    at,
                    format!(
                        "duplicate stored field name `{}`: field `{first}` is stored under it too",
                        field.stored
                    ),
                ));
            }
            None => {
                seen.insert(&field.stored, field.member);
            }
        }
    }
}

/// Why a stored name given by `rename` cannot be used, if it cannot.
fn stored_name_problem(name: &str) -> Result<(), &'static str> {
    match name.chars().next() {
        None => Err("a stored name cannot be empty"),
        Some('@') => {
            Err("names starting with `@` are reserved for reem's own fields (@label, @fp, @schema)")
        }
        Some(c) if c.is_ascii_digit() => {
            Err("names starting with a digit are reserved for list elements")
        }
        _ if name.contains('.') => {
            Err("`.` separates nested names (base.x), so a name cannot contain it")
        }
        _ => Ok(()),
    }
}

fn check_enum(cx: &mut Ctxt, e: &Enum<'_>) {
    check_label(cx, &e.attrs);
    if e.variants.is_empty() {
        cx.error_spanned_by(
            &e.original.ident,
            "ReemMarshal needs at least one variant to store an enum",
        );
    }
    let mut seen: HashMap<&str, &syn::Ident> = HashMap::new();
    for v in &e.variants {
        if !matches!(v.original.fields, Fields::Unit) {
            cx.error_spanned_by(
                &v.original.fields,
                "ReemMarshal stores an enum as its variant's name: variants with data are not supported",
            );
        }
        if v.stored.is_empty() {
            let span = v
                .attrs
                .rename
                .as_ref()
                .map_or_else(|| v.original.ident.span(), |r| r.span);
            cx.syn_error(syn::Error::new(
                span,
                "a variant's stored name cannot be empty",
            ));
        }
        if let Some(first) = seen.insert(&v.stored, &v.original.ident) {
            cx.error_spanned_by(
                &v.original.ident,
                format!(
                    "duplicate stored variant name `{}`: variant `{first}` is stored as it too",
                    v.stored
                ),
            );
        }
    }
}
