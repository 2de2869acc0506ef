fn main() {
    let name = std::env::args().nth(1).unwrap_or("sim-tiny".into());
    let t = monorail_contract::target::Target::builtin(&name).unwrap();
    print!("{}", monorail_hw::generate(&t).verilog);
}
