use reem::ReemMarshal;

struct Handle;

#[derive(ReemMarshal)]
struct Node {
    rate: f64,
    #[reem(skip)]
    handle: Handle,
}

fn main() {}
