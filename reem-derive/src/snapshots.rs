//! Expansion snapshots: what the derive generates for representative inputs, pretty-printed.
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always cargo test -p reem-derive`).

use quote::quote;

fn expand(input: proc_macro2::TokenStream) -> String {
    let input: syn::DeriveInput = syn::parse2(input).expect("valid derive input");
    let file: syn::File =
        syn::parse2(crate::expand::derive(&input)).expect("expansion parses as a file");
    prettyplease::unparse(&file)
}

#[test]
fn plain_struct() {
    insta::assert_snapshot!(expand(quote! {
        struct Pose2 { x: f64, y: f64, theta: f64 }
    }));
}

#[test]
fn struct_with_every_attribute() {
    insta::assert_snapshot!(expand(quote! {
        #[reem(label = "robot.CameraFrame")]
        pub struct CameraFrame {
            stamp: f64,
            base: Pose2,
            #[reem(rename = "depth")]
            depth_m: Option<Vec<f32>>,
            #[reem(json)]
            meta: Meta,
            #[reem(default)]
            frame_id: String,
            #[reem(skip)]
            scratch: Vec<u8>,
        }
    }));
}

#[test]
fn generic_struct() {
    insta::assert_snapshot!(expand(quote! {
        pub struct Stamped<T> where T: Clone { stamp: f64, data: T }
    }));
}

#[test]
fn unit_enum() {
    insta::assert_snapshot!(expand(quote! {
        enum Mode { Idle, #[reem(rename = "e-stop")] EmergencyStop }
    }));
}

#[test]
fn invalid_input_expands_to_errors_and_a_stub() {
    insta::assert_snapshot!(expand(quote! {
        struct Bad { #[reem(rename = "a.b")] x: f64 }
    }));
}
