//! The core: the units and memories wired together, described in rust_hdl's own language. Its
//! ports are the host port and the simulation-only debug and trace ports the co-simulation reads.

use monorail_contract::target::Target;
use rust_hdl::prelude::*;

use crate::scalar::ScalarUnit;
use crate::sequencer::Sequencer;

/// The Monorail core for one target.
#[derive(LogicBlock)]
pub struct Core {
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
    /// A step is running.
    pub busy: Signal<Out, Bit>,
    /// One cycle when a step ends.
    pub done: Signal<Out, Bit>,
    /// The token the last step output.
    pub out_token: Signal<Out, Bits<32>>,
    /// The cycles the last step took.
    pub out_cycles: Signal<Out, Bits<32>>,
    /// Program write (while idle).
    pub prog_we: Signal<In, Bit>,
    /// Program address.
    pub prog_addr: Signal<In, Bits<16>>,
    /// Program word to write.
    pub prog_wdata: Signal<In, Bits<128>>,
    /// Program word read.
    pub prog_rdata: Signal<Out, Bits<128>>,
    /// Debug: register to read.
    pub dbg_reg: Signal<In, Bits<6>>,
    /// Debug: its value.
    pub dbg_reg_data: Signal<Out, Bits<64>>,
    /// Trace: an instruction issued the cycle before.
    pub trace_issue: Signal<Out, Bit>,
    /// Trace: its index.
    pub trace_index: Signal<Out, Bits<16>>,
    /// Trace: its completion cycle.
    pub trace_complete: Signal<Out, Bits<32>>,
    /// The step's cycle counter.
    pub now: Signal<Out, Bits<32>>,
    seq: Sequencer,
    sxu: ScalarUnit,
}

impl Core {
    /// The core for `target`.
    pub fn new(target: &Target) -> Core {
        Core {
            clock: Default::default(),
            reset: Default::default(),
            start: Default::default(),
            start_token: Default::default(),
            start_pos: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            out_token: Default::default(),
            out_cycles: Default::default(),
            prog_we: Default::default(),
            prog_addr: Default::default(),
            prog_wdata: Default::default(),
            prog_rdata: Default::default(),
            dbg_reg: Default::default(),
            dbg_reg_data: Default::default(),
            trace_issue: Default::default(),
            trace_index: Default::default(),
            trace_complete: Default::default(),
            now: Default::default(),
            seq: Sequencer::new(target),
            sxu: ScalarUnit::new(),
        }
    }
}

impl Logic for Core {
    #[hdl_gen]
    fn update(&mut self) {
        // Sequencer: step control, program access, debug and trace.
        self.seq.clock.next = self.clock.val();
        self.seq.reset.next = self.reset.val();
        self.seq.start.next = self.start.val();
        self.seq.start_token.next = self.start_token.val();
        self.seq.start_pos.next = self.start_pos.val();
        self.busy.next = self.seq.busy.val();
        self.done.next = self.seq.done.val();
        self.out_token.next = self.seq.out_token.val();
        self.out_cycles.next = self.seq.out_cycles.val();
        self.seq.prog_we.next = self.prog_we.val();
        self.seq.prog_addr.next = self.prog_addr.val();
        self.seq.prog_wdata.next = self.prog_wdata.val();
        self.prog_rdata.next = self.seq.prog_rdata.val();
        self.seq.dbg_reg.next = self.dbg_reg.val();
        self.dbg_reg_data.next = self.seq.dbg_reg_data.val();
        self.trace_issue.next = self.seq.trace_issue.val();
        self.trace_index.next = self.seq.trace_index.val();
        self.trace_complete.next = self.seq.trace_complete.val();
        self.now.next = self.seq.now.val();

        // Scalar unit.
        self.sxu.clock.next = self.clock.val();
        self.sxu.issue_sxu.next = self.seq.issue_sxu.val();
        self.sxu.issue_instr.next = self.seq.issue_instr.val();
        self.sxu.issue_ra.next = self.seq.issue_ra.val();
        self.sxu.issue_rb.next = self.seq.issue_rb.val();
        self.seq.sxu_we0.next = self.sxu.sxu_we0.val();
        self.seq.sxu_wa0.next = self.sxu.sxu_wa0.val();
        self.seq.sxu_wd0.next = self.sxu.sxu_wd0.val();
        self.seq.sxu_we1.next = self.sxu.sxu_we1.val();
        self.seq.sxu_wa1.next = self.sxu.sxu_wa1.val();
        self.seq.sxu_wd1.next = self.sxu.sxu_wd1.val();

        // Units still to come leave their register writes idle.
        self.seq.vxu_we0.next = false;
        self.seq.vxu_wa0.next = 0.into();
        self.seq.vxu_wd0.next = 0.into();
        self.seq.vxu_we1.next = false;
        self.seq.vxu_wa1.next = 0.into();
        self.seq.vxu_wd1.next = 0.into();
    }
}
