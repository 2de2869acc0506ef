//! The micro-ISA of the small core: the ISA's instructions as routines of micro-operations.
//!
//! The wide core of `hw/` spends its logic on parallel lanes and pipelines; an iCE40UP5K (5,280
//! LUT4s, eight 16 x 16 multipliers, no distributed RAM) has room for none of that. The small
//! core executes the same ISA one instruction after another on one 48-bit datapath, each
//! instruction by a *routine* of micro-operations held in block RAM (`docs/small-core.md`). The
//! routines are defined here, once: the hardware's micro-program ROM is their encoding
//! ([`program`]), the small core's timing is counted from their structure ([`cycles`]), and
//! `monorail_sim::micro` executes them to check, instruction by instruction, that they compute
//! what the instruction-set simulator computes.
//!
//! A routine has no data-dependent control: its only branches are counted loops whose counts
//! come from the instruction's fields and the position ([`Count`]), and a choice between data
//! is a select ([`AluFn::Sel`], [`AluFn::Zsel`]). So its cycles are a function of the
//! instruction and the position, like the wide core's.
//!
//! Registers `u0 .. u63` of the micro-machine are the ISA's registers (`u0` reads as zero and
//! ignores writes, as `r0` does); `u64 .. u127` are the routines' temporaries. A micro-operation
//! names a register directly or through one of four *index latches* that hold register fields
//! of the instruction, so that `add dst=r5 a=r3 b=r4` is one micro-operation on `u[x0]`, `u[x1]`
//! and `u[x2]`.

use crate::isa::{length, FieldKind, Op, OpSpec, OPERAND_SHIFT, SPECS};
use crate::numerics::tables;

/// Registers of the micro-machine: the ISA's 64 and 64 temporaries.
pub const MICRO_REGISTERS: usize = 128;
/// Bits of a micro-register and of the datapath: the ISA's register width.
pub const DATAPATH_BITS: u32 = crate::isa::REGISTER_BITS;
/// Index latches (register fields of the current instruction).
pub const INDEX_LATCHES: usize = 4;
/// Element pointers into the vector space.
pub const POINTERS: usize = 4;
/// Loop counters.
pub const COUNTERS: usize = 2;
/// Bits of an encoded micro-instruction: three 16-bit block RAMs side by side.
pub const MICRO_INSTRUCTION_BITS: u32 = 48;
/// Bits of each multiplier input: the ISA's multiplicands (`target::VECTOR_ELEMENT_BITS`).
pub const MULTIPLIER_BITS: u32 = crate::target::VECTOR_ELEMENT_BITS;
/// Cycles of every micro-operation: read the register file, then compute and write.
pub const MICRO_OP_CYCLES: u64 = 2;
/// 32-bit elements of the vector memory an instruction takes: the program lies after the vector
/// space, instruction `i` at elements `vector_space + INSTRUCTION_ELEMENTS * i ..`, its lowest
/// bits first.
pub const INSTRUCTION_ELEMENTS: usize = crate::isa::INSTRUCTION_BYTES / 4;
/// Cycles to start an instruction: fetch its 128 bits and jump to its routine.
pub const DISPATCH_CYCLES: u64 = 4;
/// Cycles before a token step's first instruction: the ISA's registers cleared, one a cycle
/// (`r1` set to the position and `r2` to the token), so that a step starts from the state the
/// ISA defines.
pub const START_CYCLES: u64 = crate::isa::REGISTERS as u64;

/// First temporary register.
const TEMP: u8 = 64;

/// A register operand: `u[n]` directly, or `u[x[k]]` through index latch `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reg {
    /// `u[n]`, `n < MICRO_REGISTERS`.
    U(u8),
    /// `u[x[k]]`, `k < INDEX_LATCHES`.
    X(u8),
}

impl Reg {
    fn encode(self) -> u64 {
        match self {
            Reg::U(n) => {
                assert!(
                    (n as usize) < MICRO_REGISTERS,
                    "u{n} is not a micro-register"
                );
                n as u64
            }
            Reg::X(k) => {
                assert!((k as usize) < INDEX_LATCHES, "x{k} is not an index latch");
                1 << layout::INDIRECT | k as u64
            }
        }
    }

    fn decode(bits: u64) -> Reg {
        if bits >> layout::INDIRECT & 1 != 0 {
            Reg::X(layout::get(bits, (0, layout::LATCH_BITS)) as u8)
        } else {
            Reg::U(layout::get(bits, (0, layout::INDIRECT)) as u8)
        }
    }
}

/// The second operand of an ALU operation: a register or a signed 16-bit immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A register.
    R(Reg),
    /// An immediate.
    Imm(i16),
}

/// The functions of the ALU, on 48-bit signed values `a` and `b` (results wrap to 48 bits
/// unless said otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluFn {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a & b`.
    And,
    /// `a | b`.
    Or,
    /// `max(a, b)`.
    Max,
    /// `min(a, b)`.
    Min,
    /// `a >> b` (arithmetic) for `b >= 0`, `a << -b` for `b < 0`.
    Shift,
    /// `numerics::shift_round(a, b)`, saturated to `±(2^47 - 1)`: the datapath's one rounding.
    ShiftRound,
    /// `1` if `a > b` else `0`; the flag gets the same.
    Gt,
    /// `1` if `a == b` else `0`.
    Eq,
    /// The flag's choice: `a` if the flag is set, else `b`.
    Sel,
    /// `0` if `a == 0`, else `b`.
    Zsel,
    /// `a * b` of the low [`MULTIPLIER_BITS`] bits of each, signed: the multiplier.
    Mul,
    /// `|a|` (`b` unused).
    Abs,
    /// The bit length of `|a|` (`b` unused): the leading-one detector.
    Bitlen,
    /// `a | |b|`: a magnitude (`numerics::magnitude`) gathered one value at a time.
    OrAbs,
    /// `numerics::saturate(a, b)`, `b` taken in `1 ..= 48`: to `±(2^(b-1) - 1)`.
    Clamp,
}

impl AluFn {
    /// Every function, in the order of its encoding (its operation code).
    pub const ALL: [AluFn; 17] = [
        AluFn::Add,
        AluFn::Sub,
        AluFn::And,
        AluFn::Or,
        AluFn::Max,
        AluFn::Min,
        AluFn::Shift,
        AluFn::ShiftRound,
        AluFn::Gt,
        AluFn::Eq,
        AluFn::Sel,
        AluFn::Zsel,
        AluFn::Mul,
        AluFn::Abs,
        AluFn::Bitlen,
        AluFn::OrAbs,
        AluFn::Clamp,
    ];

    /// The function's result for `a` and `b` with the flag `flag`, and the flag after it.
    pub fn apply(self, a: i64, b: i64, flag: bool) -> (i64, bool) {
        let top = (1i64 << (DATAPATH_BITS - 1)) - 1;
        let r = match self {
            AluFn::Add => a.wrapping_add(b),
            AluFn::Sub => a.wrapping_sub(b),
            AluFn::And => a & b,
            AluFn::Or => a | b,
            AluFn::Max => a.max(b),
            AluFn::Min => a.min(b),
            AluFn::Shift if b >= 0 => a >> b.min(63),
            AluFn::Shift => a.wrapping_shl((-b).min(63) as u32),
            AluFn::ShiftRound => {
                let s = b.clamp(-64, DATAPATH_BITS as i64) as i32;
                crate::numerics::shift_round(a, s).clamp(-top, top)
            }
            AluFn::Gt => return (i64::from(a > b), a > b),
            AluFn::Eq => i64::from(a == b),
            AluFn::Sel if flag => a,
            AluFn::Sel => b,
            AluFn::Zsel if a == 0 => 0,
            AluFn::Zsel => b,
            AluFn::Mul => sign_extend(a, MULTIPLIER_BITS) * sign_extend(b, MULTIPLIER_BITS),
            AluFn::Abs => a.wrapping_abs(),
            AluFn::OrAbs => a | b.wrapping_abs(),
            AluFn::Clamp => crate::numerics::saturate(a, b.clamp(1, DATAPATH_BITS as i64) as u32),
            AluFn::Bitlen => crate::numerics::bit_length(a.unsigned_abs()) as i64,
        };
        (sign_extend(r, DATAPATH_BITS), flag)
    }
}

/// `x`'s low `bits` bits as a signed value.
pub fn sign_extend(x: i64, bits: u32) -> i64 {
    let shift = 64 - bits;
    (x << shift) >> shift
}

/// The ROM tables the `table` micro-operation reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// `numerics::tables::Tables::rsqrt`.
    Rsqrt,
    /// `numerics::tables::Tables::recip`.
    Recip,
    /// `numerics::tables::Tables::exp2_neg`.
    Exp2Neg,
    /// `numerics::tables::Tables::sigmoid`.
    Sigmoid,
    /// `numerics::tables::Tables::sine_quarter`.
    SineQuarter,
}

impl Table {
    /// Every table, in the order of its encoding.
    pub const ALL: [Table; 5] = [
        Table::Rsqrt,
        Table::Recip,
        Table::Exp2Neg,
        Table::Sigmoid,
        Table::SineQuarter,
    ];

    /// The table's entries.
    pub fn entries(self) -> &'static [i32] {
        let t = tables::get();
        match self {
            Table::Rsqrt => &t.rsqrt,
            Table::Recip => &t.recip,
            Table::Exp2Neg => &t.exp2_neg,
            Table::Sigmoid => &t.sigmoid,
            Table::SineQuarter => &t.sine_quarter,
        }
    }

    /// Entries of the one ROM that holds every table, one after another in [`Table::ALL`]
    /// order.
    pub fn rom_entries() -> usize {
        Table::ALL.iter().map(|t| t.entries().len()).sum()
    }
}

/// Where a field of the current instruction lies in its 128 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldAt {
    /// Its first bit.
    pub lo: u8,
    /// Its width (1 ..= 48).
    pub bits: u8,
    /// Whether it is signed (sign-extended) rather than unsigned.
    pub signed: bool,
}

impl FieldAt {
    /// Field `name` of the format `spec`.
    pub fn of(spec: &OpSpec, name: &str) -> FieldAt {
        let mut lo = OPERAND_SHIFT;
        for f in spec.fields {
            if f.name == name {
                return FieldAt {
                    lo: lo as u8,
                    bits: f.bits as u8,
                    signed: f.kind == FieldKind::I,
                };
            }
            lo += f.bits;
        }
        panic!("`{}` has no field `{name}`", spec.mnemonic)
    }

    /// The field's value in an encoded instruction.
    pub fn extract(self, word: u128) -> i64 {
        let raw = ((word >> self.lo) & ((1u128 << self.bits) - 1)) as i64;
        if self.signed {
            sign_extend(raw, self.bits as u32)
        } else {
            raw
        }
    }

    /// Its first bit, width and signedness in the immediate ([`layout::FIELD_LO`]).
    fn pack(self) -> u64 {
        (self.lo as u64) << layout::FIELD_LO.0
            | (self.bits as u64) << layout::FIELD_WIDTH.0
            | (self.signed as u64) << layout::FIELD_SIGNED
    }

    fn unpack(imm: u64) -> FieldAt {
        FieldAt {
            lo: layout::get(imm, layout::FIELD_LO) as u8,
            bits: layout::get(imm, layout::FIELD_WIDTH) as u8,
            signed: imm >> layout::FIELD_SIGNED & 1 != 0,
        }
    }
}

/// How a loop counter's count follows from a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CountKind {
    /// The field's value.
    Raw,
    /// A length field's value at the position (`isa::length`).
    Length,
    /// Half of a length (pairs of elements).
    Pairs,
    /// The blocks of `lanes` rows a length covers: `ceil(length / lanes)`.
    Blocks,
    /// The matrix lanes (the field unused).
    Lanes,
}

impl CountKind {
    const ALL: [CountKind; 5] = [
        CountKind::Raw,
        CountKind::Length,
        CountKind::Pairs,
        CountKind::Blocks,
        CountKind::Lanes,
    ];
}

/// A loop count: a field's value or length, fixed by the instruction and the position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Count {
    /// The field.
    pub field: FieldAt,
    /// What of it.
    pub kind: CountKind,
}

impl Count {
    /// The count for a field value `raw` at position `pos` with `lanes` matrix lanes.
    pub fn of(self, raw: i64, pos: usize, lanes: usize) -> u64 {
        (match self.kind {
            CountKind::Raw => raw as usize,
            CountKind::Length => length(raw, pos),
            CountKind::Pairs => length(raw, pos) / 2,
            CountKind::Blocks => length(raw, pos).div_ceil(lanes),
            CountKind::Lanes => lanes,
        }) as u64
    }
}

/// What of the position a `Position` micro-operation reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PosPart {
    /// The position.
    Pos,
    /// `pos / lanes`: the word of a cache position within its block.
    Word,
    /// `pos % lanes`: the lane of a cache position.
    Lane,
}

impl PosPart {
    const ALL: [PosPart; 3] = [PosPart::Pos, PosPart::Word, PosPart::Lane];

    /// Its value at `pos` with `lanes` matrix lanes.
    pub fn of(self, pos: usize, lanes: usize) -> i64 {
        (match self {
            PosPart::Pos => pos,
            PosPart::Word => pos / lanes,
            PosPart::Lane => pos % lanes,
        }) as i64
    }
}

/// How the matrix cursor moves after a byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// To the next lane (after the last lane, the first lane of the next word).
    Lane,
    /// To the same lane of the next word.
    Word,
}

/// One micro-operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MicroOp {
    /// `dst = f(a, b)`.
    Alu {
        /// The function.
        f: AluFn,
        /// Destination.
        dst: Reg,
        /// First operand.
        a: Reg,
        /// Second operand.
        b: Operand,
    },
    /// `dst` = the value of a field of the instruction.
    Field {
        /// Destination.
        dst: Reg,
        /// The field.
        field: FieldAt,
    },
    /// `dst` = a length field's value at the position (`isa::length`).
    Length {
        /// Destination.
        dst: Reg,
        /// The field.
        field: FieldAt,
    },
    /// Index latch `latch` = a register field of the instruction.
    Index {
        /// The latch.
        latch: u8,
        /// The field.
        field: FieldAt,
    },
    /// `dst = table[a]` (`a` taken modulo the table's length rounded up to a power of two,
    /// reading 0 past its end).
    Lookup {
        /// Destination.
        dst: Reg,
        /// The index.
        a: Reg,
        /// The table.
        table: Table,
    },
    /// Pointer `ptr` = `a` (an element address of the vector space).
    Point {
        /// The pointer.
        ptr: u8,
        /// The address.
        a: Reg,
    },
    /// `dst` = the vector-space element at pointer `ptr` (sign-extended), and the pointer
    /// moves to the next element.
    Load {
        /// Destination.
        dst: Reg,
        /// The pointer.
        ptr: u8,
    },
    /// The vector-space element at pointer `ptr` = the low 32 bits of `a`, and the pointer moves
    /// to the next element.
    Store {
        /// The pointer.
        ptr: u8,
        /// The value.
        a: Reg,
    },
    /// Jump to `to` when a field of the instruction is not zero: the start of a block that
    /// only an instruction without an optional register runs.
    Skip {
        /// The field.
        field: FieldAt,
        /// The address after the block.
        to: u16,
    },
    /// Counter `counter` = a count; jump to `exit` when it is zero, else enter the loop (the
    /// sequencer keeps its counter and its body's start). The top of a loop.
    Loop {
        /// The counter.
        counter: u8,
        /// The count.
        count: Count,
        /// The address after the loop's body (and its `Next`, if it has one).
        exit: u16,
    },
    /// Decrement counter `counter`; jump to `back` (the loop's first body operation) while it is
    /// not zero, else leave the loop. The end of a loop whose body ends with an inner loop (a
    /// body that ends with an operation marks it instead: [`MicroWord::ends_loop`]).
    Next {
        /// The counter.
        counter: u8,
        /// The loop body's first address.
        back: u16,
    },
    /// `dst` = a part of the position.
    Position {
        /// Destination.
        dst: Reg,
        /// Which part.
        part: PosPart,
    },
    /// The matrix cursor = lane `lane % lanes` of matrix word `word`.
    Cursor {
        /// The word.
        word: Reg,
        /// The lane.
        lane: Reg,
    },
    /// `dst` = the int8 at the matrix cursor, which then steps.
    LoadByte {
        /// Destination.
        dst: Reg,
        /// How the cursor moves.
        step: Step,
    },
    /// The int8 at the matrix cursor = the low 8 bits of `a`; the cursor then steps.
    StoreByte {
        /// The value.
        a: Reg,
        /// How the cursor moves.
        step: Step,
    },
    /// Clear the matrix lanes' accumulators and the lane counter of `Drain` and `LoadX`.
    MacClear,
    /// Lane `i`'s accumulator += lane `i` of the word at the cursor times the element at
    /// pointer `ptr`; the cursor moves to the next word and the pointer to the next element.
    Mac {
        /// The pointer of the broadcast element.
        ptr: u8,
    },
    /// The limit counter = a count: how many more elements `Drain` and `LoadX` move.
    Limit {
        /// The count.
        count: Count,
    },
    /// While the limit counter is not zero: the element at pointer `ptr` = the next lane's
    /// accumulator, the pointer moves on and the limit counter down. The lane counter moves
    /// on either way.
    Drain {
        /// The pointer.
        ptr: u8,
    },
    /// The next lane's x register = the element at pointer `ptr` while the limit counter is not
    /// zero (the pointer moves on and the counter down), else 0. The lane counter moves on.
    LoadX {
        /// The pointer.
        ptr: u8,
    },
    /// `dst` = the sum over the lanes of lane `i` of the word at the cursor times lane `i`'s x
    /// register; the cursor moves to the next word.
    Dot {
        /// Destination.
        dst: Reg,
    },
    /// End the token step with `a` as the next token (`end`).
    Finish {
        /// The token's register.
        a: Reg,
    },
    /// The instruction is done: dispatch the next one.
    Done,
}

/// A micro-instruction's bits: `[0, 6)` operation, `[6, 14)` d (the destination, or the latch,
/// pointer or counter), `[14, 22)` a, `[22, 30)` b, `[30, 46)` the immediate (a signed operand, a
/// jump address or a field), `[46]` whether the ALU's b is the immediate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Encoded {
    op: u64,
    d: u64,
    a: u64,
    b: u64,
    imm: u64,
    b_imm: bool,
}

/// Where the parts of a micro-instruction and of its immediate lie, as `(first bit, bits)`: the
/// hardware's decoder is generated from these.
pub mod layout {
    /// The operation code.
    pub const OP: (u32, u32) = (0, 6);
    /// The destination, or the latch, pointer or counter.
    pub const D: (u32, u32) = (6, 8);
    /// The first operand (a count's or a skip's field: its first bit).
    pub const A: (u32, u32) = (14, 8);
    /// The second operand (a count's or a skip's field: its width).
    pub const B: (u32, u32) = (22, 8);
    /// The immediate.
    pub const IMM: (u32, u32) = (30, 16);
    /// Whether the ALU's b is the immediate.
    pub const B_IMM: u32 = 46;
    /// Whether the word ends its loop's body ([`super::MicroWord::ends_loop`]).
    pub const ENDS_LOOP: u32 = 47;
    /// A register operand's bit that says it goes through an index latch (the latch in the
    /// bits below [`LATCH_BITS`]); without it, the register's number is in the bits below.
    pub const INDIRECT: u32 = 7;
    /// Bits of a latch's number in an indirect register operand.
    pub const LATCH_BITS: u32 = 2;
    /// A field in the immediate (`Field`, `Length`, `Index`): its first bit, width and
    /// signedness.
    pub const FIELD_LO: (u32, u32) = (0, 7);
    /// See [`FIELD_LO`].
    pub const FIELD_WIDTH: (u32, u32) = (7, 6);
    /// See [`FIELD_LO`].
    pub const FIELD_SIGNED: u32 = 13;
    /// A loop's count kind ([`super::CountKind`]) in the immediate, and its exit below.
    pub const COUNT_KIND: (u32, u32) = (13, 3);

    /// The part at `(lo, bits)` of `w`.
    pub(super) fn get(w: u64, (lo, bits): (u32, u32)) -> u64 {
        (w >> lo) & ((1 << bits) - 1)
    }
}

impl Encoded {
    fn pack(self) -> u64 {
        self.op << layout::OP.0
            | self.d << layout::D.0
            | self.a << layout::A.0
            | self.b << layout::B.0
            | self.imm << layout::IMM.0
            | (self.b_imm as u64) << layout::B_IMM
    }

    fn unpack(w: u64) -> Encoded {
        use layout::get;
        Encoded {
            op: get(w, layout::OP),
            d: get(w, layout::D),
            a: get(w, layout::A),
            b: get(w, layout::B),
            imm: get(w, layout::IMM),
            b_imm: w >> layout::B_IMM & 1 != 0,
        }
    }
}

/// The operation codes of the micro-operations that are not ALU functions (an ALU function's code
/// is its index in [`AluFn::ALL`], below [`code::FIRST`]).
pub mod code {
    /// The first code that is not an ALU function.
    pub const FIRST: u64 = 0x20;
    /// [`super::MicroOp::Field`].
    pub const FIELD: u64 = 0x20;
    /// [`super::MicroOp::Length`].
    pub const LENGTH: u64 = 0x21;
    /// [`super::MicroOp::Index`].
    pub const INDEX: u64 = 0x22;
    /// [`super::MicroOp::Lookup`].
    pub const LOOKUP: u64 = 0x23;
    /// [`super::MicroOp::Point`].
    pub const POINT: u64 = 0x24;
    /// [`super::MicroOp::Load`].
    pub const LOAD: u64 = 0x25;
    /// [`super::MicroOp::Store`].
    pub const STORE: u64 = 0x26;
    /// [`super::MicroOp::Loop`].
    pub const LOOP: u64 = 0x27;
    /// [`super::MicroOp::Next`].
    pub const NEXT: u64 = 0x28;
    /// [`super::MicroOp::Finish`].
    pub const FINISH: u64 = 0x29;
    /// [`super::MicroOp::Done`].
    pub const DONE: u64 = 0x2a;
    /// [`super::MicroOp::Position`].
    pub const POSITION: u64 = 0x2b;
    /// [`super::MicroOp::Cursor`].
    pub const CURSOR: u64 = 0x2c;
    /// [`super::MicroOp::LoadByte`].
    pub const LOAD_BYTE: u64 = 0x2d;
    /// [`super::MicroOp::StoreByte`].
    pub const STORE_BYTE: u64 = 0x2e;
    /// [`super::MicroOp::MacClear`].
    pub const MAC_CLEAR: u64 = 0x2f;
    /// [`super::MicroOp::Mac`].
    pub const MAC: u64 = 0x30;
    /// [`super::MicroOp::Limit`].
    pub const LIMIT: u64 = 0x31;
    /// [`super::MicroOp::Drain`].
    pub const DRAIN: u64 = 0x32;
    /// [`super::MicroOp::LoadX`].
    pub const LOAD_X: u64 = 0x33;
    /// [`super::MicroOp::Dot`].
    pub const DOT: u64 = 0x34;
    /// [`super::MicroOp::Skip`].
    pub const SKIP: u64 = 0x35;
    /// Every code with its name, for the hardware's decoder.
    pub const ALL: [(&str, u64); 22] = [
        ("FIELD", FIELD),
        ("LENGTH", LENGTH),
        ("INDEX", INDEX),
        ("LOOKUP", LOOKUP),
        ("POINT", POINT),
        ("LOAD", LOAD),
        ("STORE", STORE),
        ("LOOP", LOOP),
        ("NEXT", NEXT),
        ("FINISH", FINISH),
        ("DONE", DONE),
        ("POSITION", POSITION),
        ("CURSOR", CURSOR),
        ("LOAD_BYTE", LOAD_BYTE),
        ("STORE_BYTE", STORE_BYTE),
        ("MAC_CLEAR", MAC_CLEAR),
        ("MAC", MAC),
        ("LIMIT", LIMIT),
        ("DRAIN", DRAIN),
        ("LOAD_X", LOAD_X),
        ("DOT", DOT),
        ("SKIP", SKIP),
    ];
}

/// A count's field and kind: the field's first bit in a, its width in b, the kind in the
/// immediate's top 3 bits.
fn count_bits(count: Count, e: Encoded) -> Encoded {
    Encoded {
        a: count.field.lo as u64,
        b: count.field.bits as u64,
        imm: e.imm | (count.kind as u64) << layout::COUNT_KIND.0,
        ..e
    }
}

fn count_of(e: Encoded) -> Option<Count> {
    Some(Count {
        field: FieldAt {
            lo: e.a as u8,
            bits: layout::get(e.b, (0, layout::FIELD_WIDTH.1)) as u8,
            signed: false,
        },
        kind: *CountKind::ALL.get(layout::get(e.imm, layout::COUNT_KIND) as usize)?,
    })
}

impl MicroOp {
    /// The encoding the micro-program ROM holds ([`MICRO_INSTRUCTION_BITS`]).
    pub fn encode(self) -> u64 {
        let in_range = |what: &str, n: u8, limit: usize| {
            assert!(
                (n as usize) < limit,
                "{what} {n} does not exist (of {limit})"
            )
        };
        match self {
            MicroOp::Index { latch, .. } => in_range("index latch", latch, INDEX_LATCHES),
            MicroOp::Point { ptr, .. }
            | MicroOp::Load { ptr, .. }
            | MicroOp::Store { ptr, .. }
            | MicroOp::Mac { ptr }
            | MicroOp::Drain { ptr }
            | MicroOp::LoadX { ptr } => in_range("pointer", ptr, POINTERS),
            MicroOp::Loop { counter, exit, .. } => {
                in_range("counter", counter, COUNTERS);
                // The count's kind takes the immediate's top 3 bits.
                assert!(
                    exit < 1 << layout::COUNT_KIND.0,
                    "a loop's exit {exit} past {} bits",
                    layout::COUNT_KIND.0
                );
            }
            MicroOp::Next { counter, .. } => in_range("counter", counter, COUNTERS),
            _ => {}
        }
        let e = Encoded::default();
        let e = match self {
            MicroOp::Alu { f, dst, a, b } => {
                let e = Encoded {
                    op: AluFn::ALL.iter().position(|&g| g == f).expect("listed") as u64,
                    d: dst.encode(),
                    a: a.encode(),
                    ..e
                };
                match b {
                    Operand::R(r) => Encoded { b: r.encode(), ..e },
                    Operand::Imm(i) => Encoded {
                        imm: i as u16 as u64,
                        b_imm: true,
                        ..e
                    },
                }
            }
            MicroOp::Field { dst, field } => Encoded {
                op: code::FIELD,
                d: dst.encode(),
                imm: field.pack(),
                ..e
            },
            MicroOp::Length { dst, field } => Encoded {
                op: code::LENGTH,
                d: dst.encode(),
                imm: field.pack(),
                ..e
            },
            MicroOp::Index { latch, field } => Encoded {
                op: code::INDEX,
                d: latch as u64,
                imm: field.pack(),
                ..e
            },
            MicroOp::Lookup { dst, a, table } => Encoded {
                op: code::LOOKUP,
                d: dst.encode(),
                a: a.encode(),
                b: Table::ALL.iter().position(|&t| t == table).expect("listed") as u64,
                ..e
            },
            MicroOp::Point { ptr, a } => Encoded {
                op: code::POINT,
                d: ptr as u64,
                a: a.encode(),
                ..e
            },
            MicroOp::Load { dst, ptr } => Encoded {
                op: code::LOAD,
                d: dst.encode(),
                a: ptr as u64,
                ..e
            },
            MicroOp::Store { ptr, a } => Encoded {
                op: code::STORE,
                d: ptr as u64,
                a: a.encode(),
                ..e
            },
            // The count's field: its first bit in a, its width in b, its kind in the immediate's
            // top 3 bits.
            MicroOp::Loop {
                counter,
                count,
                exit,
            } => count_bits(
                count,
                Encoded {
                    op: code::LOOP,
                    d: counter as u64,
                    imm: exit as u64,
                    ..e
                },
            ),
            MicroOp::Limit { count } => count_bits(
                count,
                Encoded {
                    op: code::LIMIT,
                    ..e
                },
            ),
            MicroOp::Position { dst, part } => Encoded {
                op: code::POSITION,
                d: dst.encode(),
                b: part as u64,
                ..e
            },
            MicroOp::Cursor { word, lane } => Encoded {
                op: code::CURSOR,
                a: word.encode(),
                b: lane.encode(),
                ..e
            },
            MicroOp::LoadByte { dst, step } => Encoded {
                op: code::LOAD_BYTE,
                d: dst.encode(),
                b: step as u64,
                ..e
            },
            MicroOp::StoreByte { a, step } => Encoded {
                op: code::STORE_BYTE,
                a: a.encode(),
                b: step as u64,
                ..e
            },
            MicroOp::MacClear => Encoded {
                op: code::MAC_CLEAR,
                ..e
            },
            MicroOp::Mac { ptr } => Encoded {
                op: code::MAC,
                d: ptr as u64,
                ..e
            },
            MicroOp::Drain { ptr } => Encoded {
                op: code::DRAIN,
                d: ptr as u64,
                ..e
            },
            MicroOp::LoadX { ptr } => Encoded {
                op: code::LOAD_X,
                d: ptr as u64,
                ..e
            },
            MicroOp::Dot { dst } => Encoded {
                op: code::DOT,
                d: dst.encode(),
                ..e
            },
            // The field's first bit in a, its width in b.
            MicroOp::Skip { field, to } => Encoded {
                op: code::SKIP,
                a: field.lo as u64,
                b: field.bits as u64,
                imm: to as u64,
                ..e
            },
            MicroOp::Next { counter, back } => Encoded {
                op: code::NEXT,
                d: counter as u64,
                imm: back as u64,
                ..e
            },
            MicroOp::Finish { a } => Encoded {
                op: code::FINISH,
                a: a.encode(),
                ..e
            },
            MicroOp::Done => Encoded {
                op: code::DONE,
                ..e
            },
        };
        e.pack()
    }

    /// The micro-operation a ROM word holds, if any.
    pub fn decode(word: u64) -> Option<MicroOp> {
        if word >> MICRO_INSTRUCTION_BITS != 0 {
            return None;
        }
        let e = Encoded::unpack(word);
        let reg = Reg::decode;
        Some(match e.op {
            op if op < code::FIRST && (op as usize) < AluFn::ALL.len() => MicroOp::Alu {
                f: AluFn::ALL[op as usize],
                dst: reg(e.d),
                a: reg(e.a),
                b: if e.b_imm {
                    Operand::Imm(e.imm as u16 as i16)
                } else {
                    Operand::R(reg(e.b))
                },
            },
            code::FIELD => MicroOp::Field {
                dst: reg(e.d),
                field: FieldAt::unpack(e.imm),
            },
            code::LENGTH => MicroOp::Length {
                dst: reg(e.d),
                field: FieldAt::unpack(e.imm),
            },
            code::INDEX => MicroOp::Index {
                latch: e.d as u8,
                field: FieldAt::unpack(e.imm),
            },
            code::LOOKUP => MicroOp::Lookup {
                dst: reg(e.d),
                a: reg(e.a),
                table: *Table::ALL.get(e.b as usize)?,
            },
            code::POINT => MicroOp::Point {
                ptr: e.d as u8,
                a: reg(e.a),
            },
            code::LOAD => MicroOp::Load {
                dst: reg(e.d),
                ptr: e.a as u8,
            },
            code::STORE => MicroOp::Store {
                ptr: e.d as u8,
                a: reg(e.a),
            },
            code::LOOP => MicroOp::Loop {
                counter: e.d as u8,
                count: count_of(e)?,
                exit: layout::get(e.imm, (0, layout::COUNT_KIND.0)) as u16,
            },
            code::LIMIT => MicroOp::Limit {
                count: count_of(e)?,
            },
            code::POSITION => MicroOp::Position {
                dst: reg(e.d),
                part: *PosPart::ALL.get(e.b as usize)?,
            },
            code::CURSOR => MicroOp::Cursor {
                word: reg(e.a),
                lane: reg(e.b),
            },
            code::LOAD_BYTE => MicroOp::LoadByte {
                dst: reg(e.d),
                step: *[Step::Lane, Step::Word].get(e.b as usize)?,
            },
            code::STORE_BYTE => MicroOp::StoreByte {
                a: reg(e.a),
                step: *[Step::Lane, Step::Word].get(e.b as usize)?,
            },
            code::MAC_CLEAR => MicroOp::MacClear,
            code::MAC => MicroOp::Mac { ptr: e.d as u8 },
            code::DRAIN => MicroOp::Drain { ptr: e.d as u8 },
            code::LOAD_X => MicroOp::LoadX { ptr: e.d as u8 },
            code::DOT => MicroOp::Dot { dst: reg(e.d) },
            code::SKIP => MicroOp::Skip {
                field: FieldAt {
                    lo: e.a as u8,
                    bits: layout::get(e.b, (0, layout::FIELD_WIDTH.1)) as u8,
                    signed: false,
                },
                to: e.imm as u16,
            },
            code::NEXT => MicroOp::Next {
                counter: e.d as u8,
                back: e.imm as u16,
            },
            code::FINISH => MicroOp::Finish { a: reg(e.a) },
            code::DONE => MicroOp::Done,
            _ => return None,
        })
    }
}

/// A word of the micro-program ROM: a micro-operation, and whether it is the last of its loop's
/// body. Such a loop needs no `Next`: after this operation the innermost loop's counter counts
/// down and the sequencer goes back to the body's start while it is not zero (a zero-overhead
/// loop; the sequencer keeps the counter and start of each loop it is in, at most
/// [`COUNTERS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MicroWord {
    /// The micro-operation.
    pub op: MicroOp,
    /// Whether it ends the innermost loop's body.
    pub ends_loop: bool,
}

impl MicroWord {
    /// Its 48-bit encoding: the operation's, with the loop's end at [`layout::ENDS_LOOP`].
    pub fn encode(self) -> u64 {
        self.op.encode() | (self.ends_loop as u64) << layout::ENDS_LOOP
    }

    /// The word a ROM entry holds, if any.
    pub fn decode(word: u64) -> Option<MicroWord> {
        let end = 1u64 << layout::ENDS_LOOP;
        Some(MicroWord {
            op: MicroOp::decode(word & !end)?,
            ends_loop: word & end != 0,
        })
    }
}

/// Whether a loop's `body` ends with an operation, which then closes the loop (no `Next`).
fn closes_itself(body: &[Block]) -> bool {
    matches!(body.last(), Some(Block::Op(_)))
}

/// A routine as written: micro-operations and counted loops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// One micro-operation.
    Op(MicroOp),
    /// `body` when field `field` is zero (an optional register left out), else nothing.
    IfZero {
        /// The field.
        field: FieldAt,
        /// The body.
        body: Vec<Block>,
    },
    /// `body`, `count` times, on counter `counter`.
    Loop {
        /// The counter (loops nest on different counters).
        counter: u8,
        /// How many times.
        count: Count,
        /// The body.
        body: Vec<Block>,
    },
}

/// The index of the field of `spec` that starts at bit `lo`.
fn field_starting_at(spec: &OpSpec, lo: u8) -> Option<usize> {
    let mut start = OPERAND_SHIFT;
    for (i, f) in spec.fields.iter().enumerate() {
        if start == lo as u32 {
            return Some(i);
        }
        start += f.bits;
    }
    None
}

/// The value of the field at `at` of `op` (the field that starts at its first bit).
fn field_value(op: &Op, at: FieldAt) -> i64 {
    let i = field_starting_at(op.spec(), at.lo)
        .unwrap_or_else(|| panic!("`{}` has no field at bit {}", op.spec().mnemonic, at.lo));
    op.value(i)
}

/// Micro-operations executed by `blocks` for `op` at `pos`.
fn executed(blocks: &[Block], op: &Op, pos: usize, lanes: usize) -> u64 {
    blocks
        .iter()
        .map(|b| match b {
            Block::Op(_) => 1,
            // `Skip`, then the body when it runs.
            Block::IfZero { field, body } => {
                1 + if field_value(op, *field) == 0 {
                    executed(body, op, pos, lanes)
                } else {
                    0
                }
            }
            // `Loop`, then each pass of the body (and its `Next` unless the body closes the loop).
            Block::Loop { count, body, .. } => {
                let n = count.of(field_value(op, count.field), pos, lanes);
                let next = u64::from(!closes_itself(body));
                1 + n * (executed(body, op, pos, lanes) + next)
            }
        })
        .sum()
}

/// Whether a loop in `blocks` counts on `counter`.
fn uses_counter(blocks: &[Block], counter: u8) -> bool {
    blocks.iter().any(|b| match b {
        Block::Op(_) => false,
        Block::IfZero { body, .. } => uses_counter(body, counter),
        Block::Loop {
            counter: c, body, ..
        } => *c == counter || uses_counter(body, counter),
    })
}

/// Lay `blocks` out at the end of `rom` (addresses are the ROM's).
fn flatten(blocks: &[Block], rom: &mut Vec<MicroWord>) {
    let word = |op| MicroWord {
        op,
        ends_loop: false,
    };
    for b in blocks {
        match b {
            Block::Op(op) => rom.push(word(*op)),
            Block::IfZero { field, body } => {
                let at = rom.len();
                rom.push(word(MicroOp::Done)); // the Skip, once its target is known
                flatten(body, rom);
                rom[at] = word(MicroOp::Skip {
                    field: *field,
                    to: rom.len() as u16,
                });
            }
            Block::Loop {
                counter,
                count,
                body,
            } => {
                assert!(!body.is_empty(), "an empty loop");
                let top = rom.len();
                rom.push(word(MicroOp::Done)); // the Loop, once its exit is known
                flatten(body, rom);
                if closes_itself(body) {
                    rom.last_mut().expect("a body").ends_loop = true;
                } else {
                    rom.push(word(MicroOp::Next {
                        counter: *counter,
                        back: (top + 1) as u16,
                    }));
                }
                rom[top] = word(MicroOp::Loop {
                    counter: *counter,
                    count: *count,
                    exit: rom.len() as u16,
                });
            }
        }
    }
}

/// `u0`: zero.
const ZERO: Reg = Reg::U(0);
/// Temporary `k`.
const fn t(k: u8) -> Reg {
    Reg::U(TEMP + k)
}
/// The register that index latch `k` names.
const fn x(k: u8) -> Reg {
    Reg::X(k)
}

impl From<Reg> for Operand {
    fn from(r: Reg) -> Operand {
        Operand::R(r)
    }
}

impl From<i16> for Operand {
    fn from(i: i16) -> Operand {
        Operand::Imm(i)
    }
}

/// Writes a routine for one instruction format, naming its fields.
struct Builder {
    spec: &'static OpSpec,
    blocks: Vec<Block>,
}

impl Builder {
    fn new(spec: &'static OpSpec) -> Builder {
        Builder {
            spec,
            blocks: Vec::new(),
        }
    }

    fn at(&self, name: &str) -> FieldAt {
        FieldAt::of(self.spec, name)
    }

    fn op(&mut self, op: MicroOp) -> &mut Self {
        self.blocks.push(Block::Op(op));
        self
    }

    fn alu(&mut self, f: AluFn, dst: Reg, a: Reg, b: impl Into<Operand>) -> &mut Self {
        self.op(MicroOp::Alu {
            f,
            dst,
            a,
            b: b.into(),
        })
    }

    /// `dst = a`.
    fn mov(&mut self, dst: Reg, a: Reg) -> &mut Self {
        self.alu(AluFn::Or, dst, a, 0)
    }

    /// `dst = imm`.
    fn set(&mut self, dst: Reg, imm: i16) -> &mut Self {
        self.alu(AluFn::Add, dst, ZERO, imm)
    }

    /// `dst = value`, from 15-bit pieces.
    fn constant(&mut self, dst: Reg, value: i64) -> &mut Self {
        match i16::try_from(value) {
            Ok(v) => self.set(dst, v),
            Err(_) => {
                let low = value & 0x7fff;
                self.constant(dst, value >> 15)
                    .alu(AluFn::Shift, dst, dst, -15)
                    .alu(AluFn::Or, dst, dst, low as i16)
            }
        }
    }

    /// `magnitude |= |a|`.
    fn magnitude(&mut self, magnitude: Reg, a: Reg) -> &mut Self {
        self.alu(AluFn::OrAbs, magnitude, magnitude, a)
    }

    /// A count of field `name`, which is unsigned (the encoding keeps no sign for a count).
    fn count(&self, name: &str, kind: CountKind) -> Count {
        let field = self.at(name);
        assert!(!field.signed, "a count of the signed field `{name}`");
        Count { field, kind }
    }

    fn field(&mut self, dst: Reg, name: &str) -> &mut Self {
        let field = self.at(name);
        self.op(MicroOp::Field { dst, field })
    }

    fn length(&mut self, dst: Reg, name: &str) -> &mut Self {
        let field = self.at(name);
        self.op(MicroOp::Length { dst, field })
    }

    /// Latch `k` names the register of field `name`.
    fn index(&mut self, k: u8, name: &str) -> &mut Self {
        let field = self.at(name);
        self.op(MicroOp::Index { latch: k, field })
    }

    /// Pointer `ptr` at the element address of field `name`.
    fn point(&mut self, ptr: u8, name: &str, scratch: Reg) -> &mut Self {
        self.field(scratch, name)
            .op(MicroOp::Point { ptr, a: scratch })
    }

    fn load(&mut self, dst: Reg, ptr: u8) -> &mut Self {
        self.op(MicroOp::Load { dst, ptr })
    }

    fn store(&mut self, ptr: u8, a: Reg) -> &mut Self {
        self.op(MicroOp::Store { ptr, a })
    }

    /// `body` once per element of length field `name`, on counter 0.
    fn each(&mut self, name: &str, body: impl FnOnce(&mut Builder)) -> &mut Self {
        self.repeat(0, name, CountKind::Length, body)
    }

    /// `body` when field `name` is zero.
    fn if_zero(&mut self, name: &str, body: impl FnOnce(&mut Builder)) -> &mut Self {
        let field = self.at(name);
        assert!(!field.signed, "a skip on the signed field `{name}`");
        let mut inner = Builder::new(self.spec);
        body(&mut inner);
        self.blocks.push(Block::IfZero {
            field,
            body: inner.blocks,
        });
        self
    }

    /// The limit counter = a count of field `name`.
    fn limit(&mut self, name: &str, kind: CountKind) -> &mut Self {
        let count = self.count(name, kind);
        self.op(MicroOp::Limit { count })
    }

    /// `body` once per count of field `name`, on counter `counter`.
    fn repeat(
        &mut self,
        counter: u8,
        name: &str,
        kind: CountKind,
        body: impl FnOnce(&mut Builder),
    ) -> &mut Self {
        let count = self.count(name, kind);
        let mut inner = Builder::new(self.spec);
        body(&mut inner);
        // Each loop keeps its count in its own counter while loops inside it run.
        assert!(
            !uses_counter(&inner.blocks, counter),
            "`{}`: a loop inside a loop on counter {counter} uses it too",
            self.spec.mnemonic
        );
        self.blocks.push(Block::Loop {
            counter,
            count,
            body: inner.blocks,
        });
        self
    }
}

/// The routine of an instruction format.
fn write_routine(spec: &'static OpSpec) -> Vec<Block> {
    use AluFn::*;
    let mut b = Builder::new(spec);
    match spec.mnemonic {
        // Instructions run one after another: there is nothing to idle for.
        "nop" => {}
        "end" => {
            b.index(0, "token").op(MicroOp::Finish { a: x(0) });
        }
        "li" => {
            b.index(0, "dst").field(x(0), "imm");
        }
        "add" | "sub" | "max" => {
            let f = match spec.mnemonic {
                "add" => Add,
                "sub" => Sub,
                _ => Max,
            };
            b.index(0, "dst")
                .index(1, "a")
                .index(2, "b")
                .alu(f, x(0), x(1), x(2));
        }
        "addi" | "shri" | "andi" | "muli" => {
            let f = match spec.mnemonic {
                "addi" => Add,
                "shri" => Shift,
                "andi" => And,
                _ => Mul,
            };
            b.index(0, "dst")
                .index(1, "a")
                .field(t(0), "imm")
                .alu(f, x(0), x(1), t(0));
        }
        "rsqrt" | "recip" => {
            // numerics::rsqrt and recip: k = bit_length(x) - 1; the index is the bits just
            // below the leading one (x shifted by k - width); zero gives (0, 0).
            let rsqrt = spec.mnemonic == "rsqrt";
            let width = if rsqrt {
                tables::RSQRT_INDEX_BITS
            } else {
                tables::RECIP_INDEX_BITS
            } as i16;
            b.index(0, "mant").index(1, "exp").index(2, "a");
            b.alu(Bitlen, t(1), x(2), 0)
                .alu(Add, t(1), t(1), -1) // k
                .alu(Add, t(2), t(1), -width)
                .alu(Shift, t(3), x(2), t(2))
                .alu(And, t(3), t(3), (1 << width) - 1);
            if rsqrt {
                // The odd half of the table for odd k; the exponent -15 - (k - odd) / 2.
                b.alu(And, t(4), t(1), 1)
                    .alu(Shift, t(5), t(4), -width)
                    .alu(Or, t(3), t(3), t(5))
                    .op(MicroOp::Lookup {
                        dst: t(6),
                        a: t(3),
                        table: Table::Rsqrt,
                    })
                    .alu(Sub, t(7), t(1), t(4))
                    .alu(Shift, t(7), t(7), 1);
            } else {
                b.op(MicroOp::Lookup {
                    dst: t(6),
                    a: t(3),
                    table: Table::Recip,
                })
                .mov(t(7), t(1));
            }
            b.alu(Sub, t(7), ZERO, t(7))
                .alu(
                    Add,
                    t(7),
                    t(7),
                    -(crate::numerics::SCALE_FRACTION_BITS as i16),
                )
                // Both results before either write: `mant` or `exp` may be `a`.
                .alu(Zsel, t(6), x(2), t(6))
                .alu(Zsel, t(7), x(2), t(7))
                .mov(x(0), t(6))
                .mov(x(1), t(7));
        }
        "fill" => {
            b.index(0, "s").point(0, "dst", t(0)).each("n", |b| {
                b.store(0, x(0));
            });
        }
        "copy" | "addsv" => {
            let add = spec.mnemonic == "addsv";
            if add {
                b.index(0, "s");
            }
            b.point(0, "dst", t(0))
                .point(1, if add { "a" } else { "src" }, t(0))
                .each("n", |b| {
                    b.load(t(2), 1);
                    if add {
                        b.alu(Add, t(2), t(2), x(0));
                    }
                    b.store(0, t(2));
                });
        }
        "sum" | "sumsq" => {
            let square = spec.mnemonic == "sumsq";
            b.index(0, "dst")
                .point(1, "src", t(0))
                .set(t(3), 0)
                .each("n", |b| {
                    b.load(t(2), 1);
                    if square {
                        b.alu(Mul, t(2), t(2), t(2));
                    }
                    b.alu(Add, t(3), t(3), t(2));
                })
                .mov(x(0), t(3));
        }
        "vmax" => {
            // From the least 32-bit element; an empty vector gives 0.
            b.index(0, "dst")
                .point(1, "src", t(0))
                .set(t(3), -1)
                .alu(Shift, t(3), t(3), -31)
                .each("n", |b| {
                    b.load(t(2), 1).alu(Max, t(3), t(3), t(2));
                })
                .length(t(4), "n")
                .alu(Zsel, x(0), t(4), t(3));
        }
        "argmax" => {
            // The first index of the largest: a later element wins only when greater.
            b.index(0, "dst")
                .point(1, "src", t(0))
                .set(t(3), -1)
                .alu(Shift, t(3), t(3), -32) // below every element
                .set(t(5), 0) // the best index
                .set(t(6), 0) // this index
                .each("n", |b| {
                    b.load(t(2), 1)
                        .alu(Gt, t(7), t(2), t(3))
                        .alu(Sel, t(5), t(6), t(5))
                        .alu(Sel, t(3), t(2), t(3))
                        .alu(Add, t(6), t(6), 1);
                })
                .mov(x(0), t(5));
        }
        "onehot" => {
            b.index(0, "idx")
                .point(0, "dst", t(0))
                .set(t(6), 0)
                .each("n", |b| {
                    b.alu(Eq, t(2), t(6), x(0))
                        .store(0, t(2))
                        .alu(Add, t(6), t(6), 1);
                });
        }
        "getv" => {
            b.index(0, "dst")
                .index(1, "idx")
                .field(t(0), "src")
                .alu(Add, t(0), t(0), x(1))
                .op(MicroOp::Point { ptr: 0, a: t(0) })
                .load(x(0), 0);
        }
        "setv" => {
            b.index(0, "idx")
                .index(1, "src")
                .field(t(0), "dst")
                .alu(Add, t(0), t(0), x(0))
                .op(MicroOp::Point { ptr: 0, a: t(0) })
                .store(0, x(1));
        }
        "mul" | "muls" => {
            // The results' magnitude into `mag` (`r0` drops it); mul's `a` shifted by `sh` first.
            let scalar = spec.mnemonic == "muls";
            b.index(0, "mag");
            if scalar {
                b.index(1, "s");
            } else {
                b.point(2, "b", t(0)).field(t(6), "sh");
            }
            b.point(0, "dst", t(0))
                .point(1, "a", t(0))
                .set(t(5), 0)
                .each("n", |b| {
                    b.load(t(2), 1);
                    if scalar {
                        b.alu(Mul, t(2), t(2), x(1));
                    } else {
                        b.load(t(3), 2).alu(ShiftRound, t(2), t(2), t(6));
                        b.alu(Mul, t(2), t(2), t(3));
                    }
                    b.store(0, t(2))
                        .alu(Abs, t(3), t(2), 0)
                        .alu(Or, t(5), t(5), t(3));
                })
                .mov(x(0), t(5));
        }
        "norm" => {
            // The shift of the magnitude in `mag`, or (`r0`) of the one searched for; each
            // element shifted, rounded and saturated to `bits`.
            // `r[mag]`, or (`r0`, which reads 0) the magnitude searched for.
            b.index(0, "ein").index(1, "eout").index(2, "mag");
            b.mov(t(4), x(2)).if_zero("mag", |b| {
                b.point(1, "src", t(0)).each("n", |b| {
                    b.load(t(2), 1).magnitude(t(4), t(2));
                });
            });
            b.field(t(9), "bits");
            // s = bit_length(m) - (bits - 1), or 0 for m = 0.
            b.alu(Bitlen, t(6), t(4), 0)
                .alu(Sub, t(6), t(6), t(9))
                .alu(Add, t(6), t(6), 1)
                .alu(Zsel, t(6), t(4), t(6));
            b.point(0, "dst", t(0))
                .point(1, "src", t(0))
                .each("n", |b| {
                    b.load(t(2), 1)
                        .alu(ShiftRound, t(2), t(2), t(6))
                        .alu(Clamp, t(2), t(2), t(9))
                        .store(0, t(2));
                });
            b.alu(Add, x(1), x(0), t(6));
        }
        "normg" => {
            // numerics::normalize_grouped with groups of one: the exponent from the largest
            // bit_length(|v|) + e over the non-zero values (else the largest e, or 0 for none);
            // or (normalize_grouped_by) from the top bit in `top`, not searched for.
            b.index(1, "eout").index(2, "max").index(3, "top");
            let floor = t(12); // below every exponent and bit length sum
            b.constant(floor, -(1 << 40))
                .mov(t(4), x(3)) // the top given
                .if_zero("top", |b| {
                    b.mov(t(4), floor) // the top
                        .mov(t(13), floor) // the largest exponent
                        .point(1, "src", t(0))
                        .point(2, "exps", t(0))
                        .each("n", |b| {
                            b.load(t(2), 1)
                                .load(t(3), 2)
                                .alu(Max, t(13), t(13), t(3))
                                .alu(Bitlen, t(5), t(2), 0)
                                .alu(Add, t(5), t(5), t(3))
                                .alu(Abs, t(2), t(2), 0)
                                .alu(Gt, t(2), t(2), 0)
                                .alu(Sel, t(5), t(5), floor)
                                .alu(Max, t(4), t(4), t(5));
                        });
                });
            b.field(t(9), "bits");
            b.alu(Sub, t(6), t(4), t(9))
                .alu(Add, t(6), t(6), 1)
                .length(t(7), "n")
                .if_zero("top", |b| {
                    b.alu(Gt, t(5), t(4), floor)
                        .alu(Sel, t(6), t(6), t(13))
                        .alu(Zsel, t(6), t(7), t(6));
                }); // the exponent
            b.mov(t(14), floor) // the largest output
                .point(0, "dst", t(0))
                .point(1, "src", t(0))
                .point(2, "exps", t(0))
                .each("n", |b| {
                    b.load(t(2), 1)
                        .load(t(3), 2)
                        .alu(Sub, t(3), t(6), t(3))
                        .alu(ShiftRound, t(2), t(2), t(3))
                        .alu(Clamp, t(2), t(2), t(9))
                        .store(0, t(2))
                        .alu(Max, t(14), t(14), t(2));
                });
            b.alu(Zsel, t(14), t(7), t(14))
                .mov(x(1), t(6))
                .mov(x(2), t(14));
        }
        "addalign" => {
            b.index(0, "ea")
                .index(1, "eb")
                .index(2, "eout")
                .index(3, "mag");
            b.alu(Max, t(5), x(0), x(1))
                .alu(
                    Add,
                    t(5),
                    t(5),
                    -(crate::numerics::RESIDUAL_GUARD_BITS as i16),
                )
                .alu(Sub, t(6), t(5), x(0))
                .alu(Sub, t(7), t(5), x(1))
                .set(t(8), 0);
            b.point(0, "dst", t(0))
                .point(1, "a", t(0))
                .point(2, "b", t(0))
                .each("n", |b| {
                    b.load(t(2), 1)
                        .load(t(3), 2)
                        .alu(ShiftRound, t(2), t(2), t(6))
                        .alu(ShiftRound, t(3), t(3), t(7))
                        .alu(Add, t(2), t(2), t(3))
                        .store(0, t(2))
                        .magnitude(t(8), t(2));
                });
            b.mov(x(2), t(5)).mov(x(3), t(8));
        }
        "rope" => {
            b.index(0, "mag").set(t(8), 0);
            b.point(0, "dst", t(0))
                .point(1, "src", t(0))
                .point(2, "cs", t(0))
                .repeat(0, "n", CountKind::Pairs, |b| {
                    b.load(t(2), 1) // x
                        .load(t(3), 1) // y
                        .load(t(4), 2) // cos
                        .load(t(5), 2) // sin
                        .alu(Mul, t(6), t(2), t(4))
                        .alu(Mul, t(7), t(3), t(5))
                        .alu(Sub, t(6), t(6), t(7))
                        .store(0, t(6))
                        .magnitude(t(8), t(6))
                        .alu(Mul, t(6), t(2), t(5))
                        .alu(Mul, t(7), t(3), t(4))
                        .alu(Add, t(6), t(6), t(7))
                        .store(0, t(6))
                        .magnitude(t(8), t(6));
                });
            b.mov(x(0), t(8));
        }
        "silu" => {
            // m * sigmoid_q14(shift_round(m, -(e + 6))), the table mirrored below zero.
            let top = crate::numerics::SIGMOID_INPUT_MAX as i16;
            b.index(0, "e").index(1, "mag").set(t(8), 0);
            b.alu(Sub, t(5), ZERO, x(0))
                .alu(
                    Add,
                    t(5),
                    t(5),
                    -(crate::numerics::SIGMOID_INPUT_FRACTION_BITS as i16),
                )
                .constant(t(9), crate::numerics::Q14_ONE);
            b.point(0, "dst", t(0))
                .point(1, "src", t(0))
                .each("n", |b| {
                    b.load(t(2), 1)
                        .alu(ShiftRound, t(3), t(2), t(5))
                        .alu(Min, t(3), t(3), top)
                        .alu(Max, t(3), t(3), -top)
                        .alu(Abs, t(4), t(3), 0)
                        .op(MicroOp::Lookup {
                            dst: t(4),
                            a: t(4),
                            table: Table::Sigmoid,
                        })
                        .alu(Sub, t(6), t(9), t(4))
                        .alu(Gt, t(7), ZERO, t(3))
                        .alu(Sel, t(4), t(6), t(4))
                        .alu(Mul, t(2), t(2), t(4))
                        .store(0, t(2))
                        .magnitude(t(8), t(2));
                });
            b.mov(x(1), t(8));
        }
        "expneg" => {
            // u = min(-shift_round((s - max) * mant, shift), limit); exp2_neg_q15(u).
            let limit = crate::numerics::EXP2_INPUT_LIMIT as i16;
            let fraction = crate::numerics::EXP2_INPUT_FRACTION_BITS as i16;
            b.index(0, "max").index(1, "shift").index(2, "sum");
            b.field(t(5), "mant").set(t(8), 0);
            b.point(0, "dst", t(0))
                .point(1, "src", t(0))
                .each("n", |b| {
                    b.load(t(2), 1)
                        .alu(Sub, t(2), t(2), x(0))
                        .alu(Mul, t(2), t(2), t(5))
                        .alu(ShiftRound, t(2), t(2), x(1))
                        .alu(Sub, t(2), ZERO, t(2))
                        .alu(Min, t(2), t(2), limit)
                        .alu(And, t(3), t(2), (1 << fraction) - 1)
                        .op(MicroOp::Lookup {
                            dst: t(3),
                            a: t(3),
                            table: Table::Exp2Neg,
                        })
                        .alu(Shift, t(4), t(2), fraction)
                        .alu(ShiftRound, t(3), t(3), t(4))
                        .alu(Sub, t(4), t(2), limit)
                        .alu(Zsel, t(3), t(4), t(3))
                        .store(0, t(3))
                        .alu(Add, t(8), t(8), t(3));
                });
            b.mov(x(2), t(8));
        }
        "shrv" => {
            b.index(0, "s").index(1, "mag").set(t(8), 0);
            b.point(0, "dst", t(0))
                .point(1, "a", t(0))
                .point(2, "b", t(0))
                .each("n", |b| {
                    b.load(t(2), 1)
                        .load(t(3), 2)
                        .alu(Sub, t(3), x(0), t(3))
                        .alu(ShiftRound, t(2), t(2), t(3))
                        .store(0, t(2))
                        .magnitude(t(8), t(2));
                });
            b.mov(x(1), t(8));
        }
        "sincos" => {
            // phase = pos * step (mod 2^32) from the two halves of the step (each a multiplier
            // input); i = the phase
            // rounded to 12 bits; cosines (even elements) a quarter turn on; the quarter-wave
            // table mirrored in odd quadrants and negated in the second half turn.
            use crate::numerics::{PHASE_BITS, PHASE_INDEX_BITS, SINE_QUARTER_ENTRIES};
            let quarter = SINE_QUARTER_ENTRIES as i16;
            let drop = (PHASE_BITS - PHASE_INDEX_BITS) as i16;
            let half = (PHASE_BITS / 2) as i16;
            assert!(
                (half as u32) < MULTIPLIER_BITS,
                "a half step is a multiplier input"
            );
            b.op(MicroOp::Position {
                dst: t(5),
                part: PosPart::Pos,
            })
            .constant(t(9), (1 << half) - 1)
            .constant(t(10), (1 << PHASE_BITS) - 1)
            .constant(t(11), 1 << (drop - 1))
            .set(t(12), quarter) // a quarter turn on: the cosine first
            .set(t(13), quarter);
            b.point(0, "dst", t(0))
                .point(1, "src", t(0))
                .each("n", |b| {
                    b.load(t(2), 1)
                        .alu(And, t(3), t(2), t(9))
                        .alu(Mul, t(3), t(3), t(5))
                        .alu(Shift, t(2), t(2), half)
                        .alu(And, t(2), t(2), t(9))
                        .alu(Mul, t(2), t(2), t(5))
                        .alu(Shift, t(2), t(2), -half)
                        .alu(Add, t(2), t(2), t(3))
                        .alu(And, t(2), t(2), t(10)) // the phase
                        .alu(Add, t(2), t(2), t(11))
                        .alu(Shift, t(2), t(2), drop)
                        .alu(Add, t(2), t(2), t(12))
                        .alu(And, t(2), t(2), (1 << PHASE_INDEX_BITS) - 1) // i
                        .alu(And, t(3), t(2), quarter - 1) // the offset
                        .alu(Sub, t(4), t(13), t(3)) // mirrored
                        .alu(And, t(6), t(2), quarter)
                        .alu(Gt, t(6), t(6), 0)
                        .alu(Sel, t(3), t(4), t(3))
                        .op(MicroOp::Lookup {
                            dst: t(3),
                            a: t(3),
                            table: Table::SineQuarter,
                        })
                        .alu(Sub, t(4), ZERO, t(3))
                        .alu(And, t(6), t(2), 2 * quarter)
                        .alu(Gt, t(6), t(6), 0)
                        .alu(Sel, t(3), t(4), t(3))
                        .store(0, t(3))
                        .alu(Sub, t(12), t(13), t(12)); // cosine, sine, cosine, ...
                });
        }
        "mload" => {
            b.field(t(0), "src")
                .op(MicroOp::Cursor {
                    word: t(0),
                    lane: ZERO,
                })
                .point(0, "dst", t(0))
                .each("n", |b| {
                    b.op(MicroOp::LoadByte {
                        dst: t(2),
                        step: Step::Lane,
                    })
                    .store(0, t(2));
                });
        }
        "kvstore" => {
            // Lane pos % lanes of words dst + (pos / lanes) * n + d.
            b.field(t(0), "n")
                .op(MicroOp::Position {
                    dst: t(1),
                    part: PosPart::Word,
                })
                .alu(Mul, t(1), t(1), t(0))
                .field(t(0), "dst")
                .alu(Add, t(1), t(1), t(0))
                .op(MicroOp::Position {
                    dst: t(2),
                    part: PosPart::Lane,
                })
                .op(MicroOp::Cursor {
                    word: t(1),
                    lane: t(2),
                })
                .point(1, "src", t(0))
                .repeat(0, "n", CountKind::Raw, |b| {
                    b.load(t(3), 1).op(MicroOp::StoreByte {
                        a: t(3),
                        step: Step::Word,
                    });
                });
        }
        "kvexp" => {
            b.index(0, "src")
                .op(MicroOp::Position {
                    dst: t(1),
                    part: PosPart::Word,
                })
                .field(t(0), "dst")
                .alu(Add, t(1), t(1), t(0))
                .op(MicroOp::Position {
                    dst: t(2),
                    part: PosPart::Lane,
                })
                .op(MicroOp::Cursor {
                    word: t(1),
                    lane: t(2),
                })
                .alu(Min, t(3), x(0), i8::MAX as i16)
                .alu(Max, t(3), t(3), i8::MIN as i16)
                .op(MicroOp::StoreByte {
                    a: t(3),
                    step: Step::Word,
                });
        }
        "matvec" => {
            // Per block of `lanes` rows: the columns through the lanes, then the lanes' sums
            // out (the last block's rows only: the limit counter).
            b.index(0, "wreg")
                .field(t(1), "w")
                .alu(Add, t(1), t(1), x(0))
                .op(MicroOp::Cursor {
                    word: t(1),
                    lane: ZERO,
                })
                .field(t(2), "x")
                .point(0, "dst", t(0))
                .limit("rows", CountKind::Length)
                .repeat(0, "rows", CountKind::Blocks, |b| {
                    b.op(MicroOp::MacClear)
                        .op(MicroOp::Point { ptr: 1, a: t(2) })
                        .repeat(1, "cols", CountKind::Raw, |b| {
                            b.op(MicroOp::Mac { ptr: 1 });
                        })
                        .repeat(1, "rows", CountKind::Lanes, |b| {
                            b.op(MicroOp::Drain { ptr: 0 });
                        });
                });
        }
        "dotv" => {
            // The columns' sums start at zero; per block of `lanes` rows, its x block into the
            // lanes (zeros past the last row), then each column's dot product added.
            b.index(0, "wreg")
                .field(t(1), "w")
                .alu(Add, t(1), t(1), x(0))
                .op(MicroOp::Cursor {
                    word: t(1),
                    lane: ZERO,
                })
                .point(0, "dst", t(0))
                .repeat(0, "cols", CountKind::Raw, |b| {
                    b.store(0, ZERO);
                })
                .point(1, "x", t(0))
                .limit("rows", CountKind::Length)
                .repeat(0, "rows", CountKind::Blocks, |b| {
                    b.op(MicroOp::MacClear)
                        .repeat(1, "rows", CountKind::Lanes, |b| {
                            b.op(MicroOp::LoadX { ptr: 1 });
                        })
                        .point(0, "dst", t(0))
                        .point(2, "dst", t(0))
                        .repeat(1, "cols", CountKind::Raw, |b| {
                            b.load(t(2), 2)
                                .op(MicroOp::Dot { dst: t(3) })
                                .alu(Add, t(2), t(2), t(3))
                                .store(0, t(2));
                        });
                });
        }
        other => panic!("the small core has no routine for `{other}`"),
    }
    b.blocks
}

/// The small core's micro-program: every routine, laid out one after another.
#[derive(Debug)]
pub struct MicroProgram {
    /// The ROM's words. // (rom_words,)
    pub rom: Vec<MicroWord>,
    /// Each opcode's routine's first address (`None`: not implemented). // (256,)
    pub entry: Vec<Option<u16>>,
    /// Each opcode's routine as written. // (256,)
    routines: Vec<Option<Vec<Block>>>,
}

impl MicroProgram {
    /// The routine of `opcode`, as written.
    pub fn routine(&self, opcode: u8) -> Option<&[Block]> {
        self.routines[opcode as usize].as_deref()
    }

    /// The ROM's words ([`MICRO_INSTRUCTION_BITS`] each).
    pub fn words(&self) -> Vec<u64> {
        self.rom.iter().map(|w| w.encode()).collect()
    }
}

/// The micro-program, built on first use.
pub fn program() -> &'static MicroProgram {
    static PROGRAM: std::sync::OnceLock<MicroProgram> = std::sync::OnceLock::new();
    PROGRAM.get_or_init(|| {
        let mut rom = Vec::new();
        let mut entry = vec![None; 256];
        let mut routines = vec![None; 256];
        for spec in SPECS {
            let blocks = write_routine(spec);
            entry[spec.opcode as usize] = Some(rom.len() as u16);
            flatten(&blocks, &mut rom);
            if spec.mnemonic != "end" {
                rom.push(MicroWord {
                    op: MicroOp::Done,
                    ends_loop: false,
                });
            }
            routines[spec.opcode as usize] = Some(blocks);
        }
        MicroProgram {
            rom,
            entry,
            routines,
        }
    })
}

/// Cycles the small core with `lanes` matrix lanes takes for `op` at position `pos`, from its
/// dispatch to the dispatch of the next instruction (or, for `end`, to the token step's end).
pub fn cycles(op: &Op, lanes: usize, pos: usize) -> u64 {
    let blocks = program()
        .routine(op.spec().opcode)
        .expect("every instruction has a routine");
    // The routine's operations and its `Done` (`end` finishes instead).
    let done = u64::from(!matches!(op, Op::End { .. }));
    DISPATCH_CYCLES + MICRO_OP_CYCLES * (executed(blocks, op, pos, lanes) + done)
}

/// Cycles as a formula over an instruction's counts: a constant plus, per loop, its count times
/// the cycles of a pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Formula {
    constant: u64,
    terms: Vec<(String, Formula)>,
    /// Parts that run when a field is zero: the field's name and the part.
    when_zero: Vec<(String, Formula)>,
}

impl Formula {
    /// The cycles of `blocks` (`MICRO_OP_CYCLES` a micro-operation), on format `spec`.
    fn of(blocks: &[Block], spec: &OpSpec) -> Formula {
        let mut f = Formula::default();
        for b in blocks {
            match b {
                Block::Op(_) => f.constant += MICRO_OP_CYCLES,
                Block::IfZero { field, body } => {
                    f.constant += MICRO_OP_CYCLES;
                    let name = count_name(
                        Count {
                            field: *field,
                            kind: CountKind::Raw,
                        },
                        spec,
                    );
                    f.add_when_zero(name, Formula::of(body, spec));
                }
                Block::Loop { count, body, .. } => {
                    // The `Loop` once; each pass, its body (and its `Next` unless the body closes it).
                    f.constant += MICRO_OP_CYCLES;
                    let mut pass = Formula::of(body, spec);
                    if !closes_itself(body) {
                        pass.constant += MICRO_OP_CYCLES; // its `Next`
                    }
                    f.add_term(count_name(*count, spec), pass);
                }
            }
        }
        f
    }

    /// A loop's passes: added into a simple loop of the same count, where both are simple.
    fn add_term(&mut self, count: String, pass: Formula) {
        let simple = |g: &Formula| g.terms.is_empty() && g.when_zero.is_empty();
        match self
            .terms
            .iter_mut()
            .find(|(n, g)| *n == count && simple(g))
        {
            Some((_, g)) if simple(&pass) => g.constant += pass.constant,
            _ => self.terms.push((count, pass)),
        }
    }

    /// A part that runs when `field` is zero: added into the part of the same field, so that a
    /// routine that tests a field twice reads as one bracket.
    fn add_when_zero(&mut self, field: String, part: Formula) {
        match self.when_zero.iter_mut().find(|(f, _)| *f == field) {
            Some((_, g)) => {
                g.constant += part.constant;
                for (count, pass) in part.terms {
                    g.add_term(count, pass);
                }
                for (inner, inner_part) in part.when_zero {
                    g.add_when_zero(inner, inner_part);
                }
            }
            None => self.when_zero.push((field, part)),
        }
    }

    fn render(&self) -> String {
        let mut parts = vec![self.constant.to_string()];
        for (count, pass) in &self.terms {
            parts.push(if pass.terms.is_empty() && pass.when_zero.is_empty() {
                format!("{} x {count}", pass.constant)
            } else {
                format!("{count} x ({})", pass.render())
            });
        }
        for (field, part) in &self.when_zero {
            parts.push(format!("[{} when {field} is r0]", part.render()));
        }
        parts.join(" + ")
    }
}

/// How the manual names a count of format `spec`.
fn count_name(count: Count, spec: &OpSpec) -> String {
    let name = field_starting_at(spec, count.field.lo).map_or("?", |i| spec.fields[i].name);
    match count.kind {
        CountKind::Raw | CountKind::Length => name.to_string(),
        CountKind::Pairs => format!("({name}/2)"),
        CountKind::Blocks => format!("b({name})"),
        CountKind::Lanes => "L".to_string(),
    }
}

/// The small core's timing of an instruction in words, for the ISA manual: its cycles as a
/// formula of its fields (lengths at the position; `b(n) = ceil(n / L)`), counted from its
/// routine as [`cycles`] counts them.
pub fn describe(mnemonic: &str) -> String {
    let spec = crate::isa::spec_by_mnemonic(mnemonic).expect("a mnemonic of the table");
    let blocks = program()
        .routine(spec.opcode)
        .expect("every instruction has a routine");
    let mut f = Formula::of(blocks, spec);
    // Dispatch, and the `Done` (`end` finishes the step instead).
    f.constant += DISPATCH_CYCLES
        + if mnemonic == "end" {
            0
        } else {
            MICRO_OP_CYCLES
        };
    format!("{} cycles", f.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_micro_operation_survives_its_encoding() {
        for (at, w) in program().rom.iter().enumerate() {
            let word = w.encode();
            assert!(word >> MICRO_INSTRUCTION_BITS == 0, "{at}: {w:?}");
            assert_eq!(MicroWord::decode(word), Some(*w), "{at}: {word:#x}");
        }
    }

    #[test]
    fn fields_are_found_where_the_encoding_puts_them() {
        for spec in SPECS {
            let values: Vec<i64> = spec
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| match f.kind {
                    FieldKind::I => -(i as i64 + 3),
                    FieldKind::R => i as i64 + 1,
                    _ => i as i64 + 2,
                })
                .collect();
            let op = Op::from_values(spec.opcode, &values).unwrap();
            let word = crate::isa::Instr::new(op).encode().unwrap();
            for (f, &v) in spec.fields.iter().zip(&values) {
                assert_eq!(
                    FieldAt::of(spec, f.name).extract(word),
                    v,
                    "{}",
                    spec.mnemonic
                );
            }
        }
    }

    #[test]
    fn the_manual_formulas_count_what_cycles_counts() {
        // Field i of a format is 3 + i (lengths, counts and registers alike), or its optional
        // registers are r0; at position 0 on 4 lanes, and with every length `P + 3 + i` at
        // position 9 on 8 lanes. The formula is evaluated there.
        let cases = SPECS.iter().flat_map(|s| {
            [(0, 4, false), (9, 8, true)]
                .into_iter()
                .flat_map(move |(pos, lanes, p)| {
                    [(s, pos, lanes, p, false), (s, pos, lanes, p, true)]
                })
        });
        for (spec, pos, lanes, positions, optional_zero) in cases {
            let values: Vec<i64> = (0..spec.fields.len())
                .map(|i| match spec.fields[i] {
                    f if optional_zero && f.optional => 0,
                    f if positions && f.kind == FieldKind::N => {
                        (3 + i as i64) | crate::isa::LEN_POSITIONS_FLAG
                    }
                    _ => 3 + i as i64,
                })
                .collect();
            // What the formula's names stand for: lengths at the position.
            let meaning = |i: usize| match spec.fields[i].kind {
                FieldKind::N => length(values[i], pos) as i64,
                _ => values[i],
            };
            let op = Op::from_values(spec.opcode, &values).unwrap();
            let text = describe(spec.mnemonic);
            let mut expression = text.trim_end_matches(" cycles").replace(" x ", "*");
            // `[part when f is r0]`: the part, or nothing.
            while let Some(open) = expression.find('[') {
                let close = open + expression[open..].find(']').unwrap();
                let (part, field) = expression[open + 1..close].split_once(" when ").unwrap();
                let name = field.trim_end_matches(" is r0");
                let i = spec.fields.iter().position(|f| f.name == name).unwrap();
                let kept = if values[i] == 0 {
                    format!("({part})")
                } else {
                    "0".into()
                };
                expression.replace_range(open..=close, &kept);
            }
            expression = expression.replace('L', &lanes.to_string());
            // Longer names first, so that `n` is not replaced inside `cols`.
            let mut fields: Vec<usize> = (0..spec.fields.len()).collect();
            fields.sort_by_key(|&i| std::cmp::Reverse(spec.fields[i].name.len()));
            for i in fields {
                let (name, v) = (spec.fields[i].name, meaning(i));
                let blocks = (v as u64).div_ceil(lanes as u64).to_string();
                expression = expression
                    .replace(&format!("b({name})"), &blocks)
                    .replace(&format!("({name}/2)"), &(v / 2).to_string())
                    .replace(name, &v.to_string());
            }
            let value = evaluate(&expression);
            assert_eq!(
                value,
                cycles(&op, lanes, pos),
                "{} at {pos} on {lanes} lanes: {text}",
                spec.mnemonic
            );
        }
    }

    /// `a + b*c + d*(e + f*g)`: sums of products, with parentheses.
    fn evaluate(text: &str) -> u64 {
        fn sum(t: &[u8], i: &mut usize) -> u64 {
            let mut total = product(t, i);
            while *i < t.len() && t[*i] == b'+' {
                *i += 1;
                total += product(t, i);
            }
            total
        }
        fn product(t: &[u8], i: &mut usize) -> u64 {
            let mut p = atom(t, i);
            while *i < t.len() && t[*i] == b'*' {
                *i += 1;
                p *= atom(t, i);
            }
            p
        }
        fn atom(t: &[u8], i: &mut usize) -> u64 {
            if t[*i] == b'(' {
                *i += 1;
                let v = sum(t, i);
                *i += 1; // ')'
                return v;
            }
            let start = *i;
            while *i < t.len() && t[*i].is_ascii_digit() {
                *i += 1;
            }
            std::str::from_utf8(&t[start..*i]).unwrap().parse().unwrap()
        }
        let t: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        sum(&t, &mut 0)
    }

    #[test]
    fn every_instruction_has_a_routine() {
        for spec in SPECS {
            assert!(
                program().entry[spec.opcode as usize].is_some(),
                "{}",
                spec.mnemonic
            );
        }
    }

    #[test]
    fn loops_jump_inside_the_rom() {
        let p = program();
        for MicroWord { op, .. } in &p.rom {
            if let MicroOp::Loop { exit: to, .. }
            | MicroOp::Next { back: to, .. }
            | MicroOp::Skip { to, .. } = op
            {
                assert!((*to as usize) < p.rom.len());
            }
        }
        // Jump addresses have 13 bits (the count's kind takes the immediate's top 3).
        assert!(p.rom.len() < 1 << 13);
    }
}
