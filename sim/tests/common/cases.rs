//! Random operands, registers and memories for the small core's tests: cases that the ISA's
//! checks allow and that put realistic values in the registers, so that most run rather than
//! fault.

use super::Rng;
use monorail_contract::bundle::Bundle;
use monorail_contract::isa::{length, FieldKind, Op, OpSpec, LEN_POSITIONS_FLAG, REGISTERS};
use monorail_contract::numerics::{bit_length, grouped_top, magnitude};
use monorail_contract::target::{RawTarget, Target, VectorMemory};
use monorail_sim::Iss;

/// A value of a random width up to `bits` (signed), so that small and large values both come.
pub fn value(rng: &mut Rng, bits: u32) -> i64 {
    let width = rng.range(0, bits as i64 - 1);
    let top = (1i64 << width) - 1;
    rng.range(-top, top)
}

/// A start element in a random memory of the vector space with room for `n` elements.
pub fn element(rng: &mut Rng, target: &Target, n: usize) -> i64 {
    let memory = VectorMemory::ALL[rng.range(0, 3) as usize];
    let range = target.range_of(memory);
    rng.range(range.start as i64, (range.end - n) as i64)
}

/// Random operands for `spec`, lengths first so that addresses leave room for them.
pub fn operands(rng: &mut Rng, spec: &OpSpec, target: &Target, pos: usize) -> Op {
    let mut values = vec![0i64; spec.fields.len()];
    let mut longest = 1;
    for (i, f) in spec.fields.iter().enumerate() {
        if f.kind == FieldKind::N {
            let base = rng.range(0, 17);
            values[i] = if rng.range(0, 3) == 0 {
                base | LEN_POSITIONS_FLAG
            } else {
                base
            };
            longest = longest.max(monorail_contract::isa::length(values[i], pos));
        }
    }
    for (i, f) in spec.fields.iter().enumerate() {
        values[i] = match f.kind {
            FieldKind::N => values[i],
            // An optional register is left out (r0) half the time.
            FieldKind::R if f.optional && rng.range(0, 1) == 0 => 0,
            FieldKind::R => rng.range(0, REGISTERS as i64 - 1),
            FieldKind::V => element(rng, target, longest),
            FieldKind::M => rng.range(0, target.matrix_words() as i64 - 1),
            FieldKind::U => rng.range(0, (1 << f.bits.min(40)) - 1) >> rng.range(0, f.bits as i64),
            FieldKind::I => value(rng, f.bits.min(48)),
        };
    }
    Op::from_values(spec.opcode, &values).expect("a value per field")
}

/// Registers as a program leaves them: small counts and exponents, mantissas, wide sums.
pub fn registers(rng: &mut Rng) -> [i64; REGISTERS] {
    let mut r = [0i64; REGISTERS];
    for v in r.iter_mut().skip(1) {
        *v = match rng.range(0, 2) {
            0 => rng.range(-40, 40),
            1 => value(rng, 18),
            _ => value(rng, 41),
        };
    }
    r
}

/// Fill the vector space with values each memory holds.
pub fn fill(rng: &mut Rng, target: &Target, vector: &mut [i32]) {
    for memory in VectorMemory::ALL {
        for v in &mut vector[target.range_of(memory)] {
            *v = value(rng, memory.bits()) as i32;
        }
    }
}

/// A small-core target of small memories (each case copies them; `vector_words` of the vector
/// memory, a quarter as many of each of the others, and as many matrix words) and the fewest
/// vector lanes (so that random operands rarely break the lane rule of streamed operands, which
/// the small core has no use for). Its program is a few instructions.
pub fn small_target(lanes: usize, vector_words: usize) -> Target {
    let text = format!(
        r#"
        name = "micro-test"
        description = "small memories for the small core's tests"
        core = "small"
        lanes = {lanes}
        vector_lanes = 2
        clock_hz = 12_000_000
        [memory]
        matrix_tiles = 1
        matrix_tile_words = {vector_words}
        vector_words = {vector_words}
        accumulator_words = {quarter}
        wide_words = {quarter}
        input_words = {quarter}
        program_words = 4
    "#,
        quarter = vector_words / 4
    );
    RawTarget::parse(&text).unwrap().validate().unwrap()
}

/// Registers that hold what a program puts in them: an offset in a matrix offset register,
/// exponents in exponent registers, and in `norm`'s `mag` the magnitude of its input (or a
/// longer one), so that the cases run rather than fault.
pub fn hint_registers(
    rng: &mut Rng,
    op: &Op,
    registers: &mut [i64; REGISTERS],
    vector: &[i32],
    pos: usize,
) {
    let spec = op.spec();
    for (i, f) in spec.fields.iter().enumerate() {
        let r = op.value(i) as usize;
        if f.kind != FieldKind::R || r == 0 {
            continue;
        }
        match (spec.mnemonic, f.name) {
            (_, "wreg") => registers[r] = rng.range(0, 64),
            (_, "ein" | "ea" | "eb" | "e" | "shift" | "off") | ("shrv", "s") => {
                registers[r] = rng.range(-40, 40)
            }
            ("norm", "mag") => {
                let (src, n) = (op.value(1) as usize, length(op.value(2), pos));
                let m = magnitude(vector[src..src + n].iter().map(|&v| v as i64));
                let longer = rng.range(0, 31 - bit_length(m) as i64);
                registers[r] = (m | (1 << longer >> 1)) as i64;
            }
            // The values' top bit, or a few bits above it.
            ("normg", "top") => {
                let field =
                    |name| op.value(spec.fields.iter().position(|f| f.name == name).unwrap());
                let n = length(field("n"), pos);
                let (src, exps) = (field("src") as usize, field("exps") as usize);
                let values: Vec<i64> = vector[src..src + n].iter().map(|&v| v as i64).collect();
                let exps: Vec<i32> = vector[exps..exps + n]
                    .iter()
                    .map(|&e| e.clamp(-(1 << 20), 1 << 20))
                    .collect();
                let top = grouped_top(&values, &exps, 1).unwrap_or(0);
                registers[r] = top as i64 + rng.range(0, 4);
            }
            _ => {}
        }
    }
}

/// The built-in `tales-nano` compiled for the `icebreaker` target (the small core): the target,
/// the bundle, and its program encoded.
pub fn tales_nano_on_icebreaker() -> (Target, Bundle, Vec<u128>) {
    let target = Target::builtin("icebreaker").unwrap();
    let (checkpoint, _) = monorail_model::builtin::by_name("tales-nano")
        .unwrap()
        .load()
        .unwrap();
    let quant = monorail_model::quant::QuantModel::quantize(&checkpoint);
    let compiled = monorail_compiler::compile(&quant, &target, Default::default()).unwrap();
    let program = compiled
        .bundle
        .program
        .iter()
        .map(|i| i.encode().unwrap())
        .collect();
    (target, compiled.bundle, program)
}

/// Random operands for `spec` that pass the ISA's checks (those every loaded program passes).
pub fn checked_operands(rng: &mut Rng, spec: &OpSpec, target: &Target, pos: usize) -> Op {
    (0..1000)
        .map(|_| operands(rng, spec, target, pos))
        .find(|op| op.check(target, pos).is_ok())
        .unwrap_or_else(|| panic!("{}: no operands pass the checks", spec.mnemonic))
}

/// An ISS of `target` with zeroed memories, to execute single instructions on
/// ([`Iss::execute_with`]).
pub fn iss_for(target: &Target) -> Iss {
    let bundle = super::bundle(
        target,
        "end token=r0",
        vec![0; target.matrix_bytes()],
        vec![0; target.vector_space()],
    );
    Iss::new(target.clone(), bundle).unwrap()
}
