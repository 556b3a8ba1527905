use reem::ReemMarshal;

#[derive(ReemMarshal)]
struct Meters(f64);

fn main() {}
