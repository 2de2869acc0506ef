//! The small core's `top`: the same host port as the wide core's ([`HostPort`], rust_hdl) in
//! front of the small core's RTL ([`crate::small::core`]), with the same ports as the wide
//! core's [`crate::core::Core`] (the host bytes, `busy`, the debug reads and the trace), so that
//! the board top, the co-simulation and `--engine rtl` drive either core alike.
//!
//! The one difference the host port sees: the small core keeps its program in the vector
//! memory, after the vector space, an instruction as four 32-bit elements
//! ([`monorail_contract::micro::INSTRUCTION_ELEMENTS`]), so a program word takes four cycles
//! to write and five to read. The adapter here says so on `mem_ready`, and the port holds the
//! access until it has.

use monorail_contract::micro::INSTRUCTION_ELEMENTS;
use monorail_contract::target::{Core, Target};
use rust_hdl::prelude::*;

use crate::host::HostPort;
use crate::small::address_bits;
use crate::verilog::render;

/// The module name of the small core's RTL inside the top.
const CORE_MODULE: &str = "monorail_small_core";

/// The small core's RTL behind the adapter to the host port's memory interface: a block of
/// rust_hdl's that wraps the core's module (`rtl/small_adapter.v`).
#[derive(LogicBlock, Default)]
pub struct AdaptedCore {
    /// Core clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Start a token step.
    pub start: Signal<In, Bit>,
    /// Its token.
    pub start_token: Signal<In, Bits<16>>,
    /// Its position.
    pub start_pos: Signal<In, Bits<16>>,
    /// A token step is running.
    pub busy: Signal<Out, Bit>,
    /// The step has finished (one cycle).
    pub done: Signal<Out, Bit>,
    /// It stopped on a damaged program (with `done`).
    pub aborted: Signal<Out, Bit>,
    /// Its next token.
    pub out_token: Signal<Out, Bits<16>>,
    /// Its cycles.
    pub out_cycles: Signal<Out, Bits<32>>,
    /// The host port accesses a memory.
    pub mem_active: Signal<In, Bit>,
    /// The matrix memory.
    pub mem_matrix: Signal<In, Bit>,
    /// The vector space.
    pub mem_vector: Signal<In, Bit>,
    /// The program.
    pub mem_program: Signal<In, Bit>,
    /// Its word or element.
    pub mem_addr: Signal<In, Bits<20>>,
    /// Write it.
    pub mem_we: Signal<In, Bit>,
    /// The matrix word to write. // (lanes,)
    pub mem_bytes: Vec<Signal<In, Bits<8>>>,
    /// The program word to write.
    pub mem_word: Signal<In, Bits<128>>,
    /// The vector element to write.
    pub mem_element: Signal<In, Bits<32>>,
    /// The matrix word read. // (lanes,)
    pub read_bytes: Vec<Signal<Out, Bits<8>>>,
    /// The vector element read.
    pub read_element: Signal<Out, Bits<32>>,
    /// The program word read.
    pub read_instruction: Signal<Out, Bits<128>>,
    /// The access is done (a program word's takes four or five cycles).
    pub mem_ready: Signal<Out, Bit>,
    /// Debug: register to read.
    pub dbg_reg: Signal<In, Bits<6>>,
    /// Debug: its value, sign-extended.
    pub dbg_reg_data: Signal<Out, Bits<64>>,
    /// Debug: element of the vector space to read.
    pub dbg_vaddr: Signal<In, Bits<16>>,
    /// Debug: its value.
    pub dbg_vdata: Signal<Out, Bits<32>>,
    /// Debug: matrix word to read.
    pub dbg_maddr: Signal<In, Bits<20>>,
    /// Debug: its lane.
    pub dbg_mlane: Signal<In, Bits<8>>,
    /// Debug: the byte.
    pub dbg_mdata: Signal<Out, Bits<8>>,
    /// Trace: an instruction completes this cycle (`trace_complete` is `now`).
    pub trace_issue: Signal<Out, Bit>,
    /// Trace: its index.
    pub trace_index: Signal<Out, Bits<16>>,
    /// Trace: its issue cycle.
    pub trace_start: Signal<Out, Bits<32>>,
    /// Trace: its completion cycle.
    pub trace_complete: Signal<Out, Bits<32>>,
    /// The step's cycle counter.
    pub now: Signal<Out, Bits<32>>,
    _code: String,
    _cores: String,
}

/// `name[top:0]` of a `from`-bit port as `to` bits: zero-extended, or its low bits (the rest
/// listed in `unused`).
fn fit(name: &str, from: u32, to: u32, unused: &mut Vec<String>) -> String {
    if to >= from {
        if to == from {
            name.to_string()
        } else {
            format!("{{{}'d0, {name}}}", to - from)
        }
    } else {
        unused.push(format!("{name}[{}:{to}]", from - 1));
        format!("{name}[{}:0]", to - 1)
    }
}

impl AdaptedCore {
    /// The small core of `target` (`core = "small"`).
    pub fn new(target: &Target) -> AdaptedCore {
        let lanes = target.lanes;
        let vaddr_bits = address_bits(target.small_core_vector_elements());
        let maddr_bits = address_bits(target.matrix_words());
        let mem_addr_bits = vaddr_bits.max(maddr_bits);
        let ipc_bits = address_bits(target.program_words);
        let element_bits = INSTRUCTION_ELEMENTS.trailing_zeros();
        assert_eq!(INSTRUCTION_ELEMENTS, 1 << element_bits);
        // The program's elements lie in the vector memory's addresses.
        assert!(ipc_bits + element_bits <= mem_addr_bits);
        let mut unused = vec!["reg_rdata".to_string()];
        let bytes: Vec<String> = (0..lanes).rev().map(|i| format!("mem_bytes${i}")).collect();
        let read_bytes: String = (0..lanes)
            .map(|i| format!("assign read_bytes${i} = matrix_rdata[{} +: 8];\n", 8 * i))
            .collect();
        let code = render(
            include_str!("rtl/small_adapter.v"),
            &[
                ("CORE", CORE_MODULE.to_string()),
                ("ELEMENTS", INSTRUCTION_ELEMENTS.to_string()),
                ("ELEMENT_BITS", element_bits.to_string()),
                ("ELEMENT_TOP", (element_bits - 1).to_string()),
                ("ELEMENT_WIDTH", (element_bits + 1).to_string()),
                ("LAST_ELEMENT", (INSTRUCTION_ELEMENTS - 1).to_string()),
                ("MEM_ADDR_BITS", mem_addr_bits.to_string()),
                ("MEM_ADDR_TOP", (mem_addr_bits - 1).to_string()),
                ("PROGRAM_BASE", target.vector_space().to_string()),
                ("MEM_ADDR", fit("mem_addr", 20, mem_addr_bits, &mut unused)),
                (
                    "PROGRAM_ADDR",
                    fit(
                        &format!(
                            "{{mem_addr[{}:0], element[{}:0]}}",
                            ipc_bits - 1,
                            element_bits - 1
                        ),
                        ipc_bits + element_bits,
                        mem_addr_bits,
                        &mut unused,
                    ),
                ),
                ("MATRIX_TOP", (8 * lanes - 1).to_string()),
                ("MATRIX_BYTES", bytes.join(", ")),
                ("READ_BYTES", read_bytes.trim_end().to_string()),
                ("DBG_VADDR", fit("dbg_vaddr", 16, vaddr_bits, &mut unused)),
                ("DBG_MADDR", fit("dbg_maddr", 20, maddr_bits, &mut unused)),
                (
                    "DBG_MLANE",
                    fit("dbg_mlane", 8, lanes.trailing_zeros(), &mut unused),
                ),
                ("UNUSED", unused.join(", ")),
            ],
        );
        AdaptedCore {
            mem_bytes: (0..lanes).map(|_| Default::default()).collect(),
            read_bytes: (0..lanes).map(|_| Default::default()).collect(),
            _code: code,
            _cores: crate::small::core(target, CORE_MODULE),
            ..Default::default()
        }
    }
}

impl Logic for AdaptedCore {
    // Verified in Verilator against the micro-machine (`sim/tests/small_rtl.rs`).
    fn update(&mut self) {}

    fn connect(&mut self) {
        for s in [
            &mut self.busy,
            &mut self.done,
            &mut self.aborted,
            &mut self.mem_ready,
            &mut self.trace_issue,
        ] {
            s.connect();
        }
        self.out_token.connect();
        self.out_cycles.connect();
        self.read_element.connect();
        self.read_instruction.connect();
        self.dbg_reg_data.connect();
        self.dbg_vdata.connect();
        self.dbg_mdata.connect();
        self.trace_index.connect();
        self.trace_start.connect();
        self.trace_complete.connect();
        self.now.connect();
        for s in &mut self.read_bytes {
            s.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        Verilog::Wrapper(Wrapper {
            code: self._code.clone(),
            cores: self._cores.clone(),
        })
    }
}

/// The small core's top: its ports are the wide [`crate::core::Core`]'s.
#[derive(LogicBlock)]
pub struct SmallTop {
    /// Core clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// A byte from the host.
    pub host_in_valid: Signal<In, Bit>,
    /// The byte.
    pub host_in_data: Signal<In, Bits<8>>,
    /// The core takes it this cycle.
    pub host_in_ready: Signal<Out, Bit>,
    /// A byte for the host.
    pub host_out_valid: Signal<Out, Bit>,
    /// The byte.
    pub host_out_data: Signal<Out, Bits<8>>,
    /// The host takes it this cycle.
    pub host_out_ready: Signal<In, Bit>,
    /// A token step is running.
    pub busy: Signal<Out, Bit>,
    /// Debug: register to read.
    pub dbg_reg: Signal<In, Bits<6>>,
    /// Debug: its value.
    pub dbg_reg_data: Signal<Out, Bits<64>>,
    /// Debug: element of the vector space to read.
    pub dbg_vaddr: Signal<In, Bits<16>>,
    /// Debug: its value.
    pub dbg_vdata: Signal<Out, Bits<32>>,
    /// Debug: matrix word to read.
    pub dbg_maddr: Signal<In, Bits<20>>,
    /// Debug: its lane.
    pub dbg_mlane: Signal<In, Bits<8>>,
    /// Debug: the byte.
    pub dbg_mdata: Signal<Out, Bits<8>>,
    /// Trace: an instruction completes this cycle (`trace_complete` is `now`).
    pub trace_issue: Signal<Out, Bit>,
    /// Trace: its index.
    pub trace_index: Signal<Out, Bits<16>>,
    /// Trace: its issue cycle.
    pub trace_start: Signal<Out, Bits<32>>,
    /// Trace: its completion cycle.
    pub trace_complete: Signal<Out, Bits<32>>,
    /// The step's cycle counter.
    pub now: Signal<Out, Bits<32>>,
    host: HostPort,
    core: AdaptedCore,
}

impl SmallTop {
    /// The top of `target`'s small core.
    pub fn new(target: &Target) -> SmallTop {
        assert_eq!(
            target.core,
            Core::Small,
            "{} is not a small-core target",
            target.name
        );
        SmallTop {
            clock: Default::default(),
            reset: Default::default(),
            host_in_valid: Default::default(),
            host_in_data: Default::default(),
            host_in_ready: Default::default(),
            host_out_valid: Default::default(),
            host_out_data: Default::default(),
            host_out_ready: Default::default(),
            busy: Default::default(),
            dbg_reg: Default::default(),
            dbg_reg_data: Default::default(),
            dbg_vaddr: Default::default(),
            dbg_vdata: Default::default(),
            dbg_maddr: Default::default(),
            dbg_mlane: Default::default(),
            dbg_mdata: Default::default(),
            trace_issue: Default::default(),
            trace_index: Default::default(),
            trace_start: Default::default(),
            trace_complete: Default::default(),
            now: Default::default(),
            host: HostPort::new(target),
            core: AdaptedCore::new(target),
        }
    }
}

impl Logic for SmallTop {
    #[hdl_gen]
    fn update(&mut self) {
        self.host.clock.next = self.clock.val();
        self.host.reset.next = self.reset.val();
        self.core.clock.next = self.clock.val();
        self.core.reset.next = self.reset.val();
        self.host.in_valid.next = self.host_in_valid.val();
        self.host.in_data.next = self.host_in_data.val();
        self.host_in_ready.next = self.host.in_ready.val();
        self.host_out_valid.next = self.host.out_valid.val();
        self.host_out_data.next = self.host.out_data.val();
        self.host.out_ready.next = self.host_out_ready.val();

        // Token steps.
        self.core.start.next = self.host.start.val();
        self.core.start_token.next = self.host.start_token.val();
        self.core.start_pos.next = self.host.start_pos.val();
        self.host.done.next = self.core.done.val();
        self.host.step_aborted.next = self.core.aborted.val();
        self.host.result_token.next = self.core.out_token.val();
        self.host.result_cycles.next = self.core.out_cycles.val();
        self.busy.next = self.core.busy.val();

        // The memories, while the host port accesses them.
        self.core.mem_active.next = self.host.mem_active.val();
        self.core.mem_matrix.next = self.host.mem_matrix.val();
        self.core.mem_vector.next = self.host.mem_vector.val();
        self.core.mem_program.next = self.host.mem_program.val();
        self.core.mem_addr.next = self.host.mem_addr.val();
        self.core.mem_we.next = self.host.mem_we.val();
        for i in 0..self.core.mem_bytes.len() {
            self.core.mem_bytes[i].next = self.host.mem_bytes[i].val();
            self.host.read_bytes[i].next = self.core.read_bytes[i].val();
        }
        self.core.mem_word.next = self.host.mem_word.val();
        self.core.mem_element.next = self.host.mem_element.val();
        self.host.read_element.next = self.core.read_element.val();
        self.host.read_instruction.next = self.core.read_instruction.val();
        self.host.mem_ready.next = self.core.mem_ready.val();

        // Debug and trace.
        self.core.dbg_reg.next = self.dbg_reg.val();
        self.dbg_reg_data.next = self.core.dbg_reg_data.val();
        self.core.dbg_vaddr.next = self.dbg_vaddr.val();
        self.dbg_vdata.next = self.core.dbg_vdata.val();
        self.core.dbg_maddr.next = self.dbg_maddr.val();
        self.core.dbg_mlane.next = self.dbg_mlane.val();
        self.dbg_mdata.next = self.core.dbg_mdata.val();
        self.trace_issue.next = self.core.trace_issue.val();
        self.trace_index.next = self.core.trace_index.val();
        self.trace_start.next = self.core.trace_start.val();
        self.trace_complete.next = self.core.trace_complete.val();
        self.now.next = self.core.now.val();
    }
}
