//! The instruction set of the Monorail core: one table (`define_isa!`) from which the typed
//! instructions, their 128-bit encoding, their assembly text and the ISA manual's field lists
//! all come. Semantics are in `docs/isa.md` and, executably, in the instruction-set simulator;
//! timing is in [`crate::timing`].
//!
//! The machine: a matrix unit (MXU) of `lanes` int8 multipliers streaming one matrix-memory word
//! per cycle; a vector unit (VXU) of `vector_lanes` int32 lanes with the numerics primitives; a
//! scalar unit (SXU) with 64 registers; and a sequencer that issues one instruction per cycle, in
//! order, with no branches. Each instruction may name one earlier unit completion to wait for;
//! that is how the compiler's static schedule is written down (see [`crate::timing`]).

use std::fmt;

use crate::target::{Target, VectorMemory};

/// The units that execute instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// The sequencer itself (`nop`, `end`).
    Seq,
    /// The matrix unit.
    Mxu,
    /// The vector unit.
    Vxu,
    /// The scalar unit.
    Sxu,
}

impl Unit {
    /// The execution units (those with completion counters), in wait-field order.
    pub const EXECUTION: [Unit; 3] = [Unit::Mxu, Unit::Vxu, Unit::Sxu];

    /// Lower-case name (`mxu`).
    pub fn name(self) -> &'static str {
        match self {
            Unit::Seq => "seq",
            Unit::Mxu => "mxu",
            Unit::Vxu => "vxu",
            Unit::Sxu => "sxu",
        }
    }

    /// The index of an execution unit in [`Unit::EXECUTION`] (none for the sequencer).
    pub fn slot(self) -> Option<usize> {
        Unit::EXECUTION.iter().position(|&u| u == self)
    }

    fn wait_code(self) -> u128 {
        match self {
            Unit::Seq => 0,
            Unit::Mxu => 1,
            Unit::Vxu => 2,
            Unit::Sxu => 3,
        }
    }
}

/// What a field holds, which decides its assembly spelling and its checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Vector-memory element address, `v123`.
    V,
    /// Matrix-memory word address, `m123`.
    M,
    /// Scalar register, `r12`.
    R,
    /// A length: `64`, or `P` (the number of positions, `pos + 1`), or `P+3`.
    N,
    /// Unsigned immediate.
    U,
    /// Signed immediate.
    I,
}

/// One operand field of an instruction format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// Name, as written in assembly (`dst=`).
    pub name: &'static str,
    /// Kind.
    pub kind: FieldKind,
    /// Width in the 128-bit word.
    pub bits: u32,
    /// Whether assembly may leave the field out, for 0 (`r0`: no register), and the
    /// disassembly then does.
    pub optional: bool,
}

/// The format of one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpSpec {
    /// Mnemonic.
    pub mnemonic: &'static str,
    /// Opcode (bits 0..8).
    pub opcode: u8,
    /// The unit that executes it.
    pub unit: Unit,
    /// Operand fields, packed from bit [`OPERAND_SHIFT`] upwards in this order.
    pub fields: &'static [FieldSpec],
    /// One line: what it does.
    pub summary: &'static str,
    /// What it does, precisely (the doc comment of its table entry).
    pub action: &'static str,
}

/// Bit where operand fields start (after the opcode and the wait field).
pub const OPERAND_SHIFT: u32 = 24;
/// Bits of the wait count.
pub const WAIT_COUNT_BITS: u32 = 14;
/// Register that reads as zero (writes are dropped).
pub const REG_ZERO: u8 = 0;
/// Register holding the current position (set by the host at token start).
pub const REG_POS: u8 = 1;
/// Register holding the current input token (set by the host at token start).
pub const REG_TOKEN: u8 = 2;
/// Number of scalar registers.
pub const REGISTERS: usize = 64;
/// Bits of a scalar register: a signed value of 48 bits, the vector datapath's width. An
/// instruction whose register result does not fit is a fault (the register file keeps no more).
pub const REGISTER_BITS: u32 = 48;

/// Whether `value` fits a register ([`REGISTER_BITS`], signed).
pub fn fits_register(value: i64) -> bool {
    let half = 1i64 << (REGISTER_BITS - 1);
    (-half..half).contains(&value)
}
/// The most register fields an instruction reads: the register file's read ports (each costs a
/// copy of the file per write port in the hardware, so the formats keep to two).
pub const REGISTER_READS: usize = 2;
/// Partial sums the matrix unit holds for a `dotv` over more than one block of rows, its most
/// columns: the most a target may declare, and its default (`Target::partial_sums`).
pub const DOTV_PARTIAL_SUMS: usize = 256;
/// Flag bit of a length field meaning "plus the number of positions".
pub const LEN_POSITIONS_FLAG: i64 = 1 << 16;

/// Whether a field of the table is marked `optional` (after its width).
macro_rules! optional {
    () => {
        false
    };
    (optional) => {
        true
    };
}

macro_rules! define_isa {
    ( $(
        $(#[doc = $doc:literal])*
        $variant:ident = $opcode:literal, $unit:ident, $mnemonic:literal, $summary:literal
            { $( $field:ident : $kind:ident $bits:literal $($optional:ident)? ),* $(,)? }
    )* ) => {
        /// An instruction's operation and operands (every operand as a plain integer; lengths
        /// keep their [`LEN_POSITIONS_FLAG`]).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $(
                $(#[doc = $doc])*
                $variant { $( #[allow(missing_docs)] $field: i64 ),* },
            )*
        }

        /// Every instruction format, in opcode order.
        pub const SPECS: &[OpSpec] = &[
            $( OpSpec {
                mnemonic: $mnemonic,
                opcode: $opcode,
                unit: Unit::$unit,
                fields: &[ $( FieldSpec { name: stringify!($field), kind: FieldKind::$kind, bits: $bits, optional: optional!($($optional)?) } ),* ],
                summary: $summary,
                action: concat!($($doc, "\n"),*),
            }, )*
        ];

        impl Op {
            /// This operation's format.
            pub fn spec(&self) -> &'static OpSpec {
                let opcode = match self { $( Op::$variant { .. } => $opcode, )* };
                spec_of(opcode).expect("every variant has a spec")
            }

            /// Operand values in field order.
            pub fn values(&self) -> Vec<i64> {
                match *self { $( Op::$variant { $( $field ),* } => vec![ $( $field ),* ], )* }
            }

            /// The value of field `i` (in field order), without building the list.
            pub fn value(&self, i: usize) -> i64 {
                match *self {
                    $( Op::$variant { $( $field ),* } => {
                        let values: &[i64] = &[ $( $field ),* ];
                        values[i]
                    } )*
                }
            }

            /// Rebuild from an opcode and operand values in field order.
            pub fn from_values(opcode: u8, values: &[i64]) -> Option<Op> {
                match opcode {
                    $( $opcode => {
                        #[allow(unused_mut, unused_variables)]
                        let mut it = values.iter().copied();
                        let op = Op::$variant { $( $field: it.next()? ),* };
                        if it.next().is_some() { return None; }
                        Some(op)
                    } )*
                    _ => None,
                }
            }
        }
    };
}

define_isa! {
    /// Idle the sequencer for `cycles` cycles (at least one).
    Nop = 0x00, Seq, "nop", "idle the sequencer" { cycles: U 16 }
    /// Wait for every unit to finish, then output register `token` as the next token. A token
    /// outside the model's vocabulary is a fault of the program, which the simulator reports;
    /// the core's host port sends the register's low 16 bits as they are.
    End = 0x01, Seq, "end", "finish the token step and output a token" { token: R 6 }

    /// `r[dst] = imm`.
    Li = 0x10, Sxu, "li", "load an immediate" { dst: R 6, imm: I 48 }
    /// `r[dst] = r[a] + imm`.
    Addi = 0x11, Sxu, "addi", "add an immediate" { dst: R 6, a: R 6, imm: I 40 }
    /// `r[dst] = r[a] + r[b]`.
    Add = 0x12, Sxu, "add", "add registers" { dst: R 6, a: R 6, b: R 6 }
    /// `r[dst] = r[a] - r[b]`.
    Sub = 0x13, Sxu, "sub", "subtract registers" { dst: R 6, a: R 6, b: R 6 }
    /// `r[dst] = max(r[a], r[b])`.
    Max = 0x14, Sxu, "max", "maximum of registers" { dst: R 6, a: R 6, b: R 6 }
    /// `r[dst] = r[a] >> imm` (arithmetic).
    Shri = 0x15, Sxu, "shri", "arithmetic shift right" { dst: R 6, a: R 6, imm: U 6 }
    /// `r[dst] = r[a] & imm`.
    Andi = 0x16, Sxu, "andi", "and with an immediate" { dst: R 6, a: R 6, imm: U 40 }
    /// `r[dst] = r[a] * imm` (both 18-bit signed values: one multiplier).
    Muli = 0x17, Sxu, "muli", "multiply by an immediate" { dst: R 6, a: R 6, imm: I 40 }
    /// `(r[mant], r[exp]) = rsqrt(r[a])` (numerics::rsqrt).
    Rsqrt = 0x18, Sxu, "rsqrt", "reciprocal square root (table)" { mant: R 6, exp: R 6, a: R 6 }
    /// `(r[mant], r[exp]) = recip(r[a])` (numerics::recip).
    Recip = 0x19, Sxu, "recip", "reciprocal (table)" { mant: R 6, exp: R 6, a: R 6 }

    /// `v[dst + r] = sum_j W[r, j] * v[x + j]` for `r < rows`: W in column-block layout at
    /// `w + r[wreg]`; `x` holds int8 values.
    Matvec = 0x20, Mxu, "matvec", "matrix times broadcast vector" { dst: V 16, w: M 20, wreg: R 6, x: V 16, rows: N 17, cols: U 16 }
    /// `v[dst + j] = sum_r W[r, j] * v[x + r]` for `j < cols`: the transposed product, lanes
    /// reduced by an adder tree.
    Dotv = 0x21, Mxu, "dotv", "transposed matrix times lane vector" { dst: V 16, w: M 20, wreg: R 6, x: V 16, rows: N 17, cols: U 16 }
        /// `v[dst + i]` = lane `i % lanes` of matrix word `src + i / lanes` (sign-extended int8).
    Mload = 0x22, Mxu, "mload", "load int8 lanes of matrix words" { dst: V 16, src: M 20, n: N 17 }

    /// Normalise `n` wide values at `src` (exponent `r[ein]`) to `bits`-bit mantissas at `dst`;
    /// `r[eout]` gets the new exponent (numerics::normalize). With `mag` (not `r0`) the
    /// largest magnitude is not searched for: the shift is `r[mag]`'s (the magnitude of the
    /// instruction that wrote the values, or a bound on it; numerics::normalize_by), and the
    /// normalisation streams once.
    Norm = 0x30, Vxu, "norm", "block floating point normalisation" { dst: V 16, src: V 16, n: N 17, bits: U 5, ein: R 6, eout: R 6, mag: R 6 optional }
    /// Normalise `n` values, value `i` with its own exponent `v[exps + i]`, to `bits`-bit
    /// mantissas with one exponent `r[eout]` (numerics::normalize_grouped, groups of one);
    /// `r[max]` gets the largest output mantissa. With `top` (not `r0`) the top bit of the
    /// largest value (the largest `bit_length(|v|)` plus its exponent) is not searched for: it is
    /// `r[top]` (a bound on it that the compiler knows; numerics::normalize_grouped_by), the
    /// exponent is `r[top] - (bits - 1)`, and the normalisation streams once.
    Normg = 0x31, Vxu, "normg", "normalisation of values with their own exponents" { dst: V 16, src: V 16, n: N 17, exps: V 16, bits: U 5, eout: R 6, max: R 6, top: R 6 optional }
    /// `v[dst + i] = shift_round(v[a + i], sh) * v[b + i]`; `r[mag]` gets the magnitude of the
    /// results. The shift (0 when left out) is a normalisation by a shift the compiler knows, such
    /// as a matrix product's accumulators' by their bound, in the same pass as the product: each
    /// shifted value must fit a multiplier's input, as `a`'s must without one.
    Mul = 0x32, Vxu, "mul", "element-wise product" { dst: V 16, a: V 16, b: V 16, n: N 17, mag: R 6 optional, sh: I 6 optional }
    /// `v[dst + i] = v[a + i] * r[s]`; `r[mag]` gets the magnitude of the results.
    Muls = 0x33, Vxu, "muls", "product with a scalar" { dst: V 16, a: V 16, n: N 17, s: R 6, mag: R 6 optional }
    /// `E = max(r[ea], r[eb]) - @RESIDUAL_GUARD_BITS@` (`numerics::RESIDUAL_GUARD_BITS`, which
    /// keeps the larger operand exact); `v[dst + i] = shift_round(v[a + i], E - r[ea]) +
    /// shift_round(v[b + i], E - r[eb])`; `r[eout] = E`; `r[mag]` gets the magnitude of the
    /// results.
    Addalign = 0x34, Vxu, "addalign", "aligned addition" { dst: V 16, a: V 16, b: V 16, n: N 17, ea: R 6, eb: R 6, eout: R 6, mag: R 6 optional }
    /// For each pair (`i` even): with `x = v[src + i]`, `y = v[src + i + 1]`, `c = v[cs + i]`,
    /// `s = v[cs + i + 1]`: `v[dst + i] = x c - y s`, `v[dst + i + 1] = x s + y c` (the cosines
    /// and sines of `sincos`, Q1.14); `r[mag]` gets the magnitude of the results.
    Rope = 0x35, Vxu, "rope", "rotary position embedding" { dst: V 16, src: V 16, cs: V 16, n: N 17, mag: R 6 optional }
    /// `v[dst + i] = m * sigmoid_q14(shift_round(m, -(r[e] + 6)))` with `m = v[src + i]`;
    /// `r[mag]` gets the magnitude of the results.
    Silu = 0x36, Vxu, "silu", "x times sigmoid(x)" { dst: V 16, src: V 16, n: N 17, e: R 6, mag: R 6 optional }
    /// `v[dst + i] = exp2_neg_q15(min(-shift_round((v[src + i] - r[max]) * mant, r[shift]), 4096))`;
    /// `r[sum]` gets the sum of the outputs. The exponent must not be negative (`r[max]` is the
    /// largest input and `mant` positive). `mant` is the model's constant scale, an immediate, so
    /// that no instruction reads more than two registers.
    Expneg = 0x37, Vxu, "expneg", "softmax numerators" { dst: V 16, src: V 16, n: N 17, max: R 6, mant: U 15, shift: R 6, sum: R 6 }
    /// `v[dst + i] = shift_round(v[a + i], r[s] - v[b + i])`; `r[mag]` gets the magnitude of
    /// the results.
    Shrv = 0x38, Vxu, "shrv", "shift by a vector of exponents" { dst: V 16, a: V 16, b: V 16, n: N 17, s: R 6, mag: R 6 optional }
    /// `v[dst + i] = v[a + i] + r[s]`.
    Addsv = 0x39, Vxu, "addsv", "add a scalar" { dst: V 16, a: V 16, n: N 17, s: R 6 }
    /// `r[dst] = sum_i v[src + i]^2`.
    Sumsq = 0x3a, Vxu, "sumsq", "sum of squares" { dst: R 6, src: V 16, n: N 17 }
    /// `r[dst] = sum_i v[src + i]`.
    Sum = 0x3b, Vxu, "sum", "sum" { dst: R 6, src: V 16, n: N 17 }
    /// `r[dst] = max_i v[src + i]`; 0 when `n` is 0.
    Vmax = 0x3c, Vxu, "vmax", "maximum" { dst: R 6, src: V 16, n: N 17 }
    /// `r[dst]` = the first index of the largest `v[src + i]`; 0 when `n` is 0.
    Argmax = 0x3d, Vxu, "argmax", "index of the maximum" { dst: R 6, src: V 16, n: N 17 }
    /// `v[dst + i] = (i == r[idx])`.
    Onehot = 0x3e, Vxu, "onehot", "one-hot vector" { dst: V 16, n: N 17, idx: R 6 }
    /// `r[dst] = v[src + r[idx]]`.
    Getv = 0x3f, Vxu, "getv", "read one element into a register" { dst: R 6, src: V 16, idx: R 6 }
    /// `v[dst + r[idx]] = r[src]`.
    Setv = 0x40, Vxu, "setv", "write a register into one element" { dst: V 16, idx: R 6, src: R 6 }
    /// For `d < n`: lane `pos % lanes` of matrix word `dst + (pos / lanes) * n + d` = `v[src + d]`
    /// (int8): one position of a key or value cache in column-block layout. `src` is in the
    /// vector memory.
    Kvstore = 0x41, Vxu, "kvstore", "store one cache position" { dst: M 20, src: V 16, n: U 16 }
    /// `v[dst + i] = v[src + i]`.
    Copy = 0x42, Vxu, "copy", "copy" { dst: V 16, src: V 16, n: N 17 }
    /// Lane `pos % lanes` of matrix word `dst + pos / lanes` = `clamp(r[src], -128, 127)` as
    /// int8: the exponent of one cache position.
    Kvexp = 0x43, Vxu, "kvexp", "store one cache exponent" { dst: M 20, src: R 6 }
    /// With `phase = pos * v[src + i]` modulo 2^32 (a fraction of a turn): `v[dst + i]` =
    /// `cos(phase)` for even `i`, `sin(phase)` for odd `i`, in Q1.14 (numerics::sin_cos_q14):
    /// RoPE's rotations at the current position, from its phase steps. `src` is in the
    /// accumulator or wide memory (32-bit steps).
    Sincos = 0x44, Vxu, "sincos", "cosines and sines of the position's phases" { dst: V 16, src: V 16, n: N 17 }
    /// `v[dst + i] = r[s]`.
    Fill = 0x45, Vxu, "fill", "fill with a scalar" { dst: V 16, n: N 17, s: R 6 }
}

/// Bytes of an encoded instruction (a `u128`, little-endian) in a program file and on the host
/// port.
pub const INSTRUCTION_BYTES: usize = std::mem::size_of::<u128>();

/// Bits of the 128-bit word that some format uses (the end of the widest format's last field):
/// the bits a program memory stores.
pub fn encoded_bits() -> u32 {
    SPECS
        .iter()
        .map(|s| OPERAND_SHIFT + s.fields.iter().map(|f| f.bits).sum::<u32>())
        .max()
        .unwrap_or(OPERAND_SHIFT)
}

/// Bits of a program-memory word: [`encoded_bits`] rounded up to a whole hexadecimal digit, so
/// that `program.hex` is its `$readmemh` image word for word.
pub fn stored_bits() -> u32 {
    encoded_bits().div_ceil(4) * 4
}

/// The format with this opcode.
pub fn spec_of(opcode: u8) -> Option<&'static OpSpec> {
    SPECS.get(SPEC_INDEX[opcode as usize] as usize)
}

/// Each opcode's place in [`SPECS`] (`u8::MAX`: none): the timing rules and the simulators
/// look formats up for every instruction they cost or run.
const SPEC_INDEX: [u8; 256] = {
    assert!(SPECS.len() < u8::MAX as usize);
    let mut index = [u8::MAX; 256];
    let mut i = 0;
    while i < SPECS.len() {
        index[SPECS[i].opcode as usize] = i as u8;
        i += 1;
    }
    index
};

/// The format with this mnemonic.
pub fn spec_by_mnemonic(mnemonic: &str) -> Option<&'static OpSpec> {
    SPECS.iter().find(|s| s.mnemonic == mnemonic)
}

/// "Wait until `unit` has completed at least `count` instructions of this token step."
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Wait {
    /// An execution unit.
    pub unit: Unit,
    /// 1-based count of that unit's instructions in this token step.
    pub count: u32,
}

/// One instruction: an operation and at most one wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instr {
    /// What to do.
    pub op: Op,
    /// What to wait for before issuing.
    pub wait: Option<Wait>,
}

/// Why an instruction cannot be encoded, decoded or parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsaError {
    /// What is wrong.
    pub message: String,
    /// Column (1-based) in the assembly line, when parsing.
    pub column: Option<usize>,
}

impl fmt::Display for IsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "column {c}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for IsaError {}

fn err(message: impl Into<String>) -> IsaError {
    IsaError {
        message: message.into(),
        column: None,
    }
}

/// The value range of a field.
fn field_range(f: &FieldSpec) -> (i64, i64) {
    match f.kind {
        FieldKind::I => (-(1i64 << (f.bits - 1)), (1i64 << (f.bits - 1)) - 1),
        FieldKind::R => (0, REGISTERS as i64 - 1),
        _ => (0, (1i64 << f.bits) - 1),
    }
}

/// The value of a length field at a position: its base, plus `pos + 1` when flagged.
pub fn length(raw: i64, pos: usize) -> usize {
    let base = (raw & (LEN_POSITIONS_FLAG - 1)) as usize;
    if raw & LEN_POSITIONS_FLAG != 0 {
        base + pos + 1
    } else {
        base
    }
}

/// A length field meaning `pos + 1 + base`.
pub fn positions_plus(base: u16) -> i64 {
    LEN_POSITIONS_FLAG | base as i64
}

impl Instr {
    /// An instruction without a wait.
    pub fn new(op: Op) -> Instr {
        Instr { op, wait: None }
    }

    /// The 128-bit encoding: opcode in bits 0..8, wait unit in 8..10, wait count in 10..24,
    /// operands from bit 24 in field order (signed fields in two's complement).
    pub fn encode(&self) -> Result<u128, IsaError> {
        let spec = self.op.spec();
        let mut word = spec.opcode as u128;
        if let Some(w) = self.wait {
            if w.unit == Unit::Seq {
                return Err(err("a wait names an execution unit (mxu, vxu or sxu)"));
            }
            if w.count == 0 || w.count >= 1 << WAIT_COUNT_BITS {
                return Err(err(format!(
                    "wait count {} outside 1 ..= {}",
                    w.count,
                    (1 << WAIT_COUNT_BITS) - 1
                )));
            }
            word |= w.unit.wait_code() << 8 | (w.count as u128) << 10;
        }
        let mut shift = OPERAND_SHIFT;
        for (f, v) in spec.fields.iter().zip(self.op.values()) {
            let (lo, hi) = field_range(f);
            if v < lo || v > hi {
                return Err(err(format!(
                    "{} {}={v} outside {lo} ..= {hi}",
                    spec.mnemonic, f.name
                )));
            }
            let mask = (1u128 << f.bits) - 1;
            word |= ((v as i128 as u128) & mask) << shift;
            shift += f.bits;
        }
        debug_assert!(shift <= 128, "{} overflows 128 bits", spec.mnemonic);
        Ok(word)
    }

    /// Decode a 128-bit word.
    pub fn decode(word: u128) -> Result<Instr, IsaError> {
        let opcode = (word & 0xff) as u8;
        let spec = spec_of(opcode).ok_or_else(|| err(format!("unknown opcode 0x{opcode:02x}")))?;
        let count = ((word >> 10) & ((1 << WAIT_COUNT_BITS) - 1)) as u32;
        let wait = match (word >> 8) & 3 {
            0 if count == 0 => None,
            0 => return Err(err("a wait count without a wait unit")),
            code => {
                if count == 0 {
                    return Err(err("a wait unit without a count"));
                }
                Some(Wait {
                    unit: Unit::EXECUTION[code as usize - 1],
                    count,
                })
            }
        };
        let mut shift = OPERAND_SHIFT;
        let mut values = Vec::with_capacity(spec.fields.len());
        for f in spec.fields {
            let raw = (word >> shift) & ((1u128 << f.bits) - 1);
            let v = if f.kind == FieldKind::I && raw >> (f.bits - 1) & 1 == 1 {
                raw as i64 - (1i64 << f.bits)
            } else {
                raw as i64
            };
            let (lo, hi) = field_range(f);
            if v < lo || v > hi {
                return Err(err(format!(
                    "{} {}={v} out of range",
                    spec.mnemonic, f.name
                )));
            }
            values.push(v);
            shift += f.bits;
        }
        if shift < 128 && word >> shift != 0 {
            return Err(err(format!("{}: unused bits are set", spec.mnemonic)));
        }
        let op = Op::from_values(opcode, &values).expect("values match the spec");
        Ok(Instr { op, wait })
    }

    /// Parse one line of assembly: `mnemonic field=value ... [wait=unit:count]`; `#` starts a
    /// comment. Errors carry the 1-based column. A named address (`w=@layer0.wo`) is refused:
    /// names are a bundle's ([`Instr::parse_with`]).
    pub fn parse(line: &str) -> Result<Option<Instr>, IsaError> {
        Instr::parse_with(line, &|_, name, _| {
            Err(format!(
                "`@{name}`: a named address needs a bundle's memory map (`monorail asm --bundle`)"
            ))
        })
    }

    /// [`Instr::parse`], with vector and matrix addresses also written by name, `@NAME` or
    /// `@NAME+OFFSET`, which `names` turns into addresses (given the field's kind, the name and
    /// the offset) or refuses with a message.
    pub fn parse_with(line: &str, names: &AddressNames<'_>) -> Result<Option<Instr>, IsaError> {
        let code = line.split('#').next().unwrap_or("");
        let mut tokens = tokenize(code);
        let Some((col, mnemonic)) = tokens.next() else {
            return Ok(None);
        };
        let spec = spec_by_mnemonic(mnemonic).ok_or_else(|| IsaError {
            // A number, then more: the start of a compile listing's line.
            message: if mnemonic.bytes().all(|b| b.is_ascii_digit())
                && code.split_whitespace().count() > 1
            {
                format!(
                    "unknown mnemonic `{mnemonic}`: a line that starts with numbers is a compile \
                     listing's (`listing.s`: index, cycles, unit and step before each \
                     instruction), which is not assembly; `monorail disasm` writes the bundle's \
                     program as assembly"
                )
            } else {
                format!("unknown mnemonic `{mnemonic}`")
            },
            column: Some(col),
        })?;
        let mut values: Vec<Option<i64>> = vec![None; spec.fields.len()];
        let mut wait = None;
        for (col, token) in tokens {
            let at = |message: String| IsaError {
                message,
                column: Some(col),
            };
            let (key, value) = token
                .split_once('=')
                .ok_or_else(|| at(format!("expected field=value, found `{token}`")))?;
            if key == "wait" {
                // One wait an instruction: a second is held by a `nop` before it.
                if wait.replace(parse_wait(value).map_err(&at)?).is_some() {
                    return Err(at(
                        "field `wait` given twice: an instruction holds one wait; put a `nop` \
                         with the other before it"
                            .into(),
                    ));
                }
                continue;
            }
            let index = spec
                .fields
                .iter()
                .position(|f| f.name == key)
                .ok_or_else(|| {
                    at(format!(
                        "`{}` has no field `{key}` (fields: {})",
                        spec.mnemonic,
                        spec.fields
                            .iter()
                            .map(|f| f.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            let f = &spec.fields[index];
            let v = parse_value(f, value, names).map_err(&at)?;
            let (lo, hi) = field_range(f);
            if v < lo || v > hi {
                return Err(at(format!(
                    "{key}={} outside {lo} ..= {hi}",
                    shortened_for_message(value)
                )));
            }
            if values[index].replace(v).is_some() {
                return Err(at(format!("field `{key}` given twice")));
            }
        }
        let values: Vec<i64> = spec
            .fields
            .iter()
            .zip(&values)
            .map(|(f, v)| {
                v.or(f.optional.then_some(0)).ok_or_else(|| IsaError {
                    message: format!("`{}` needs field `{}`", spec.mnemonic, f.name),
                    column: Some(code.trim_end().len() + 1),
                })
            })
            .collect::<Result<_, _>>()?;
        let op = Op::from_values(spec.opcode, &values).expect("values match the spec");
        Ok(Some(Instr { op, wait }))
    }
}

/// The column (from 1) of field `field` in an instruction's text `line`, where the line gives
/// it: a placement rule broken ([`PlacementError`]) is told at the field that breaks it.
pub fn field_column(line: &str, field: &str) -> Option<usize> {
    let code = line.split('#').next().unwrap_or("");
    tokenize(code)
        .find(|(_, token)| token.split_once('=').is_some_and(|(key, _)| key == field))
        .map(|(column, _)| column)
}

/// A placement rule of the ISA that an instruction breaks ([`Op::check`]), and the field that
/// breaks it where one does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementError {
    /// The field (`dst`, `src`, ...), where one field breaks the rule.
    pub field: Option<&'static str>,
    /// What is wrong, field and value first where there is a field.
    pub message: String,
}

impl std::fmt::Display for PlacementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl PlacementError {
    /// The rule broken by field `field`.
    fn of(field: &'static str, message: String) -> PlacementError {
        PlacementError {
            field: Some(field),
            message,
        }
    }

    /// A rule broken by the instruction as a whole.
    fn whole(message: impl Into<String>) -> PlacementError {
        PlacementError {
            field: None,
            message: message.into(),
        }
    }
}

fn tokenize(code: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in code.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((s + 1, &code[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s + 1, &code[s..]));
    }
    out.into_iter()
}

fn parse_wait(value: &str) -> Result<Wait, String> {
    let (unit, count) = value.split_once(':').ok_or_else(|| {
        format!(
            "wait={}: expected unit:count, like vxu:3",
            shortened_for_message(value)
        )
    })?;
    let unit = Unit::EXECUTION
        .into_iter()
        .find(|u| u.name() == unit)
        .ok_or_else(|| {
            format!(
                "wait unit `{}` is not mxu, vxu or sxu",
                shortened_for_message(unit)
            )
        })?;
    // Decimal or `0x` hexadecimal, as every other number (digits only: no sign).
    let (radix, digits) = match count.strip_prefix("0x") {
        Some(hex) => (16, hex),
        None => (10, count),
    };
    let most = (1u32 << WAIT_COUNT_BITS) - 1;
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(format!(
            "wait count `{}` is not a number",
            shortened_for_message(count)
        ));
    }
    // (digits too many for a u32 are a count too large, not something other than a number)
    let count = u32::from_str_radix(digits, radix).unwrap_or(u32::MAX);
    if count == 0 || count > most {
        return Err(format!(
            "wait count {} outside 1 ..= {most}",
            if count == u32::MAX {
                shortened_for_message(digits)
            } else {
                count.to_string()
            }
        ));
    }
    Ok(Wait { unit, count })
}

/// Turns a named address, `@NAME+OFFSET`, of a field of kind [`FieldKind::V`] or
/// [`FieldKind::M`] into the address: given the kind, the name and the offset (0 for `@NAME`),
/// the address or why there is none.
pub type AddressNames<'a> = dyn Fn(FieldKind, &str, i64) -> Result<i64, String> + 'a;

/// `text` as an error message quotes it: whole, or its start and its length where it is long.
fn shortened_for_message(text: &str) -> String {
    const LONGEST_CHARS: usize = 40;
    match text.char_indices().nth(LONGEST_CHARS) {
        None => text.to_string(),
        Some((end, _)) => format!("{}... ({} characters)", &text[..end], text.chars().count()),
    }
}

fn parse_value(f: &FieldSpec, text: &str, names: &AddressNames<'_>) -> Result<i64, String> {
    let shown = shortened_for_message(text);
    // Decimal or `0x` hexadecimal, with a `-` for a negative value and no `+`.
    let number = |digits: &str| -> Result<i64, String> {
        let digits_quoted = shortened_for_message(digits);
        let not_a_number = || format!("{}={shown}: `{digits_quoted}` is not a number", f.name);
        let (negative, magnitude) = match digits.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, digits),
        };
        let (radix, magnitude) = match magnitude.strip_prefix("0x") {
            Some(hex) => (16, hex),
            None => (10, magnitude),
        };
        if !magnitude
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            return Err(not_a_number());
        }
        let too_large = || {
            format!(
                "{}={shown}: `{digits_quoted}` is too large for any field",
                f.name
            )
        };
        let value = i128::from_str_radix(magnitude, radix).map_err(|e| match e.kind() {
            std::num::IntErrorKind::PosOverflow => too_large(),
            _ => not_a_number(),
        })?;
        i64::try_from(if negative { -value } else { value }).map_err(|_| too_large())
    };
    let prefixed = |prefix: char| -> Result<i64, String> {
        text.strip_prefix(prefix)
            .ok_or_else(|| format!("{}={shown}: expected {prefix}<number>", f.name))
            .and_then(number)
    };
    match f.kind {
        FieldKind::V | FieldKind::M if text.starts_with('@') => {
            let named = &text[1..];
            let (name, offset) = match named.split_once('+') {
                Some((name, offset)) => (name, number(offset)?),
                None => (named, 0),
            };
            if name.is_empty() {
                return Err(format!(
                    "{}={shown}: expected @NAME or @NAME+OFFSET",
                    f.name
                ));
            }
            names(f.kind, name, offset).map_err(|e| format!("{}={shown}: {e}", f.name))
        }
        FieldKind::V => prefixed('v'),
        FieldKind::M => prefixed('m'),
        FieldKind::R => prefixed('r'),
        FieldKind::U | FieldKind::I => number(text),
        FieldKind::N => match text.strip_prefix('P') {
            None => {
                let n = number(text)?;
                if !(0..LEN_POSITIONS_FLAG).contains(&n) {
                    return Err(format!(
                        "{}={shown} outside 0 ..= {}",
                        f.name,
                        LEN_POSITIONS_FLAG - 1
                    ));
                }
                Ok(n)
            }
            Some("") => Ok(LEN_POSITIONS_FLAG),
            Some(rest) => {
                let base = rest
                    .strip_prefix('+')
                    .ok_or_else(|| format!("{}={shown}: expected P or P+<number>", f.name))
                    .and_then(number)?;
                if !(0..LEN_POSITIONS_FLAG).contains(&base) {
                    return Err(format!(
                        "{}={shown}: base outside 0 ..= {}",
                        f.name,
                        LEN_POSITIONS_FLAG - 1
                    ));
                }
                Ok(LEN_POSITIONS_FLAG | base)
            }
        },
    }
}

fn format_value(f: &FieldSpec, v: i64) -> String {
    match f.kind {
        FieldKind::V => format!("v{v}"),
        FieldKind::M => format!("m{v}"),
        FieldKind::R => format!("r{v}"),
        FieldKind::U | FieldKind::I => v.to_string(),
        FieldKind::N if v & LEN_POSITIONS_FLAG != 0 => match v & (LEN_POSITIONS_FLAG - 1) {
            0 => "P".to_string(),
            base => format!("P+{base}"),
        },
        FieldKind::N => v.to_string(),
    }
}

impl fmt::Display for Instr {
    /// The assembly form, which [`Instr::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = self.op.spec();
        f.write_str(spec.mnemonic)?;
        for (field, v) in spec.fields.iter().zip(self.op.values()) {
            if !(field.optional && v == 0) {
                write!(f, " {}={}", field.name, format_value(field, v))?;
            }
        }
        if let Some(w) = self.wait {
            write!(f, " wait={}:{}", w.unit.name(), w.count)?;
        }
        Ok(())
    }
}

/// Parse a whole assembly text; errors say the line (1-based) and column.
pub fn assemble(text: &str) -> Result<Vec<Instr>, (usize, IsaError)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(instr) = Instr::parse(line).map_err(|e| (i + 1, e))? {
            out.push(instr);
        }
    }
    Ok(out)
}

/// Encode a program as little-endian 16-byte words.
pub fn encode_program(program: &[Instr]) -> Result<Vec<u8>, (usize, IsaError)> {
    let mut bytes = Vec::with_capacity(program.len() * INSTRUCTION_BYTES);
    for (i, instr) in program.iter().enumerate() {
        bytes.extend_from_slice(&instr.encode().map_err(|e| (i, e))?.to_le_bytes());
    }
    Ok(bytes)
}

/// Decode a program; errors say the instruction index.
pub fn decode_program(bytes: &[u8]) -> Result<Vec<Instr>, (usize, IsaError)> {
    if bytes.len() % INSTRUCTION_BYTES != 0 {
        return Err((
            bytes.len() / INSTRUCTION_BYTES,
            err(format!(
                "program is {} bytes, not a whole number of {INSTRUCTION_BYTES}-byte instructions",
                bytes.len()
            )),
        ));
    }
    bytes
        .chunks_exact(INSTRUCTION_BYTES)
        .enumerate()
        .map(|(i, w)| {
            Instr::decode(u128::from_le_bytes(w.try_into().expect("chunks_exact")))
                .map_err(|e| (i, e))
        })
        .collect()
}

/// The completion ring's sizes over the vector lanes a target may have: "16, 32 from 128 vector
/// lanes".
fn ring_sizes() -> String {
    use crate::timing::completion_ring_at;
    let mut parts = vec![completion_ring_at(2).to_string()];
    for v in (4..=crate::target::MAX_LANES).filter(|v| v.is_power_of_two()) {
        if completion_ring_at(v) != completion_ring_at(v / 2) {
            parts.push(format!("{} from {v} vector lanes", completion_ring_at(v)));
        }
    }
    parts.join(", ")
}

/// The ISA manual (`docs/isa.md`), generated from the instruction table so that it cannot drift.
pub fn manual() -> String {
    use std::fmt::Write as _;
    let mut out = MANUAL_INTRO
        .replace(
            "@STEP_LIMIT@",
            &crate::timing::STEP_LIMIT_CYCLES.to_string(),
        )
        .replace("@CHAIN@", &crate::timing::VXU_CHAIN_CYCLES.to_string())
        .replace("@SMALL_START@", &crate::micro::START_CYCLES.to_string())
        .replace("@RING@", &ring_sizes())
        .replace("@VXU@", &crate::timing::VXU_PIPELINE_CYCLES.to_string())
        .replace("@REGISTER_BITS@", &REGISTER_BITS.to_string())
        .replace(
            "@MAGNITUDE_BITS@",
            &crate::numerics::MAGNITUDE_BITS.to_string(),
        );
    for unit in [Unit::Seq, Unit::Sxu, Unit::Mxu, Unit::Vxu] {
        let _ = writeln!(out, "\n## {} instructions\n", unit.name().to_uppercase());
        for spec in SPECS.iter().filter(|s| s.unit == unit) {
            let _ = writeln!(out, "### `{}`: {}\n", spec.mnemonic, spec.summary);
            let _ = writeln!(
                out,
                "**Format.** Opcode `0x{:02x}`; operands from bit {OPERAND_SHIFT}:\n",
                spec.opcode
            );
            let _ = writeln!(out, "| field | bits | kind |\n| --- | --- | --- |");
            let mut bit = OPERAND_SHIFT;
            for f in spec.fields {
                let kind = match f.kind {
                    FieldKind::V => "vector element address",
                    FieldKind::M => "matrix word address",
                    FieldKind::R => "register",
                    FieldKind::N => "length (`P` = positions)",
                    FieldKind::U => "unsigned",
                    FieldKind::I => "signed",
                };
                let optional = match (f.optional, f.kind) {
                    (false, _) => "",
                    (true, FieldKind::R) => " (optional: `r0`, none, when left out)",
                    (true, _) => " (optional: 0 when left out)",
                };
                let _ = writeln!(
                    out,
                    "| `{}` | {}..{} | {kind}{optional} |",
                    f.name,
                    bit,
                    bit + f.bits
                );
                bit += f.bits;
            }
            let example = Instr::new(
                Op::from_values(spec.opcode, &vec![1; spec.fields.len()])
                    .expect("every field takes 1"),
            );
            let action: Vec<&str> = spec.action.lines().map(str::trim).collect();
            let action = action.join(" ").replace(
                "@RESIDUAL_GUARD_BITS@",
                &crate::numerics::RESIDUAL_GUARD_BITS.to_string(),
            );
            let _ = writeln!(out, "\n**Action.** {action}\n");
            let _ = writeln!(
                out,
                "**Timing.** {}.\n",
                crate::timing::describe(spec.mnemonic)
            );
            let _ = writeln!(
                out,
                "**On the small core.** {}.\n",
                crate::micro::describe(spec.mnemonic)
            );
            let _ = writeln!(out, "**Assembly.** `{example}`\n");
        }
    }
    out
}

const MANUAL_INTRO: &str = "# The Monorail instruction set

Generated by `monorail isa-manual` from the instruction table in `sw/contract/src/isa.rs`; a test
keeps this file equal to it. Semantics are defined executably by the instruction-set simulator
(`sim/src/lib.rs`) with the numerics of `docs/numerics.md`; timing by `sw/contract/src/timing.rs`.

## The machine

- **Matrix unit (MXU).** `L` lanes (`lanes` in the target), each an int8 x int8 multiplier with an
  int32 accumulator. It streams one word of the matrix memory per cycle. `matvec` broadcasts one
  int8 activation to all lanes (lane `i` accumulates row `i` of a block of `L` rows); `dotv`
  multiplies the word lane by lane with an int8 vector and sums the lanes in an adder tree. Its
  activations come from the input memory and its results go to the accumulator memory.
- **Matrix memory.** Words of `L` int8 lanes, in `matrix_tiles` banks of `matrix_tile_words`:
  weights and the key/value cache. The matrix unit reads it; the cache stores read, modify and
  write whole words through its second port. A matrix `(rows, cols)` is stored in *column-block layout*: word
  `b * cols + j` holds, in lane `i`, element `(b * L + i, j)`. The key and value caches are such
  matrices with positions as rows; their exponents are one int8 lane per position.
- **Vector unit (VXU).** `V` lanes (`vector_lanes`), each with two 18 x 18-bit multipliers (one
  before its shifter, one after it and the tables), a shifter with rounding and saturation, and the per-lane tables of `exp2` and `sigmoid`; a
  reduction tree across the lanes; the sine table of `sincos` (two reads per cycle). Every
  multiplier input is an 18-bit signed value (a larger one is a fault). Vectors are block floating
  point: mantissas in the memories, their exponent in a register.
- **The vector address space.** Element addresses over four memories, one after the other, each
  `V` lanes wide (element `e` of a memory is lane `e mod V` of word `e / V`). Each memory port has
  one owner, so that units never contend:

  | memory | elements | written by | read by |
  | --- | --- | --- | --- |
  | `vector` | 18-bit | VXU | VXU (two ports) |
  | `accumulator` | int32 | MXU | VXU (two ports) |
  | `wide` | int32 | VXU | VXU (one port) |
  | `input` | int8 | VXU | MXU |

  A value that does not fit the memory it is stored to is a fault. Operands streamed together
  share their lane (`address mod V`); words moved whole by the matrix unit start on a word. The
  host writes any memory when it loads a bundle.
- **Scalar unit (SXU).** 64 registers of @REGISTER_BITS@ bits (signed; an instruction whose
  register result does not fit is a fault), or 32 registers where the target says
  `registers = 32` (register fields keep their 6 bits; a program naming a register the target
  lacks is refused): `r0` reads as zero, `r1` holds the position and `r2` the input token (set by
  the host when a token step starts), and every other register reads as zero until the step
  writes it: nothing is kept from one token step to the next.
- **Sequencer.** Issues one instruction per cycle, in program order; no branches. The repeat
  counts are inside the instructions (a whole matrix-vector product is one `matvec`), and lengths
  may follow the position (`P` = `pos + 1`), so a program serves every position. A token step
  ends with its first `end` (what follows it never issues); one still running after @STEP_LIMIT@ cycles (a damaged or partly loaded
  program: no reachable `end`, or a wait never met) is stopped, and the host port answers its
  STEP with an error (`timing::STEP_LIMIT_CYCLES`; the compiler refuses longer steps).
- **Static schedule.** An instruction issues when its unit is free and its *wait* is satisfied:
  `wait=U:n` holds it until unit `U` has completed `n` instructions of this token step. Units
  complete in order. No caches, no arbitration, no data-dependent timing: the cycles of a token
  step are a function of its position only, computed by the compiler, counted by the simulator.
  The sequencer keeps the completion times of a unit's last instructions in a ring
  (`timing::completion_ring`: @RING@): the timing rules
  never let that many of a unit's instructions run at once (at most @VXU@ + log2(V), the vector
  unit's pipeline and reduction tree; `timing::most_running`). In the timings below, `L` is
  `lanes` and `V` is `vector_lanes`; `b(n) = ceil(n / L)`, the matrix-unit words (row blocks) that
  `n` rows fill; `c(n) = ceil((start mod V + n) / V)`, the vector-space words that `n` elements
  of the instruction's first streamed operand touch from its first element `start`; lengths are
  at the position (`P` = `pos + 1`). A length of 0, which only a hand-written program has, is
  not free: an instruction occupies its unit at least one cycle, a normalisation streams at
  least one word in each pass, and a cache store writes at least one word.
- **The small core.** A target with `core = \"small\"` runs the same programs one instruction
  at a time, each by its routine of micro-operations (`docs/small-core.md`): an instruction
  issues when the one before it has finished, so every wait is met at once and nothing overlaps.
  Its cycles, counted from the routine, are given below after the wide core's timing (`L` is
  `lanes`, `b(n) = ceil(n / L)`, lengths at the position). A token step first clears the
  registers, one a cycle: its first instruction issues at cycle @SMALL_START@
  (`micro::START_CYCLES`), which the cycles of a step count.
- **Chaining.** The vector unit streams every operand a word per slot from its first word, and
  every streamed instruction takes the same stages; so a streamed instruction may read what an
  earlier one still writes, with no wait, when it issues late enough to read each word after its
  write: @CHAIN@ cycles after the earlier one's first writing slot (its first, or a
  normalisation's second pass), plus the words its operand starts after the destination
  (`timing::chain_distance`). The compiler leaves out a wait only where the earlier
  instruction's occupancy covers that distance at every position; the simulator stops at any
  instruction that issues sooner. Registers are not chained: they are read at issue and
  written at completion.
- **Magnitudes.** The vector instructions with a `mag` field that produce values (`mul`, `muls`,
  `addalign`, `rope`, `silu`, `shrv`) write `r[mag]`, unless it is `r0`, with the *magnitude* of their
  results: the bitwise OR of their absolute values, which has the bit length of the largest. A
  `norm` whose `mag` names a register normalises with the shift that the register's magnitude
  gives and streams once, instead of first searching its input for it; `r[mag]` must lie in
  `0 .. 2^@MAGNITUDE_BITS@` and the largest magnitude of its input must not have a longer bit length (faults
  otherwise). The compiler names a register where the producer writes exactly what the `norm`
  reads, the `max` of several producers' registers where each wrote a piece of it (a matrix
  product's pieces, scaled as they drain), or one it loads with a bound it knows
  (`docs/numerics.md`): for a matrix product's results, the largest magnitude the product's
  weights let any input give (the mantissas are then shorter than `bits`); for the key, the
  value and the query, a 16-bit mantissa's largest, which a normalised vector reaches; the
  register makes the `norm` wait for the producer's completion, where a search could chain to
  it. A `normg` whose `top` names a register is given the top bit of its largest value (its bit
  length plus its exponent) in the same way, and streams once: for a head's attention scores,
  the largest any int8 query and keys can give, above the layer's largest key exponent (a
  smaller one faults).

## Encoding

128 bits, little-endian: bits 0..8 opcode; 8..10 wait unit (0 none, 1 MXU, 2 VXU, 3 SXU); 10..24
wait count; then the operand fields in order; unused bits zero. Signed fields are two's
complement. A length field's bit 16 means \"plus the number of positions\" (`P`, `P+3`).

## Assembly

One instruction per line: the mnemonic, then `field=value` pairs in any order, then optionally
`wait=unit:count`; `#` starts a comment. Vector addresses are written `v12`, matrix addresses
`m12`, registers `r12`; numbers in decimal or `0x` hexadecimal, negative with `-` (`imm=-0x1f`).
Errors name the line and column. In a text assembled into a bundle, a vector or matrix address
may also be written by the name of its region in the bundle's memory map, `@NAME` or
`@NAME+OFFSET` (`w=@layer0.wo+8`, `x=@xb`), which `monorail disasm` prints beside each
instruction.

`monorail disasm BUNDLE` prints a compiled program in this form, with two directives that tie it
to its bundle: `.checkpoint STEP` where a model step's values stand complete in program order
(below the instruction that writes the last of them, and the compiler's marks often a line or
two lower, past instructions that do not touch them), and `.bundle` naming the bundle it was
printed from. `monorail asm FILE --bundle BUNDLE` assembles such a text, edited, back into the
bundle (`sw/contract/src/asm.rs`), and warns where the values at a mark differ from those of the
bundle's program: a mark moved above its values' writer.
";

/// A few address ranges, kept inline (an instruction touches at most three ranges of a
/// memory).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ranges {
    items: [(u32, u32); Ranges::CAPACITY],
    len: usize,
}

impl Ranges {
    const CAPACITY: usize = 6;

    /// Add a range.
    pub fn push(&mut self, range: std::ops::Range<usize>) {
        assert!(
            self.len < Ranges::CAPACITY,
            "an instruction touches at most six ranges"
        );
        // Addresses are at most 2^20 words or 2^16 elements (target validation), so u32 holds them.
        self.items[self.len] = (range.start as u32, range.end as u32);
        self.len += 1;
    }

    /// Add all of `other`'s ranges.
    pub fn extend(&mut self, other: &Ranges) {
        for r in other.iter() {
            self.push(r);
        }
    }

    /// The ranges of one operand at two positions, `self` at the earlier: each the hull of its
    /// two, which covers the operand at every position between them, as addresses and lengths
    /// only grow with the position. Lists of different lengths become one hull of them all.
    pub fn hull(&self, later: &Ranges) -> Ranges {
        let mut out = Ranges::default();
        if self.len == later.len {
            for (a, b) in self.iter().zip(later.iter()) {
                out.push(a.start.min(b.start)..a.end.max(b.end));
            }
        } else if let (Some(start), Some(end)) = (
            self.iter().chain(later.iter()).map(|r| r.start).min(),
            self.iter().chain(later.iter()).map(|r| r.end).max(),
        ) {
            out.push(start..end);
        }
        out
    }

    /// The ranges.
    pub fn iter(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        self.items[..self.len]
            .iter()
            .map(|&(a, b)| a as usize..b as usize)
    }
}

/// The memory ranges and registers an instruction reads and writes: the basis of the
/// compiler's dependences and of the simulator's hazard checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// Vector-memory element ranges read.
    pub vector_reads: Ranges,
    /// Vector-memory element ranges written.
    pub vector_writes: Ranges,
    /// Matrix-memory word ranges read.
    pub matrix_reads: Ranges,
    /// Matrix-memory word ranges written.
    pub matrix_writes: Ranges,
    /// Registers read (bit mask).
    pub register_reads: u64,
    /// Registers written (bit mask; writes to `r0` are dropped and not listed).
    pub register_writes: u64,
}

fn overlaps(a: &Ranges, b: &Ranges) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| x.start < y.end && y.start < x.end))
}

impl Access {
    /// What an instruction that touches `self` at one position and `later` at a later one
    /// touches at any position between them (see [`Ranges::hull`]).
    pub fn spanning(&self, later: &Access) -> Access {
        Access {
            vector_reads: self.vector_reads.hull(&later.vector_reads),
            vector_writes: self.vector_writes.hull(&later.vector_writes),
            matrix_reads: self.matrix_reads.hull(&later.matrix_reads),
            matrix_writes: self.matrix_writes.hull(&later.matrix_writes),
            register_reads: self.register_reads | later.register_reads,
            register_writes: self.register_writes | later.register_writes,
        }
    }

    /// Whether running `self` and `other` in either order could give different results.
    pub fn conflicts(&self, other: &Access) -> bool {
        overlaps(&self.vector_reads, &other.vector_writes)
            || overlaps(&self.vector_writes, &other.vector_reads)
            || overlaps(&self.vector_writes, &other.vector_writes)
            || self.conflicts_outside_vector_space(other)
    }

    /// Whether `self` and `other` conflict in the matrix memory or the registers: what the
    /// vector unit's chaining (see [`crate::timing::chain_distance`]) does not cover.
    pub fn conflicts_outside_vector_space(&self, other: &Access) -> bool {
        overlaps(&self.matrix_reads, &other.matrix_writes)
            || overlaps(&self.matrix_writes, &other.matrix_reads)
            || overlaps(&self.matrix_writes, &other.matrix_writes)
            || self.register_reads & other.register_writes != 0
            || self.register_writes & other.register_reads != 0
            || self.register_writes & other.register_writes != 0
    }
}

/// How an instruction uses a vector operand: which unit's port it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Read by the vector unit.
    VxuRead,
    /// Written by the vector unit.
    VxuWrite,
    /// Read by the matrix unit.
    MxuRead,
    /// Written by the matrix unit.
    MxuWrite,
}

impl Role {
    /// The memories this role may touch: each memory port has one owner.
    pub fn memories(self) -> &'static [VectorMemory] {
        match self {
            Role::VxuRead => &[
                VectorMemory::Vector,
                VectorMemory::Accumulator,
                VectorMemory::Wide,
            ],
            Role::VxuWrite => &[
                VectorMemory::Vector,
                VectorMemory::Wide,
                VectorMemory::Input,
            ],
            Role::MxuRead => &[VectorMemory::Input],
            Role::MxuWrite => &[VectorMemory::Accumulator],
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Role::VxuRead => "read by the vector unit",
            Role::VxuWrite => "written by the vector unit",
            Role::MxuRead => "read by the matrix unit",
            Role::MxuWrite => "written by the matrix unit",
        }
    }
}

/// How an operand's elements meet the memory's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stride {
    /// Streamed a word per cycle beside the instruction's other streamed operands: all of them
    /// share their lane (`address mod vector_lanes`).
    Streamed,
    /// Moved whole words: starts on a word.
    Words,
    /// Touched one element at a time: any address.
    Elements,
}

/// One vector operand of an instruction at a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorOperand {
    /// Its field.
    pub field: &'static str,
    /// Whose port it takes.
    pub role: Role,
    /// Its elements (for a register-indexed operand, the base element only).
    pub range: std::ops::Range<usize>,
    /// How it is walked.
    pub stride: Stride,
    /// Whether a register adds to its address (`getv`, `setv`): placed when executed.
    pub indexed: bool,
}

impl Op {
    /// The vector operands of this operation at position `pos` on a core of `lanes` lanes.
    pub fn vector_operands(&self, lanes: usize, pos: usize) -> Vec<VectorOperand> {
        let n = |raw: i64| length(raw, pos);
        let op = |field, role, start: i64, len: usize, stride| VectorOperand {
            field,
            role,
            range: start as usize..start as usize + len,
            stride,
            indexed: false,
        };
        use Role::*;
        use Stride::*;
        match *self {
            Op::Matvec {
                dst, x, rows, cols, ..
            } => vec![
                op("dst", MxuWrite, dst, n(rows), Words),
                op("x", MxuRead, x, cols as usize, Elements),
            ],
            Op::Dotv {
                dst, x, rows, cols, ..
            } => vec![
                op("dst", MxuWrite, dst, cols as usize, Elements),
                op("x", MxuRead, x, n(rows), Words),
            ],
            Op::Mload { dst, n: len, .. } => vec![op("dst", MxuWrite, dst, n(len), Words)],
            Op::Norm {
                dst, src, n: len, ..
            } => vec![
                op("dst", VxuWrite, dst, n(len), Streamed),
                op("src", VxuRead, src, n(len), Streamed),
            ],
            Op::Normg {
                dst,
                src,
                n: len,
                exps,
                ..
            } => vec![
                op("dst", VxuWrite, dst, n(len), Streamed),
                op("src", VxuRead, src, n(len), Streamed),
                op("exps", VxuRead, exps, n(len), Streamed),
            ],
            Op::Mul {
                dst, a, b, n: len, ..
            }
            | Op::Addalign {
                dst, a, b, n: len, ..
            }
            | Op::Shrv {
                dst, a, b, n: len, ..
            } => vec![
                op("dst", VxuWrite, dst, n(len), Streamed),
                op("a", VxuRead, a, n(len), Streamed),
                op("b", VxuRead, b, n(len), Streamed),
            ],
            Op::Rope {
                dst,
                src,
                cs,
                n: len,
                ..
            } => vec![
                op("dst", VxuWrite, dst, n(len), Streamed),
                op("src", VxuRead, src, n(len), Streamed),
                op("cs", VxuRead, cs, n(len), Streamed),
            ],
            Op::Muls { dst, a, n: len, .. } | Op::Addsv { dst, a, n: len, .. } => vec![
                op("dst", VxuWrite, dst, n(len), Streamed),
                op("a", VxuRead, a, n(len), Streamed),
            ],
            Op::Silu {
                dst, src, n: len, ..
            }
            | Op::Expneg {
                dst, src, n: len, ..
            }
            | Op::Copy { dst, src, n: len }
            | Op::Sincos { dst, src, n: len } => vec![
                op("dst", VxuWrite, dst, n(len), Streamed),
                op("src", VxuRead, src, n(len), Streamed),
            ],
            Op::Sumsq { src, n: len, .. }
            | Op::Sum { src, n: len, .. }
            | Op::Vmax { src, n: len, .. }
            | Op::Argmax { src, n: len, .. } => vec![op("src", VxuRead, src, n(len), Streamed)],
            Op::Onehot { dst, n: len, .. } | Op::Fill { dst, n: len, .. } => {
                vec![op("dst", VxuWrite, dst, n(len), Streamed)]
            }
            Op::Getv { src, idx, .. } => vec![VectorOperand {
                indexed: idx != 0,
                ..op("src", VxuRead, src, 1, Elements)
            }],
            Op::Setv { dst, idx, .. } => vec![VectorOperand {
                indexed: idx != 0,
                ..op("dst", VxuWrite, dst, 1, Elements)
            }],
            Op::Kvstore { src, n: len, .. } => {
                vec![op("src", VxuRead, src, len as usize, Elements)]
            }
            Op::Nop { .. }
            | Op::End { .. }
            | Op::Li { .. }
            | Op::Addi { .. }
            | Op::Add { .. }
            | Op::Sub { .. }
            | Op::Max { .. }
            | Op::Shri { .. }
            | Op::Andi { .. }
            | Op::Muli { .. }
            | Op::Rsqrt { .. }
            | Op::Recip { .. }
            | Op::Kvexp { .. } => {
                let _ = lanes;
                vec![]
            }
        }
    }

    /// Check the ISA's placement rules at position `pos` on `target`: every vector operand lies in
    /// one memory that its role may touch; at most one operand is read from the wide memory (it
    /// has one read port); streamed operands share their lane; word operands start on a word;
    /// a streamed destination does not start inside a streamed source after that source's start;
    /// `rope` works on whole pairs of a word; a `dotv` over more than one row block has at most
    /// `Target::partial_sums` columns (its partial sums are held in the matrix unit). Register-indexed operands
    /// are placed when executed ([`check_element`]). Register fields name the target's registers
    /// (`Target::registers`, which may be fewer than the encoding's [`REGISTERS`]).
    pub fn check(&self, target: &Target, pos: usize) -> Result<(), PlacementError> {
        self.check_registers(target)?;
        // `muli`'s immediate goes into the multiplier as it is: a fault wherever it runs.
        if let Op::Muli { imm, .. } = *self {
            crate::numerics::multiplicand(imm)
                .map_err(|e| PlacementError::of("imm", format!("imm={imm}: {e}")))?;
        }
        let v = target.vector_lanes;
        let operands = self.vector_operands(target.lanes, pos);
        let mut wide_reads = 0;
        let mut lane = None;
        for o in &operands {
            if o.range.is_empty() || o.indexed {
                continue;
            }
            let memory = target.memory_of(o.range.clone()).ok_or_else(|| {
                PlacementError::of(
                    o.field,
                    format!(
                        "{}=v{} .. v{} does not lie in one memory of the vector space",
                        o.field, o.range.start, o.range.end
                    ),
                )
            })?;
            if !o.role.memories().contains(&memory) {
                return Err(PlacementError::of(
                    o.field,
                    format!(
                        "{}=v{} is in the {} memory, which is not {} (allowed: {})",
                        o.field,
                        o.range.start,
                        memory.name(),
                        o.role.describe(),
                        o.role
                            .memories()
                            .iter()
                            .map(|m| m.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if o.role == Role::VxuRead && memory == VectorMemory::Wide {
                wide_reads += 1;
            }
            match o.stride {
                Stride::Streamed => {
                    let l = o.range.start % v;
                    if *lane.get_or_insert(l) != l {
                        return Err(PlacementError::of(
                            o.field,
                            format!(
                                "{}=v{} is in lane {l}, the other streamed operands in lane {} \
                             (vector lanes: {v})",
                                o.field,
                                o.range.start,
                                lane.unwrap_or(0)
                            ),
                        ));
                    }
                }
                Stride::Words if o.range.start % v != 0 => {
                    return Err(PlacementError::of(
                        o.field,
                        format!(
                            "{}=v{} does not start on a word of {v} elements",
                            o.field, o.range.start
                        ),
                    ));
                }
                _ => {}
            }
        }
        if wide_reads > 1 {
            return Err(PlacementError::whole(
                "reads two operands from the wide memory, which has one read port",
            ));
        }
        // Each element is read before the results written over it: a stream writes in place or
        // behind what it reads, never ahead of it into it (the small core streams one element
        // at a time, so a result would overwrite an element it has yet to read).
        let streamed = |role| {
            operands.iter().filter(move |o| {
                o.role == role && o.stride == Stride::Streamed && !o.range.is_empty()
            })
        };
        for w in streamed(Role::VxuWrite) {
            for r in streamed(Role::VxuRead) {
                if r.range.start < w.range.start && w.range.start < r.range.end {
                    return Err(PlacementError::of(
                        w.field,
                        format!(
                            "{}=v{} starts inside {}=v{} .. v{}, ahead of it: a stream may write \
                         in place of or behind what it reads, not ahead",
                            w.field, w.range.start, r.field, r.range.start, r.range.end
                        ),
                    ));
                }
            }
        }
        let memory_at = |start: i64, n: usize| target.memory_of(start as usize..start as usize + n);
        match *self {
            // The core reads a cache store's elements from the vector memory only, and the
            // phase steps of sincos from the accumulator or wide memory only.
            Op::Kvstore { src, n, .. }
                if n > 0 && memory_at(src, n as usize) != Some(VectorMemory::Vector) =>
            {
                Err(PlacementError::of(
                    "src",
                    format!(
                        "kvstore reads src=v{src} from the vector memory only, not from the {}",
                        memory_at(src, n as usize).map_or("?", |m| m.name())
                    ),
                ))
            }
            Op::Sincos { src, n, .. }
                if memory_at(src, length(n, pos)) == Some(VectorMemory::Vector) =>
            {
                Err(PlacementError::of(
                    "src",
                    format!(
                    "sincos reads its phase steps src=v{src} from the accumulator or wide memory, \
                     not from the vector memory"
                ),
                ))
            }
            Op::Rope { src, n, .. } if src as usize % 2 != 0 || length(n, pos) % 2 != 0 => Err(
                PlacementError::whole("rope works on pairs: src on an even lane and an even n"),
            ),
            Op::Dotv { rows, cols, .. }
                if length(rows, pos) > target.lanes && cols as usize > target.partial_sums =>
            {
                Err(PlacementError::of(
                    "cols",
                    format!(
                        "dotv over {} rows (more than one block of {}) has at most {} columns \
                     (the target's partial sums), not {cols}",
                        length(rows, pos),
                        target.lanes,
                        target.partial_sums,
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// A register field of an instruction and how the instruction uses the register it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterField {
    /// The field's index, in field order.
    pub index: usize,
    /// The register it names (never `r0`).
    pub register: u8,
    /// Whether the instruction reads it.
    pub read: bool,
    /// Whether the instruction writes it.
    pub written: bool,
}

impl Op {
    /// The register fields that name a register other than `r0`, with how the instruction uses
    /// each: [`Op::accesses`]'s register masks, asked with each field naming a register of its
    /// own (so two fields that name one register are told apart). For passes that rename
    /// registers.
    pub fn register_fields(&self) -> Vec<RegisterField> {
        let fields = self.spec().fields;
        let mut values = self.values();
        let named: Vec<usize> = (0..fields.len())
            .filter(|&i| fields[i].kind == FieldKind::R && values[i] != 0)
            .collect();
        for (k, &i) in named.iter().enumerate() {
            values[i] = k as i64 + 1;
        }
        let probe = Op::from_values(self.spec().opcode, &values).expect("the same format");
        let access = probe.accesses(1, 0, 1);
        named
            .iter()
            .enumerate()
            .map(|(k, &i)| RegisterField {
                index: i,
                register: self.value(i) as u8,
                read: access.register_reads >> (k + 1) & 1 == 1,
                written: access.register_writes >> (k + 1) & 1 == 1,
            })
            .collect()
    }

    /// This operation with the register of each field in `registers` ((field index, register)
    /// pairs) replaced.
    pub fn with_registers(&self, registers: &[(usize, u8)]) -> Op {
        let mut values = self.values();
        for &(i, r) in registers {
            debug_assert_eq!(self.spec().fields[i].kind, FieldKind::R);
            values[i] = r as i64;
        }
        Op::from_values(self.spec().opcode, &values).expect("the same format")
    }

    /// Check that every register field names one of `target`'s registers.
    pub fn check_registers(&self, target: &Target) -> Result<(), PlacementError> {
        for (i, f) in self.spec().fields.iter().enumerate() {
            let value = self.value(i);
            if f.kind == FieldKind::R && value as usize >= target.registers {
                return Err(PlacementError::of(
                    f.name,
                    format!(
                        "{}=r{value} is not a register of target {} (it has r0 .. r{})",
                        f.name,
                        target.name,
                        target.registers - 1
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Check a register-indexed element (`getv`, `setv`) as executed: it must lie in a memory that
/// `role` may touch.
pub fn check_element(target: &Target, role: Role, address: usize) -> Result<(), String> {
    match target.memory_at(address) {
        Some(m) if role.memories().contains(&m) => Ok(()),
        Some(m) => Err(format!(
            "element v{address} is in the {} memory, which is not {}",
            m.name(),
            role.describe()
        )),
        None => Err(format!("element v{address} is outside the vector space")),
    }
}

impl Op {
    /// Whether an address of this operation is indexed by a register (`wreg`, a `getv`/`setv`
    /// index), which [`Op::accesses_on`] takes as reaching every element or word from its base.
    pub fn indexed_by_register(&self) -> bool {
        self.accesses(1, 0, 1) != self.accesses(1, 0, 2)
    }

    /// What this operation touches at position `pos` on `target`; a register-indexed address
    /// may reach anywhere in the larger memory.
    pub fn accesses_on(&self, target: &Target, pos: usize) -> Access {
        let span = target.matrix_words().max(target.vector_space());
        self.accesses(target.lanes, pos, span)
    }

    /// What this operation touches at position `pos` on a core of `lanes` lanes. Register-based
    /// addresses (`wreg`, `getv`/`setv` indices) are taken as their whole possible span:
    /// `dynamic_span` elements or words from the base address.
    pub fn accesses(&self, lanes: usize, pos: usize, dynamic_span: usize) -> Access {
        let mut a = Access::default();
        let v = |start: i64, n: usize| start as usize..start as usize + n;
        let reg = |r: i64| if r == 0 { 0 } else { 1u64 << r };
        let n = |raw: i64| length(raw, pos);
        let blocks = |rows: i64| n(rows).div_ceil(lanes);
        match *self {
            Op::Nop { .. } => {}
            Op::End { token } => a.register_reads = reg(token),
            Op::Li { dst, .. } => a.register_writes = reg(dst),
            Op::Addi { dst, a: x, .. }
            | Op::Shri { dst, a: x, .. }
            | Op::Andi { dst, a: x, .. }
            | Op::Muli { dst, a: x, .. } => {
                a.register_reads = reg(x);
                a.register_writes = reg(dst);
            }
            Op::Add { dst, a: x, b } | Op::Sub { dst, a: x, b } | Op::Max { dst, a: x, b } => {
                a.register_reads = reg(x) | reg(b);
                a.register_writes = reg(dst);
            }
            Op::Rsqrt { mant, exp, a: x } | Op::Recip { mant, exp, a: x } => {
                a.register_reads = reg(x);
                a.register_writes = reg(mant) | reg(exp);
            }
            Op::Matvec {
                dst,
                w,
                wreg,
                x,
                rows,
                cols,
            } => {
                let words = blocks(rows) * cols as usize;
                a.matrix_reads
                    .push(v(w, if wreg == 0 { words } else { dynamic_span }));
                a.vector_reads.push(v(x, cols as usize));
                a.vector_writes.push(v(dst, n(rows)));
                a.register_reads = reg(wreg);
            }
            Op::Dotv {
                dst,
                w,
                wreg,
                x,
                rows,
                cols,
            } => {
                let words = blocks(rows) * cols as usize;
                a.matrix_reads
                    .push(v(w, if wreg == 0 { words } else { dynamic_span }));
                a.vector_reads.push(v(x, n(rows)));
                a.vector_writes.push(v(dst, cols as usize));
                a.register_reads = reg(wreg);
            }
            Op::Mload { dst, src, n: len } => {
                a.matrix_reads.push(v(src, n(len).div_ceil(lanes)));
                a.vector_writes.push(v(dst, n(len)));
            }
            Op::Norm {
                dst,
                src,
                n: len,
                ein,
                eout,
                mag,
                ..
            } => {
                a.vector_reads.push(v(src, n(len)));
                a.vector_writes.push(v(dst, n(len)));
                a.register_reads = reg(ein) | reg(mag);
                a.register_writes = reg(eout);
            }
            Op::Normg {
                dst,
                src,
                n: len,
                exps,
                eout,
                max,
                top,
                ..
            } => {
                a.vector_reads.push(v(src, n(len)));
                a.vector_reads.push(v(exps, n(len)));
                a.vector_writes.push(v(dst, n(len)));
                a.register_reads = reg(top);
                a.register_writes = reg(eout) | reg(max);
            }
            Op::Mul {
                dst,
                a: x,
                b,
                n: len,
                mag,
                ..
            } => {
                a.vector_reads.push(v(x, n(len)));
                a.vector_reads.push(v(b, n(len)));
                a.vector_writes.push(v(dst, n(len)));
                a.register_writes = reg(mag);
            }
            Op::Muls {
                dst,
                a: x,
                n: len,
                s,
                mag,
            } => {
                a.vector_reads.push(v(x, n(len)));
                a.vector_writes.push(v(dst, n(len)));
                a.register_reads = reg(s);
                a.register_writes = reg(mag);
            }
            Op::Addsv {
                dst,
                a: x,
                n: len,
                s,
            } => {
                a.vector_reads.push(v(x, n(len)));
                a.vector_writes.push(v(dst, n(len)));
                a.register_reads = reg(s);
            }
            Op::Addalign {
                dst,
                a: x,
                b,
                n: len,
                ea,
                eb,
                eout,
                mag,
            } => {
                a.vector_reads.push(v(x, n(len)));
                a.vector_reads.push(v(b, n(len)));
                a.vector_writes.push(v(dst, n(len)));
                a.register_reads = reg(ea) | reg(eb);
                a.register_writes = reg(eout) | reg(mag);
            }
            Op::Rope {
                dst,
                src,
                cs,
                n: len,
                mag,
            } => {
                a.vector_reads.push(v(src, n(len)));
                a.vector_reads.push(v(cs, n(len)));
                a.vector_writes.push(v(dst, n(len)));
                a.register_writes = reg(mag);
            }
            Op::Silu {
                dst,
                src,
                n: len,
                e,
                mag,
            } => {
                a.vector_reads.push(v(src, n(len)));
                a.vector_writes.push(v(dst, n(len)));
                a.register_reads = reg(e);
                a.register_writes = reg(mag);
            }
            Op::Expneg {
                dst,
                src,
                n: len,
                max,
                shift,
                sum,
                ..
            } => {
                a.vector_reads.push(v(src, n(len)));
                a.vector_writes.push(v(dst, n(len)));
                a.register_reads = reg(max) | reg(shift);
                a.register_writes = reg(sum);
            }
            Op::Shrv {
                dst,
                a: x,
                b,
                n: len,
                s,
                mag,
            } => {
                a.vector_reads.push(v(x, n(len)));
                a.vector_reads.push(v(b, n(len)));
                a.vector_writes.push(v(dst, n(len)));
                a.register_reads = reg(s);
                a.register_writes = reg(mag);
            }
            Op::Sumsq { dst, src, n: len }
            | Op::Sum { dst, src, n: len }
            | Op::Vmax { dst, src, n: len }
            | Op::Argmax { dst, src, n: len } => {
                a.vector_reads.push(v(src, n(len)));
                a.register_writes = reg(dst);
            }
            Op::Onehot { dst, n: len, idx } => {
                a.vector_writes.push(v(dst, n(len)));
                a.register_reads = reg(idx);
            }
            Op::Getv { dst, src, idx } => {
                a.vector_reads
                    .push(v(src, if idx == 0 { 1 } else { dynamic_span }));
                a.register_reads = reg(idx);
                a.register_writes = reg(dst);
            }
            Op::Setv { dst, idx, src } => {
                a.vector_writes
                    .push(v(dst, if idx == 0 { 1 } else { dynamic_span }));
                a.register_reads = reg(idx) | reg(src);
            }
            Op::Kvstore { dst, src, n: len } => {
                a.vector_reads.push(v(src, len as usize));
                let at = dst as usize + (pos / lanes) * len as usize;
                a.matrix_writes.push(at..at + len as usize);
                a.register_reads = reg(REG_POS as i64);
            }
            Op::Kvexp { dst, src } => {
                let at = dst as usize + pos / lanes;
                a.matrix_writes.push(at..at + 1);
                a.register_reads = reg(REG_POS as i64) | reg(src);
            }
            Op::Copy { dst, src, n: len } => {
                a.vector_reads.push(v(src, n(len)));
                a.vector_writes.push(v(dst, n(len)));
            }
            Op::Sincos { dst, src, n: len } => {
                a.vector_reads.push(v(src, n(len)));
                a.vector_writes.push(v(dst, n(len)));
                a.register_reads = reg(REG_POS as i64);
            }
            Op::Fill { dst, n: len, s } => {
                a.vector_writes.push(v(dst, n(len)));
                a.register_reads = reg(s);
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_fields_say_which_registers_are_read_and_which_written() {
        let norm = Op::Norm {
            dst: 8,
            src: 16,
            n: 8,
            bits: 16,
            ein: 5,
            eout: 5,
            mag: 7,
        };
        let fields = norm.register_fields();
        let roles: Vec<(usize, u8, bool, bool)> = fields
            .iter()
            .map(|f| (f.index, f.register, f.read, f.written))
            .collect();
        assert_eq!(
            roles,
            [
                (4, 5, true, false),
                (5, 5, false, true),
                (6, 7, true, false)
            ]
        );
        let renamed = norm.with_registers(&[(4, 20), (5, 21)]);
        assert_eq!(
            (renamed.value(4), renamed.value(5), renamed.value(6)),
            (20, 21, 7)
        );
        // r0 (no register) is no field of them
        let without_mag = norm.with_registers(&[(6, 0)]);
        assert_eq!(without_mag.register_fields().len(), 2);
        // In every format, each register field is read or written, never both: a pass that
        // renames registers gives each field one register.
        for spec in SPECS {
            let values: Vec<i64> = (0..spec.fields.len()).map(|i| i as i64 + 1).collect();
            let op = Op::from_values(spec.opcode, &values).unwrap();
            for f in op.register_fields() {
                assert!(f.read != f.written, "{} field {}", spec.mnemonic, f.index);
            }
        }
    }

    #[test]
    fn every_format_fits_128_bits_and_opcodes_are_unique() {
        for (i, s) in SPECS.iter().enumerate() {
            let bits: u32 = s.fields.iter().map(|f| f.bits).sum();
            assert!(
                OPERAND_SHIFT + bits <= 128,
                "{} needs {} bits",
                s.mnemonic,
                bits
            );
            assert!(SPECS[..i]
                .iter()
                .all(|o| o.opcode != s.opcode && o.mnemonic != s.mnemonic));
            // spec_of searches them by opcode.
            assert!(
                i == 0 || SPECS[i - 1].opcode < s.opcode,
                "{} out of opcode order",
                s.mnemonic
            );
            assert_eq!(spec_of(s.opcode).map(|f| f.mnemonic), Some(s.mnemonic));
        }
    }

    /// A value of every field at both ends of its range, so encoding covers every bit.
    fn extremes(spec: &OpSpec) -> Vec<Vec<i64>> {
        let mut out = vec![];
        for pick in 0..3 {
            out.push(
                spec.fields
                    .iter()
                    .map(|f| {
                        let (lo, hi) = field_range(f);
                        match pick {
                            0 => lo,
                            1 => hi,
                            _ => lo + (hi - lo) / 3,
                        }
                    })
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn encoding_and_assembly_round_trip_for_every_instruction() {
        for spec in SPECS {
            for values in extremes(spec) {
                for wait in [
                    None,
                    Some(Wait {
                        unit: Unit::Vxu,
                        count: 16383,
                    }),
                ] {
                    let instr = Instr {
                        op: Op::from_values(spec.opcode, &values).unwrap(),
                        wait,
                    };
                    for (i, &v) in values.iter().enumerate() {
                        assert_eq!(instr.op.value(i), v, "{instr}");
                    }
                    let word = instr.encode().unwrap();
                    assert_eq!(Instr::decode(word).unwrap(), instr, "{instr}");
                    let text = instr.to_string();
                    assert_eq!(Instr::parse(&text).unwrap(), Some(instr), "{text}");
                }
            }
        }
    }

    #[test]
    fn optional_fields_default_to_zero_and_are_left_out_as_zero() {
        let with = Instr::parse("mul dst=v1 a=v2 b=v3 n=4 mag=r5")
            .unwrap()
            .unwrap();
        assert_eq!(with.to_string(), "mul dst=v1 a=v2 b=v3 n=4 mag=r5");
        let without = Instr::parse("mul dst=v1 a=v2 b=v3 n=4").unwrap().unwrap();
        assert!(matches!(without.op, Op::Mul { mag: 0, .. }));
        assert_eq!(without.to_string(), "mul dst=v1 a=v2 b=v3 n=4");
        assert_eq!(
            Instr::parse("mul dst=v1 a=v2 b=v3 n=4 mag=r0").unwrap(),
            Some(without)
        );
        // Other fields stay required.
        let e = Instr::parse("mul dst=v1 a=v2 n=4").unwrap_err();
        assert!(e.message.contains("needs field `b`"), "{}", e.message);
        // A signed immediate: left out as 0, written when not.
        let shifted = Instr::parse("mul dst=v1 a=v2 b=v3 n=4 sh=-3")
            .unwrap()
            .unwrap();
        assert!(matches!(shifted.op, Op::Mul { sh: -3, .. }));
        assert_eq!(shifted.to_string(), "mul dst=v1 a=v2 b=v3 n=4 sh=-3");
        assert_eq!(
            Instr::parse("mul dst=v1 a=v2 b=v3 n=4 sh=0").unwrap(),
            Some(without)
        );
        assert!(SPECS
            .iter()
            .flat_map(|s| s.fields)
            .all(|f| !f.optional || matches!(f.kind, FieldKind::R | FieldKind::I)));
    }

    #[test]
    fn assembly_errors_carry_line_and_column() {
        let (line, e) = assemble("nop cycles=3\n  frobnicate x=1").unwrap_err();
        assert_eq!((line, e.column), (2, Some(3)));
        assert!(e.message.contains("frobnicate"));
        let e = Instr::parse("li dst=r64 imm=0").unwrap_err();
        assert_eq!(e.column, Some(4));
        assert!(e.message.contains("outside"), "{e}");
        let e = Instr::parse("matvec dst=v0 w=m0 wreg=r0 x=v0 rows=P+2").unwrap_err();
        assert!(e.message.contains("needs field `cols`"), "{e}");
        let e = Instr::parse("add dst=r1 a=r2 b=r3 wait=dma:3").unwrap_err();
        assert!(e.message.contains("dma"), "{e}");
        let e = Instr::parse("add dst=r1 a=q2 b=r3").unwrap_err();
        assert_eq!(e.column, Some(12));
        assert_eq!(Instr::parse("   # only a comment").unwrap(), None);
        // Numbers: decimal or 0x hexadecimal, negative with `-`; no `+`, nothing else.
        let li = |imm: &str| Instr::parse(&format!("li dst=r3 imm={imm}"));
        for (text, value) in [("0x10", 16), ("-0x1f", -31), ("-7", -7), ("0", 0)] {
            let Some(Instr {
                op: Op::Li { imm, .. },
                ..
            }) = li(text).unwrap()
            else {
                panic!("{text}")
            };
            assert_eq!(imm, value, "{text}");
        }
        for bad in ["+5", "0x", "-", "--3", "0x+1", "1e3"] {
            let e = li(bad).unwrap_err();
            assert!(e.message.contains("is not a number"), "{bad}: {e}");
        }
        // A number of 100,000 digits is quoted by its start and its length, not whole: too
        // large, or in range of no field, or as a wait's count.
        let e = li(&"9".repeat(100_000)).unwrap_err();
        assert!(
            e.message.len() < 200 && e.message.contains("... (100000 characters)"),
            "{e}"
        );
        let e = li(&format!("{}9000000000000000000", "0".repeat(100_000))).unwrap_err();
        assert!(
            e.message.len() < 200 && e.message.contains("outside"),
            "{e}"
        );
        let e =
            Instr::parse(&format!("nop cycles=1 wait=vxu:{}", "9".repeat(100_000))).unwrap_err();
        assert!(
            e.message.len() < 200 && e.message.contains("wait count 999"),
            "{e}"
        );
        assert!(e.message.contains("outside 1 ..= 16383"), "{e}");
        for large in [
            "0x8000000000000000",
            "999999999999999999999999999999999999999999",
        ] {
            let e = li(large).unwrap_err();
            assert!(
                e.message.contains("is too large for any field"),
                "{large}: {e}"
            );
        }
        let e = Instr::parse("copy dst=v+5 src=v0 n=4").unwrap_err();
        assert!(e.message.contains("`+5` is not a number"), "{e}");
        // A wait count likewise; and one wait an instruction, never a second silently.
        let add = |wait: &str| Instr::parse(&format!("add dst=r1 a=r2 b=r3 wait={wait}"));
        let waited = add("sxu:0x1f").unwrap().unwrap();
        assert_eq!(waited.wait.map(|w| w.count), Some(31));
        for bad in ["sxu:+3", "sxu:0x+1", "sxu:0x", "sxu:", "sxu:3a"] {
            let e = add(bad).unwrap_err();
            assert!(e.message.contains("is not a number"), "{bad}: {e}");
        }
        let e = Instr::parse("add dst=r1 a=r2 b=r3 wait=sxu:4 wait=vxu:1").unwrap_err();
        assert_eq!(e.column, Some(33));
        assert!(e.message.contains("`wait` given twice"), "{e}");
    }

    #[test]
    fn lengths_can_follow_the_position() {
        let i = Instr::parse("sum dst=r3 src=v64 n=P+2").unwrap().unwrap();
        let Op::Sum { n, .. } = i.op else { panic!() };
        assert_eq!(length(n, 0), 3);
        assert_eq!(length(n, 9), 12);
        assert_eq!(length(5, 9), 5);
    }

    #[test]
    fn registers_hold_signed_48_bit_values() {
        let (max, min) = ((1i64 << 47) - 1, -(1i64 << 47));
        assert!(fits_register(max) && fits_register(min) && fits_register(0));
        assert!(!fits_register(max + 1) && !fits_register(min - 1));
        assert!(!fits_register(i64::MAX) && !fits_register(i64::MIN));
        // li's immediate is a register's width: every value it encodes fits.
        let li = spec_by_mnemonic("li").unwrap();
        let imm = li.fields.iter().find(|f| f.name == "imm").unwrap();
        assert_eq!(imm.bits, REGISTER_BITS);
    }

    #[test]
    fn the_manual_in_docs_is_generated_from_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/isa.md");
        let file = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            file == manual(),
            "docs/isa.md is out of date: run `cargo run --release -- isa-manual > docs/isa.md`"
        );
        for spec in SPECS {
            assert!(
                !spec.action.trim().is_empty(),
                "{} has no action text",
                spec.mnemonic
            );
        }
    }

    #[test]
    fn cache_stores_and_sincos_read_the_memories_the_core_reads_them_from() {
        let target = Target::builtin("sim-tiny").unwrap();
        let start = |m: VectorMemory| target.range_of(m).start as i64;
        let store = |src: i64| Op::Kvstore { dst: 0, src, n: 4 };
        assert_eq!(store(start(VectorMemory::Vector)).check(&target, 3), Ok(()));
        for m in [VectorMemory::Accumulator, VectorMemory::Wide] {
            let err = store(start(m)).check(&target, 3).unwrap_err();
            assert!(err.message.contains("from the vector memory only"), "{err}");
            assert_eq!(err.field, Some("src"));
        }
        let sincos = |src: i64| Op::Sincos {
            dst: start(VectorMemory::Vector),
            src,
            n: 8,
        };
        assert_eq!(sincos(start(VectorMemory::Wide)).check(&target, 3), Ok(()));
        assert_eq!(
            sincos(start(VectorMemory::Accumulator)).check(&target, 3),
            Ok(())
        );
        let err = sincos(start(VectorMemory::Vector) + 64)
            .check(&target, 3)
            .unwrap_err();
        assert!(err.message.contains("not from the vector memory"), "{err}");
        assert_eq!(err.field, Some("src"));
    }

    #[test]
    fn an_access_spanning_two_positions_covers_every_position_between() {
        // A cache store writes one row block a position: block 1 at positions 4..8 of 4 lanes,
        // which neither position 0 nor 11 touches.
        let store = Op::Kvstore {
            dst: 100,
            src: 0,
            n: 8,
        };
        let span = 1 << 16;
        let spanning = store
            .accesses(4, 0, span)
            .spanning(&store.accesses(4, 11, span));
        let middle = store.accesses(4, 5, span);
        let writes = |a: &Access| {
            a.matrix_writes
                .iter()
                .map(|r| (r.start, r.end))
                .collect::<Vec<_>>()
        };
        assert_eq!(writes(&middle), [(108, 116)]);
        assert_eq!(writes(&spanning), [(100, 124)]);
        assert!(spanning.conflicts(&middle));
        // Lists of different lengths become one hull.
        let mut one = Ranges::default();
        one.push(4..6);
        let mut two = Ranges::default();
        two.push(0..2);
        two.push(10..12);
        let hull: Vec<_> = one.hull(&two).iter().map(|r| (r.start, r.end)).collect();
        assert_eq!(hull, [(0, 12)]);
    }

    #[test]
    fn malformed_words_are_refused() {
        assert!(Instr::decode(0xff).is_err());
        let nop = Instr::new(Op::Nop { cycles: 1 }).encode().unwrap();
        assert!(Instr::decode(nop | 1 << 100).is_err(), "unused bits set");
        assert!(Instr::decode(nop | 5 << 10).is_err(), "count without unit");
        assert!(decode_program(&[0; 17]).is_err());
    }
}
