use reem::ReemMarshal;

#[derive(ReemMarshal)]
struct Pose {
    #[reem(rename = "@label")]
    x: f64,
}

fn main() {}
