use reem::ReemMarshal;

#[derive(ReemMarshal)]
union Bits {
    f: f32,
    u: u32,
}

fn main() {}
