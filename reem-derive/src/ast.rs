//! The input as plain data: a struct with its stored fields, or an enum with its variants.

use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{self, ContainerAttrs, FieldAttrs, VariantAttrs};
use crate::ctxt::Ctxt;

pub enum Input<'a> {
    Struct(Struct<'a>),
    Enum(Enum<'a>),
    /// Unions, tuple and unit structs: recorded so `valid` can report them.
    Unsupported(&'a DeriveInput),
}

pub struct Struct<'a> {
    pub original: &'a DeriveInput,
    pub attrs: ContainerAttrs,
    pub fields: Vec<Field<'a>>,
    /// `struct Ping;` (no field at all).
    pub is_unit: bool,
}

pub struct Field<'a> {
    pub attrs: FieldAttrs,
    pub member: &'a Ident,
    pub ty: &'a Type,
    /// The name of the stored field (the Rust name, or `rename`).
    pub stored: String,
}

pub struct Enum<'a> {
    pub original: &'a DeriveInput,
    pub attrs: ContainerAttrs,
    pub variants: Vec<Variant<'a>>,
}

pub struct Variant<'a> {
    pub original: &'a syn::Variant,
    pub attrs: VariantAttrs,
    /// The stored text (the Rust name, or `rename`).
    pub stored: String,
}

impl<'a> Input<'a> {
    pub fn from_syn(cx: &mut Ctxt, input: &'a DeriveInput) -> Self {
        match &input.data {
            Data::Struct(data) => {
                let attrs = attr::container(cx, &input.attrs);
                match &data.fields {
                    Fields::Named(named) => Input::Struct(Struct {
                        original: input,
                        attrs,
                        fields: named.named.iter().map(|f| Field::from_syn(cx, f)).collect(),
                        is_unit: false,
                    }),
                    Fields::Unit => Input::Struct(Struct {
                        original: input,
                        attrs,
                        fields: Vec::new(),
                        is_unit: true,
                    }),
                    Fields::Unnamed(_) => Input::Unsupported(input),
                }
            }
            Data::Enum(data) => Input::Enum(Enum {
                original: input,
                attrs: attr::container(cx, &input.attrs),
                variants: data
                    .variants
                    .iter()
                    .map(|v| {
                        let attrs = attr::variant(cx, &v.attrs);
                        let stored = attrs
                            .rename
                            .as_ref()
                            .map_or_else(|| v.ident.to_string(), |r| r.value.clone());
                        Variant {
                            original: v,
                            attrs,
                            stored,
                        }
                    })
                    .collect(),
            }),
            Data::Union(_) => Input::Unsupported(input),
        }
    }

    pub fn original(&self) -> &'a DeriveInput {
        match self {
            Input::Struct(s) => s.original,
            Input::Enum(e) => e.original,
            Input::Unsupported(i) => i,
        }
    }
}

impl<'a> Field<'a> {
    fn from_syn(cx: &mut Ctxt, field: &'a syn::Field) -> Self {
        let attrs = attr::field(cx, &field.attrs);
        let member = field.ident.as_ref().expect("named fields have names");
        let stored = match &attrs.rename {
            Some(r) => r.value.clone(),
            None => {
                let name = member.to_string();
                name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
            }
        };
        Field {
            attrs,
            member,
            ty: &field.ty,
            stored,
        }
    }

    /// Stored in Redis (not `#[reem(skip)]`).
    pub fn is_stored(&self) -> bool {
        self.attrs.skip.is_none()
    }
}

/// The label of a container: `label = "..."`, or the type's name.
pub fn label(attrs: &ContainerAttrs, ident: &Ident) -> String {
    attrs
        .label
        .as_ref()
        .map_or_else(|| ident.to_string(), |l| l.value.clone())
}
