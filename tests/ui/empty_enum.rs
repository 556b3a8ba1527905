use reem::ReemMarshal;

#[derive(ReemMarshal)]
enum Never {}

fn main() {}
