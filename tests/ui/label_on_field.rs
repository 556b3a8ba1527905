use reem::ReemMarshal;

#[derive(ReemMarshal)]
struct Pose {
    #[reem(label = "x")]
    x: f64,
}

fn main() {}
