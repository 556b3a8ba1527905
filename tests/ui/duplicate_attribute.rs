use reem::ReemMarshal;

#[derive(ReemMarshal)]
struct Pose {
    #[reem(rename = "a", rename = "b")]
    x: f64,
}

fn main() {}
