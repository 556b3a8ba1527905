use reem::ReemMarshal;

struct Handle;

#[derive(ReemMarshal)]
struct Node {
    rate: f64,
    handle: Handle,
}

fn main() {}
