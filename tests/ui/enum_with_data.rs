use reem::ReemMarshal;

#[derive(ReemMarshal)]
enum Command {
    Stop,
    Move { speed: f64 },
    Turn(f64),
}

fn main() {}
