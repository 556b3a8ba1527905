//! Every `#[reem(...)]` attribute, parsed in one place, spans kept.

use proc_macro2::Span;
use syn::{Attribute, LitStr};

use crate::ctxt::Ctxt;

/// An attribute value with the span to report problems at.
#[derive(Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// `#[reem(...)]` on the struct or enum.
#[derive(Default)]
pub struct ContainerAttrs {
    pub label: Option<Spanned<String>>,
}

/// `#[reem(...)]` on a field.
#[derive(Default)]
pub struct FieldAttrs {
    pub rename: Option<Spanned<String>>,
    pub skip: Option<Span>,
    pub json: Option<Span>,
    pub default: Option<Span>,
}

/// `#[reem(...)]` on an enum variant.
#[derive(Default)]
pub struct VariantAttrs {
    pub rename: Option<Spanned<String>>,
}

/// Sets `slot` once; a second time is an error.
fn once<T>(cx: &mut Ctxt, slot: &mut Option<T>, value: T, path: &syn::Path, name: &str) {
    if slot.is_some() {
        cx.error_spanned_by(path, format!("duplicate reem attribute `{name}`"));
    } else {
        *slot = Some(value);
    }
}

fn string_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Spanned<String>> {
    let lit: LitStr = meta.value()?.parse()?;
    Ok(Spanned {
        value: lit.value(),
        span: lit.span(),
    })
}

fn reem_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("reem"))
}

pub fn container(cx: &mut Ctxt, attrs: &[Attribute]) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for attr in reem_attrs(attrs) {
        let r = attr.parse_nested_meta(|meta| {
            let path = &meta.path;
            if path.is_ident("label") {
                let v = string_value(&meta)?;
                once(cx, &mut out.label, v, path, "label");
            } else if ["rename", "skip", "json", "default"]
                .iter()
                .any(|n| path.is_ident(n))
            {
                let name = path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                cx.error_spanned_by(
                    path,
                    format!(
                        "`{name}` is a field attribute; on the type, reem accepts only `label`"
                    ),
                );
                skip_value(&meta)?;
            } else {
                cx.error_spanned_by(
                    path,
                    format!(
                        "unknown reem attribute `{}`; on the type, reem accepts `label`",
                        show(path)
                    ),
                );
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = r {
            cx.syn_error(e);
        }
    }
    out
}

pub fn field(cx: &mut Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in reem_attrs(attrs) {
        let r = attr.parse_nested_meta(|meta| {
            let path = &meta.path;
            let span = syn::spanned::Spanned::span(path);
            if path.is_ident("rename") {
                let v = string_value(&meta)?;
                once(cx, &mut out.rename, v, path, "rename");
            } else if path.is_ident("skip") {
                once(cx, &mut out.skip, span, path, "skip");
            } else if path.is_ident("json") {
                once(cx, &mut out.json, span, path, "json");
            } else if path.is_ident("default") {
                once(cx, &mut out.default, span, path, "default");
            } else if path.is_ident("label") {
                cx.error_spanned_by(path, "`label` names the message type: put it on the struct, not on a field");
                skip_value(&meta)?;
            } else {
                cx.error_spanned_by(
                    path,
                    format!("unknown reem attribute `{}`; on a field, reem accepts `rename`, `skip`, `json` and `default`", show(path)),
                );
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = r {
            cx.syn_error(e);
        }
    }
    out
}

pub fn variant(cx: &mut Ctxt, attrs: &[Attribute]) -> VariantAttrs {
    let mut out = VariantAttrs::default();
    for attr in reem_attrs(attrs) {
        let r = attr.parse_nested_meta(|meta| {
            let path = &meta.path;
            if path.is_ident("rename") {
                let v = string_value(&meta)?;
                once(cx, &mut out.rename, v, path, "rename");
            } else {
                cx.error_spanned_by(
                    path,
                    format!(
                        "unknown reem attribute `{}`; on a variant, reem accepts `rename`",
                        show(path)
                    ),
                );
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = r {
            cx.syn_error(e);
        }
    }
    out
}

/// Consumes `= value` or `(...)` after an unknown key so parsing can go on.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: proc_macro2::TokenStream = meta
            .value()?
            .parse::<syn::Expr>()
            .map(quote::ToTokens::into_token_stream)?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
        let _: proc_macro2::TokenStream = _content.parse()?;
    }
    Ok(())
}

fn show(path: &syn::Path) -> String {
    quote::ToTokens::to_token_stream(path)
        .to_string()
        .replace(' ', "")
}
