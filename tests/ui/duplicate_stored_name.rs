use reem::ReemMarshal;

#[derive(ReemMarshal)]
struct Pose {
    x: f64,
    #[reem(rename = "x")]
    y: f64,
}

fn main() {}
