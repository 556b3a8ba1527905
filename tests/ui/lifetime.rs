use reem::ReemMarshal;

#[derive(ReemMarshal)]
struct Named<'a> {
    name: &'a str,
}

fn main() {}
