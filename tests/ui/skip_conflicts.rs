use reem::ReemMarshal;

#[derive(ReemMarshal)]
struct Node {
    #[reem(skip, json)]
    cache: Vec<u8>,
}

fn main() {}
