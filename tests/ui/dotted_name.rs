use reem::ReemMarshal;

#[derive(ReemMarshal)]
struct Pose {
    #[reem(rename = "base.x")]
    x: f64,
}

fn main() {}
