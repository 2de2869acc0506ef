//! The matrix unit: `lanes` int8 x int8 multipliers streaming one matrix-memory word per cycle,
//! with the accumulators of `matvec`, the adder tree and partial sums of `dotv`, and the output
//! stage that drains every result block into the accumulator memory. Body: `rtl/matrix.v`.

use std::fmt::Write as _;

use monorail_contract::isa::Unit;
use monorail_contract::target::{Target, VectorMemory};
use rust_hdl::prelude::*;

use crate::decode::{self, OpDecode};
use crate::verilog::{
    indented, log2, pack, product_register_for_synthesis, render, unpack, ProductRegister,
};

/// The matrix unit block.
#[derive(LogicBlock, Default)]
pub struct MatrixUnit {
    /// Core clock.
    pub clock: Signal<In, Clock>,
    /// An instruction for this unit (the cycle after its issue).
    pub issue_mxu: Signal<In, Bit>,
    /// Stop the instruction streaming now (reset, or a step stopped at the step limit); the
    /// columns already in the pipeline finish.
    pub flush: Signal<In, Bit>,
    /// The instruction.
    pub issue_instr: Signal<In, Bits<128>>,
    /// Its rows (or elements) at this position.
    pub issue_len: Signal<In, Bits<18>>,
    /// Its register operand (`wreg`).
    pub issue_ra: Signal<In, Bits<64>>,
    /// Matrix memory port A: word to read.
    pub mm_a_addr: Signal<Out, Bits<20>>,
    /// Matrix memory port A: the word, two cycles later. // (lanes,)
    pub mm_a_data: Vec<Signal<In, Bits<8>>>,
    /// Input memory: word to read.
    pub input_raddr: Signal<Out, Bits<16>>,
    /// Input memory: the word, a cycle later. // (vector_lanes,)
    pub input_rdata: Vec<Signal<In, Bits<8>>>,
    /// Accumulator memory write enables. // (vector_lanes,)
    pub acc_we: Vec<Signal<Out, Bit>>,
    /// Accumulator memory word to write.
    pub acc_waddr: Signal<Out, Bits<16>>,
    /// Accumulator memory data. // (vector_lanes,)
    pub acc_wdata: Vec<Signal<Out, Bits<32>>>,
    _body: String,
}

impl MatrixUnit {
    /// The matrix unit of `target`.
    pub fn new(target: &Target) -> MatrixUnit {
        let v = target.vector_lanes;
        MatrixUnit {
            mm_a_data: (0..target.lanes).map(|_| Default::default()).collect(),
            input_rdata: (0..v).map(|_| Default::default()).collect(),
            acc_we: (0..v).map(|_| Default::default()).collect(),
            acc_wdata: (0..v).map(|_| Default::default()).collect(),
            _body: body(target),
            ..Default::default()
        }
    }
}

impl Logic for MatrixUnit {
    // Verified in Verilator against the instruction-set simulator (`sim/tests/rtl.rs`).
    fn update(&mut self) {}

    fn connect(&mut self) {
        self.mm_a_addr.connect();
        self.input_raddr.connect();
        self.acc_waddr.connect();
        for s in &mut self.acc_we {
            s.connect();
        }
        for s in &mut self.acc_wdata {
            s.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self._body.clone())
    }
}

fn decode_case(d: &OpDecode) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "        {}: begin", d.constant());
    for (port, field) in [("d_dst", "dst"), ("d_x", "x"), ("d_cols", "cols")] {
        if d.has_field(field) {
            let _ = writeln!(s, "            {port} = {};", d.field("issue_instr", field));
        }
    }
    let w = if d.has_field("w") { "w" } else { "src" };
    let _ = writeln!(s, "            d_w = {};", d.field("issue_instr", w));
    let _ = writeln!(s, "        end");
    s
}

/// dotv's two-level adder tree over the lanes' products (valid 3 cycles after the read):
/// `tree_sum` is valid 5 cycles after.
fn tree(lanes: usize) -> String {
    let log = log2(lanes) as usize;
    let group = 1usize << log.div_ceil(2);
    let groups = lanes / group;
    let g_bits = 16 + log2(group) as usize;
    let s_bits = 16 + log;
    let mut s = format!(
        "reg signed [{}:0] tree_group [0:{}];\n",
        g_bits - 1,
        groups - 1
    );
    // Both levels load only with a column (their enables), as the products do.
    let _ = writeln!(s, "always @(posedge clock) if (q_col[3]) begin");
    for g in 0..groups {
        let terms: Vec<String> = (0..group)
            .map(|i| {
                let lane = g * group + i;
                format!(
                    "{{{{{}{{products[{}]}}}}, products[{} +: 16]}}",
                    g_bits - 16,
                    lane * 16 + 15,
                    lane * 16
                )
            })
            .collect();
        let _ = writeln!(s, "    tree_group[{g}] <= {};", terms.join(" + "));
    }
    let _ = writeln!(s, "end\nreg signed [{}:0] tree_sum;", s_bits - 1);
    let terms: Vec<String> = (0..groups)
        .map(|g| {
            format!(
                "{{{{{}{{tree_group[{g}][{}]}}}}, tree_group[{g}]}}",
                s_bits - g_bits,
                g_bits - 1
            )
        })
        .collect();
    let _ = writeln!(
        s,
        "always @(posedge clock) if (q_col[4]) tree_sum <= {};",
        terms.join(" + ")
    );
    s
}

/// The matrix unit's Verilog body for `target`.
pub fn body(target: &Target) -> String {
    let (l, v) = (target.lanes, target.vector_lanes);
    let drain = l / v;
    let ops: Vec<OpDecode> = decode::all()
        .into_iter()
        .filter(|d| d.spec.unit == Unit::Mxu)
        .collect();
    let mut packs = pack("mm_a_data_w", "mm_a_data", l, 8);
    packs += &pack("input_rdata_w", "input_rdata", v, 8);
    let mut unpacks = unpack("acc_wdata", "acc_wdata_w", v, 32);
    unpacks += &unpack("acc_we", "acc_we_w", v, 1);
    let sum_bits = 16 + log2(l) as usize;
    let word = |m: VectorMemory| (target.range_of(m).start / v).to_string();
    let shifting_drain = target
        .device
        .as_ref()
        .is_some_and(|d| d.family.flip_flop_takes_a_lut());
    // A lane's product: loaded with a column or an mload word, and read only by the next stage
    // (the accumulator and dotv's tree, under the enable delayed): not held.
    let lane_product = ProductRegister {
        q: "product",
        q_bits: 16,
        enable: "q_col[2] || q_trigger[2]",
        held: false,
        a: "w",
        a_bits: 8,
        b: "xv",
        b_bits: 8,
        signed: true,
    };
    decode::prune_opcodes(&render(
        include_str!("rtl/matrix.v"),
        &[
            ("OPCODES", decode::opcode_constants()),
            ("PACK", packs),
            ("UNPACK", unpacks),
            (
                "DECODE",
                ops.iter()
                    .map(decode_case)
                    .collect::<String>()
                    .trim_end()
                    .to_string(),
            ),
            ("TREE", tree(l)),
            (
                "LANE_PRODUCT",
                indented(&product_register_for_synthesis(target, &lane_product), 4),
            ),
            // Verilator's lane product, with the co-simulation's fault.
            (
                "LANE_PRODUCT_FAULTY",
                match lane_product.enable_on(target) {
                    "1'b1" => indented(
                        &format!(
                            "{}always @(posedge clock) product <= p ^ {{15'd0, fault}};\n",
                            lane_product.every_edge_note(target)
                        ),
                        4,
                    ),
                    enable => format!(
                        "    always @(posedge clock)\n        if ({enable}) product <= p ^ {{15'd0, fault}};\n"
                    ),
                },
            ),
            ("L", l.to_string()),
            ("V", v.to_string()),
            ("LOG_L", log2(l).to_string()),
            ("LOG_V", log2(v).to_string()),
            ("LOG_DRAIN", log2(drain).to_string()),
            // Where a flip-flop takes a LUT anyway, the drain shifts its words out (each
            // flip-flop's LUT chooses between the block and the next word); elsewhere it holds
            // the block, and a multiplexer picks the word of each step.
            (
                "DRAIN_DATA",
                if drain == 1 || shifting_drain {
                    format!("drain[{v}*32-1:0]", v = target.vector_lanes)
                } else {
                    format!(
                        "drain[drain_step[{}:0]*({v}*32) +: {v}*32]",
                        log2(drain) - 1,
                        v = target.vector_lanes
                    )
                },
            ),
            (
                "DRAIN_SHIFT",
                if drain > 1 && shifting_drain {
                    format!(
                        "\n        drain <= drain >> ({v}*32);",
                        v = target.vector_lanes
                    )
                } else {
                    String::new()
                },
            ),
            ("L_MINUS_1", (l - 1).to_string()),
            ("DRAIN", drain.to_string()),
            ("DRAIN_MINUS_1", (drain - 1).to_string()),
            ("PARTIALS", target.partial_sums.to_string()),
            ("PJB", log2(target.partial_sums).to_string()),
            (
                "PARTIAL_STYLE",
                if target.partial_sums_in_block_ram() {
                    String::new()
                } else {
                    "(* ram_style = \"distributed\" *) ".to_string()
                },
            ),
            ("SUM_BITS", sum_bits.to_string()),
            ("SUM_PAD", (32 - sum_bits).to_string()),
            ("INPUT_BASE_WORD", word(VectorMemory::Input)),
            ("ACC_BASE_WORD", word(VectorMemory::Accumulator)),
        ],
    ))
}
