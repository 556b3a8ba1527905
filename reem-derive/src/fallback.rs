//! When the input has errors, stub impls keep the rest of the user's code compiling, so
//! the only messages are the ones that say what to fix.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub fn expand(input: &DeriveInput) -> TokenStream {
    if input.generics.lifetimes().next().is_some() {
        // A marshaller's type is `'static`: no stub can exist for a borrowing type, and the
        // error about its lifetime says what to fix.
        return TokenStream::new();
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics ::reem::ReemMarshal for #ident #ty_generics #where_clause {
            fn get_label() -> ::reem::__private::Cow<'static, str> {
                ::core::unimplemented!()
            }

            fn write<'reem>(&'reem self, _: &str, _: &mut ::reem::marshal::Commands<'reem>) -> ::reem::Result<()> {
                ::core::unimplemented!()
            }

            fn read(_: &str, _: &mut ::reem::marshal::Commands<'_>) {
                ::core::unimplemented!()
            }

            fn delete(_: &str, _: &mut ::reem::marshal::Commands<'_>) {
                ::core::unimplemented!()
            }

            fn interpret_read(_: &str, _: ::reem::__private::Value) -> ::reem::Result<Self> {
                ::core::unimplemented!()
            }
        }

        #[automatically_derived]
        impl #impl_generics ::reem::ReemField for #ident #ty_generics #where_clause {
            fn describe(_: &mut ::reem::schema::SchemaBuilder) {
                ::core::unimplemented!()
            }

            fn encode<'reem>(&'reem self, _: &mut ::reem::marshal::FieldWriter<'_, 'reem>) -> ::reem::Result<()> {
                ::core::unimplemented!()
            }

            fn decode(_: &mut ::reem::marshal::FieldReader<'_, '_>) -> ::reem::Result<Self> {
                ::core::unimplemented!()
            }
        }
    }
}
