//! The scalar unit: register arithmetic and the reciprocal (square root) tables. Body:
//! `rtl/scalar.v`, with its decode generated from the instruction table and its tables from
//! `numerics::tables`.

use std::fmt::Write as _;

use monorail_contract::isa::{self, FieldKind, Unit};
use monorail_contract::numerics::tables;
use monorail_contract::target::{Target, SCALAR_TABLE_ENTRIES};
use rust_hdl::prelude::*;

use crate::decode::{self, OpDecode};
use crate::verilog::{bit_length, product_register, render, rom, ProductRegister};

/// The scalar unit block.
#[derive(LogicBlock, Default)]
pub struct ScalarUnit {
    /// Core clock.
    pub clock: Signal<In, Clock>,
    /// An instruction for this unit (the cycle after its issue).
    pub issue_sxu: Signal<In, Bit>,
    /// The instruction.
    pub issue_instr: Signal<In, Bits<128>>,
    /// Its first register operand.
    pub issue_ra: Signal<In, Bits<64>>,
    /// Its second register operand.
    pub issue_rb: Signal<In, Bits<64>>,
    /// Register write 0 (`dst`, or a table's mantissa).
    pub sxu_we0: Signal<Out, Bit>,
    /// Its register.
    pub sxu_wa0: Signal<Out, Bits<6>>,
    /// Its value.
    pub sxu_wd0: Signal<Out, Bits<64>>,
    /// Register write 1 (a table's exponent).
    pub sxu_we1: Signal<Out, Bit>,
    /// Its register.
    pub sxu_wa1: Signal<Out, Bits<6>>,
    /// Its value.
    pub sxu_wd1: Signal<Out, Bits<64>>,
    _body: String,
}

impl ScalarUnit {
    /// The scalar unit (the same for every target but for its multiplier's register).
    pub fn new(target: &Target) -> ScalarUnit {
        ScalarUnit {
            _body: body(target),
            ..Default::default()
        }
    }
}

impl Logic for ScalarUnit {
    // Verified in Verilator against the instruction-set simulator (`hw/tests`).
    fn update(&mut self) {}

    fn connect(&mut self) {
        self.sxu_we0.connect();
        self.sxu_wa0.connect();
        self.sxu_wd0.connect();
        self.sxu_we1.connect();
        self.sxu_wa1.connect();
        self.sxu_wd1.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self._body.clone())
    }
}

/// An immediate field, extended to 64 bits by its kind (sign for `I`, zero otherwise).
fn immediate(d: &OpDecode, name: &str) -> String {
    let (offset, bits) = decode::field_position(d.spec, name);
    let slice = d.field("issue_instr", name);
    let signed = d
        .spec
        .fields
        .iter()
        .any(|f| f.name == name && f.kind == FieldKind::I);
    if signed {
        format!(
            "{{{{{}{{issue_instr[{}]}}}}, {slice}}}",
            64 - bits,
            offset + bits - 1
        )
    } else {
        format!("{{{}'d0, {slice}}}", 64 - bits)
    }
}

fn decode_case(d: &OpDecode) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "        {}: begin", d.constant());
    let flag = match d.spec.mnemonic {
        "muli" => "is_muli",
        "rsqrt" => "is_rsqrt",
        "recip" => "is_recip",
        _ => "is_simple",
    };
    let _ = writeln!(s, "            {flag} = 1'b1;");
    for (port, name) in [("dst", "dst"), ("dst", "mant"), ("exp_dst", "exp")] {
        if d.has_field(name) {
            let _ = writeln!(s, "            {port} = {};", d.field("issue_instr", name));
        }
    }
    if d.has_field("imm") {
        let _ = writeln!(s, "            imm = {};", immediate(d, "imm"));
    }
    // Register operands arrive in the order of the instruction's register reads.
    assert!(
        d.reads.iter().zip(["a", "b"]).all(|(r, p)| *r == p),
        "{}: the scalar unit reads `a` then `b`",
        d.spec.mnemonic
    );
    let _ = writeln!(s, "        end");
    s
}

/// The scalar unit's Verilog body.
pub fn body(target: &Target) -> String {
    let ops: Vec<OpDecode> = decode::all()
        .into_iter()
        .filter(|d| d.spec.unit == Unit::Sxu)
        .collect();
    let t = tables::get();
    // Both tables are indexed by 8 bits: one block RAM, rsqrt's half then recip's.
    let half = SCALAR_TABLE_ENTRIES / 2;
    assert!(t.rsqrt.len() <= half && t.recip.len() <= half && half == 256);
    // The shifter keeps recip's index bits below x; rsqrt's index is the top of them.
    const _: () = assert!(tables::RSQRT_INDEX_BITS <= tables::RECIP_INDEX_BITS);
    decode::prune_opcodes(&render(
        include_str!("rtl/scalar.v"),
        &[
            ("OPCODES", decode::opcode_constants()),
            ("BIT_LENGTH64", bit_length("bit_length64", 64)),
            (
                "DECODE",
                ops.iter()
                    .map(decode_case)
                    .collect::<String>()
                    .trim_end()
                    .to_string(),
            ),
            (
                "TABLES",
                rom(
                    "tables",
                    SCALAR_TABLE_ENTRIES,
                    16,
                    &[(0, &t.rsqrt), (half, &t.recip)],
                ),
            ),
            ("RSQRT_INDEX_BITS", tables::RSQRT_INDEX_BITS.to_string()),
            ("RECIP_INDEX_BITS", tables::RECIP_INDEX_BITS.to_string()),
            // Registers' bits within the 64-bit operand and write buses.
            ("REGISTER_BITS", isa::REGISTER_BITS.to_string()),
            ("REGISTER_TOP", (isa::REGISTER_BITS - 1).to_string()),
            ("BUS_PAD", (64 - isa::REGISTER_BITS).to_string()),
            (
                "MULI_PRODUCT",
                product_register(
                    target,
                    &ProductRegister {
                        q: "s2_product",
                        q_bits: 36,
                        enable: "issue_sxu",
                        held: true,
                        a: "issue_ra[17:0]",
                        a_bits: 18,
                        b: "imm[17:0]",
                        b_bits: 18,
                        signed: true,
                    },
                ),
            ),
        ],
    ))
}
