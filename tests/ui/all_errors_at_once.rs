use reem::ReemMarshal;

#[derive(ReemMarshal)]
#[reem(label = "")]
struct Pose {
    #[reem(rename = "@x")]
    x: f64,
    #[reem(colour = "red")]
    y: f64,
    #[reem(rename = "")]
    z: f64,
}

fn main() {}
