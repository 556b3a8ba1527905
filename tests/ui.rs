//! Compile errors of `#[derive(ReemMarshal)]`, checked against their exact messages.

#[test]
fn derive_mistakes_give_one_clear_error_each() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
