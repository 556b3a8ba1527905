use reem::ReemMarshal;

#[derive(ReemMarshal)]
#[reem(rename = "robot.Pose")]
struct Pose {
    x: f64,
}

fn main() {}
