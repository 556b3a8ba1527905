use reem::ReemMarshal;

#[derive(ReemMarshal)]
struct Pose {
    #[reem(flatten)]
    x: f64,
}

fn main() {}
