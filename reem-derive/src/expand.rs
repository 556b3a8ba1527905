//! Code generation: the `ReemField` impl and the typed field handles. It trusts the
//! validated input and names everything through `::reem::`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, GenericParam, Generics, Ident, Type};

use crate::ast::{self, Enum, Field, Input, Struct};
use crate::ctxt::Ctxt;
use crate::{fallback, valid};

/// Parses, checks and expands one derive input.
pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let parsed = Input::from_syn(&mut cx, input);
    valid::check(&mut cx, &parsed);
    if let Err(errors) = cx.check() {
        let stub = fallback::expand(input);
        let errors = errors.to_compile_error();
        return quote! { #errors #stub };
    }
    match parsed {
        Input::Struct(s) => expand_struct(&s),
        Input::Enum(e) => expand_enum(&e),
        Input::Unsupported(_) => unreachable!("rejected by valid"),
    }
}

fn expand_struct(s: &Struct<'_>) -> TokenStream {
    let ident = &s.original.ident;
    let generics = with_bounds(&s.original.generics, &s.fields);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let label = label_expr(&ast::label(&s.attrs, ident), &generics);

    let stored: Vec<&Field<'_>> = s.fields.iter().filter(|f| f.is_stored()).collect();
    let describe = stored.iter().map(|f| {
        let name = &f.stored;
        let inner = if f.attrs.json.is_some() {
            quote!(::reem::marshal::describe_json(schema))
        } else {
            let ty = f.ty;
            quote!(<#ty as ::reem::ReemField>::describe(schema))
        };
        let inner = if f.attrs.default.is_some() {
            quote!(schema.optional(|schema| #inner))
        } else {
            inner
        };
        quote! {
            let mark = schema.enter(#name);
            #inner;
            schema.leave(mark);
        }
    });
    let encode = stored.iter().map(|f| {
        let name = &f.stored;
        let member = f.member;
        let ty = f.ty;
        let call = if f.attrs.json.is_some() {
            quote!(::reem::marshal::encode_json(&self.#member, w)?)
        } else {
            quote!(<#ty as ::reem::ReemField>::encode(&self.#member, w)?)
        };
        quote! {
            let mark = w.enter(#name);
            #call;
            w.leave(mark);
        }
    });
    let decode = s.fields.iter().enumerate().map(|(i, f)| {
        let var = format_ident!("field{}", i);
        let ty = f.ty;
        if !f.is_stored() {
            return quote_spanned!(ty.span()=> let #var: #ty = ::core::default::Default::default(););
        }
        let name = &f.stored;
        let read = if f.attrs.json.is_some() {
            quote!(::reem::marshal::decode_json::<#ty>(r)?)
        } else {
            quote!(<#ty as ::reem::ReemField>::decode(r)?)
        };
        let read = if f.attrs.default.is_some() {
            let default = quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default());
            quote!(if r.has_any() { #read } else { #default })
        } else {
            read
        };
        quote! {
            let mark = r.enter(#name);
            let #var: #ty = #read;
            r.leave(mark);
        }
    });
    let members = s.fields.iter().enumerate().map(|(i, f)| {
        let var = format_ident!("field{}", i);
        let member = f.member;
        quote!(#member: #var)
    });
    let construct = if s.is_unit {
        quote!(#ident)
    } else {
        quote!(#ident { #(#members),* })
    };
    let handles = expand_handles(s);
    let marshal = expand_marshal(ident, &generics, &label);

    quote! {
        #marshal

        #[automatically_derived]
        impl #impl_generics ::reem::ReemField for #ident #ty_generics #where_clause {
            fn describe(schema: &mut ::reem::schema::SchemaBuilder) {
                #(#describe)*
            }

            fn encode<'reem>(
                &'reem self,
                w: &mut ::reem::marshal::FieldWriter<'_, 'reem>,
            ) -> ::reem::Result<()> {
                #(#encode)*
                ::reem::__private::Ok(())
            }

            fn decode(r: &mut ::reem::marshal::FieldReader<'_, '_>) -> ::reem::Result<Self> {
                #(#decode)*
                ::reem::__private::Ok(#construct)
            }
        }

        #handles
    }
}

/// `impl ReemMarshal`: the seed's six methods (and the schema), each delegating to the
/// runtime's one-hash marshaller, `reem::marshal::hash`, so that no type carries code of its
/// own beyond its fields.
fn expand_marshal(ident: &Ident, generics: &Generics, label: &TokenStream) -> TokenStream {
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics ::reem::ReemMarshal for #ident #ty_generics #where_clause {
            fn get_label() -> ::reem::__private::Cow<'static, str> {
                #label
            }

            fn check_fit(value: &dyn ::core::any::Any) -> bool {
                ::reem::marshal::hash::check_fit::<Self>(value)
            }

            fn write<'reem>(
                &'reem self,
                key: &str,
                out: &mut ::reem::marshal::Commands<'reem>,
            ) -> ::reem::Result<()> {
                ::reem::marshal::hash::write(self, key, out)
            }

            fn read(key: &str, out: &mut ::reem::marshal::Commands<'_>) {
                ::reem::marshal::hash::read(key, out)
            }

            fn delete(key: &str, out: &mut ::reem::marshal::Commands<'_>) {
                ::reem::marshal::hash::delete(key, out)
            }

            fn interpret_read(
                key: &str,
                reply: ::reem::__private::Value,
            ) -> ::reem::Result<Self> {
                ::reem::marshal::hash::interpret_read(key, reply)
            }

            fn schema() -> ::core::option::Option<&'static ::reem::schema::Schema> {
                ::core::option::Option::Some(::reem::marshal::schema_of::<Self>())
            }
        }
    }
}

/// `impl Fields`: the typed field handles, through a trait (so a user's own `fields()`
/// method never clashes), with a helper type in an anonymous const that adds no name to the
/// user's module.
fn expand_handles(s: &Struct<'_>) -> TokenStream {
    let ident = &s.original.ident;
    let generics = &s.original.generics;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let methods = s.fields.iter().filter(|f| f.is_stored()).map(|f| {
        let member = f.member;
        let ty = f.ty;
        let ty = if f.attrs.json.is_some() {
            quote!(::reem::Json<#ty>)
        } else {
            quote!(#ty)
        };
        let name = &f.stored;
        let doc = format!("The stored field `{name}`.");
        quote! {
            #[doc = #doc]
            pub fn #member(&self) -> ::reem::FieldHandle<#ident #ty_generics, #ty> {
                ::reem::FieldHandle::new(#name)
            }
        }
    });
    let doc = format!("Typed handles on the stored fields of [`{ident}`], for `KeyValueStore::get_field` and `set_field`.");
    quote! {
        const _: () = {
            #[doc = #doc]
            pub struct __ReemFields #generics (::reem::__private::PhantomData<fn() -> #ident #ty_generics>) #where_clause;

            #[automatically_derived]
            impl #impl_generics __ReemFields #ty_generics #where_clause {
                #(#methods)*
            }

            #[automatically_derived]
            impl #impl_generics ::reem::Fields for #ident #ty_generics #where_clause {
                type Handles = __ReemFields #ty_generics;

                fn fields() -> __ReemFields #ty_generics {
                    __ReemFields(::reem::__private::PhantomData)
                }
            }
        };
    }
}

fn expand_enum(e: &Enum<'_>) -> TokenStream {
    let ident = &e.original.ident;
    let (impl_generics, ty_generics, where_clause) = e.original.generics.split_for_impl();
    let label = label_expr(&ast::label(&e.attrs, ident), &e.original.generics);
    let marshal = expand_marshal(ident, &e.original.generics, &label);
    let names: Vec<&String> = e.variants.iter().map(|v| &v.stored).collect();
    let variants: Vec<&Ident> = e.variants.iter().map(|v| &v.original.ident).collect();
    let bytes = names
        .iter()
        .map(|n| syn::LitByteStr::new(n.as_bytes(), ident.span()));
    let bytes2 = bytes.clone();
    let expected = format!(
        "one of {}",
        names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    quote! {
        #marshal

        #[automatically_derived]
        impl #impl_generics ::reem::ReemField for #ident #ty_generics #where_clause {
            fn describe(schema: &mut ::reem::schema::SchemaBuilder) {
                schema.field(::reem::schema::FieldType::enum_of(&[#(#names),*]));
            }

            fn encode<'reem>(
                &'reem self,
                w: &mut ::reem::marshal::FieldWriter<'_, 'reem>,
            ) -> ::reem::Result<()> {
                w.put(match self {
                    #(Self::#variants => #bytes,)*
                });
                ::reem::__private::Ok(())
            }

            fn decode(r: &mut ::reem::marshal::FieldReader<'_, '_>) -> ::reem::Result<Self> {
                let raw = r.require()?;
                match raw {
                    #(#bytes2 => ::reem::__private::Ok(Self::#variants),)*
                    _ => ::reem::__private::Err(r.invalid(#expected, raw)),
                }
            }
        }
    }
}

/// The label: a literal, or for a generic type `Name<param labels…>`.
fn label_expr(label: &str, generics: &Generics) -> TokenStream {
    let params: Vec<&Ident> = generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(&t.ident),
            _ => None,
        })
        .collect();
    if params.is_empty() {
        return quote!(::reem::__private::Cow::Borrowed(#label));
    }
    let format = format!("{label}<{}>", vec!["{}"; params.len()].join(", "));
    let labels = params.iter().map(|p| {
        if bounded_by_field(generics, p) {
            quote!(<#p as ::reem::ReemMarshal>::get_label())
        } else {
            quote!(::core::any::type_name::<#p>())
        }
    });
    quote! {
        ::reem::__private::Cow::Owned(::reem::__private::format!(#format, #(#labels),*))
    }
}

/// True if `generics` (as [`with_bounds`] made them) bound `param` by `ReemField`.
fn bounded_by_field(generics: &Generics, param: &Ident) -> bool {
    let Some(where_clause) = &generics.where_clause else {
        return false;
    };
    let wanted: syn::WherePredicate = syn::parse_quote!(#param: ::reem::ReemField);
    where_clause.predicates.iter().any(|p| *p == wanted)
}

/// The struct's generics plus, for each type parameter, the bounds its uses need:
/// `Send + 'static` always (a marshaller's value crosses threads), `ReemField` where it is
/// stored, `Serialize + DeserializeOwned` in a `json` field, `Default` in a `skip` or
/// `default` field.
fn with_bounds(generics: &Generics, fields: &[Field<'_>]) -> Generics {
    let mut generics = generics.clone();
    let params: Vec<Ident> = generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(t.ident.clone()),
            _ => None,
        })
        .collect();
    let where_clause = generics.make_where_clause();
    for param in &params {
        where_clause
            .predicates
            .push(syn::parse_quote!(#param: ::core::marker::Send + 'static));
        let uses = |f: &&Field<'_>| mentions(f.ty, param);
        let users: Vec<&Field<'_>> = fields.iter().filter(uses).collect();
        if users
            .iter()
            .any(|f| f.is_stored() && f.attrs.json.is_none())
        {
            where_clause
                .predicates
                .push(syn::parse_quote!(#param: ::reem::ReemField));
        }
        if users.iter().any(|f| f.attrs.json.is_some()) {
            where_clause
                .predicates
                .push(syn::parse_quote!(#param: ::reem::__private::Serialize + ::reem::__private::DeserializeOwned));
        }
        if users
            .iter()
            .any(|f| !f.is_stored() || f.attrs.default.is_some())
        {
            where_clause
                .predicates
                .push(syn::parse_quote!(#param: ::core::default::Default));
        }
    }
    generics
}

/// True if `ty` mentions the type parameter `param` anywhere.
fn mentions(ty: &Type, param: &Ident) -> bool {
    fn walk(tokens: proc_macro2::TokenStream, param: &Ident) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == *param,
            proc_macro2::TokenTree::Group(g) => walk(g.stream(), param),
            _ => false,
        })
    }
    walk(quote!(#ty), param)
}
