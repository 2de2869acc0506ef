#[path = "../tests/common/mod.rs"]
mod common;
use monorail_compiler::{compile, CompileOptions};
use monorail_contract::target::Target;
use monorail_model::quant::QuantModel;
use monorail_model::synth;
use monorail_sim::rtl::Rtl;
fn main() {
    let t = Target::builtin("ulx3s-85f").unwrap();
    let quant = QuantModel::quantize(&synth::synthesize(
        synth::parse_shape("stories260k").unwrap(),
        3,
    ));
    let c = compile(&quant, &t, CompileOptions { context: Some(256) }).unwrap();
    let dir = std::path::Path::new("/tmp/probe");
    std::fs::create_dir_all(dir).unwrap();
    c.bundle.write(dir, &t).unwrap();
    let b = c.bundle.clone();
    let mut rtl = Rtl::load(&t, c.bundle, &common::core("ulx3s-85f"), dir).unwrap();
    for (w, l) in [
        (0usize, 0usize),
        (0, 5),
        (1, 63),
        (2047, 3),
        (2048, 0),
        (4100, 7),
    ] {
        println!(
            "m{w}[{l}]: bundle {} rtl {}",
            b.matrix[w * 64 + l],
            rtl.matrix(w, l).unwrap()
        );
    }
    for e in [0usize, 1, 17, 5000, 8192, 8200, 9000] {
        println!(
            "v{e}: bundle {} rtl {}",
            b.vector[e],
            rtl.vector(e).unwrap()
        );
    }
}
