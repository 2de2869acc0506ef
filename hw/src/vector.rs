//! The vector unit: `vector_lanes` lanes of the numerics primitives in one nine-stage pipeline
//! (`timing::VXU_PIPELINE_CYCLES`: issue, decode, read, operands, E1 to E5),
//! the reduction trees, the sine table of `sincos` and the cache stores' read-modify-write of the
//! matrix memory. Body: `rtl/vector.v`, with its decode generated from the contract and its
//! tables from `numerics::tables`.

use std::fmt::Write as _;

use monorail_contract::isa::{self, Role, Unit};
use monorail_contract::numerics::{
    tables, EXP2_INPUT_LIMIT, MAGNITUDE_BITS, PHASE_BITS, PHASE_INDEX_BITS, Q14_ONE,
    SIGMOID_INPUT_FRACTION_BITS, SIGMOID_INPUT_MAX, SINE_QUARTER_ENTRIES,
};
use monorail_contract::target::{Target, VectorMemory, LANE_TABLE_ENTRIES, LANE_TABLE_EXP2_OFFSET};
use monorail_contract::timing::{pass_gap_cycles, CostRule, MagnitudeRole};
use rust_hdl::prelude::*;

use crate::decode::{self, OpDecode};
use crate::verilog::{
    bit_length, indented, is_gowin, log2, pack, product_register, render, rom, unpack,
    ProductRegister,
};

/// The vector unit block.
#[derive(LogicBlock, Default)]
pub struct VectorUnit {
    /// Core clock.
    pub clock: Signal<In, Clock>,
    /// An instruction for this unit (the cycle after its issue).
    pub issue_vxu: Signal<In, Bit>,
    /// Stop the instruction streaming now (reset, or a step stopped at the step limit); the
    /// slots already in the pipeline finish.
    pub flush: Signal<In, Bit>,
    /// The instruction.
    pub issue_instr: Signal<In, Bits<128>>,
    /// Its length at this position.
    pub issue_len: Signal<In, Bits<18>>,
    /// Its register operands.
    pub issue_ra: Signal<In, Bits<64>>,
    /// Second register operand.
    pub issue_rb: Signal<In, Bits<64>>,
    /// The step's position.
    pub pos: Signal<In, Bits<16>>,
    /// Vector memory, port A: word to read.
    pub vm_raddr_a: Signal<Out, Bits<16>>,
    /// Its data. // (vector_lanes,)
    pub vm_rdata_a: Vec<Signal<In, Bits<18>>>,
    /// Vector memory, port B: word to read.
    pub vm_raddr_b: Signal<Out, Bits<16>>,
    /// Its data. // (vector_lanes,)
    pub vm_rdata_b: Vec<Signal<In, Bits<18>>>,
    /// Vector memory write enables. // (vector_lanes,)
    pub vm_we: Vec<Signal<Out, Bit>>,
    /// Vector memory word to write.
    pub vm_waddr: Signal<Out, Bits<16>>,
    /// Vector memory data to write. // (vector_lanes,)
    pub vm_wdata: Vec<Signal<Out, Bits<18>>>,
    /// Accumulator memory, port A: word to read.
    pub acc_raddr_a: Signal<Out, Bits<16>>,
    /// Its data. // (vector_lanes,)
    pub acc_rdata_a: Vec<Signal<In, Bits<32>>>,
    /// Accumulator memory, port B: word to read.
    pub acc_raddr_b: Signal<Out, Bits<16>>,
    /// Its data. // (vector_lanes,)
    pub acc_rdata_b: Vec<Signal<In, Bits<32>>>,
    /// Wide memory: word to read.
    pub wide_raddr: Signal<Out, Bits<16>>,
    /// Its data. // (vector_lanes,)
    pub wide_rdata: Vec<Signal<In, Bits<32>>>,
    /// Wide memory write enables. // (vector_lanes,)
    pub wide_we: Vec<Signal<Out, Bit>>,
    /// Wide memory word to write.
    pub wide_waddr: Signal<Out, Bits<16>>,
    /// Wide memory data to write. // (vector_lanes,)
    pub wide_wdata: Vec<Signal<Out, Bits<32>>>,
    /// Input memory write enables. // (vector_lanes,)
    pub input_we: Vec<Signal<Out, Bit>>,
    /// Input memory word to write.
    pub input_waddr: Signal<Out, Bits<16>>,
    /// Input memory data to write. // (vector_lanes,)
    pub input_wdata: Vec<Signal<Out, Bits<8>>>,
    /// Matrix memory port B: word to read, then to write.
    pub mm_b_addr: Signal<Out, Bits<20>>,
    /// Matrix memory port B: write the word read the cycle before with one lane replaced.
    pub mm_b_we: Signal<Out, Bit>,
    /// Matrix memory port B: the lane.
    pub mm_b_lane: Signal<Out, Bits<8>>,
    /// Matrix memory port B: its byte.
    pub mm_b_byte: Signal<Out, Bits<8>>,
    /// Register write 0 (the reduction tree).
    pub vxu_we0: Signal<Out, Bit>,
    /// Its register.
    pub vxu_wa0: Signal<Out, Bits<6>>,
    /// Its value.
    pub vxu_wd0: Signal<Out, Bits<64>>,
    /// Register write 1 (a normalisation's exponent).
    pub vxu_we1: Signal<Out, Bit>,
    /// Its register.
    pub vxu_wa1: Signal<Out, Bits<6>>,
    /// Its value.
    pub vxu_wd1: Signal<Out, Bits<64>>,
    _body: String,
}

fn lanes_of<T: Default>(n: usize) -> Vec<T> {
    (0..n).map(|_| T::default()).collect()
}

impl VectorUnit {
    /// The vector unit of `target`.
    pub fn new(target: &Target) -> VectorUnit {
        let v = target.vector_lanes;
        VectorUnit {
            vm_rdata_a: lanes_of(v),
            vm_rdata_b: lanes_of(v),
            vm_we: lanes_of(v),
            vm_wdata: lanes_of(v),
            acc_rdata_a: lanes_of(v),
            acc_rdata_b: lanes_of(v),
            wide_rdata: lanes_of(v),
            wide_we: lanes_of(v),
            wide_wdata: lanes_of(v),
            input_we: lanes_of(v),
            input_wdata: lanes_of(v),
            _body: body(target),
            ..Default::default()
        }
    }
}

impl Logic for VectorUnit {
    // Verified in Verilator against the instruction-set simulator (`sim/tests/rtl.rs`).
    fn update(&mut self) {}

    fn connect(&mut self) {
        self.vm_raddr_a.connect();
        self.vm_raddr_b.connect();
        self.vm_waddr.connect();
        self.acc_raddr_a.connect();
        self.acc_raddr_b.connect();
        self.wide_raddr.connect();
        self.wide_waddr.connect();
        self.input_waddr.connect();
        self.mm_b_addr.connect();
        self.mm_b_we.connect();
        self.mm_b_lane.connect();
        self.mm_b_byte.connect();
        self.vxu_we0.connect();
        self.vxu_wa0.connect();
        self.vxu_wd0.connect();
        self.vxu_we1.connect();
        self.vxu_wa1.connect();
        self.vxu_wd1.connect();
        for s in self
            .vm_we
            .iter_mut()
            .chain(self.wide_we.iter_mut())
            .chain(self.input_we.iter_mut())
        {
            s.connect();
        }
        for s in &mut self.vm_wdata {
            s.connect();
        }
        for s in &mut self.wide_wdata {
            s.connect();
        }
        for s in &mut self.input_wdata {
            s.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self._body.clone())
    }
}

/// The decode case of one vector-unit operation.
fn decode_case(d: &OpDecode) -> String {
    let mut s = String::new();
    let m = d.spec.mnemonic;
    let _ = writeln!(s, "        {}: begin", d.constant());
    let kind = match m {
        "norm" | "normg" => "F_NORM",
        "sincos" => "F_SINCOS",
        "kvstore" => "F_KVSTORE",
        "kvexp" => "F_KVEXP",
        "getv" => "F_GETV",
        "setv" => "F_SETV",
        _ => "F_STREAM",
    };
    let _ = writeln!(s, "            d_kind = {kind};");
    if let Some(f) = d.vector_reads.first() {
        let _ = writeln!(s, "            d_a = {};", d.field("issue_instr", f));
        let _ = writeln!(s, "            d_has_a = 1'b1;");
    }
    if let Some(f) = d.vector_reads.get(1) {
        let _ = writeln!(s, "            d_b = {};", d.field("issue_instr", f));
    }
    let probe = decode::probe(d.spec);
    if let Some(w) = probe
        .vector_operands(4, 0)
        .iter()
        .find(|o| o.role == Role::VxuWrite)
    {
        let _ = writeln!(
            s,
            "            d_dst = {};",
            d.field("issue_instr", w.field)
        );
        let _ = writeln!(s, "            d_has_dst = 1'b1;");
    }
    // expneg's constant scale; mul's shift of `a` (signed, widened at OP).
    if d.has_field("mant") {
        let _ = writeln!(s, "            d_imm = {};", d.field("issue_instr", "mant"));
    }
    if d.has_field("sh") {
        let bits = d.field_bits("sh");
        let _ = writeln!(
            s,
            "            d_imm = {{{}'d0, {}}};",
            15 - bits,
            d.field("issue_instr", "sh")
        );
    }
    if d.has_field("bits") {
        let _ = writeln!(
            s,
            "            d_bits = {};",
            d.field("issue_instr", "bits")
        );
    }
    // Whether its results leave through the reduction tree is the contract's (its cost rule
    // counts the tree's levels); how the tree combines them and which register takes the result
    // are the operation's own.
    let reduce = reduces(&d.rule);
    match (reduce, reduction(m)) {
        (true, Some((mode, rd0))) => {
            let _ = writeln!(s, "            d_reduce = 1'b1;");
            let _ = writeln!(s, "            d_rmode = {mode};");
            let _ = writeln!(s, "            d_rd0 = {};", d.field("issue_instr", rd0));
        }
        (false, None) => {}
        (true, None) => {
            panic!("{m} reduces by its cost rule, but the vector unit has no mode for it")
        }
        (false, Some(_)) => panic!("{m} has a reduction mode, but its cost rule has no tree"),
    }
    // A magnitude register (timing::Stream::magnitude_role): a normalisation reads it and makes
    // the shifting pass alone; a producer's leaves through the tree (the OR of the lanes').
    if let CostRule::Vector(stream) = d.rule {
        if let (Some(f), Some(role)) = (stream.magnitude_field, stream.magnitude_role()) {
            let named = format!("({} != 6'd0)", d.field("issue_instr", f));
            match role {
                MagnitudeRole::Reads => {
                    let _ = writeln!(s, "            d_one_pass = {named};");
                }
                MagnitudeRole::Writes => {
                    assert!(!reduce, "{m} has one register result");
                    let _ = writeln!(s, "            d_reduce = {named};");
                    let _ = writeln!(s, "            d_rmode = R_MAG;");
                    let _ = writeln!(s, "            d_rd0 = {};", d.field("issue_instr", f));
                }
            }
        }
    }
    if d.has_field("eout") {
        let _ = writeln!(s, "            d_rd1 = {};", d.field("issue_instr", "eout"));
    }
    if matches!(m, "kvstore" | "kvexp") {
        let _ = writeln!(s, "            d_mm = {};", d.field("issue_instr", "dst"));
    }
    let _ = writeln!(s, "        end");
    s
}

/// Whether an operation's results leave through the reduction tree, by its cost rule.
fn reduces(rule: &CostRule) -> bool {
    match *rule {
        CostRule::Vector(stream) => stream.reduce,
        CostRule::Element { reduce } => reduce,
        _ => false,
    }
}

/// How a reducing operation's tree combines the lanes (`R_SUM`, `R_MAX`, `R_ARGMAX`) and the
/// register field that takes its result; `None` for the others.
fn reduction(mnemonic: &str) -> Option<(&'static str, &'static str)> {
    match mnemonic {
        "sumsq" | "sum" | "getv" => Some(("R_SUM", "dst")),
        "expneg" => Some(("R_SUM", "sum")),
        "vmax" => Some(("R_MAX", "dst")),
        "normg" => Some(("R_MAX", "max")),
        "argmax" => Some(("R_ARGMAX", "dst")),
        _ => None,
    }
}

/// Bits of the reduction's values: a register's and one more, for a maximum's difference.
const LA_BITS: u32 = isa::REGISTER_BITS + 1;
/// Bits of a reduction tree's node: whether it holds a value, the value's element index (20
/// bits, for argmax) and the value.
const NODE_BITS: u32 = 1 + 20 + LA_BITS;

/// The reduction tree's levels above the lane accumulators, the last writing register port 0.
fn slow_tree(v: usize) -> String {
    let levels = log2(v) as usize;
    let mut s = String::new();
    // A node: {has, element index (20 bits), value (LA_BITS)}.
    let (top, la, la_top, index_top, pad) = (
        NODE_BITS - 1,
        LA_BITS,
        LA_BITS - 1,
        LA_BITS + 19,
        64 - LA_BITS,
    );
    let node0 = |i: usize| format!("{{la_has[{i}], la_idx[{i}], la_val[{i}]}}");
    let mut prev: Vec<String> = (0..v).map(node0).collect();
    let mut prev_fire = "t0_fire".to_string();
    let mut prev_mode = "t0_mode".to_string();
    let mut prev_rd = "t0_rd".to_string();
    for level in 1..levels {
        let n = v >> level;
        let _ = writeln!(
            s,
            "reg [{top}:0] t{level} [0:{}];\nreg t{level}_fire;\nreg [1:0] t{level}_mode;\nreg [5:0] t{level}_rd;\nalways @(posedge clock) begin\n    t{level}_fire <= {prev_fire};\n    t{level}_mode <= {prev_mode};\n    t{level}_rd <= {prev_rd};",
            n - 1
        );
        // Each level loads with the fire from the level before (see norm_tree).
        let _ = writeln!(s, "    if ({prev_fire}) begin");
        for i in 0..n {
            let _ = writeln!(
                s,
                "        t{level}[{i}] <= combine({prev_mode}, {}, {});",
                prev[2 * i],
                prev[2 * i + 1]
            );
        }
        let _ = writeln!(s, "    end\nend");
        prev = (0..n).map(|i| format!("t{level}[{i}]")).collect();
        prev_fire = format!("t{level}_fire");
        prev_mode = format!("t{level}_mode");
        prev_rd = format!("t{level}_rd");
    }
    let _ = writeln!(
        s,
        "wire [{top}:0] t_final = combine({prev_mode}, {}, {});\n\
         wire [63:0] t_final_value = {{{{{pad}{{t_final[{la_top}]}}}}, t_final[{la_top}:0]}};\n\
         always @(*) begin\n\
         \x20   vxu_we0 = {prev_fire};\n\
         \x20   vxu_wa0 = {prev_rd};\n\
         \x20   case ({prev_mode})\n\
         \x20       R_SUM, R_MAG: vxu_wd0 = t_final_value;\n\
         \x20       R_MAX: vxu_wd0 = t_final[{top}] ? t_final_value : 64'd0;\n\
         \x20       default: vxu_wd0 = t_final[{top}] ? {{{{44{{t_final[{index_top}]}}}}, t_final[{index_top}:{la}]}} : 64'd0;\n\
         \x20   endcase\n\
         end",
        prev[0], prev[1]
    );
    s
}

/// The normalisations' fast tree: every level registered; `fn_*` is the final node.
fn norm_tree(v: usize) -> String {
    let levels = log2(v) as usize;
    let mut s = String::new();
    let node0 =
        |i: usize| format!("{{fm_has[{i}], fm_boff[{i}], fm_any[{i}], fm_top[{i}], fm_abs[{i}]}}");
    let mut prev: Vec<String> = (0..v).map(node0).collect();
    let mut prev_tag = "f0".to_string();
    for level in 1..=levels {
        let n = v >> level;
        let tag = format!("f{level}");
        let _ = writeln!(
            s,
            "reg [81:0] {tag}_node [0:{}];\nreg {tag}_fire, {tag}_normg;\nreg [4:0] {tag}_bits;\nreg signed [23:0] {tag}_ein;\nalways @(posedge clock) begin\n    {tag}_fire <= {prev_tag}_fire;\n    {tag}_normg <= {prev_tag}_normg;\n    {tag}_bits <= {prev_tag}_bits;\n    {tag}_ein <= {prev_tag}_ein;",
            n - 1
        );
        // A level's nodes load with the fire from the level before (their enable): the tree
        // holds between normalisations, and the simulator skips it.
        let _ = writeln!(s, "    if ({prev_tag}_fire) begin");
        for i in 0..n {
            let _ = writeln!(
                s,
                "        {tag}_node[{i}] <= norm_combine({}, {});",
                prev[2 * i],
                prev[2 * i + 1]
            );
        }
        let _ = writeln!(s, "    end\nend");
        prev = (0..n).map(|i| format!("{tag}_node[{i}]")).collect();
        prev_tag = tag;
    }
    let _ = writeln!(
        s,
        "wire [81:0] fn_node = {};\nwire fn_fire = {prev_tag}_fire;\nwire fn_normg = {prev_tag}_normg;\nwire [4:0] fn_bits = {prev_tag}_bits;\nwire signed [23:0] fn_ein = {prev_tag}_ein;",
        prev[0]
    );
    s
}

/// The slot's controls that only E5 reads, from RD's registers (`p_mask[1]`, ...) to E5's
/// (`p_mask_e5`, ...): six cycles of flip-flops, or on the Gowin (where each such flip-flop,
/// loaded from another, takes a LUT site) a ring of distributed RAM written at RD and read six
/// writes later.
fn slot_late(target: &Target) -> String {
    let v = target.vector_lanes;
    let fields = [
        ("p_mask", v),
        ("p_pass2", 1),
        ("p_first", 1),
        ("p_last", 1),
        ("p_dst_word", 16),
        ("p_dst_mem", 2),
        ("p_reduce", 1),
        ("p_rmode", 2),
        ("p_rd0", 6),
        ("p_lane0", log2(v) as usize),
    ];
    let bits: usize = fields.iter().map(|(_, b)| b).sum();
    let mut s = String::new();
    for (name, b) in fields {
        let _ = writeln!(s, "wire [{}:0] {name}_e5;", b - 1);
    }
    let list = |suffix: &str| -> String {
        fields
            .iter()
            .map(|(name, _)| format!("{name}{suffix}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        s,
        "wire [{top}:0] slot_late_rd = {{{}}};\nwire [{top}:0] slot_late_e5;\nassign {{{}}} = slot_late_e5;",
        list("[1]"),
        list("_e5"),
        top = bits - 1
    );
    if is_gowin(target) {
        s += "reg [3:0] slot_line_at;\n\
              always @(posedge clock) slot_line_at <= slot_line_at + 4'd1;\n";
        let _ = writeln!(
            s,
            "(* ram_style = \"distributed\" *) reg [{}:0] slot_line [0:15];\n\
             always @(posedge clock) slot_line[slot_line_at] <= slot_late_rd;\n\
             assign slot_late_e5 = slot_line[slot_line_at - 4'd6];",
            bits - 1
        );
    } else {
        let _ = writeln!(
            s,
            "reg [{}:0] slot_late [2:7];\nalways @(posedge clock) begin\n    slot_late[2] <= slot_late_rd;",
            bits - 1
        );
        for stage in 3..=7 {
            let _ = writeln!(s, "    slot_late[{stage}] <= slot_late[{}];", stage - 1);
        }
        s += "end\nassign slot_late_e5 = slot_late[7];\n";
    }
    s.trim_end().to_string()
}

/// The vector unit's Verilog body for `target`.
pub fn body(target: &Target) -> String {
    let v = target.vector_lanes;
    let l = target.lanes;
    let ops: Vec<OpDecode> = decode::all()
        .into_iter()
        .filter(|d| d.spec.unit == Unit::Vxu)
        .collect();
    let t = tables::get();
    // The lane tables' layout in vector.v: |q| has 9 bits, exp2's index 8.
    assert!(t.sigmoid.len() <= LANE_TABLE_EXP2_OFFSET && t.exp2_neg.len() <= 256);
    assert!(LANE_TABLE_EXP2_OFFSET + t.exp2_neg.len() <= LANE_TABLE_ENTRIES);
    // The clamps of vector.v test bits: these constants are powers of two (less one).
    assert!((SIGMOID_INPUT_MAX + 1) as usize == LANE_TABLE_EXP2_OFFSET);
    // vector.v's magnitudes (|x| in the lane accumulators, a norm's given register) are 32-bit.
    assert_eq!(MAGNITUDE_BITS, 32);
    assert!((Q14_ONE as u64).is_power_of_two() && (EXP2_INPUT_LIMIT as u64).is_power_of_two());
    let mut pack_inputs = String::new();
    for (wide, port, bits) in [
        ("vm_a_w", "vm_rdata_a", 18),
        ("vm_b_w", "vm_rdata_b", 18),
        ("acc_a_w", "acc_rdata_a", 32),
        ("acc_b_w", "acc_rdata_b", 32),
        ("wide_w", "wide_rdata", 32),
    ] {
        pack_inputs += &pack(wide, port, v, bits);
    }
    let mut unpack_outputs = String::new();
    for (port, wide, bits) in [
        ("vm_wdata", "vm_wdata_w", 18),
        ("vm_we", "vm_we_w", 1),
        ("wide_wdata", "wide_wdata_w", 32),
        ("wide_we", "wide_we_w", 1),
        ("input_wdata", "input_wdata_w", 8),
        ("input_we", "input_we_w", 1),
    ] {
        unpack_outputs += &unpack(port, wide, v, bits);
    }
    let sine_init: String = t.sine_quarter[..SINE_QUARTER_ENTRIES]
        .iter()
        .enumerate()
        .map(|(i, x)| format!("    sine[{i}] = 15'd{x};\n"))
        .collect();
    let half_v_bits = log2(v / 2).max(1);
    let pair_of_cnt = if v == 2 {
        "1'b0".to_string()
    } else {
        format!("cnt[{}:0]", log2(v / 2) - 1)
    };
    let base = |m: VectorMemory| target.range_of(m).start.to_string();
    // A lane's products: 18-bit signed operands (the ISA refuses others). Read only by the next
    // stage's registers, which load under its `p_valid` (the enable delayed): not held.
    let mul_sh_bits = decode::by_mnemonic("mul").field_bits("sh");
    assert!(
        (1..8).contains(&mul_sh_bits),
        "mul's sh must fit the shifter's 8-bit shift"
    );
    let lane_product = |q: &str, enable: &str, a: &str, b: &str| {
        indented(
            &product_register(
                target,
                &ProductRegister {
                    q,
                    q_bits: 36,
                    enable,
                    held: false,
                    a,
                    a_bits: 18,
                    b,
                    b_bits: 18,
                    signed: true,
                },
            ),
            4,
        )
    };
    // sincos's phase: each half of a step times the position (unsigned).
    let sincos_products: String = [
        ("sc_lo0", "sc_step0[15:0]", 32),
        ("sc_hi0", "sc_step0[31:16]", 16),
        ("sc_lo1", "sc_step1[15:0]", 32),
        ("sc_hi1", "sc_step1[31:16]", 16),
    ]
    .into_iter()
    .map(|(q, a, q_bits)| {
        product_register(
            target,
            &ProductRegister {
                q,
                q_bits,
                enable: "1'b1",
                held: false,
                a,
                a_bits: 16,
                b: "pos",
                b_bits: 16,
                signed: false,
            },
        )
    })
    .collect();
    decode::prune_opcodes(&render(
        include_str!("rtl/vector.v"),
        &[
            ("OPCODES", decode::opcode_constants()),
            ("BIT_LENGTH32", bit_length("bit_length32", 32)),
            ("PACK_INPUTS", pack_inputs),
            ("UNPACK_OUTPUTS", unpack_outputs),
            (
                "DECODE",
                ops.iter()
                    .map(decode_case)
                    .collect::<String>()
                    .trim_end()
                    .to_string(),
            ),
            (
                "LANE_TABLES",
                rom(
                    "tables",
                    LANE_TABLE_ENTRIES,
                    15,
                    &[(0, &t.sigmoid), (LANE_TABLE_EXP2_OFFSET, &t.exp2_neg)],
                ),
            ),
            ("EXP2_OFFSET", LANE_TABLE_EXP2_OFFSET.to_string()),
            ("TREE", slow_tree(v)),
            (
                "E1_PRODUCT",
                lane_product("e1_m1", "p_valid[2]", "m1_x", "m1_y"),
            ),
            (
                "E4_PRODUCT",
                lane_product("e4_m2", "p_valid[5]", "m2_x", "m2_y"),
            ),
            ("SINCOS_PRODUCTS", sincos_products),
            ("SLOT_LATE", slot_late(target)),
            ("NORM_TREE", norm_tree(v)),
            ("SINE_INIT", sine_init.trim_end().to_string()),
            ("REGISTER_BITS", isa::REGISTER_BITS.to_string()),
            ("LA_BITS", LA_BITS.to_string()),
            ("LA_BITS_MINUS_1", (LA_BITS - 1).to_string()),
            ("LA_PAD", (LA_BITS - 32).to_string()),
            ("NODE_BITS", NODE_BITS.to_string()),
            ("V", v.to_string()),
            ("LOG_V", log2(v).to_string()),
            ("LOG_L", log2(l).to_string()),
            (
                "MM_LANE",
                // pos % lanes, as the matrix memory's 8-bit lane
                if log2(l) < 8 {
                    format!("{{{}'d0, pos[{}:0]}}", 8 - log2(l), log2(l) - 1)
                } else {
                    "pos[7:0]".to_string()
                },
            ),
            ("LOG_HALF_V", log2(v / 2).to_string()),
            ("LOG_HALF_V_BITS", half_v_bits.to_string()),
            ("PAIR_OF_CNT", pair_of_cnt),
            ("V_MINUS_1", (v - 1).to_string()),
            ("NORM_GAP", pass_gap_cycles(v).to_string()),
            ("ACC_BASE", base(VectorMemory::Accumulator)),
            ("WIDE_BASE", base(VectorMemory::Wide)),
            ("INPUT_BASE", base(VectorMemory::Input)),
            (
                "ACC_WORD",
                (target.range_of(VectorMemory::Accumulator).start / v).to_string(),
            ),
            (
                "WIDE_WORD",
                (target.range_of(VectorMemory::Wide).start / v).to_string(),
            ),
            (
                "INPUT_WORD",
                (target.range_of(VectorMemory::Input).start / v).to_string(),
            ),
            // mul's shift: the ISA's field, sign-extended into the shifter's 8 bits at OP
            ("MUL_SH_BITS", mul_sh_bits.to_string()),
            ("MUL_SH_MSB", (mul_sh_bits - 1).to_string()),
            ("MUL_SH_PAD", (8 - mul_sh_bits).to_string()),
            ("SIGMOID_FRACTION", SIGMOID_INPUT_FRACTION_BITS.to_string()),
            ("SIGMOID_MAX", SIGMOID_INPUT_MAX.to_string()),
            ("Q14_ONE", Q14_ONE.to_string()),
            ("Q14_BITS", Q14_ONE.trailing_zeros().to_string()),
            (
                "EXP2_LIMIT_BITS",
                EXP2_INPUT_LIMIT.trailing_zeros().to_string(),
            ),
            ("EXP2_LIMIT", EXP2_INPUT_LIMIT.to_string()),
            (
                "PHASE_HALF",
                (1u64 << (PHASE_BITS - PHASE_INDEX_BITS - 1)).to_string(),
            ),
            ("QUARTER", SINE_QUARTER_ENTRIES.to_string()),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each vector-unit operation's decode case sets the flags its contract entry implies: the
    /// reduction tree where its cost rule counts one, the magnitude register's read or write, a
    /// streamed first operand and a destination where its accesses have them.
    #[test]
    fn the_decode_cases_follow_the_contract() {
        let ops: Vec<OpDecode> = decode::all()
            .into_iter()
            .filter(|d| d.spec.unit == Unit::Vxu)
            .collect();
        assert!(ops.len() > 20, "every vector-unit operation");
        for d in &ops {
            let m = d.spec.mnemonic;
            let case = decode_case(d);
            let has = |line: &str| case.contains(line);
            let magnitude = match d.rule {
                CostRule::Vector(stream) => stream.magnitude_role(),
                _ => None,
            };
            assert_eq!(has("d_reduce = 1'b1;"), reduces(&d.rule), "{m}: {case}");
            assert_eq!(
                has("d_rmode = R_MAG;"),
                magnitude == Some(MagnitudeRole::Writes),
                "{m}: {case}"
            );
            assert_eq!(
                has("d_one_pass = "),
                magnitude == Some(MagnitudeRole::Reads),
                "{m}: {case}"
            );
            let operands = decode::probe(d.spec).vector_operands(4, 0);
            assert_eq!(
                has("d_has_a = 1'b1;"),
                operands.iter().any(|o| o.role == Role::VxuRead),
                "{m}: {case}"
            );
            assert_eq!(
                has("d_has_dst = 1'b1;"),
                operands.iter().any(|o| o.role == Role::VxuWrite),
                "{m}: {case}"
            );
            assert_eq!(has("d_rd1 = "), d.has_field("eout"), "{m}: {case}");
            // the register that takes a reduction's result is one the operation writes
            if let Some((_, rd0)) = reduction(m) {
                let i = d.spec.fields.iter().position(|f| f.name == rd0).unwrap();
                let register = decode::probe_register(i);
                let writes = decode::probe(d.spec).accesses(4, 0, 1).register_writes;
                assert!(writes & (1 << register) != 0, "{m}: {rd0} is not written");
            }
            // a register result is written from the tree's port 0 only where there is one
            assert_eq!(
                has("d_rd0 = "),
                reduces(&d.rule) || magnitude == Some(MagnitudeRole::Writes),
                "{m}: {case}"
            );
        }
    }
}
