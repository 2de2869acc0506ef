//! The Verilated RTL as a [`Machine`]: the generated core for the bundle's target, built (or
//! reused) by [`crate::verilated`], its memories loaded from the bundle's `$readmemh` images (the
//! small core's, and yosys's netlist of a core, which read no images, through its host port),
//! run token step by token step through its host port, with the values of the named model steps
//! read through the debug ports on the cycle each completes.

use std::path::{Path, PathBuf};

use monorail_contract::bundle::Bundle;
use monorail_contract::host;
use monorail_contract::steps::{ModelStep, StepValues};
use monorail_contract::target::{Core, Target};
use monorail_contract::timing::{Clock, Issued};

use crate::verilated::{self, Model, RtlError};
use crate::{check_request, Machine, MachineError, Recording, StepResult};

impl From<RtlError> for MachineError {
    fn from(e: RtlError) -> MachineError {
        MachineError::Input(e.to_string())
    }
}

/// Cycles a step may run past its prediction before the machine gives up on it.
const OVERRUN_CYCLES: u64 = 10_000;
/// Cycles from the host port's STEP command to the step's start, at most (the command's last
/// byte, the start pulse, and on the wide core the first instruction's fetch and decode), beyond
/// the cycles the step is predicted to take.
pub const START_CYCLES: u64 = 10;
/// Cycles the host port may take to accept or offer a byte before the machine gives up.
const BYTE_CYCLES: u64 = 1_000;

/// The RTL of a bundle's target, running the bundle.
pub struct Rtl {
    target: Target,
    bundle: Bundle,
    model: Model,
    recording: Recording,
    /// The cycle (of the step) at which each value of the last step was read.
    read_cycles: Vec<u64>,
    /// Dump the waveform of cycles `from ..= to` of the next recorded step into this file.
    window: Option<(PathBuf, u64, u64)>,
    /// Where the Verilated model was built.
    pub build_dir: PathBuf,
    /// Whether it was built for this machine (false: reused from the cache).
    pub built: bool,
    /// Whether its debug ports read its memories and registers (not in yosys's netlist, where
    /// they tie to zero).
    debug_reads: bool,
}

impl Rtl {
    /// Build (or reuse) the core for `target` under `cache_root`, write the bundle's images into
    /// `images` and load them.
    pub fn new(
        target: &Target,
        bundle: Bundle,
        cache_root: &Path,
        images: &Path,
    ) -> Result<Rtl, MachineError> {
        let design = monorail_hw::generate(target);
        let build = verilated::build(
            &design.verilog,
            &target.name,
            verilated::Waveforms::Off,
            cache_root,
        )?;
        bundle.write(images, target)?;
        Rtl::load(target, bundle, &build, images)
    }

    /// Load a bundle whose images are in `images` into a built model (the small core's through
    /// its host port: it has no images).
    pub fn load(
        target: &Target,
        bundle: Bundle,
        build: &verilated::Build,
        images: &Path,
    ) -> Result<Rtl, MachineError> {
        Rtl::load_with(target, bundle, build, images, &[])
    }

    /// [`Rtl::load`] with more plusargs for the model (the fault injections of the co-simulation
    /// tests: `+monorail_fault_lane=N` makes matrix lane N's products wrong,
    /// `+monorail_fault_latency=1` makes the sequencer count one cycle too few for the vector
    /// unit's latency; `+monorail_step_limit=N` stops a token step after N cycles instead of
    /// `timing::STEP_LIMIT_CYCLES`).
    pub fn load_with(
        target: &Target,
        bundle: Bundle,
        build: &verilated::Build,
        images: &Path,
        plusargs: &[String],
    ) -> Result<Rtl, MachineError> {
        let mut args = vec![monorail_hw::bundle_plusarg(images)];
        args.extend_from_slice(plusargs);
        Rtl::start(
            target,
            bundle,
            build,
            &args,
            target.core == Core::Small,
            true,
        )
    }

    /// Load a bundle into a built model of yosys's netlist of the core
    /// ([`monorail_fpga::yosys_netlist`]) through its host port, as `monorail chat --load`
    /// loads a board: its memories read no images, and its debug ports tie to zero, so it
    /// records no model step's values (an error), only, with [`Machine::record_only`] of no
    /// steps, every instruction's issue and completion against the timing rules.
    pub fn load_through_host(
        target: &Target,
        bundle: Bundle,
        build: &verilated::Build,
    ) -> Result<Rtl, MachineError> {
        Rtl::start(target, bundle, build, &[], true, false)
    }

    /// Load the model with `plusargs`, reset it, and write the bundle through the host port
    /// where `through_host`; `debug_reads` where its debug ports read what they name.
    fn start(
        target: &Target,
        bundle: Bundle,
        build: &verilated::Build,
        plusargs: &[String],
        through_host: bool,
        debug_reads: bool,
    ) -> Result<Rtl, MachineError> {
        let recording = Recording::of(&bundle)?;
        let mut model = Model::load(build, plusargs)?;
        model.set("reset", 1)?;
        model.tick(2);
        model.set("reset", 0)?;
        let mut rtl = Rtl {
            target: target.clone(),
            bundle,
            model,
            recording,
            read_cycles: Vec::new(),
            window: None,
            build_dir: build.dir.clone(),
            built: build.built,
            debug_reads,
        };
        if through_host {
            // The small core's memories are not initialised from images (on the iCE40 they are
            // SPRAM, which no bitstream initialises), nor a netlist's: the bundle is loaded
            // through the host port, as `monorail chat --load` loads a board.
            for (space, address, words) in crate::link::writes(&rtl.bundle, target.lanes)? {
                rtl.write_words(space, address, &words)?;
            }
        }
        Ok(rtl)
    }

    /// The loaded bundle.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The cycles of the last step at which its recorded values were read (in their order).
    pub fn read_cycles(&self) -> &[u64] {
        &self.read_cycles
    }

    /// Dump the waveform (VCD) of cycles `from ..= to` of the next step into `path` (the step
    /// must record values: its cycles are stepped one by one).
    pub fn trace_window(&mut self, path: &Path, from: u64, to: u64) {
        self.recording.on = true;
        self.window = Some((path.to_path_buf(), from, to));
    }

    /// The model, for tests that drive ports directly.
    pub fn model(&mut self) -> &mut Model {
        &mut self.model
    }

    /// Send bytes to the host port, a byte a cycle as it takes them.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), MachineError> {
        for &b in bytes {
            self.model.set("host_in_valid", 1)?;
            self.model.set("host_in_data", b as u64)?;
            let mut waited = 0;
            loop {
                self.model.eval();
                let ready = self.model.get("host_in_ready")? == 1;
                self.model.tick(1);
                if ready {
                    break;
                }
                waited += 1;
                if waited > BYTE_CYCLES {
                    return Err(MachineError::Input(format!(
                        "the host port did not take byte 0x{b:02x} within {BYTE_CYCLES} cycles"
                    )));
                }
            }
        }
        self.model.set("host_in_valid", 0)?;
        Ok(())
    }

    /// Receive `n` bytes from the host port.
    pub fn receive(&mut self, n: usize) -> Result<Vec<u8>, MachineError> {
        let mut out = Vec::with_capacity(n);
        self.model.set("host_out_ready", 1)?;
        let mut waited = 0;
        while out.len() < n {
            self.model.eval();
            if self.model.get("host_out_valid")? == 1 {
                out.push(self.model.get("host_out_data")? as u8);
                waited = 0;
            } else {
                waited += 1;
                if waited > BYTE_CYCLES {
                    self.model.set("host_out_ready", 0)?;
                    return Err(MachineError::Input(crate::link::cut_short(
                        "the host port",
                        &out,
                        n,
                    )));
                }
            }
            self.model.tick(1);
        }
        self.model.set("host_out_ready", 0)?;
        Ok(out)
    }

    /// WRITE `words` (each `bytes` long) to `space` from `address` through the host port.
    pub fn write_words(
        &mut self,
        space: u8,
        address: u32,
        words: &[Vec<u8>],
    ) -> Result<(), MachineError> {
        self.send(&host::write_command(space, address, words.len() as u32))?;
        for w in words {
            self.send(w)?;
        }
        let reply = self.receive_reply(1)?;
        self.expect_reply(host::WRITE, &reply)
    }

    /// READ `count` words of `bytes` bytes from `space` at `address` through the host port.
    pub fn read_words(
        &mut self,
        space: u8,
        address: u32,
        count: usize,
        bytes: usize,
    ) -> Result<Vec<Vec<u8>>, MachineError> {
        self.send(&host::read_command(space, address, count as u32))?;
        let reply = self.receive_reply(1)?;
        self.expect_reply(host::READ, &reply)?;
        (0..count).map(|_| self.receive(bytes)).collect()
    }

    /// A reply of `len` bytes, or an error reply ([`host::ERROR_REPLY_BYTES`]).
    fn receive_reply(&mut self, len: usize) -> Result<Vec<u8>, MachineError> {
        let mut reply = self.receive(1)?;
        reply.extend(self.receive(host::reply_bytes(reply[0], len) - 1)?);
        Ok(reply)
    }

    fn expect_reply(&self, command: u8, reply: &[u8]) -> Result<(), MachineError> {
        host::parse_reply(command, reply, reply.len())
            .map(|_| ())
            .map_err(MachineError::Input)
    }

    /// Element `address` of the vector space, now.
    pub fn vector(&mut self, address: usize) -> Result<i32, MachineError> {
        self.debug_reads()?;
        self.model.set("dbg_vaddr", address as u64)?;
        self.model.eval();
        Ok(self.model.get("dbg_vdata")? as u32 as i32)
    }

    /// Refuses a debug read of a model whose debug ports tie to zero ([`Rtl::load_through_host`]).
    fn debug_reads(&self) -> Result<(), MachineError> {
        if self.debug_reads {
            Ok(())
        } else {
            Err(MachineError::Input(
                "this model's debug ports read zero (yosys's netlist of the core): it records \
                 no values, only the issue trace"
                    .into(),
            ))
        }
    }

    /// Register `r`, now.
    pub fn register(&mut self, r: u8) -> Result<i64, MachineError> {
        self.debug_reads()?;
        self.model.set("dbg_reg", r as u64)?;
        self.model.eval();
        Ok(self.model.get("dbg_reg_data")? as i64)
    }

    /// Byte `lane` of matrix word `word`, now.
    pub fn matrix(&mut self, word: usize, lane: usize) -> Result<i8, MachineError> {
        self.debug_reads()?;
        self.model.set("dbg_maddr", word as u64)?;
        self.model.set("dbg_mlane", lane as u64)?;
        self.model.eval();
        Ok(self.model.get("dbg_mdata")? as u8 as i8)
    }

    /// For each checkpoint at `pos`, the instructions whose completion makes its values final:
    /// the last writer, at or before its `after`, of each of its elements and registers. Any
    /// later writer of those depends on them (write after write), so the values stand until
    /// read.
    fn producers(&self, pos: usize) -> Vec<Vec<usize>> {
        let target = &self.target;
        let accesses: Vec<_> = self
            .bundle
            .program
            .iter()
            .map(|i| i.op.accesses_on(target, pos))
            .collect();
        self.bundle
            .manifest
            .checkpoints
            .iter()
            .map(|spec| {
                let mut producers = Vec::new();
                for part in &spec.parts {
                    let mut wanted: Vec<std::ops::Range<usize>> = Vec::new();
                    if let Some(v) = part.vector {
                        wanted.push(v as usize..(v + part.len) as usize);
                    }
                    let mut register = (part.register != 0).then_some(part.register);
                    // Walk back from `after`, taking each writer of what is still wanted.
                    for i in (0..=spec.after).rev() {
                        if wanted.is_empty() && register.is_none() {
                            break;
                        }
                        let a = &accesses[i];
                        let mut hit = false;
                        if let Some(r) = register {
                            if a.register_writes & (1 << r) != 0 {
                                register = None;
                                hit = true;
                            }
                        }
                        let mut rest = Vec::new();
                        for w in &wanted {
                            let mut pieces = vec![w.clone()];
                            for written in a.vector_writes.iter() {
                                let mut next = Vec::new();
                                for p in pieces {
                                    if written.start < p.end && p.start < written.end {
                                        hit = true;
                                        if p.start < written.start {
                                            next.push(p.start..written.start);
                                        }
                                        if written.end < p.end {
                                            next.push(written.end..p.end);
                                        }
                                    } else {
                                        next.push(p);
                                    }
                                }
                                pieces = next;
                            }
                            rest.extend(pieces);
                        }
                        wanted = rest;
                        if hit && !producers.contains(&i) {
                            producers.push(i);
                        }
                    }
                }
                producers
            })
            .collect()
    }

    /// Read checkpoint `c` now.
    fn read_checkpoint(&mut self, c: usize) -> Result<Option<StepValues>, MachineError> {
        let step = self.recording.step(c);
        if !self.recording.wants(step) {
            return Ok(None);
        }
        let spec = self.bundle.manifest.checkpoints[c].clone();
        let mut mant = Vec::new();
        let mut exps = Vec::new();
        for part in &spec.parts {
            match part.vector {
                Some(v) => {
                    for e in 0..part.len as usize {
                        mant.push(self.vector(v as usize + e)?);
                    }
                    exps.push(self.register(part.register)? as i32);
                }
                None => mant.push(self.register(part.register)? as i32),
            }
        }
        Ok(Some(StepValues {
            step,
            layer: spec.layer,
            mant,
            exps,
        }))
    }
}

impl Machine for Rtl {
    fn record_values(&mut self, on: bool) {
        self.recording.all(on);
    }

    fn record_only(&mut self, steps: &[ModelStep]) {
        self.recording.only(steps);
    }

    fn step(&mut self, token: u32, pos: usize) -> Result<StepResult, MachineError> {
        let m = &self.bundle.manifest;
        check_request(m.model.vocab_size, m.context, token, pos)?;
        let predicted = m.predicted_cycles[pos];
        self.send(&host::step_command(token as u16, pos as u16))?;
        let limit = START_CYCLES
            .saturating_add(predicted)
            .saturating_add(OVERRUN_CYCLES);
        let mut values = Vec::new();
        self.read_cycles.clear();
        if self.recording.on {
            // Cycle by cycle: note each issue's completion; a checkpoint is read once its
            // producers have completed (they have all issued when its `after` has).
            // Every instruction must issue and complete on the contract clock's cycles.
            let mut clock = Clock::new(&self.target, pos);
            let expected: Vec<Issued> = self
                .bundle
                .program
                .iter()
                .map(|i| clock.issue(i))
                .collect::<Result<_, _>>()
                .map_err(|d| MachineError::Input(d.message))?;
            let producers = self.producers(pos);
            let mut completion = vec![0u64; self.bundle.program.len()];
            let mut pending: Vec<(u64, usize)> = Vec::new();
            let mut started = false;
            let window = self.window.take();
            let mut tracing = false;
            // Read every cycle: looked up once.
            let port = |name| self.model.port_id(name);
            let (now_port, busy_port) = (port("now")?, port("busy")?);
            let (issue_port, index_port, start_port, complete_port) = (
                port("trace_issue")?,
                port("trace_index")?,
                port("trace_start")?,
                port("trace_complete")?,
            );
            // A timing fault found while a waveform is dumped: the step runs on to the
            // window's end, so that the waveform holds what the fault names (the completion it
            // reports comes cycles after the issue that reveals it), then the fault is returned.
            let mut fault: Option<MachineError> = None;
            for _ in 0..limit {
                if let Some((path, from, to)) = &window {
                    let now = self.model.read(now_port);
                    if !tracing && now + 1 >= *from && now < *to {
                        self.model.trace_open(path, self.target.clock_hz)?;
                        tracing = true;
                    } else if tracing && now >= *to {
                        self.model.trace_close();
                        tracing = false;
                    }
                }
                self.model.tick(1);
                if fault.is_some() {
                    if !tracing || self.model.read(busy_port) == 0 {
                        break;
                    }
                    continue;
                }
                if self.model.read(issue_port) == 1 {
                    let index = self.model.read(index_port) as usize;
                    let complete = self.model.read(complete_port);
                    let issue = self.model.read(start_port);
                    if let Some(e) = expected.get(index) {
                        if (e.issue, e.complete) != (issue, complete) {
                            let off = MachineError::Fault {
                                index,
                                text: self.bundle.program[index].to_string(),
                                pos,
                                message: format!(
                                    "the RTL issued it at cycle {issue}, complete at {complete}; \
                                     the timing rules say {} and {}",
                                    e.issue, e.complete
                                ),
                                other: None,
                            };
                            if !tracing {
                                return Err(off);
                            }
                            fault = Some(off);
                            continue;
                        }
                    }
                    if let Some(slot) = completion.get_mut(index) {
                        *slot = complete;
                    }
                    for &c in self.recording.after(index) {
                        let ready = producers[c]
                            .iter()
                            .map(|&p| completion[p])
                            .max()
                            .unwrap_or(complete);
                        pending.push((ready, c));
                    }
                }
                let now = self.model.read(now_port);
                let mut due: Vec<usize> = pending
                    .iter()
                    .filter(|(at, _)| *at <= now)
                    .map(|&(_, c)| c)
                    .collect();
                due.sort_unstable();
                pending.retain(|(at, _)| *at > now);
                for c in due {
                    if let Some(v) = self.read_checkpoint(c)? {
                        values.push(v);
                        self.read_cycles.push(now);
                    }
                }
                let busy = self.model.read(busy_port) == 1;
                if started && !busy {
                    break;
                }
                started |= busy;
            }
            if tracing {
                self.model.trace_close();
            }
            if let Some(fault) = fault {
                return Err(fault);
            }
        } else {
            // The reply waits in the host port until it is read.
            self.model.tick(START_CYCLES + predicted.saturating_sub(1));
            let mut waited = 0;
            while self.model.get("busy")? == 1 && waited < OVERRUN_CYCLES {
                self.model.tick(1);
                waited += 1;
            }
        }
        if self.model.get("busy")? == 1 {
            return Err(MachineError::Input(format!(
                "the RTL did not finish the step at position {pos} within {limit} cycles \
                 (predicted {predicted})"
            )));
        }
        let reply = self.receive_reply(host::STEP_REPLY_BYTES)?;
        let (next, cycles) = host::parse_step_reply(&reply).map_err(MachineError::Input)?;
        // The token as the host port sent it: the co-simulation compares it with the
        // simulator's (in the vocabulary, or the simulator faults) after the step's values, and
        // the engines refuse one outside the vocabulary (`check_answer`).
        let (next, cycles) = (u32::from(next), u64::from(cycles));
        // Checkpoints in program order, as the ISS records them.
        let order = |v: &StepValues| {
            self.bundle
                .manifest
                .checkpoints
                .iter()
                .position(|c| c.step == v.step.name() && c.layer == v.layer)
        };
        let mut read: Vec<(StepValues, u64)> = values
            .into_iter()
            .zip(std::mem::take(&mut self.read_cycles))
            .collect();
        read.sort_by_key(|(v, _)| order(v));
        let (values, cycles_read): (Vec<_>, Vec<_>) = read.into_iter().unzip();
        self.read_cycles = cycles_read;
        Ok(StepResult {
            next,
            cycles,
            values,
        })
    }
}
