//! The sequencer: program memory, fetch and decode, the cost of each instruction (from the
//! contract's rules), the issue rules, the completion rings and the register file. Its body is
//! `rtl/sequencer.v` with the decode table generated from the instruction table.

use std::fmt::Write as _;

use monorail_contract::isa::{self, FieldKind, REGISTER_READS};
use monorail_contract::numerics;
use monorail_contract::target::Target;
use monorail_contract::timing::{
    completion_ring, pass_gap_cycles, CostRule, Pace, Stream, MXU_PIPELINE_CYCLES,
    STEP_LIMIT_CYCLES, VXU_PIPELINE_CYCLES,
};
use rust_hdl::prelude::*;

use crate::decode::{self, unit_code, OpDecode};
use crate::verilog::{bits_for, log2, product_register, render, ProductRegister};

/// The sequencer block. Ports are named as in `rtl/sequencer.v`.
#[derive(LogicBlock, Default)]
pub struct Sequencer {
    /// Core clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Start a token step (one cycle): registers cleared, `r1` = `start_pos`, `r2` =
    /// `start_token`.
    pub start: Signal<In, Bit>,
    /// The token of the step.
    pub start_token: Signal<In, Bits<16>>,
    /// The position of the step.
    pub start_pos: Signal<In, Bits<16>>,
    /// A step is running.
    pub busy: Signal<Out, Bit>,
    /// One cycle when a step ends (`end` issued).
    pub done: Signal<Out, Bit>,
    /// The last step was stopped at the step limit (`timing::STEP_LIMIT_CYCLES`), not ended.
    pub aborted: Signal<Out, Bit>,
    /// The matrix and vector units stop what they stream (the cycle after a reset or a stop at
    /// the step limit).
    pub flush: Signal<Out, Bit>,
    /// The token the last step output (`end`'s register, its low 16 bits).
    pub out_token: Signal<Out, Bits<16>>,
    /// The cycles the last step took.
    pub out_cycles: Signal<Out, Bits<32>>,
    /// Host write of a program word (only while idle).
    pub prog_we: Signal<In, Bit>,
    /// Host program address (write, or read while idle; read data a cycle later).
    pub prog_addr: Signal<In, Bits<16>>,
    /// Host program word to write.
    pub prog_wdata: Signal<In, Bits<128>>,
    /// Program word read at `prog_addr` the cycle before.
    pub prog_rdata: Signal<Out, Bits<128>>,
    /// Scalar unit register write 0.
    pub sxu_we0: Signal<In, Bit>,
    /// Its register.
    pub sxu_wa0: Signal<In, Bits<6>>,
    /// Its value.
    pub sxu_wd0: Signal<In, Bits<64>>,
    /// Scalar unit register write 1.
    pub sxu_we1: Signal<In, Bit>,
    /// Its register.
    pub sxu_wa1: Signal<In, Bits<6>>,
    /// Its value.
    pub sxu_wd1: Signal<In, Bits<64>>,
    /// Vector unit register write 0 (the reduction tree).
    pub vxu_we0: Signal<In, Bit>,
    /// Its register.
    pub vxu_wa0: Signal<In, Bits<6>>,
    /// Its value.
    pub vxu_wd0: Signal<In, Bits<64>>,
    /// Vector unit register write 1 (normalisation exponents).
    pub vxu_we1: Signal<In, Bit>,
    /// Its register.
    pub vxu_wa1: Signal<In, Bits<6>>,
    /// Its value.
    pub vxu_wd1: Signal<In, Bits<64>>,
    /// An instruction for the matrix unit (the cycle after its issue).
    pub issue_mxu: Signal<Out, Bit>,
    /// An instruction for the vector unit.
    pub issue_vxu: Signal<Out, Bit>,
    /// An instruction for the scalar unit.
    pub issue_sxu: Signal<Out, Bit>,
    /// The issued instruction.
    pub issue_instr: Signal<Out, Bits<128>>,
    /// Its length (elements or rows) at this position.
    pub issue_len: Signal<Out, Bits<18>>,
    /// Its first register operand's value at issue.
    pub issue_ra: Signal<Out, Bits<64>>,
    /// Its second (no instruction reads more: `isa::REGISTER_READS`).
    pub issue_rb: Signal<Out, Bits<64>>,
    /// The position of the running step.
    pub pos: Signal<Out, Bits<16>>,
    /// Debug: a register to read.
    pub dbg_reg: Signal<In, Bits<6>>,
    /// Debug: its value.
    pub dbg_reg_data: Signal<Out, Bits<64>>,
    /// Trace: an instruction issued the cycle before.
    pub trace_issue: Signal<Out, Bit>,
    /// Trace: its index in the program.
    pub trace_index: Signal<Out, Bits<16>>,
    /// Trace: the cycle its results are complete.
    pub trace_complete: Signal<Out, Bits<32>>,
    /// The step's cycle counter.
    pub now: Signal<Out, Bits<32>>,
    _body: String,
}

impl Sequencer {
    /// A sequencer for `target`.
    pub fn new(target: &Target) -> Sequencer {
        Sequencer {
            _body: body(target),
            ..Default::default()
        }
    }
}

impl Logic for Sequencer {
    // Verified in Verilator against the contract's timing (`hw/tests`), not in rust_hdl's
    // simulator: the body is hand-written Verilog.
    fn update(&mut self) {}

    fn connect(&mut self) {
        self.busy.connect();
        self.done.connect();
        self.aborted.connect();
        self.flush.connect();
        self.out_token.connect();
        self.out_cycles.connect();
        self.prog_rdata.connect();
        self.issue_mxu.connect();
        self.issue_vxu.connect();
        self.issue_sxu.connect();
        self.issue_instr.connect();
        self.issue_len.connect();
        self.issue_ra.connect();
        self.issue_rb.connect();
        self.pos.connect();
        self.dbg_reg_data.connect();
        self.trace_issue.connect();
        self.trace_index.connect();
        self.trace_complete.connect();
        self.now.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self._body.clone())
    }
}

/// The decode case of one operation: its unit, cost rule inputs and register operands.
fn decode_case(d: &OpDecode) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "        {}: begin", d.constant());
    let _ = writeln!(s, "            d1_unit = 2'd{};", unit_code(d.spec.unit));
    let field = |name: &str| d.field("d1_instr", name);
    let is_n = |name: &str| {
        d.spec
            .fields
            .iter()
            .any(|f| f.name == name && f.kind == FieldKind::N)
    };
    let len = |s: &mut String, name: &str| {
        let bits = d.field_bits(name);
        let value = if bits == 17 {
            field(name)
        } else {
            format!("{{{}'d0, {}}}", 17 - bits, field(name))
        };
        let _ = writeln!(s, "            d1_len_raw = {value};");
        let _ = writeln!(s, "            d1_len_is_n = 1'b{};", u8::from(is_n(name)));
    };
    match d.rule {
        CostRule::Idle { cycles } => {
            let _ = writeln!(s, "            d1_kind = K_IDLE;");
            len(&mut s, cycles);
        }
        CostRule::End => {
            let _ = writeln!(s, "            d1_kind = K_END;");
        }
        CostRule::Fixed { occupancy, latency } => {
            assert!(occupancy < 256 && latency < 256);
            let _ = writeln!(s, "            d1_kind = K_FIXED;");
            let _ = writeln!(s, "            d1_fixed_occ = 8'd{occupancy};");
            let _ = writeln!(s, "            d1_fixed_lat = 8'd{latency};");
        }
        CostRule::Element { reduce } => {
            let _ = writeln!(s, "            d1_kind = K_ELEMENT;");
            let _ = writeln!(s, "            d1_reduce = 1'b{};", u8::from(reduce));
        }
        CostRule::Vector(stream) => {
            let Stream {
                start,
                n,
                pace,
                passes,
                gap,
                magnitude_field,
                ..
            } = stream;
            assert!(passes == 1 || passes == 2, "one or two passes");
            assert_eq!(gap, passes == 2, "the gap separates two passes");
            let _ = writeln!(s, "            d1_kind = K_VECTOR;");
            len(&mut s, n);
            let _ = writeln!(s, "            d1_start = {};", field(start));
            let _ = writeln!(
                s,
                "            d1_pairs = 1'b{};",
                u8::from(pace == Pace::Pairs)
            );
            // With a magnitude register named, the flags of Stream::with_magnitude.
            let flags = |s: Stream| (s.passes == 2, s.reduce);
            let base = flags(stream);
            let named = flags(stream.with_magnitude());
            let flag = |base: bool, named_value: bool| match magnitude_field {
                Some(f) if base != named_value => {
                    format!(
                        "({} {} 6'd0)",
                        field(f),
                        if named_value { "!=" } else { "==" }
                    )
                }
                _ => format!("1'b{}", u8::from(base)),
            };
            let two_passes = flag(base.0, named.0);
            let reduce = flag(base.1, named.1);
            let _ = writeln!(s, "            d1_two_passes = {two_passes};");
            let _ = writeln!(s, "            d1_reduce = {reduce};");
        }
        CostRule::Matrix {
            rows,
            cols,
            x_block,
        } => {
            let _ = writeln!(s, "            d1_kind = K_MATRIX;");
            len(&mut s, rows);
            if let Some(c) = cols {
                let _ = writeln!(s, "            d1_cols = {};", field(c));
                let _ = writeln!(s, "            d1_has_cols = 1'b1;");
            }
            let _ = writeln!(s, "            d1_x_block = 1'b{};", u8::from(x_block));
        }
        CostRule::MatrixStore { n } => {
            let _ = writeln!(s, "            d1_kind = K_MSTORE;");
            if let Some(n) = n {
                len(&mut s, n);
            }
        }
    }
    for (port, name) in ["d1_ra", "d1_rb"].iter().zip(&d.reads) {
        let _ = writeln!(s, "            {port} = {};", field(name));
    }
    let _ = writeln!(s, "        end");
    s
}

/// The register file's write ports, with the bits each copy of a port stores. The first ports
/// of the scalar and vector units write registers whole (`isa::REGISTER_BITS`); the second ports
/// write exponents only: the scalar unit's are `rsqrt`'s and `recip`'s (12 bits, three of the
/// distributed RAM's 4-bit columns; `register_file` checks them against numerics' rsqrt and
/// recip of the largest register), the vector unit's the 24-bit exponents of
/// `norm`, `normg` and `addalign`. Each copy keeps its bits and sign-extends on read to the
/// 64-bit operand buses. In simulation a write that is not such a value stops the model.
const WRITE_PORTS: [(&str, u32); 4] = [
    ("sxu_we0", isa::REGISTER_BITS),
    ("sxu_we1", SXU_EXPONENT_BITS),
    ("vxu_we0", isa::REGISTER_BITS),
    ("vxu_we1", 24),
];

/// Bits of the scalar unit's exponents (its second write port).
const SXU_EXPONENT_BITS: u32 = 12;

/// The register file of `registers` registers: copies `rf_<write port>_<read port>`, the
/// live-value table, the valid bits, their entries for the instruction in I's operands
/// (registered), the two read ports and (in simulation) the debug read.
/// Register numbers arrive in the encoding's 6 bits; with fewer registers only the low bits
/// count, for writes, reads and the initial values alike (so r32 is r0 throughout, never a
/// write to r0; the bundle loader refuses programs naming more).
fn register_file(registers: usize) -> String {
    // The scalar unit's exponents fall as their operand grows: the largest register's are the
    // smallest, and they must fit the exponent port's copies.
    let largest = (1u64 << (isa::REGISTER_BITS - 1)) - 1;
    for e in [numerics::rsqrt(largest).exp, numerics::recip(largest).exp] {
        assert!(
            (-(1 << (SXU_EXPONENT_BITS - 1))..=0).contains(&e),
            "exponent {e}"
        );
    }
    let writes = WRITE_PORTS.map(|(we, _)| we);
    let reads = ["a", "b"];
    const _: () = assert!(REGISTER_READS == 2, "a read port each: a and b");
    let rb = log2(registers);
    let top = registers - 1;
    // A register number's index bits.
    let ix = |signal: &str| {
        if registers == isa::REGISTERS {
            signal.to_string()
        } else {
            format!("{signal}[{}:0]", rb - 1)
        }
    };
    let addr = |we: &str| we.replace("we", "wa");
    let data = |we: &str| we.replace("we", "wd");
    let mut s = String::new();
    let _ = writeln!(s, "reg [{top}:0] reg_valid;\nreg [1:0] live [0:{top}];");
    if registers < isa::REGISTERS {
        let high: Vec<String> = writes
            .iter()
            .map(|we| addr(we))
            .chain(["i_ra".into(), "i_rb".into()])
            .map(|signal| format!("{signal}[5:{rb}]"))
            .collect();
        let _ = writeln!(
            s,
            "// Register numbers past the {registers} registers: refused in programs.\n\
             wire unused_register_high = &{{1'b0, {}}};",
            high.join(", ")
        );
    }
    for (p, (we, bits)) in WRITE_PORTS.iter().enumerate() {
        for q in reads.iter().chain(["d"].iter()) {
            let debug = *q == "d";
            if debug {
                s += "`ifdef VERILATOR\n";
            }
            let _ = writeln!(
                s,
                "(* ram_style = \"distributed\" *) reg [{top_bit}:0] rf_{p}_{q} [0:{top}];\n\
                 always @(posedge clock) if ({we} && {wai} != {rb}'d0) rf_{p}_{q}[{wai}] <= \
                 {wd}[{top_bit}:0];",
                top_bit = bits - 1,
                wai = ix(&addr(we)),
                wd = data(we)
            );
            if debug {
                s += "`endif\n";
            }
        }
        if *bits < 64 {
            let _ = writeln!(
                s,
                "`ifdef VERILATOR\n\
                 always @(posedge clock) if ({we} && {wd} != {{{{{fill}{{{wd}[{top}]}}}}, \
                 {wd}[{top}:0]}}) begin\n\
                 \x20   $display(\"register file: port {we} wrote %0d, wider than its {bits} \
                 bits\", $signed({wd}));\n\
                 \x20   $stop;\n\
                 end\n\
                 `else\n\
                 wire unused_{we}_high = &{{1'b0, {wd}[63:{bits}]}};\n\
                 `endif",
                fill = 64 - bits,
                top = bits - 1,
                wd = data(we)
            );
        }
    }
    let _ = writeln!(
        s,
        "always @(posedge clock) begin\n    if (start) reg_valid <= {registers}'d0;\n    else begin"
    );
    for (p, we) in writes.iter().enumerate() {
        let _ = writeln!(
            s,
            "        if ({we} && {wai} != {rb}'d0) begin\n            reg_valid[{wai}] <= 1'b1;\n            live[{wai}] <= 2'd{p};\n        end",
            wai = ix(&addr(we))
        );
    }
    s += "    end\nend\n";
    // The live-table entry and valid bit of each operand of the instruction in I, from registers:
    // the table's mux trees sit far from the copies on a large die, and the lookup followed by
    // the copies' select was the 85F's critical path. They are worked out a cycle ahead, for
    // the register in D3 (`_entering`, looked up in the table) and for the one in I
    // (`_waiting`: I's operands change only when I takes D3's instruction, so the entry it holds
    // already), each with this cycle's writes applied as the table applies them, and both
    // registered; `i_loaded` says whether I took D3's instruction at that edge, and so which of
    // the two equals `live` and `reg_valid` at I's operand. The read at issue is the same, two
    // selects later in the path. (Choosing between the two before the registers put the issue
    // decision in front of the lookup, and synthesis merged it into the mux trees: the 45F's
    // critical path.)
    s += "reg i_loaded;\n\
          always @(posedge clock) i_loaded <= !(reset || start) && running && advance;\n";
    for (q, entering, waiting) in [("a", "d3_ra", "i_ra"), ("b", "d3_rb", "i_rb")] {
        let _ = writeln!(
            s,
            "reg [1:0] live_{q}_entering, live_{q}_waiting, live_{q}_entered, live_{q}_waited;\n\
             reg valid_{q}_entering, valid_{q}_waiting, valid_{q}_entered, valid_{q}_waited;\n\
             wire [1:0] i_live_{q} = i_loaded ? live_{q}_entered : live_{q}_waited;\n\
             wire i_valid_{q} = i_loaded ? valid_{q}_entered : valid_{q}_waited;\n\
             always @(*) begin\n\
             \x20   live_{q}_entering = live[{e}];\n\
             \x20   valid_{q}_entering = reg_valid[{e}];\n\
             \x20   live_{q}_waiting = i_live_{q};\n\
             \x20   valid_{q}_waiting = i_valid_{q};\n\
             \x20   if (start) begin\n\
             \x20       valid_{q}_entering = 1'b0;\n\
             \x20       valid_{q}_waiting = 1'b0;\n\
             \x20   end else begin",
            e = ix(entering),
        );
        for (p, we) in writes.iter().enumerate() {
            for (side, index) in [("entering", entering), ("waiting", waiting)] {
                let _ = writeln!(
                    s,
                    "        if ({we} && {wai} != {rb}'d0 && {wai} == {i}) begin\n\
                     \x20           live_{q}_{side} = 2'd{p};\n\
                     \x20           valid_{q}_{side} = 1'b1;\n\
                     \x20       end",
                    wai = ix(&addr(we)),
                    i = ix(index)
                );
            }
        }
        let _ = writeln!(
            s,
            "    end\nend\n\
             always @(posedge clock) begin\n\
             \x20   live_{q}_entered <= live_{q}_entering;\n\
             \x20   valid_{q}_entered <= valid_{q}_entering;\n\
             \x20   live_{q}_waited <= live_{q}_waiting;\n\
             \x20   valid_{q}_waited <= valid_{q}_waiting;\n\
             end"
        );
    }
    s += "// An invalid register reads as its value at the step's start.\n\
          function [63:0] initial_value(input [5:0] r);\n\
          \x20   initial_value = (r == 6'd1) ? {48'd0, pos_q} : (r == 6'd2) ? {48'd0, token_q} : 64'd0;\n\
          endfunction\n";
    for (q, index) in reads
        .into_iter()
        .zip(["i_ra", "i_rb"])
        .chain([("d", "dbg_reg")])
    {
        let debug = q == "d";
        if debug {
            s += "`ifdef VERILATOR\n";
            if registers < isa::REGISTERS {
                let _ = writeln!(s, "wire unused_dbg_high = &{{1'b0, dbg_reg[5:{rb}]}};");
            }
        }
        let i = ix(index);
        // The issue's reads take the registered entries; the debug read looks the table up.
        let (live, valid) = if debug {
            (format!("live[{i}]"), format!("reg_valid[{i}]"))
        } else {
            (format!("i_live_{q}"), format!("i_valid_{q}"))
        };
        let _ = writeln!(s, "reg [63:0] read_{q};\nalways @(*) begin");
        let _ = writeln!(s, "    case ({live})");
        for (p, (_, bits)) in WRITE_PORTS.iter().enumerate() {
            if *bits == 64 {
                let _ = writeln!(s, "        2'd{p}: read_{q} = rf_{p}_{q}[{i}];");
            } else {
                let _ = writeln!(
                    s,
                    "        2'd{p}: read_{q} = {{{{{fill}{{rf_{p}_{q}[{i}][{top}]}}}}, \
                     rf_{p}_{q}[{i}]}};",
                    fill = 64 - bits,
                    top = bits - 1
                );
            }
        }
        let _ = writeln!(
            s,
            "        default: read_{q} = 64'd0;\n    endcase\n    if (!{valid}) read_{q} = initial_value({{{pad}{i}}});\nend",
            pad = if registers < isa::REGISTERS {
                format!("{}'d0, ", 6 - rb)
            } else {
                String::new()
            }
        );
        if debug {
            s += "always @(*) dbg_reg_data = read_d;\n`else\nwire unused_dbg = &{1'b0, dbg_reg};\nalways @(*) dbg_reg_data = 64'd0;\n`endif\n";
        }
    }
    s
}

/// The sequencer's Verilog body for `target`.
pub fn body(target: &Target) -> String {
    let (l, v) = (target.lanes, target.vector_lanes);
    let drain = l / v;
    let decode_cases: String = decode::all().iter().map(decode_case).collect();
    decode::prune_opcodes(&render(
        include_str!("rtl/sequencer.v"),
        &[
            ("OPCODES", decode::opcode_constants()),
            ("REGFILE", register_file(target.registers)),
            (
                "BLOCK_CYCLES_PRODUCT",
                product_register(
                    target,
                    &ProductRegister {
                        q: "d3_block_cycles",
                        q_bits: 34,
                        enable: "!(reset || start) && running && advance",
                        held: true,
                        a: "d2_blocks[17:0]",
                        a_bits: 18,
                        b: "d2_cols_e",
                        b_bits: 16,
                        signed: false,
                    },
                ),
            ),
            ("DECODE", decode_cases.trim_end().to_string()),
            ("PROGRAM_WORDS", target.program_words.to_string()),
            ("BUNDLE_PLUSARG", crate::BUNDLE_PLUSARG.to_string()),
            (
                "PROG_UNUSED",
                match bits_for(target.program_words as u64 - 1) {
                    16 => String::new(),
                    pb => format!(", prog_addr[15:{pb}]"),
                },
            ),
            ("PB", bits_for(target.program_words as u64 - 1).to_string()),
            ("IB", isa::stored_bits().to_string()),
            ("REGISTER_BITS", isa::REGISTER_BITS.to_string()),
            // The completion rings: a wait's slot is its count's low bits.
            ("RING", completion_ring(target).to_string()),
            ("STEP_LIMIT", STEP_LIMIT_CYCLES.to_string()),
            ("RB", log2(completion_ring(target)).to_string()),
            ("LOG_V", log2(v).to_string()),
            ("LOG_L", log2(l).to_string()),
            ("LOG_HALF_V", log2(v / 2).to_string()),
            ("V_MINUS_1", (v - 1).to_string()),
            ("L_MINUS_1", (l - 1).to_string()),
            ("DRAIN", drain.to_string()),
            ("NORM_GAP", pass_gap_cycles(v).to_string()),
            ("VXU", VXU_PIPELINE_CYCLES.to_string()),
            ("ELEMENT_LATENCY", (1 + VXU_PIPELINE_CYCLES).to_string()),
            (
                "MXU_PLUS_DRAIN",
                (MXU_PIPELINE_CYCLES + drain as u64).to_string(),
            ),
        ],
    ))
}
