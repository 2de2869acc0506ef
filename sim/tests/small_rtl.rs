//! The small core's RTL blocks in Verilator against their definitions in `contract::micro`
//! (`docs/small-core.md`): so far the ALU, every function on the datapath's extreme values and
//! on seeded random ones.

mod common;

use common::{build_root, Rng};
use monorail_contract::micro::{sign_extend, AluFn, DATAPATH_BITS};
use monorail_sim::verilated::{build, Model, Waveforms};

/// Values where a 48-bit datapath breaks first: zero, one, the ends of the register, of the
/// multiplier's 18 bits and of an element's 32, and shift amounts around the width.
fn edges() -> Vec<i64> {
    let top = (1i64 << (DATAPATH_BITS - 1)) - 1;
    let mut v = vec![
        0,
        1,
        -1,
        2,
        -2,
        top,
        -top,
        -top - 1,
        131_071,
        -131_072,
        65_535,
    ];
    v.extend([
        i32::MAX as i64,
        i32::MIN as i64,
        1 << 46,
        -(1 << 46),
        1 << 17,
        1 << 32,
    ]);
    v.extend((-70..=70).step_by(1));
    v
}

#[test]
fn the_alu_computes_every_function_as_the_micro_isa_defines_it() {
    let verilog = monorail_hw::small::alu("top");
    let built = build(&verilog, "small-alu", Waveforms::Off, &build_root())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut model = Model::load(&built, &[]).unwrap();
    let mask = (1u64 << DATAPATH_BITS) - 1;
    let mut rng = Rng(0x0a1);
    let edges = edges();
    let mut cases = 0;
    for (code, &f) in AluFn::ALL.iter().enumerate() {
        let mut pairs: Vec<(i64, i64)> = Vec::new();
        for &a in &edges {
            for &b in &edges {
                pairs.push((a, b));
            }
        }
        for _ in 0..2000 {
            let a = sign_extend((rng.next() << 31 ^ rng.next()) as i64, DATAPATH_BITS);
            let b = match rng.range(0, 2) {
                0 => rng.range(-80, 80),
                1 => sign_extend(rng.next() as i64, 18),
                _ => sign_extend((rng.next() << 31 ^ rng.next()) as i64, DATAPATH_BITS),
            };
            pairs.push((a, b));
        }
        // Every pair with the flag clear and set (only Sel reads it).
        let flags: &[bool] = if f == AluFn::Sel {
            &[false, true]
        } else {
            &[false]
        };
        for (&(a, b), &flag_in) in pairs
            .iter()
            .flat_map(|p| flags.iter().map(move |fl| (p, fl)))
        {
            model.set("f", code as u64).unwrap();
            model.set("a", a as u64 & mask).unwrap();
            model.set("b", b as u64 & mask).unwrap();
            model.set("flag_in", flag_in as u64).unwrap();
            model.tick(1);
            let result = sign_extend(model.get("result").unwrap() as i64, DATAPATH_BITS);
            let flag = model.get("flag").unwrap() != 0;
            assert_eq!(
                (result, flag),
                f.apply(a, b, flag_in),
                "{f:?}({a}, {b}) with the flag {flag_in}"
            );
            cases += 1;
        }
    }
    eprintln!("{cases} cases");
}
