//! `#[derive(ReemMarshal)]`: use it through the `reem` crate (`reem::ReemMarshal`).
//!
//! The derive is a row of rooms, each doing one thing: `ast` turns the `syn` input into
//! plain data with every attribute parsed (`attr`), `valid` checks it and reports every
//! mistake at once with a span, `expand` writes the impls, and `fallback` writes a stub impl
//! when the input is wrong so the user sees the errors and nothing else.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod valid;

#[cfg(test)]
mod snapshots;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `reem::ReemField` (and through it `reem::ReemMarshal`) for a struct with named
/// fields or a unit-only enum.
///
/// Container attribute: `#[reem(label = "robot.CameraFrame")]` (default: the type's name).
/// Field attributes: `#[reem(rename = "depth")]`, `#[reem(skip)]` (not stored, `Default` on
/// read), `#[reem(json)]` (stored as JSON text via serde), `#[reem(default)]` (absent on
/// read gives `Default`). Variant attribute: `#[reem(rename = "...")]`.
#[proc_macro_derive(ReemMarshal, attributes(reem))]
pub fn derive_reem_marshal(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
