//! The core: the units and memories wired together, described in rust_hdl's own language. Its
//! ports are the host port (a byte stream each way, see [`crate::host`]), a busy flag, and the
//! simulation-only debug and trace ports the co-simulation reads.
//!
//! Who drives each memory port is the ISA's rule (`monorail_contract::isa::Role`): the matrix
//! memory's port A is the matrix unit's and port B the vector unit's cache stores; the vector
//! memory's read ports and write port are the vector unit's; the accumulator memory is written
//! by the matrix unit and read by the vector unit; the wide memory is the vector unit's; the
//! input memory is written by the vector unit and read by the matrix unit.

use monorail_contract::target::{Target, VectorMemory};
use rust_hdl::prelude::*;

use crate::host::HostPort;
use crate::matrix::MatrixUnit;
use crate::memory::{LaneMemory, MatrixMemory};
use crate::scalar::ScalarUnit;
use crate::sequencer::Sequencer;
use crate::vector::VectorUnit;

/// The Monorail core for one target.
#[derive(LogicBlock)]
pub struct Core {
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
    /// Debug: its value, sign-extended.
    pub dbg_vdata: Signal<Out, Bits<32>>,
    /// Debug: matrix word to read.
    pub dbg_maddr: Signal<In, Bits<20>>,
    /// Debug: its lane.
    pub dbg_mlane: Signal<In, Bits<8>>,
    /// Debug: the byte.
    pub dbg_mdata: Signal<Out, Bits<8>>,
    /// Trace: an instruction issued the cycle before.
    pub trace_issue: Signal<Out, Bit>,
    /// Trace: its index.
    pub trace_index: Signal<Out, Bits<16>>,
    /// Trace: its issue cycle (the cycle before the trace).
    pub trace_start: Signal<Out, Bits<32>>,
    /// Trace: its completion cycle.
    pub trace_complete: Signal<Out, Bits<32>>,
    /// The step's cycle counter.
    pub now: Signal<Out, Bits<32>>,
    host: HostPort,
    seq: Sequencer,
    sxu: ScalarUnit,
    mxu: MatrixUnit,
    vxu: VectorUnit,
    mm: MatrixMemory,
    vm: LaneMemory<18>,
    acc: LaneMemory<32>,
    wide: LaneMemory<32>,
    input_mem: LaneMemory<8>,
    c_one32: Constant<Bits<32>>,
}

impl Core {
    /// The core for `target`.
    pub fn new(target: &Target) -> Core {
        Core {
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
            seq: Sequencer::new(target),
            sxu: ScalarUnit::new(target),
            mxu: MatrixUnit::new(target),
            vxu: VectorUnit::new(target),
            mm: MatrixMemory::new(target),
            vm: LaneMemory::new(target, VectorMemory::Vector),
            acc: LaneMemory::new(target, VectorMemory::Accumulator),
            wide: LaneMemory::new(target, VectorMemory::Wide),
            input_mem: LaneMemory::new(target, VectorMemory::Input),
            c_one32: Constant::new(1.into()),
        }
    }
}

impl Logic for Core {
    #[hdl_gen]
    fn update(&mut self) {
        // Clocks.
        self.seq.clock.next = self.clock.val();
        self.sxu.clock.next = self.clock.val();
        self.mxu.clock.next = self.clock.val();
        self.vxu.clock.next = self.clock.val();
        self.mm.clock.next = self.clock.val();
        self.vm.clock.next = self.clock.val();
        self.acc.clock.next = self.clock.val();
        self.wide.clock.next = self.clock.val();
        self.input_mem.clock.next = self.clock.val();

        // The host port: step control, and the memories while it accesses them.
        self.host.clock.next = self.clock.val();
        self.host.reset.next = self.reset.val();
        self.host.in_valid.next = self.host_in_valid.val();
        self.host.in_data.next = self.host_in_data.val();
        self.host_in_ready.next = self.host.in_ready.val();
        self.host_out_valid.next = self.host.out_valid.val();
        self.host_out_data.next = self.host.out_data.val();
        self.host.out_ready.next = self.host_out_ready.val();
        self.seq.reset.next = self.reset.val();
        self.seq.start.next = self.host.start.val();
        self.seq.start_token.next = self.host.start_token.val();
        self.seq.start_pos.next = self.host.start_pos.val();
        self.host.done.next = self.seq.done.val();
        self.host.result_token.next = self.seq.out_token.val();
        self.host.step_aborted.next = self.seq.aborted.val();
        self.host.result_cycles.next = self.seq.out_cycles.val();
        self.busy.next = self.seq.busy.val();
        self.seq.prog_we.next =
            self.host.mem_active.val() & self.host.mem_we.val() & self.host.mem_program.val();
        self.seq.prog_addr.next = self.host.mem_addr.val().get_bits::<16>(0);
        self.seq.prog_wdata.next = self.host.mem_word.val();
        self.host.read_instruction.next = self.seq.prog_rdata.val();
        // The vector space and the program answer in a cycle; the matrix memory when it says.
        self.host.mem_ready.next = !self.host.mem_matrix.val() | self.mm.host_ready.val();
        self.mm.host_active.next = self.host.mem_active.val() & self.host.mem_matrix.val();
        self.mm.host_addr.next = self.host.mem_addr.val();
        self.mm.host_we.next = self.host.mem_we.val();
        for i in 0..self.mm.host_wdata.len() {
            self.mm.host_wdata[i].next = self.host.mem_bytes[i].val();
            self.host.read_bytes[i].next = self.mm.host_rdata[i].val();
        }
        self.vm.host_active.next = self.host.mem_active.val() & self.host.mem_vector.val();
        self.acc.host_active.next = self.host.mem_active.val() & self.host.mem_vector.val();
        self.wide.host_active.next = self.host.mem_active.val() & self.host.mem_vector.val();
        self.input_mem.host_active.next = self.host.mem_active.val() & self.host.mem_vector.val();
        self.vm.host_addr.next = self.host.mem_addr.val().get_bits::<16>(0);
        self.acc.host_addr.next = self.host.mem_addr.val().get_bits::<16>(0);
        self.wide.host_addr.next = self.host.mem_addr.val().get_bits::<16>(0);
        self.input_mem.host_addr.next = self.host.mem_addr.val().get_bits::<16>(0);
        self.vm.host_we.next = self.host.mem_we.val();
        self.acc.host_we.next = self.host.mem_we.val();
        self.wide.host_we.next = self.host.mem_we.val();
        self.input_mem.host_we.next = self.host.mem_we.val();
        self.vm.host_wdata.next = self.host.mem_element.val();
        self.acc.host_wdata.next = self.host.mem_element.val();
        self.wide.host_wdata.next = self.host.mem_element.val();
        self.input_mem.host_wdata.next = self.host.mem_element.val();
        self.host.read_element.next = self.vm.host_rdata.val()
            | self.acc.host_rdata.val()
            | self.wide.host_rdata.val()
            | self.input_mem.host_rdata.val();

        // Sequencer: debug and trace.
        self.seq.dbg_reg.next = self.dbg_reg.val();
        self.dbg_reg_data.next = self.seq.dbg_reg_data.val();
        self.trace_issue.next = self.seq.trace_issue.val();
        self.trace_index.next = self.seq.trace_index.val();
        self.trace_complete.next = self.seq.trace_complete.val();
        self.trace_start.next = self.seq.now.val() - self.c_one32.val();
        self.now.next = self.seq.now.val();

        // The issue bus.
        self.sxu.issue_sxu.next = self.seq.issue_sxu.val();
        self.sxu.issue_instr.next = self.seq.issue_instr.val();
        self.sxu.issue_ra.next = self.seq.issue_ra.val();
        self.sxu.issue_rb.next = self.seq.issue_rb.val();
        self.mxu.issue_mxu.next = self.seq.issue_mxu.val();
        self.mxu.flush.next = self.seq.flush.val();
        self.vxu.flush.next = self.seq.flush.val();
        self.mxu.issue_instr.next = self.seq.issue_instr.val();
        self.mxu.issue_len.next = self.seq.issue_len.val();
        self.mxu.issue_ra.next = self.seq.issue_ra.val();
        self.vxu.issue_vxu.next = self.seq.issue_vxu.val();
        self.vxu.issue_instr.next = self.seq.issue_instr.val();
        self.vxu.issue_len.next = self.seq.issue_len.val();
        self.vxu.issue_ra.next = self.seq.issue_ra.val();
        self.vxu.issue_rb.next = self.seq.issue_rb.val();
        self.vxu.pos.next = self.seq.pos.val();

        // Register writes.
        self.seq.sxu_we0.next = self.sxu.sxu_we0.val();
        self.seq.sxu_wa0.next = self.sxu.sxu_wa0.val();
        self.seq.sxu_wd0.next = self.sxu.sxu_wd0.val();
        self.seq.sxu_we1.next = self.sxu.sxu_we1.val();
        self.seq.sxu_wa1.next = self.sxu.sxu_wa1.val();
        self.seq.sxu_wd1.next = self.sxu.sxu_wd1.val();
        self.seq.vxu_we0.next = self.vxu.vxu_we0.val();
        self.seq.vxu_wa0.next = self.vxu.vxu_wa0.val();
        self.seq.vxu_wd0.next = self.vxu.vxu_wd0.val();
        self.seq.vxu_we1.next = self.vxu.vxu_we1.val();
        self.seq.vxu_wa1.next = self.vxu.vxu_wa1.val();
        self.seq.vxu_wd1.next = self.vxu.vxu_wd1.val();

        // Matrix memory: port A to the matrix unit, port B to the vector unit's cache stores.
        self.mm.a_addr.next = self.mxu.mm_a_addr.val();
        for i in 0..self.mm.a_data.len() {
            self.mxu.mm_a_data[i].next = self.mm.a_data[i].val();
        }
        self.mm.b_addr.next = self.vxu.mm_b_addr.val();
        self.mm.b_we.next = self.vxu.mm_b_we.val();
        self.mm.b_lane.next = self.vxu.mm_b_lane.val();
        self.mm.b_byte.next = self.vxu.mm_b_byte.val();
        self.mm.dbg_addr.next = self.dbg_maddr.val();
        self.mm.dbg_lane.next = self.dbg_mlane.val();
        self.dbg_mdata.next = self.mm.dbg_data.val();

        // Vector memory: the vector unit's.
        self.vm.raddr_a.next = self.vxu.vm_raddr_a.val();
        self.vm.raddr_b[0].next = self.vxu.vm_raddr_b.val();
        self.vm.waddr.next = self.vxu.vm_waddr.val();
        for i in 0..self.vm.we.len() {
            self.vm.we[i].next = self.vxu.vm_we[i].val();
            self.vm.wdata[i].next = self.vxu.vm_wdata[i].val();
            self.vxu.vm_rdata_a[i].next = self.vm.rdata_a[i].val();
            self.vxu.vm_rdata_b[i].next = self.vm.rdata_b[i].val();
        }

        // Accumulator memory: written by the matrix unit, read by the vector unit.
        self.acc.raddr_a.next = self.vxu.acc_raddr_a.val();
        self.acc.raddr_b[0].next = self.vxu.acc_raddr_b.val();
        self.acc.waddr.next = self.mxu.acc_waddr.val();
        for i in 0..self.acc.we.len() {
            self.acc.we[i].next = self.mxu.acc_we[i].val();
            self.acc.wdata[i].next = self.mxu.acc_wdata[i].val();
            self.vxu.acc_rdata_a[i].next = self.acc.rdata_a[i].val();
            self.vxu.acc_rdata_b[i].next = self.acc.rdata_b[i].val();
        }

        // Wide memory: the vector unit's.
        self.wide.raddr_a.next = self.vxu.wide_raddr.val();
        self.wide.waddr.next = self.vxu.wide_waddr.val();
        for i in 0..self.wide.we.len() {
            self.wide.we[i].next = self.vxu.wide_we[i].val();
            self.wide.wdata[i].next = self.vxu.wide_wdata[i].val();
            self.vxu.wide_rdata[i].next = self.wide.rdata_a[i].val();
        }

        // Input memory: written by the vector unit, read by the matrix unit.
        self.input_mem.raddr_a.next = self.mxu.input_raddr.val();
        self.input_mem.waddr.next = self.vxu.input_waddr.val();
        for i in 0..self.input_mem.we.len() {
            self.input_mem.we[i].next = self.vxu.input_we[i].val();
            self.input_mem.wdata[i].next = self.vxu.input_wdata[i].val();
            self.mxu.input_rdata[i].next = self.input_mem.rdata_a[i].val();
        }

        // Debug reads of the vector space: each memory answers for its own addresses.
        self.vm.dbg_addr.next = self.dbg_vaddr.val();
        self.acc.dbg_addr.next = self.dbg_vaddr.val();
        self.wide.dbg_addr.next = self.dbg_vaddr.val();
        self.input_mem.dbg_addr.next = self.dbg_vaddr.val();
        self.dbg_vdata.next = self.vm.dbg_data.val()
            | self.acc.dbg_data.val()
            | self.wide.dbg_data.val()
            | self.input_mem.dbg_data.val();
    }
}
