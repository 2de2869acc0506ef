//! The memories: the matrix memory's tiles and the four memories of the vector address space.
//!
//! Each is a custom block (rust_hdl's RAM widget writes its contents inline, one line a word,
//! which costs Verilator minutes on these sizes; and it cannot pack lanes into one wide word):
//! a wide `reg` array with registered reads, lane write enables, `$readmemh` initialisation
//! from the bundle's images (the simulation's `+monorail_bundle=DIR` plusarg, or the
//! `MONORAIL_INIT` define when a bitstream flow provides the files) and a simulation-only
//! debug read port for the co-simulation's backdoor. Their behaviour is specified by the bundle
//! format (`monorail_contract::bundle`) and checked in Verilator by the core's tests.

use std::fmt::Write as _;

use monorail_contract::bundle::vector_file;
use monorail_contract::target::{Target, VectorMemory};
use rust_hdl::prelude::*;

use crate::verilog::{bits_for, log2, pack, unpack};
use crate::BUNDLE_PLUSARG;

/// The declaration `init` needs, once per module.
const BUNDLE_DIR: &str = "`ifdef VERILATOR\nreg [8*1024-1:0] bundle_dir;\n`endif\n";

/// The `$readmemh` of a memory from the bundle: in simulation from the `monorail_bundle` plusarg's
/// folder, in synthesis from `file` when `MONORAIL_INIT` is defined.
fn init(memory: &str, file: &str) -> String {
    format!(
        "`ifdef VERILATOR\n\
         initial begin\n\
         \x20   if ($value$plusargs(\"{BUNDLE_PLUSARG}=%s\", bundle_dir))\n\
         \x20       $readmemh($sformatf(\"%0s/{file}\", bundle_dir), {memory});\n\
         end\n\
         `elsif MONORAIL_INIT\n\
         initial $readmemh(\"{file}\", {memory});\n\
         `endif\n"
    )
}

/// One memory of the vector address space: `lanes` elements of `B` bits per word, one write
/// port with lane enables, one or two registered read ports.
#[derive(LogicBlock, Default)]
pub struct LaneMemory<const B: usize> {
    /// Core clock.
    pub clock: Signal<In, Clock>,
    /// Lane write enables. // (lanes,)
    pub we: Vec<Signal<In, Bit>>,
    /// Word to write.
    pub waddr: Signal<In, Bits<16>>,
    /// Lanes to write. // (lanes,)
    pub wdata: Vec<Signal<In, Bits<B>>>,
    /// Word to read on port A (data the next cycle).
    pub raddr_a: Signal<In, Bits<16>>,
    /// Port A's data. // (lanes,)
    pub rdata_a: Vec<Signal<Out, Bits<B>>>,
    /// Word to read on port B, for two-ported memories. // (0 or 1,)
    pub raddr_b: Vec<Signal<In, Bits<16>>>,
    /// Port B's data. // (lanes or 0,)
    pub rdata_b: Vec<Signal<Out, Bits<B>>>,
    /// The host owns the write port and port A this cycle.
    pub host_active: Signal<In, Bit>,
    /// The host's element (an address of the whole vector space).
    pub host_addr: Signal<In, Bits<16>>,
    /// The host writes the element.
    pub host_we: Signal<In, Bit>,
    /// The value (two's complement, stored to the element's width).
    pub host_wdata: Signal<In, Bits<32>>,
    /// The element the host addressed the cycle before, sign-extended; 0 when the address is
    /// in another memory.
    pub host_rdata: Signal<Out, Bits<32>>,
    /// Debug (simulation only): an element address of the whole vector space, read
    /// combinationally.
    pub dbg_addr: Signal<In, Bits<16>>,
    /// Debug: the element, sign-extended; 0 when the address is in another memory.
    pub dbg_data: Signal<Out, Bits<32>>,
    _body: String,
}

impl<const B: usize> LaneMemory<B> {
    /// The memory `memory` of `target`'s vector space.
    pub fn new(target: &Target, memory: VectorMemory) -> LaneMemory<B> {
        assert_eq!(
            B as u32,
            memory.bits(),
            "{} holds {B}-bit elements",
            memory.name()
        );
        let lanes = target.vector_lanes;
        let two_ports = matches!(memory, VectorMemory::Vector | VectorMemory::Accumulator);
        let words = target.words_of(memory);
        let style = if target.in_block_ram(memory) {
            "block"
        } else {
            "distributed"
        };
        let range = target.range_of(memory);
        let ab = bits_for(words as u64 - 1);
        let mut body = String::from(BUNDLE_DIR);
        body += &pack("unit_wdata_w", "wdata", lanes, B);
        body += &pack("unit_we_w", "we", lanes, 1);
        // The host's element: is it here, which word and lane.
        let here = if range.start == 0 {
            format!("{{1'b0, host_addr}} < 17'd{}", range.end)
        } else {
            format!(
                "{{1'b0, host_addr}} >= 17'd{} && {{1'b0, host_addr}} < 17'd{}",
                range.start, range.end
            )
        };
        let _ = write!(
            body,
            "wire host_here = {here};\n\
             wire [15:0] host_offset = host_addr - 16'd{start};\n\
             wire [15:0] host_word = host_offset >> {lv};\n\
             wire [{lb}:0] host_lane = host_offset[{lb}:0];\n\
             wire [{w}:0] wdata_w = host_active ? {{{lanes}{{host_wdata[{hi}:0]}}}} : unit_wdata_w;\n\
             wire [{lanes1}:0] we_w = host_active\n\
             \x20   ? ((host_we && host_here) ? {{{{{lanes1}{{1'b0}}}}, 1'b1}} << host_lane : {lanes}'d0)\n\
             \x20   : unit_we_w;\n\
             wire [15:0] write_word = host_active ? host_word : waddr;\n\
             wire [15:0] read_word_a = host_active ? host_word : raddr_a;\n\
             (* ram_style = \"{style}\", no_rw_check *)\n\
             reg [{w}:0] mem [0:{last}];\n{init}\
             integer lane;\n\
             always @(posedge clock) begin\n\
             \x20   for (lane = 0; lane < {lanes}; lane = lane + 1)\n\
             \x20       if (we_w[lane]) mem[write_word[{ab1}:0]][lane*{B} +: {B}] <= wdata_w[lane*{B} +: {B}];\n\
             end\n\
             reg [{w}:0] rdata_a_w;\n\
             always @(posedge clock) rdata_a_w <= mem[read_word_a[{ab1}:0]];\n\
             reg host_here_q;\n\
             reg [{lb}:0] host_lane_q;\n\
             always @(posedge clock) begin\n\
             \x20   host_here_q <= host_here;\n\
             \x20   host_lane_q <= host_lane;\n\
             end\n\
             wire [{hi}:0] host_element = rdata_a_w[host_lane_q*{B} +: {B}];\n\
             always @(*) host_rdata = host_here_q ? {ext} : 32'd0;\n",
            start = range.start,
            lv = log2(lanes),
            lb = log2(lanes) - 1,
            lanes1 = lanes - 1,
            w = lanes * B - 1,
            hi = B - 1,
            last = words - 1,
            init = init("mem", &vector_file(memory)),
            ab1 = ab - 1,
            ext = if B == 32 {
                "host_element".to_string()
            } else {
                format!("{{{{{}{{host_element[{}]}}}}, host_element}}", 32 - B, B - 1)
            },
        );
        if B < 32 {
            let _ = writeln!(body, "wire unused_host = &{{1'b0, host_wdata[31:{B}]}};");
        }
        body += &unpack("rdata_a", "rdata_a_w", lanes, B);
        if two_ports {
            let _ = write!(
                body,
                "reg [{w}:0] rdata_b_w;\n\
                 always @(posedge clock) rdata_b_w <= mem[raddr_b$0[{ab}:0]];\n",
                w = lanes * B - 1,
                ab = bits_for(words as u64 - 1) - 1,
            );
            body += &unpack("rdata_b", "rdata_b_w", lanes, B);
        }
        let wb = log2(lanes) + ab;
        // Address bits past the memory's depth are not its business.
        let mut unused = vec!["1'b0".to_string()];
        if ab < 16 {
            unused.push(format!("write_word[15:{ab}]"));
            unused.push(format!("read_word_a[15:{ab}]"));
            if two_ports {
                unused.push(format!("raddr_b$0[15:{ab}]"));
            }
        }
        let _ = writeln!(body, "wire unused_address = &{{{}}};", unused.join(", "));
        let here = if range.start == 0 {
            format!("{{1'b0, dbg_addr}} < 17'd{}", range.end)
        } else {
            format!(
                "{{1'b0, dbg_addr}} >= 17'd{} && {{1'b0, dbg_addr}} < 17'd{}",
                range.start, range.end
            )
        };
        let _ = write!(
            body,
            "`ifdef VERILATOR\n\
             wire [16:0] dbg_offset = {{1'b0, dbg_addr}} - 17'd{start};\n\
             wire dbg_here = {here};\n\
             wire [{w}:0] dbg_word = mem[dbg_offset[{wb1}:{lb1}]];\n\
             wire [{hi}:0] dbg_element = dbg_word[dbg_offset[{lb}:0]*{B} +: {B}];\n\
             wire unused_dbg = &{{1'b0, dbg_offset[16:{wb}]}};\n\
             always @(*) dbg_data = dbg_here ? {ext} : 32'd0;\n\
             `else\n\
             wire unused_dbg = &{{1'b0, dbg_addr}};\n\
             always @(*) dbg_data = 32'd0;\n\
             `endif\n",
            start = range.start,
            w = lanes * B - 1,
            wb1 = wb - 1,
            lb1 = log2(lanes),
            hi = B - 1,
            lb = log2(lanes) - 1,
            ext = if B == 32 {
                "dbg_element".to_string()
            } else {
                format!("{{{{{}{{dbg_element[{}]}}}}, dbg_element}}", 32 - B, B - 1)
            },
        );
        LaneMemory {
            we: (0..lanes).map(|_| Default::default()).collect(),
            wdata: (0..lanes).map(|_| Default::default()).collect(),
            rdata_a: (0..lanes).map(|_| Default::default()).collect(),
            raddr_b: (0..usize::from(two_ports))
                .map(|_| Default::default())
                .collect(),
            rdata_b: (0..if two_ports { lanes } else { 0 })
                .map(|_| Default::default())
                .collect(),
            _body: body,
            ..Default::default()
        }
    }
}

impl<const B: usize> Logic for LaneMemory<B> {
    // A memory: its behaviour is the bundle format's; checked in Verilator.
    fn update(&mut self) {}

    fn connect(&mut self) {
        for d in &mut self.rdata_a {
            d.connect();
        }
        for d in &mut self.rdata_b {
            d.connect();
        }
        self.host_rdata.connect();
        self.dbg_data.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self._body.clone())
    }
}

/// Lanes of a group in the host's reads: each tile picks the lane's byte within a group of
/// this many lanes, then among the groups, a register between.
const HOST_READ_GROUP_LANES: usize = 8;

/// The matrix memory: `matrix_tiles` tiles of `matrix_tile_words` words of `lanes` bytes. Port
/// A (the matrix unit) reads with two cycles of latency (the block RAM's register, zero in the
/// tiles the address does not select, then the OR of the tiles in an output register). Port B
/// writes the word it read the cycle before with one lane replaced: the cache stores' byte, or
/// the host's. Each tile merges its own word, so the read-modify-write runs from a block RAM's
/// output back to its input through a LUT beside it.
///
/// The host reads and writes whole words, but port B moves them a byte at a time (a word in
/// `2 x lanes + 1` cycles, `lanes + 4` to read, `lanes + 6` past 8 lanes; `host_ready` says
/// when): only a byte travels between the host port and the block RAMs. Whole words from
/// every tile took the routing of the block RAM rows: on the 85F's 145 matrix block RAMs, the
/// host's words and the merges they pulled away from their block RAMs were 44% of the wire
/// the placement asked of the busiest tiles (`scripts/wire-demand.py`).
#[derive(LogicBlock, Default)]
pub struct MatrixMemory {
    /// Core clock.
    pub clock: Signal<In, Clock>,
    /// Port A: word to read.
    pub a_addr: Signal<In, Bits<20>>,
    /// Port A: the word, two cycles later. // (lanes,)
    pub a_data: Vec<Signal<Out, Bits<8>>>,
    /// Port B: word to read, then to write.
    pub b_addr: Signal<In, Bits<20>>,
    /// Port B: write the word read the cycle before, with lane `b_lane` replaced by `b_byte`.
    pub b_we: Signal<In, Bit>,
    /// Port B: the lane.
    pub b_lane: Signal<In, Bits<8>>,
    /// Port B: its byte.
    pub b_byte: Signal<In, Bits<8>>,
    /// The host owns port B this cycle (and holds its access until `host_ready`).
    pub host_active: Signal<In, Bit>,
    /// The host's word.
    pub host_addr: Signal<In, Bits<20>>,
    /// The host writes the word.
    pub host_we: Signal<In, Bit>,
    /// The host's word to write. // (lanes,)
    pub host_wdata: Vec<Signal<In, Bits<8>>>,
    /// The host's access is done this cycle: the word is written, or `host_rdata` holds it.
    pub host_ready: Signal<Out, Bit>,
    /// The word the host read. // (lanes,)
    pub host_rdata: Vec<Signal<Out, Bits<8>>>,
    /// Debug (simulation only): word to read.
    pub dbg_addr: Signal<In, Bits<20>>,
    /// Debug: lane to read.
    pub dbg_lane: Signal<In, Bits<8>>,
    /// Debug: the byte.
    pub dbg_data: Signal<Out, Bits<8>>,
    _body: String,
}

impl MatrixMemory {
    /// The matrix memory of `target`.
    pub fn new(target: &Target) -> MatrixMemory {
        let lanes = target.lanes;
        let w = lanes * 8 - 1;
        let tiles = target.matrix_tiles;
        let words = target.matrix_tile_words;
        let tb = log2(words);
        let sel_bits = bits_for(tiles as u64 - 1);
        let mut body = String::from(BUNDLE_DIR);
        body += &pack("host_wdata_w", "host_wdata", lanes, 8);
        // Port B: the vector unit's cache stores, or the host's accesses while it owns them.
        // What port B does comes from registers (`host_on` a cycle after `host_active`; the
        // vector unit registers its own): on the 85F it fans out to 145 block RAMs, and the
        // wires alone take most of a cycle.
        // The host's count of cycles: a write reads the word (even counts) and writes it with
        // lane count / 2 replaced (odd); a read takes lane count - 1 of each tile's word at
        // counts 1 to `lanes` into the tile's byte, `host_read_cycles` after the count (one with
        // a single group of lanes, three with more), and the tile's byte enters the word a cycle
        // later. A count of `lane_bits + 1` bits holds the last of either (more than one group
        // means at least 16 lanes).
        let lane_bits = log2(lanes);
        let group_lanes = lanes.min(HOST_READ_GROUP_LANES);
        let groups = lanes / group_lanes;
        let host_read_cycles = if groups > 1 { 3 } else { 1 };
        let _ = write!(
            body,
            "reg host_on, host_writing;\n\
             always @(posedge clock) begin\n\
             \x20   host_on <= host_active;\n\
             \x20   host_writing <= host_we;\n\
             end\n\
             wire host_go = host_active && host_on;\n\
             reg [{lb}:0] host_count;\n\
             wire host_done = host_we ? host_count == {lb1}'d{write_last} : host_count == {lb1}'d{read_last};\n\
             always @(posedge clock) host_count <= (host_go && !host_done) ? host_count + {lb1}'d1 : {lb1}'d0;\n\
             always @(*) host_ready = host_go && host_done;\n\
             wire [{lbm}:0] host_wlane = host_count[{lb}:1];\n\
             reg [7:0] host_byte;\n\
             always @(posedge clock) host_byte <= host_wdata_w[host_wlane*8 +: 8];\n\
             wire [19:0] b_word = host_on ? host_addr : b_addr;\n\
             wire b_write = host_on ? host_writing && host_count[0] : b_we;\n\
             wire [7:0] b_merge_byte = host_on ? host_byte : b_byte;\n\
             wire [{l1}:0] b_lane_is = {{{{{l1}{{1'b0}}}}, 1'b1}} << (host_on ? host_wlane : b_lane[{lbm}:0]);\n{unused_lane}",
            lb = lane_bits,
            lb1 = lane_bits + 1,
            lbm = lane_bits - 1,
            l1 = lanes - 1,
            write_last = 2 * lanes - 1,
            read_last = lanes + host_read_cycles + 1,
            unused_lane = if lane_bits < 8 {
                format!("wire unused_b_lane = &{{1'b0, b_lane[7:{lane_bits}]}};\n")
            } else {
                String::new()
            },
        );
        // Tiles are selected by the address bits above a tile; bits past the last tile are
        // not the memory's business.
        let _ = write!(
            body,
            "wire [{sh}:0] a_tile = a_addr[19:{tb}];\n\
             wire [{sh}:0] b_tile = b_word[19:{tb}];\n\
             reg [{sb}:0] b_tile_q;\n\
             always @(posedge clock) b_tile_q <= b_tile[{sb}:0];\n{unused}",
            sh = 19 - tb,
            sb = sel_bits - 1,
            unused = if (sel_bits as usize) < 20 - tb as usize {
                format!(
                    "wire unused_tiles = &{{1'b0, a_tile[{sh}:{sel_bits}]}};\n",
                    sh = 19 - tb
                )
            } else {
                String::new()
            },
        );
        // A read's lane and whether the count selects one. With one group of lanes each tile
        // picks its byte by them; with more, they are registered (the count reaches every
        // tile), and each tile registers the byte of each group and then picks among them: from
        // a register, a byte select spans one group's block RAMs at most.
        let (sel_kind, sel_valid, sel) = if groups > 1 {
            (
                "reg",
                "always @(posedge clock) host_sel_valid <=",
                "always @(posedge clock) host_sel <=",
            )
        } else {
            ("wire", "assign host_sel_valid =", "assign host_sel =")
        };
        let _ = write!(
            body,
            "{sel_kind} host_sel_valid;\n\
             {sel_kind} [{lbm}:0] host_sel;\n\
             {sel_valid} host_on && !host_we && host_count != {lb1}'d0 && host_count <= {lb1}'d{lanes};\n\
             {sel} host_count[{lbm}:0] - {lane_bits}'d1;\n",
            lbm = lane_bits - 1,
            lb1 = lane_bits + 1,
        );
        let (last_valid, last_sel) = if groups > 1 {
            let _ = write!(
                body,
                "reg host_group_valid;\n\
                 reg [{lbm}:0] host_group_sel;\n\
                 always @(posedge clock) begin\n\
                 \x20   host_group_valid <= host_sel_valid;\n\
                 \x20   host_group_sel <= host_sel;\n\
                 end\n",
                lbm = lane_bits - 1,
            );
            ("host_group_valid", "host_group_sel")
        } else {
            ("host_sel_valid", "host_sel")
        };
        for t in 0..tiles {
            let _ = write!(
                body,
                "(* ram_style = \"block\", no_rw_check *)\n\
                 reg [{w}:0] tile{t} [0:{last}];\n{init}\
                 reg [{w}:0] tile{t}_a, tile{t}_b;\n\
                 always @(posedge clock)\n\
                 \x20   if (a_tile[{sb}:0] == {sel_bits}'d{t}) tile{t}_a <= tile{t}[a_addr[{hi}:0]];\n\
                 \x20   else tile{t}_a <= {{{lanes8}{{1'b0}}}};\n\
                 reg [{w}:0] tile{t}_merged;\n\
                 integer tile{t}_lane;\n\
                 always @(*)\n\
                 \x20   for (tile{t}_lane = 0; tile{t}_lane < {lanes}; tile{t}_lane = tile{t}_lane + 1)\n\
                 \x20       tile{t}_merged[tile{t}_lane*8 +: 8] =\n\
                 \x20           b_lane_is[tile{t}_lane] ? b_merge_byte : tile{t}_b[tile{t}_lane*8 +: 8];\n\
                 always @(posedge clock) begin\n\
                 \x20   if (b_write && b_tile == {sh1}'d{t}) tile{t}[b_word[{hi}:0]] <= tile{t}_merged;\n\
                 \x20   tile{t}_b <= tile{t}[b_word[{hi}:0]];\n\
                 end\n\
                 reg [7:0] tile{t}_host_byte;\n",
                last = words - 1,
                init = init(&format!("tile{t}"), &format!("matrix_tile_{t:02}.hex")),
                hi = tb - 1,
                sh1 = 20 - tb,
                sb = sel_bits - 1,
                lanes8 = lanes * 8,
            );
            if groups > 1 {
                let gb = log2(group_lanes);
                let _ = writeln!(body, "reg [{}:0] tile{t}_groups;", groups * 8 - 1);
                for g in 0..groups {
                    let _ = writeln!(
                        body,
                        "wire [{top}:0] tile{t}_group{g} = tile{t}_b[{hi}:{lo}];",
                        top = group_lanes * 8 - 1,
                        hi = (g + 1) * group_lanes * 8 - 1,
                        lo = g * group_lanes * 8
                    );
                }
                body += "always @(posedge clock) begin\n";
                for g in 0..groups {
                    let _ = writeln!(
                        body,
                        "    tile{t}_groups[{hi}:{lo}] <= tile{t}_group{g}[host_sel[{gbm}:0]*8 +: 8];",
                        hi = g * 8 + 7,
                        lo = g * 8,
                        gbm = gb - 1
                    );
                }
                let _ = writeln!(
                    body,
                    "    tile{t}_host_byte <= tile{t}_groups[host_group_sel[{lbm}:{gb}]*8 +: 8];\nend",
                    lbm = lane_bits - 1
                );
            } else {
                let _ = writeln!(
                    body,
                    "always @(posedge clock) tile{t}_host_byte <= tile{t}_b[host_sel*8 +: 8];"
                );
            }
        }
        let mux = |out: &str, tile: &str, part: &str, width: usize| -> String {
            let mut s = format!(
                "reg [{}:0] {out};\nalways @(*) begin\n    case ({tile}[{}:0])\n",
                width - 1,
                sel_bits - 1
            );
            for t in 0..tiles {
                let _ = writeln!(s, "        {sel_bits}'d{t}: {out} = tile{t}_{part};");
            }
            let _ = write!(
                s,
                "        default: {out} = {{{width}{{1'b0}}}};\n    endcase\nend\n"
            );
            s
        };
        // Port A's word: each tile's read is zero unless the address selects the tile (a
        // synchronous reset of the block RAMs' outputs, decoded from the address beside it), so
        // the word is the OR of the tiles' reads. A multiplexer after the block RAMs instead
        // broadcast a registered tile number to every bit of every lane: on the 85F that net
        // crossed the die in 19 ns (seed 5's critical path).
        let _ = writeln!(
            body,
            "wire [{w}:0] a_out_word = {};",
            (0..tiles)
                .map(|t| format!("tile{t}_a"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        body += &mux("host_tile_byte", "b_tile_q", "host_byte", 8);
        let _ = write!(
            body,
            "reg [{w}:0] a_out;\nalways @(posedge clock) a_out <= a_out_word;\n\
             reg host_rvalid;\n\
             reg [{lbm}:0] host_rlane_q;\n\
             reg [{w}:0] host_word;\n\
             always @(posedge clock) begin\n\
             \x20   host_rvalid <= {last_valid};\n\
             \x20   host_rlane_q <= {last_sel};\n\
             \x20   if (host_rvalid) host_word[host_rlane_q*8 +: 8] <= host_tile_byte;\n\
             end\n",
            lbm = lane_bits - 1,
        );
        body += &unpack("a_data", "a_out", lanes, 8);
        body += &unpack("host_rdata", "host_word", lanes, 8);
        let mut dbg = format!(
            "`ifdef VERILATOR\nreg [{w}:0] dbg_word;\nalways @(*) begin\n    case (dbg_addr[19:{tb}])\n"
        );
        for t in 0..tiles {
            let _ = writeln!(
                dbg,
                "        {}'d{t}: dbg_word = tile{t}[dbg_addr[{}:0]];",
                20 - tb,
                tb - 1
            );
        }
        let _ = write!(
            dbg,
            "        default: dbg_word = {{{}{{1'b0}}}};\n    endcase\n    dbg_data = dbg_word[dbg_lane[{}:0]*8 +: 8];\nend\n{}`else\nwire unused_dbg = &{{1'b0, dbg_addr, dbg_lane}};\nalways @(*) dbg_data = 8'd0;\n`endif\n",
            lanes * 8,
            log2(lanes) - 1,
            if log2(lanes) < 8 {
                format!("wire unused_dbg = &{{1'b0, dbg_lane[7:{}]}};\n", log2(lanes))
            } else {
                String::new()
            }
        );
        body += &dbg;
        MatrixMemory {
            a_data: (0..lanes).map(|_| Default::default()).collect(),
            host_wdata: (0..lanes).map(|_| Default::default()).collect(),
            host_rdata: (0..lanes).map(|_| Default::default()).collect(),
            _body: body,
            ..Default::default()
        }
    }
}

impl Logic for MatrixMemory {
    // A memory: its behaviour is the bundle format's; checked in Verilator.
    fn update(&mut self) {}

    fn connect(&mut self) {
        for d in &mut self.a_data {
            d.connect();
        }
        for d in &mut self.host_rdata {
            d.connect();
        }
        self.host_ready.connect();
        self.dbg_data.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(self._body.clone())
    }
}
