//! When the input has errors, a stub impl keeps the rest of the user's code compiling, so
//! the only messages are the ones that say what to fix.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub fn expand(input: &DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics ::reem::ReemField for #ident #ty_generics #where_clause {
            fn label() -> ::reem::__private::Cow<'static, str> {
                ::core::unimplemented!()
            }

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
