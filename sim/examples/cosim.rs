use monorail_compiler::{compile, CompileOptions};
use monorail_contract::target::Target;
use monorail_model::quant::QuantModel;
use monorail_model::synth;
use monorail_sim::rtl::Rtl;
use monorail_sim::{Iss, Machine};

fn main() {
    let tname = std::env::args().nth(1).unwrap_or("sim-tiny".into());
    let shape = std::env::args().nth(2).unwrap_or("nano".into());
    let steps: usize = std::env::args()
        .nth(3)
        .map(|s| s.parse().unwrap())
        .unwrap_or(3);
    let target = Target::builtin(&tname).unwrap();
    let quant = QuantModel::quantize(&synth::synthesize(synth::parse_shape(&shape).unwrap(), 3));
    let context = if tname == "ulx3s-85f" {
        Some(256)
    } else {
        None
    };
    let compiled = compile(&quant, &target, CompileOptions { context }).unwrap();
    let mut iss = Iss::new(target.clone(), compiled.bundle.clone()).unwrap();
    let t0 = std::time::Instant::now();
    let mut rtl = Rtl::new(
        &target,
        compiled.bundle.clone(),
        std::path::Path::new("/work/main/build"),
        std::path::Path::new("/tmp/images"),
    )
    .unwrap();
    println!("build {:?} built={}", t0.elapsed(), rtl.built);
    iss.record_values(true);
    rtl.record_values(true);
    let mut token = 1;
    for pos in 0..steps {
        let a = iss.step(token, pos).unwrap();
        let t = std::time::Instant::now();
        let b = rtl.step(token, pos).unwrap();
        println!(
            "pos {pos}: iss next {} cycles {} | rtl next {} cycles {} ({:?})",
            a.next,
            a.cycles,
            b.next,
            b.cycles,
            t.elapsed()
        );
        let mut bad = 0;
        for (x, y) in a.values.iter().zip(&b.values) {
            if x != y {
                bad += 1;
                if bad <= 4 {
                    let first = x.mant.iter().zip(&y.mant).position(|(p, q)| p != q);
                    println!(
                        "  {} layer {:?}: exps {:?} vs {:?}; first diff at {:?}: {:?} vs {:?}",
                        x.step.name(),
                        x.layer,
                        x.exps,
                        y.exps,
                        first,
                        first.map(|i| x.mant[i]),
                        first.map(|i| y.mant[i])
                    );
                }
            }
        }
        println!(
            "  {} of {} checkpoints differ ({} vs {} recorded)",
            bad,
            a.values.len(),
            a.values.len(),
            b.values.len()
        );
        token = a.next;
    }
}
