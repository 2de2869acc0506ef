//! Every instruction on the Verilated core against the instruction-set simulator: the same
//! program from the same memory images must leave the same registers and memories, in the
//! same number of cycles. The programs end with `end token=r0`: a step answers a token of the
//! vocabulary, and every register is compared after it anyway. The operands come from a seeded
//! generator and include the extreme
//! values (-128, 127, saturation, rounding ties). Each case runs on `sim-tiny` (4 matrix lanes,
//! 4 vector lanes), `ulx3s-85f` (64 and 8) and `gw2a-18` (4 and 2); addresses are offsets into
//! each memory.

// The checks take lists of address ranges; a list of one range is not a mistake here.
#![allow(clippy::single_range_in_vec_init)]

mod common;

use common::{same_on_both, Rng};
use monorail_contract::isa::Unit;
use monorail_contract::target::{Target, VectorMemory};
use monorail_contract::timing::{token_cycles, VXU_CHAIN_CYCLES};
use monorail_sim::rtl::Rtl;
use monorail_sim::{Iss, Machine};

/// The targets every case runs on: and `gw2a-18` (4 lanes, 2 vector lanes), whose Gowin core
/// differs where a flip-flop would take a LUT site of its own: a matrix drain that shifts its
/// words out, where the others' picks them by index, the vector slot's late controls in a ring
/// of distributed RAM, and products that load at every edge where only the next stage reads
/// them.
const TARGETS: [&str; 3] = ["sim-tiny", "ulx3s-85f", "gw2a-18"];

/// Images with seeded values in each memory's range: 16-bit mantissas in the vector memory
/// (with a few extremes), 24-bit values in the accumulator and wide memories, int8 inputs and
/// weights.
fn images(t: &Target, seed: u64) -> (Vec<i8>, Vec<i32>) {
    let acc = t.range_of(VectorMemory::Accumulator).start;
    let mut rng = Rng(seed);
    let matrix = (0..t.matrix_bytes())
        .map(|i| match i % 97 {
            0 => -128,
            1 => 127,
            2 => -127,
            _ => rng.range(-128, 127) as i8,
        })
        .collect();
    let mut vector = vec![0i32; t.vector_space()];
    for (e, v) in vector.iter_mut().enumerate() {
        *v = match t.memory_at(e).unwrap() {
            // int8 values (cache stores), small exponents (normg, shrv).
            VectorMemory::Vector if (256..512).contains(&e) => rng.range(-128, 127) as i32,
            VectorMemory::Accumulator if (acc + 128..acc + 256).contains(&e) => {
                rng.range(-40, 20) as i32
            }
            VectorMemory::Vector => match e % 89 {
                0 => 32767,
                1 => -32767,
                2 => 0,
                _ => rng.range(-32767, 32767) as i32,
            },
            VectorMemory::Accumulator | VectorMemory::Wide => rng.range(-(1 << 23), 1 << 23) as i32,
            VectorMemory::Input => rng.range(-128, 127) as i32,
        };
    }
    (matrix, vector)
}

/// A case: `text` with `{ACC}`, `{WIDE}` and `{INPUT}` standing for the first element of those
/// memories (offsets are added in the text, as `v{ACC+3}` is written `v{ACC}` plus a literal
/// through [`at`]).
fn check(text: &str, ranges: &[std::ops::Range<usize>]) {
    check_at(text, 0, ranges, &[]);
}

fn check_at(
    text: &str,
    pos: usize,
    ranges: &[std::ops::Range<usize>],
    words: &[std::ops::Range<usize>],
) {
    check_on(&TARGETS, text, pos, ranges, words);
}

fn check_on(
    targets: &[&str],
    text: &str,
    pos: usize,
    ranges: &[std::ops::Range<usize>],
    words: &[std::ops::Range<usize>],
) {
    for &name in targets {
        let t = Target::builtin(name).unwrap();
        let bases = Bases::of(&t);
        let text = bases.fill(text);
        let ranges: Vec<_> = ranges.iter().map(|r| bases.range(r)).collect();
        let (matrix, vector) = images(&t, text.len() as u64 * 7919 + pos as u64);
        same_on_both(name, &text, pos, matrix, vector, &ranges, words);
    }
}

/// Where each memory starts on a target. Test texts and ranges name elements of the
/// accumulator, wide and input memories as offsets from sentinel bases (`ACC`, `WIDE`,
/// `INPUT`), translated here.
struct Bases {
    acc: usize,
    wide: usize,
    input: usize,
}

const ACC: usize = 1 << 20;
const WIDE: usize = 2 << 20;
const INPUT: usize = 3 << 20;

impl Bases {
    fn of(t: &Target) -> Bases {
        Bases {
            acc: t.range_of(VectorMemory::Accumulator).start,
            wide: t.range_of(VectorMemory::Wide).start,
            input: t.range_of(VectorMemory::Input).start,
        }
    }

    fn element(&self, e: usize) -> usize {
        match e >> 20 {
            0 => e,
            1 => self.acc + (e - ACC),
            2 => self.wide + (e - WIDE),
            _ => self.input + (e - INPUT),
        }
    }

    fn range(&self, r: &std::ops::Range<usize>) -> std::ops::Range<usize> {
        self.element(r.start)..self.element(r.start) + r.len()
    }

    /// Replace every `v<n>` with the element it stands for (not `wait=vxu:n`).
    fn fill(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("=v") {
            out.push_str(&rest[..at + 2]);
            rest = &rest[at + 2..];
            let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                continue;
            }
            let n: usize = rest[..digits].parse().expect("a vector address");
            out += &self.element(n).to_string();
            rest = &rest[digits..];
        }
        out.push_str(rest);
        out
    }
}

#[test]
fn scalar_unit() {
    check(
        "li dst=r3 imm=-70368744177664\nli dst=r4 imm=123456789\n\
         addi dst=r5 a=r4 imm=-549755813888\nadd dst=r6 a=r3 b=r4\nsub dst=r7 a=r3 b=r4\n\
         max dst=r8 a=r3 b=r4\nshri dst=r9 a=r3 imm=7\nandi dst=r10 a=r4 imm=1099511627775\n\
         li dst=r11 imm=-131072\nli dst=r12 imm=131071\nmuli dst=r13 a=r11 imm=131071\n\
         muli dst=r14 a=r12 imm=-5\nend token=r0",
        &[],
    );
    // The registers' extremes (48 bits): max's comparison is a subtraction, so the pairs whose
    // difference overflows (the ISS refuses such a sub or add, not the max); shri's shifter at
    // its ends.
    let (max, min) = ((1i64 << 47) - 1, -(1i64 << 47));
    let mut text = format!(
        "li dst=r3 imm={max}\nli dst=r4 imm={min}\nli dst=r5 imm=-1\nli dst=r6 imm=0\n\
         li dst=r7 imm=1\naddi dst=r8 a=r4 imm=1\n"
    );
    let value = |r: usize| [max, min, -1, 0, 1, min + 1][r - 3];
    let mut dst = 9;
    let mut emit = |text: &mut String, op: String| {
        *text += &format!("{op}\n").replace("dst=?", &format!("dst=r{dst}"));
        dst += 1;
    };
    for a in 3..=8 {
        for b in 3..=8 {
            emit(&mut text, format!("max dst=? a=r{a} b=r{b}"));
        }
    }
    // Subtractions that reach the ends without overflowing: -1 - max, min - -1, max - max.
    for (a, b) in [(5, 3), (4, 5), (3, 3)] {
        assert!((min..=max).contains(&(value(a) - value(b))));
        emit(&mut text, format!("sub dst=? a=r{a} b=r{b}"));
    }
    for a in [3, 4, 5] {
        for amount in [0, 1, 46, 47, 63] {
            emit(&mut text, format!("shri dst=? a=r{a} imm={amount}"));
        }
    }
    // (Every result in a register of its own: of 64, which gw2a-18's 32 registers are not.)
    assert!(dst <= 64, "every result has a register of its own");
    let sixty_four: Vec<&str> = TARGETS
        .into_iter()
        .filter(|&t| Target::builtin(t).unwrap().registers == 64)
        .collect();
    check_on(&sixty_four, &(text + "end token=r0"), 0, &[], &[]);
    // The tables at their edges (zero, one, powers of two, the largest values) and between.
    for x in [
        0i64,
        1,
        2,
        3,
        5,
        7,
        100,
        255,
        256,
        385,
        65535,
        1_000_003,
        123_456_789_012,
        1 << 40,
        (1 << 47) - 1,
    ] {
        check(
            &format!(
                "li dst=r3 imm={x}\nrsqrt mant=r4 exp=r5 a=r3\nrecip mant=r6 exp=r7 a=r3\nend token=r0"
            ),
            &[],
        );
    }
}

/// The step ends at its first `end`: what follows it never issues, on the RTL, the ISS and the
/// contract's count of cycles alike.
#[test]
fn a_step_ends_at_its_first_end() {
    for name in TARGETS {
        let t = Target::builtin(name).unwrap();
        let (matrix, vector) = images(&t, 5);
        let mut b = common::bundle(&t, "li dst=r20 imm=7\nend token=r20", matrix, vector);
        let cycles = b.manifest.predicted_cycles[0];
        b.program
            .extend(monorail_contract::isa::assemble("li dst=r21 imm=9\nend token=r21").unwrap());
        b.manifest.instructions = b.program.len();
        assert_eq!(token_cycles(&b.program, &t, 0).unwrap(), cycles);
        let mut iss = Iss::new(t.clone(), b.clone()).unwrap();
        let images = tempfile::TempDir::new().unwrap();
        b.write(images.path(), &t).unwrap();
        let mut rtl = Rtl::load(&t, b, &common::core(name), images.path()).unwrap();
        // The build keeps the C++ Verilator wrote, not its precompiled headers (90 MB each),
        // whether it was built now or by an earlier monorail.
        let obj: Vec<String> = std::fs::read_dir(rtl.build_dir.join("obj"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(obj.iter().any(|f| f.ends_with(".cpp")), "{obj:?}");
        assert!(!obj.iter().any(|f| f.ends_with(".gch")), "{obj:?}");
        for (engine, machine) in [("ISS", &mut iss as &mut dyn Machine), ("RTL", &mut rtl)] {
            let r = machine.step(1, 0).unwrap();
            assert_eq!((r.next, r.cycles), (7, cycles), "{name}: the {engine}");
        }
        assert_eq!(iss.registers()[21], 0, "{name}: the ISS ran past `end`");
        assert_eq!(
            rtl.register(21).unwrap(),
            0,
            "{name}: the RTL ran past `end`"
        );
    }
}

#[test]
fn element_wise_operations() {
    let v = 0..256;
    let w = WIDE..WIDE + 256;
    for lane in [0, 1, 3] {
        let (a, b, d) = (64 + lane, 128 + lane, 192 + lane);
        for n in [1, 3, 4, 13] {
            check(
                &format!("mul dst=v{} a=v{a} b=v{b} n={n}\nend token=r0", WIDE + lane),
                std::slice::from_ref(&w),
            );
            // `a` shifted first: 24-bit accumulators right (rounded, into 17 bits), the small
            // ones left, mantissas by one.
            for (a, sh) in [(ACC + lane, 7), (ACC + 128 + lane, -3), (a, 1)] {
                check(
                    &format!(
                        "mul dst=v{} a=v{a} b=v{b} n={n} sh={sh}\nend token=r0",
                        WIDE + lane
                    ),
                    std::slice::from_ref(&w),
                );
            }
            check(
                &format!(
                    "li dst=r3 imm=-7\nmuls dst=v{} a=v{a} n={n} s=r3\nend token=r0",
                    WIDE + lane
                ),
                std::slice::from_ref(&w),
            );
            check(
                &format!(
                    "li dst=r3 imm=-70000\naddsv dst=v{} a=v{} n={n} s=r3\nend token=r0",
                    WIDE + lane,
                    ACC + lane
                ),
                std::slice::from_ref(&w),
            );
            check(
                &format!("copy dst=v{d} src=v{a} n={n}\nend token=r0"),
                std::slice::from_ref(&v),
            );
            check(
                &format!("li dst=r3 imm=-77\nfill dst=v{d} n={n} s=r3\nend token=r0"),
                std::slice::from_ref(&v),
            );
            check(
                &format!(
                    "li dst=r3 imm=2\nonehot dst=v{} n={n} idx=r3\nend token=r0",
                    INPUT + lane
                ),
                &[INPUT..INPUT + 64],
            );
        }
    }
    // Indexes past the lanes' 20-bit element numbers match nothing.
    for idx in [(1i64 << 40) | 2, -1, -(1 << 20) + 2] {
        check(
            &format!("li dst=r3 imm={idx}\nonehot dst=v{INPUT} n=13 idx=r3\nend token=r0"),
            &[INPUT..INPUT + 64],
        );
    }
}

#[test]
fn shifts_and_alignment() {
    let w = WIDE..WIDE + 256;
    // Exponents up to the ISA's bound of 2^20, and far apart.
    for (ea, eb) in [
        (-20i64, -20i64),
        (-5, -30),
        (-40, -6),
        (3, 3),
        (1_048_000, 1_047_990),
        (-1_048_000, -1_048_500),
        (1_000_000, -1_000_000),
    ] {
        check(
            &format!(
                "li dst=r3 imm={ea}\nli dst=r4 imm={eb}\n\
                 addalign dst=v{WIDE} a=v64 b=v128 n=13 ea=r3 eb=r4 eout=r5\nend token=r0"
            ),
            std::slice::from_ref(&w),
        );
    }
    // Over nothing, the exponent all the same.
    check(
        &format!(
            "li dst=r3 imm=-20\nli dst=r4 imm=-6\n\
             addalign dst=v{WIDE} a=v64 b=v128 n=0 ea=r3 eb=r4 eout=r5\nend token=r0"
        ),
        std::slice::from_ref(&w),
    );
    for s in [20i64, 25, 33, 60, 1_000_000] {
        // Exponents near the shift: small values in the accumulator's low lanes.
        check(
            &format!(
                "li dst=r3 imm={s}\nshrv dst=v{WIDE} a=v64 b=v{} n=13 s=r3\nend token=r0",
                ACC + 128
            ),
            std::slice::from_ref(&w),
        );
    }
    // Left shifts (small values by small exponents) and right shifts past the datapath's width.
    check(
        &format!(
            "li dst=r3 imm=10\nshrv dst=v{WIDE} a=v{} b=v{} n=13 s=r3\nend token=r0",
            ACC + 128,
            ACC + 160
        ),
        std::slice::from_ref(&w),
    );
}

#[test]
fn normalisations() {
    for bits in [8, 16] {
        for (src, n) in [(64usize, 13usize), (ACC + 1, 7), (WIDE + 3, 9), (64, 1)] {
            // Destinations in the source's lane on every target (bases are multiples of 16).
            let dst = if bits == 8 {
                INPUT + src % 16
            } else {
                192 + src % 16
            };
            let range = if bits == 8 {
                INPUT..INPUT + 64
            } else {
                192..224
            };
            for ein in [-9i64, 1_000_000, -1_000_000] {
                check(
                    &format!(
                        "li dst=r3 imm={ein}\nnorm dst=v{dst} src=v{src} n={n} bits={bits} ein=r3 eout=r4\nend token=r0"
                    ),
                    std::slice::from_ref(&range),
                );
            }
        }
    }
    // All zeros keep the exponent; normg with per-element exponents (small ones offset into the
    // wide memory, as far as the ISA's exponents go), and the largest output: searched for, and
    // given the top bit (the largest exponent plus 32, which an int32's bit length reaches).
    check(
        "li dst=r3 imm=5\nfill dst=v64 n=8 s=r0\nnorm dst=v128 src=v64 n=8 bits=16 ein=r3 eout=r4\nend token=r0",
        &[64..72, 128..136],
    );
    for off in [0i64, -12, 30, 1_000_000, -1_048_000] {
        for top in ["", " top=r7"] {
            check(
                &format!(
                    "li dst=r3 imm={off}\n\
                     addsv dst=v{WIDE} a=v{} n=13 s=r3 wait=sxu:1\n\
                     vmax dst=r6 src=v{WIDE} n=13 wait=vxu:1\n\
                     addi dst=r7 a=r6 imm=32 wait=vxu:2\n\
                     normg dst=v192 src=v{} n=13 exps=v{WIDE} bits=16 eout=r4 max=r5{top} \
                     wait=sxu:2\nend token=r0",
                    ACC + 128,
                    ACC + 64,
                ),
                &[192..208],
            );
        }
    }
}

#[test]
fn reductions() {
    for (src, n) in [(64usize, 13usize), (ACC + 2, 9), (WIDE + 1, 1), (64, 0)] {
        check(
            &format!(
                "sum dst=r3 src=v{src} n={n}\nvmax dst=r4 src=v{src} n={n}\n\
                 argmax dst=r5 src=v{src} n={n}\nend token=r0"
            ),
            &[],
        );
        if src < ACC {
            check(&format!("sumsq dst=r3 src=v{src} n={n}\nend token=r0"), &[]);
        }
    }
    // Ties: the largest value three times, twice in one lane (elements 3 and 11 on eight
    // lanes) and once in another, over equal values elsewhere; and all equal. The lowest index
    // wins, across lanes in the tree and within a lane in its accumulator.
    check(
        "li dst=r3 imm=-7\nfill dst=v64 n=13 s=r3\nli dst=r4 imm=9\n\
         li dst=r5 imm=11\nsetv dst=v64 idx=r5 src=r4\nli dst=r5 imm=6\nsetv dst=v64 idx=r5 src=r4\n\
         li dst=r5 imm=3\nsetv dst=v64 idx=r5 src=r4\n\
         argmax dst=r6 src=v64 n=13\nvmax dst=r7 src=v64 n=13\nargmax dst=r8 src=v66 n=1\n\
         fill dst=v96 n=13 s=r3\nargmax dst=r9 src=v96 n=13\nend token=r0",
        &[64..77],
    );
    check(
        "li dst=r3 imm=5\ngetv dst=r4 src=v61 idx=r3\nli dst=r5 imm=-9\nsetv dst=v{} idx=r3 src=r5\nend token=r0"
            .replace("v{}", &format!("v{}", WIDE + 2))
            .as_str(),
        &[WIDE..WIDE + 16],
    );
}

#[test]
fn nonlinear_functions() {
    let w = WIDE..WIDE + 64;
    // Shifts into the table, past its end, left past it, and right past the datapath.
    for e in [-30i64, -22, -14, -6, 0, 20, 40, -60, -1_000_000] {
        check(
            &format!(
                "li dst=r3 imm={e}\nsilu dst=v{} src=v65 n=13 e=r3\nend token=r0",
                WIDE + 1
            ),
            std::slice::from_ref(&w),
        );
    }
    // The sigmoid's input at the clamp's edges: rounded to +-511 (fits), +-512 (clamped), and
    // to 0 from -1/2, where the rounding's carry runs through every bit (right by one, e = -7);
    // and shifted left onto them (e = -5).
    let edges = [
        -1i64, 1022, 1023, -1023, -1024, -1025, 1021, -2, 0, 1, 2, -3, 1024, 510, 511, -510, -511,
    ];
    let set: String = edges
        .iter()
        .enumerate()
        .map(|(i, v)| format!("li dst=r3 imm={v}\nli dst=r4 imm={i}\nsetv dst=v65 idx=r4 src=r3\n"))
        .collect();
    for e in [-7i64, -5] {
        check(
            &format!(
                "{set}li dst=r3 imm={e}\nsilu dst=v{} src=v65 n={} e=r3\nend token=r0",
                WIDE + 1,
                edges.len()
            ),
            std::slice::from_ref(&w),
        );
    }
    // Scores at and below their maximum, with shifts that reach and pass the table's end, and
    // the immediate scale at its ends.
    let shifts = [12i64, 16, 20, 26, -3, -20, 1_000_000].map(|s| (s, 23170));
    for (shift, mant) in shifts.into_iter().chain([(16, 32767), (4, 1)]) {
        check(
            &format!(
                "vmax dst=r3 src=v64 n=13\nli dst=r5 imm={shift}\n\
                 expneg dst=v128 src=v64 n=13 max=r3 mant={mant} shift=r5 sum=r6\nend token=r0"
            ),
            &[128..144],
        );
    }
    // RoPE: phase steps in the accumulator, the cosines and sines, the rotation.
    for pos in [0usize, 1, 37, 255] {
        check_at(
            &format!(
                "sincos dst=v64 src=v{} n=14\nrope dst=v{} src=v128 cs=v64 n=14\nend token=r0",
                ACC + 64,
                WIDE
            ),
            pos,
            &[64..80, WIDE..WIDE + 16],
            &[],
        );
    }
}

#[test]
fn matrix_unit() {
    let a = ACC..ACC + 256;
    let check =
        |text: &str, ranges: &[std::ops::Range<usize>]| check_on(&TARGETS, text, 0, ranges, &[]);
    for (rows, cols) in [(4, 1), (4, 6), (13, 3), (16, 16), (16, 17)] {
        check(
            &format!(
                "matvec dst=v{ACC} w=m40 wreg=r0 x=v{} rows={rows} cols={cols}\nend token=r0",
                INPUT + 3
            ),
            std::slice::from_ref(&a),
        );
        // (gw2a-18 keeps 16 partial sums: a dotv of more blocks has at most 16 columns.)
        let targets: Vec<&str> = TARGETS
            .into_iter()
            .filter(|&t| cols <= 16 || t != "gw2a-18")
            .collect();
        check_on(
            &targets,
            &format!(
                "dotv dst=v{} w=m40 wreg=r0 x=v{INPUT} rows={rows} cols={cols}\nend token=r0",
                ACC + 1
            ),
            0,
            std::slice::from_ref(&a),
            &[],
        );
    }
    check(
        &format!("mload dst=v{ACC} src=m7 n=13\nend token=r0"),
        std::slice::from_ref(&a),
    );
    check(
        &format!("li dst=r3 imm=12\ndotv dst=v{ACC} w=m40 wreg=r3 x=v{INPUT} rows=4 cols=5\nend token=r0"),
        &[a],
    );
}

#[test]
fn cache_stores() {
    // Back to back: each instruction's issue falls in the cycle of the previous one's read, before
    // its write.
    for pos in [0usize, 3, 4, 9] {
        check_at(
            "li dst=r3 imm=-300\nli dst=r4 imm=77\nkvexp dst=m100 src=r3\nkvexp dst=m101 src=r4\n\
             kvstore dst=m200 src=v301 n=5\nend token=r0",
            pos,
            &[],
            &[100..104, 200..215],
        );
    }
    // kvexp saturates its register to int8 at both ends, whatever its upper bits.
    let values = [
        127i64,
        -128,
        128,
        -129,
        1 << 40,
        -(1 << 40),
        (1 << 47) - 1,
        -(1 << 47),
    ];
    let program: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "li dst=r{r} imm={v}\nkvexp dst=m{m} src=r{r}\n",
                r = 3 + i,
                m = 100 + i
            )
        })
        .collect();
    check_at(&format!("{program}end token=r0"), 0, &[], &[100..108]);
}

/// The vector unit's chaining: a stream that reads what the stream before it writes issues as
/// soon as the unit is free, with no wait, when the contract's chain distance allows it. Each case
/// sits at exactly that distance (the producer's occupancy), so a distance one cycle short of the
/// pipeline's would read a stale word here. Products of the int8 values at `v256 .. v512` fit the
/// vector memory; the consumers write the wide memory.
#[test]
fn chained_streams_read_the_words_the_stream_before_them_writes() {
    for name in TARGETS {
        let t = Target::builtin(name).unwrap();
        let bases = Bases::of(&t);
        let v = t.vector_lanes;
        let c = VXU_CHAIN_CYCLES as usize;
        let (p, q) = (1024usize, WIDE + 128);
        let cases = [
            // The same words: the chain distance in words.
            format!(
                "mul dst=v{p} a=v256 b=v384 n={}\nmul dst=v{q} a=v{p} b=v384 n={}",
                c * v,
                c * v
            ),
            // A read two words into the producer's destination: two words more.
            format!(
                "li dst=r3 imm=-3\nmul dst=v{p} a=v256 b=v384 n={}\nmuls dst=v{q} a=v{} n={} s=r3",
                (c + 2) * v,
                p + 2 * v,
                c * v
            ),
            // A read from four words before it: four words fewer.
            format!(
                "mul dst=v{p} a=v256 b=v384 n={}\nmul dst=v{q} a=v{} b=v384 n={}",
                (c - 4) * v,
                p - 4 * v,
                c * v
            ),
            // A normalisation writes in its second pass.
            format!(
                "li dst=r3 imm=-5\nnorm dst=v{p} src=v0 n={} bits=16 ein=r3 eout=r4\n\
                 mul dst=v{q} a=v{p} b=v384 n={}",
                c * v,
                c * v
            ),
            // Through the wide memory into a normalisation's first pass.
            format!(
                "mul dst=v{WIDE} a=v256 b=v384 n={}\nnorm dst=v{p} src=v{WIDE} n={} bits=16 ein=r0 eout=r4",
                c * v,
                c * v
            ),
        ];
        for case in cases {
            let text = bases.fill(&format!("{case}\nend token=r0"));
            let (matrix, vector) = images(&t, text.len() as u64);
            let scheduled = common::bundle(&t, &text, matrix.clone(), vector.clone()).program;
            assert!(
                scheduled
                    .iter()
                    .all(|i| i.wait.is_none_or(|w| w.unit != Unit::Vxu)),
                "{name}: `{text}` is chained (no wait on the vector unit)"
            );
            let ranges = [
                p - 4 * v..p + (c + 2) * v,
                bases.range(&(WIDE..WIDE + c * v)),
                bases.range(&(q..q + c * v)),
            ];
            same_on_both(name, &text, 0, matrix, vector, &ranges, &[]);
        }
    }
}

/// Seeded random chains of streams (copies, products into the wide memory, scalar products and
/// normalisations out of the vector and wide memories) at random lanes and lengths, each reading
/// what an earlier one wrote from a few words before to a few words after its destination: the
/// scheduler chains what it may and waits for the rest, and the RTL must leave what the ISS
/// leaves, in the same cycles. Also on `ecp5-25f`, whose 2 vector lanes make the normalisations'
/// gap the shortest.
#[test]
fn random_chains_agree_with_the_simulator() {
    for name in TARGETS.into_iter().chain(["ecp5-25f"]) {
        let t = Target::builtin(name).unwrap();
        let bases = Bases::of(&t);
        let v = t.vector_lanes;
        let mut rng = Rng(0x5eed + v as u64);
        let mut chained_programs = 0;
        for _ in 0..16 {
            let lane = rng.range(0, v as i64 - 1) as usize;
            // Destinations: op k writes its own region of the vector memory (or of the wide
            // memory), 16 words apart, at the program's lane.
            let mut text = String::from("li dst=r3 imm=-1\n");
            let mut written: Vec<(usize, bool)> = Vec::new(); // (destination, in the wide memory)
            let ops = rng.range(3, 6) as usize;
            for k in 0..ops {
                let n = rng.range(1, 12 * v as i64) as usize;
                // A source: the initial 16-bit values, or an earlier destination moved by up to
                // two words either way (not below the wide memory's first word).
                let (src, from_wide) = match written.len() {
                    0 => (lane, false),
                    len => {
                        let (start, wide) = written[rng.range(0, len as i64 - 1) as usize];
                        let moved = start as i64 + rng.range(-2, 2) * v as i64;
                        let floor = if wide { WIDE + lane } else { lane };
                        (moved.max(floor as i64) as usize, wide)
                    }
                };
                let into_wide = !from_wide && rng.range(0, 3) == 0;
                let dst = if into_wide {
                    WIDE + 16 * v * (k % 2) + lane
                } else {
                    1024 + 16 * v * k + lane
                };
                let op = if into_wide {
                    format!("mul dst=v{dst} a=v{src} b=v{} n={n}", 384 + lane)
                } else if from_wide {
                    format!(
                        "norm dst=v{dst} src=v{src} n={n} bits=16 ein=r0 eout=r{}",
                        10 + k
                    )
                } else {
                    match rng.range(0, 2) {
                        0 => format!("copy dst=v{dst} src=v{src} n={n}"),
                        1 => format!("muls dst=v{dst} a=v{src} n={n} s=r3"),
                        _ => format!(
                            "norm dst=v{dst} src=v{src} n={n} bits=16 ein=r0 eout=r{}",
                            10 + k
                        ),
                    }
                };
                text += &op;
                text.push('\n');
                written.push((dst, into_wide));
            }
            let text = bases.fill(&format!("{text}end token=r0"));
            let (matrix, vector) = images(&t, rng.next());
            let program = common::bundle(&t, &text, matrix.clone(), vector.clone()).program;
            let vector_ops = program
                .iter()
                .filter(|i| i.op.spec().unit == Unit::Vxu)
                .count();
            let vector_waits = program
                .iter()
                .filter(|i| i.wait.is_some_and(|w| w.unit == Unit::Vxu))
                .count();
            if vector_waits + 1 < vector_ops {
                chained_programs += 1;
            }
            let ranges = [1024..1024 + 16 * v * 6, bases.range(&(WIDE..WIDE + 32 * v))];
            same_on_both(name, &text, 0, matrix, vector, &ranges, &[]);
        }
        assert!(
            chained_programs >= 4,
            "{name}: {chained_programs} programs chained"
        );
    }
}

/// The producers' magnitudes (the OR of their results' absolute values, through the reduction
/// tree: mul, muls, silu, addalign, shrv, rope) and the normalisations that take theirs from
/// such a register and stream once: in every lane, over nothing, over negative powers of two
/// (whose magnitude has a bit more than their one's complement) and with a register larger than
/// the input needs.
#[test]
fn magnitudes() {
    let w = WIDE..WIDE + 64;
    for lane in [0, 1, 3] {
        let (a, b) = (64 + lane, 128 + lane);
        for n in [0, 1, 3, 13] {
            let dst = WIDE + lane;
            check(
                &format!(
                    "mul dst=v{dst} a=v{a} b=v{b} n={n} mag=r6\n\
                     li dst=r3 imm=-3\nmuls dst=v{} a=v{a} n={n} s=r3 mag=r7\n\
                     li dst=r4 imm=-14\nsilu dst=v{} src=v{a} n={n} e=r4 mag=r8\n\
                     addalign dst=v{} a=v{a} b=v{b} n={n} ea=r3 eb=r4 eout=r5 mag=r9\n\
                     end token=r0",
                    dst + 16,
                    dst + 32,
                    dst + 48,
                ),
                std::slice::from_ref(&w),
            );
            // A product and its normalisation by the product's magnitude, to 8 and 16 bits.
            for bits in [8, 16] {
                check(
                    &format!(
                        "li dst=r3 imm=-9\nmul dst=v{dst} a=v{a} b=v{b} n={n} mag=r6\n\
                         norm dst=v{} src=v{dst} n={n} bits={bits} ein=r3 eout=r4 mag=r6 wait=vxu:1\n\
                         end token=r0",
                        192 + lane
                    ),
                    &[192..224, w.clone()],
                );
            }
        }
    }
    // Negative powers of two and zeros, normalised by their magnitude and by a larger one.
    for fill in [-4096i64, -1, 4096, 0, -(1 << 17)] {
        for given in ["mag=r6", "mag=r7"] {
            check(
                &format!(
                    "li dst=r3 imm={fill}\nfill dst=v64 n=13 s=r3\nli dst=r4 imm=1\n\
                     li dst=r7 imm=3000000000\n\
                     muls dst=v{WIDE} a=v64 n=13 s=r4 mag=r6\n\
                     norm dst=v192 src=v{WIDE} n=13 bits=16 ein=r0 eout=r5 {given} wait=vxu:2\n\
                     end token=r0"
                ),
                &[192..208],
            );
        }
    }
    // Shifts by a vector of exponents (right, and left past the operand's width), and their
    // normalisation by the magnitude.
    for s in [10i64, 25] {
        check(
            &format!(
                "li dst=r3 imm={s}\nshrv dst=v{WIDE} a=v{} b=v{} n=13 s=r3 mag=r6\n\
                 norm dst=v192 src=v{WIDE} n=13 bits=8 ein=r0 eout=r5 mag=r6 wait=vxu:1\n\
                 end token=r0",
                ACC + 128,
                ACC + 160
            ),
            &[192..208],
        );
    }
    // A one-pass normalisation straight after each other kind of stream (its shift and exponent
    // registers change while the earlier one's last slots are still in the pipeline; writes
    // after reads keep the order), and chained into by the next stream.
    let after = [
        // after a normalisation that searches (and writes where the one-pass one writes)
        format!("norm dst=v224 src=v{WIDE} n=48 bits=16 ein=r3 eout=r4"),
        // after normg
        format!(
            "normg dst=v224 src=v{WIDE} n=48 exps=v{} bits=16 eout=r4 max=r5",
            ACC + 128
        ),
        // after another one-pass normalisation (writing there too)
        format!(
            "mul dst=v{} a=v72 b=v136 n=32 mag=r7\n\
             norm dst=v224 src=v{} n=32 bits=16 ein=r3 eout=r4 mag=r7",
            WIDE + 64,
            WIDE + 64
        ),
    ];
    for earlier in after {
        check(
            &format!(
                "li dst=r3 imm=-9\nmul dst=v{WIDE} a=v64 b=v128 n=4 mag=r6\n{earlier}\n\
                 norm dst=v224 src=v{WIDE} n=4 bits=16 ein=r3 eout=r8 mag=r6\n\
                 norm dst=v240 src=v224 n=4 bits=8 ein=r8 eout=r9\n\
                 copy dst=v256 src=v224 n=4\nend token=r0"
            ),
            &[224..260],
        );
    }
    // A normg given its top bit straight after a one-pass norm, after another such normg and
    // before a one-pass norm, each a word or more long: the exponent of each changes while the
    // earlier one's last slot is still in the pipeline, and each must keep its own.
    let top = format!(
        "li dst=r3 imm=-9\nmul dst=v{WIDE} a=v64 b=v128 n=4 mag=r6\n\
         vmax dst=r10 src=v{} n=13\naddi dst=r11 a=r10 imm=32 wait=vxu:2",
        ACC + 128
    );
    // (of other widths, so that their exponents differ: the top bit is the same)
    let normg = |dst: usize, n: usize, eout: u8| {
        format!(
            "normg dst=v{dst} src=v{} n={n} exps=v{} bits={} eout=r{eout} max=r{} top=r11",
            ACC + 64,
            ACC + 128,
            eout,
            eout + 1
        )
    };
    let norm = |dst: usize, n: usize, eout: u8| {
        format!("norm dst=v{dst} src=v{WIDE} n={n} bits=16 ein=r3 eout=r{eout} mag=r6")
    };
    for n in [1, 4, 13] {
        for (first, second) in [
            (norm(224, n.min(4), 12), normg(240, n, 14)),
            (normg(224, n, 12), normg(240, n, 14)),
            (normg(224, n, 12), norm(240, n.min(4), 14)),
        ] {
            check(
                &format!("{top}\n{first} wait=sxu:2\n{second}\nend token=r0"),
                &[224..256],
            );
        }
    }
    // RoPE's rotation and its magnitude.
    check_at(
        &format!(
            "sincos dst=v64 src=v{} n=14\nrope dst=v{WIDE} src=v128 cs=v64 n=14 mag=r6\n\
             norm dst=v192 src=v{WIDE} n=14 bits=16 ein=r0 eout=r5 mag=r6 wait=vxu:2\nend token=r0",
            ACC + 64,
        ),
        37,
        &[192..208],
        &[],
    );
}

/// On the Gowin a product register is the multiplier's own output register. Verilator has no
/// Gowin primitives and simulates the plain register, so here the primitive's wiring (its
/// operands' extension, its width, its enable, the product's bits) runs in Verilator against
/// the plain register, through a model of the `MULT9X9` and `MULT18X18` as Monorail uses them
/// (no input or pipeline registers; the output register loads with CE; ASIGN and BSIGN say
/// which operands are two's complement), for seeded operands at the extremes and between.
#[test]
fn gowin_product_registers_load_as_the_plain_ones() {
    use monorail_hw::verilog::{product_register, product_register_for_synthesis, ProductRegister};
    use monorail_sim::verilated::{build, Model, Waveforms};

    let gowin = Target::builtin("gw2a-18").unwrap();
    let plain_target = Target::builtin("sim-tiny").unwrap();
    // (product register, its bits, operand bits a and b, signed)
    let cases: [(&str, u32, u32, u32, bool); 5] = [
        ("p8", 16, 8, 8, true),
        ("p18", 36, 18, 18, true),
        ("lo16", 32, 16, 16, false),
        ("hi16", 16, 16, 16, false),
        ("c34", 34, 18, 16, false),
    ];
    let mut ports = vec!["input wire clock;".to_string(), "input wire enable;".into()];
    let mut body = String::new();
    for &(q, q_bits, a_bits, b_bits, signed) in &cases {
        ports.push(format!("input wire [{}:0] {q}_x;", a_bits - 1));
        ports.push(format!("input wire [{}:0] {q}_y;", b_bits - 1));
        ports.push(format!("output wire [{}:0] {q}_plain;", q_bits - 1));
        ports.push(format!("output wire [{}:0] {q}_gowin;", q_bits - 1));
        let (plain, primitive) = (format!("{q}_p"), format!("{q}_g"));
        let (x, y) = (format!("{q}_x"), format!("{q}_y"));
        let named = |name| ProductRegister {
            q: name,
            q_bits,
            enable: "enable",
            held: true,
            a: &x,
            a_bits,
            b: &y,
            b_bits,
            signed,
        };
        body += &format!(
            "reg [{top}:0] {plain};\nreg [{top}:0] {primitive};\n{}{}\
             assign {q}_plain = {plain};\nassign {q}_gowin = {primitive};\n",
            product_register(&plain_target, &named(&plain)),
            product_register_for_synthesis(&gowin, &named(&primitive)),
            top = q_bits - 1
        );
    }
    let multiplier = |n: u32| {
        format!(
            "module MULT{n}X{n}(A, SIA, B, SIB, ASIGN, BSIGN, ASEL, BSEL, CE, CLK, RESET, DOUT, SOA, SOB);\n\
             input [{t}:0] A, SIA, B, SIB;\ninput ASIGN, BSIGN, ASEL, BSEL, CE, CLK, RESET;\n\
             output [{d}:0] DOUT;\noutput [{t}:0] SOA, SOB;\n\
             parameter AREG = 1'b0;\nparameter BREG = 1'b0;\nparameter OUT_REG = 1'b0;\n\
             parameter PIPE_REG = 1'b0;\nparameter ASIGN_REG = 1'b0;\nparameter BSIGN_REG = 1'b0;\n\
             parameter SOA_REG = 1'b0;\nparameter MULT_RESET_MODE = \"SYNC\";\n\
             wire signed [{n}:0] a = {{ASIGN & A[{t}], A}};\nwire signed [{n}:0] b = {{BSIGN & B[{t}], B}};\n\
             wire signed [{w}:0] p = a * b;\nreg [{d}:0] q;\n\
             always @(posedge CLK) if (RESET) q <= {m}'d0; else if (CE) q <= p[{d}:0];\n\
             assign DOUT = OUT_REG ? q : p[{d}:0];\nassign SOA = A;\nassign SOB = B;\n\
             wire unused = &{{1'b0, SIA, SIB, ASEL, BSEL, p[{w}:{m}], AREG, BREG, PIPE_REG, \
             ASIGN_REG, BSIGN_REG, SOA_REG}};\nendmodule\n",
            t = n - 1,
            d = 2 * n - 1,
            m = 2 * n,
            w = 2 * n + 1,
        )
    };
    let verilog = format!(
        "// The product registers of the Gowin against the plain ones.\n\nmodule top({});\n    {}\n{body}endmodule\n{}{}",
        ["clock".to_string(), "enable".into()]
            .into_iter()
            .chain(cases.iter().flat_map(|(q, ..)| {
                ["x", "y", "plain", "gowin"].map(|s| format!("{q}_{s}"))
            }))
            .collect::<Vec<_>>()
            .join(", "),
        ports.join("\n    "),
        multiplier(9),
        multiplier(18),
    );
    let built = build(
        &verilog,
        "gowin-products",
        Waveforms::Off,
        &common::build_root(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut model = Model::load(&built, &[]).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = Rng(20261202);
    for cycle in 0..400u64 {
        model.set("enable", u64::from(cycle % 5 != 3)).unwrap();
        for &(q, _, a_bits, b_bits, _) in &cases {
            for (port, bits) in [("x", a_bits), ("y", b_bits)] {
                let mask = (1u64 << bits) - 1;
                // Extremes now and then: 0, the largest, the smallest negative, -1.
                let value = match rng.next() % 8 {
                    0 => 0,
                    1 => mask >> 1,
                    2 => 1 << (bits - 1),
                    3 => mask,
                    _ => rng.next(),
                } & mask;
                model.set(&format!("{q}_{port}"), value).unwrap();
            }
        }
        model.tick(1);
        for &(q, ..) in &cases {
            let (plain, gowin) = (
                model.get(&format!("{q}_plain")).unwrap(),
                model.get(&format!("{q}_gowin")).unwrap(),
            );
            assert_eq!(plain, gowin, "{q} at cycle {cycle}");
        }
    }
}
