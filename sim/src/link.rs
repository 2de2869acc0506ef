//! The host link: the host port's protocol (`docs/boards.md`, "The host link") spoken over a byte
//! channel to a board. The channel is a serial port to a real board ([`SerialLink`]) or the
//! simulated pins of a board top in Verilator ([`crate::board::BoardSim`]); [`HostLink`] is the
//! same client over both, so what the simulation tests is what `monorail chat` sends.

use std::io::{Read, Write as _};
use std::time::{Duration, Instant};

use monorail_contract::bundle::Bundle;
use monorail_contract::host;
use monorail_contract::steps::ModelStep;
use monorail_contract::target::Target;
use monorail_contract::timing::STEP_LIMIT_CYCLES;

use crate::{check_answer, check_request, Machine, MachineError, StepResult};

/// A byte channel to a board's UART.
pub trait ByteLink {
    /// Send `bytes`.
    fn send(&mut self, bytes: &[u8]) -> Result<(), MachineError>;
    /// Receive exactly `n` bytes, the first after at most about `compute_cycles` of the core's
    /// work (plus the link's own margin).
    fn receive(&mut self, n: usize, compute_cycles: u64) -> Result<Vec<u8>, MachineError>;
}

impl<L: ByteLink + ?Sized> ByteLink for Box<L> {
    fn send(&mut self, bytes: &[u8]) -> Result<(), MachineError> {
        (**self).send(bytes)
    }

    fn receive(&mut self, n: usize, compute_cycles: u64) -> Result<Vec<u8>, MachineError> {
        (**self).receive(n, compute_cycles)
    }
}

/// What a reply cut short says: `who` sent `got` of the `n` bytes awaited, then nothing.
pub(crate) fn cut_short(who: &str, got: &[u8], n: usize) -> String {
    if got.is_empty() {
        let bytes = if n == 1 { "byte" } else { "bytes" };
        format!("{who} sent nothing ({n} {bytes} awaited)")
    } else {
        format!(
            "{who} sent {} of {n} bytes ({got:02x?}) and then nothing",
            got.len()
        )
    }
}

/// What to do about a board whose bitstream speaks another host protocol.
const REBUILD: &str = "build its bitstream again with this monorail (`monorail bitstream`) and \
                       load it";

/// What a board says it is (INFO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardInfo {
    /// Matrix lanes.
    pub lanes: u16,
    /// Vector lanes.
    pub vector_lanes: u16,
    /// The configuration hash of the target its core was generated for.
    pub config_hash: u64,
    /// The version of the host protocol it speaks ([`host::PROTOCOL_VERSION`]).
    pub protocol_version: u8,
}

/// The host link's client: a bundle's token steps on a board.
pub struct HostLink<L: ByteLink> {
    link: L,
    vocab_size: usize,
    context: usize,
}

impl<L: ByteLink> HostLink<L> {
    /// A client running `bundle` (whose weights and program the board holds) over `link`.
    pub fn new(link: L, bundle: &Bundle) -> HostLink<L> {
        let m = &bundle.manifest;
        HostLink {
            link,
            vocab_size: m.model.vocab_size,
            context: m.context,
        }
    }

    /// The channel (for tests that drive it directly).
    pub fn link(&mut self) -> &mut L {
        &mut self.link
    }

    /// INFO. Its last byte, the protocol's version, is read on its own: a bitstream from before
    /// the version sends all but that byte, and is named as such.
    pub fn info(&mut self) -> Result<BoardInfo, MachineError> {
        self.link.send(&[host::INFO])?;
        let mut reply = self.link.receive(host::INFO_REPLY_BYTES - 1, 0)?;
        let version = self.link.receive(1, 0).map_err(|e| {
            if reply[0] != host::INFO | host::REPLY {
                // Not an INFO reply at all (stale bytes, another speed): as it is.
                return e;
            }
            MachineError::Input(format!(
                "the board answered INFO without the host protocol's version at its end ({e}): \
                 its bitstream was built before host protocol {}; {REBUILD}",
                host::PROTOCOL_VERSION
            ))
        })?;
        reply.extend_from_slice(&version);
        let (lanes, vector_lanes, config_hash, protocol_version) =
            host::parse_info_reply(&reply).map_err(MachineError::Input)?;
        Ok(BoardInfo {
            lanes,
            vector_lanes,
            config_hash,
            protocol_version,
        })
    }

    /// INFO, and a refusal unless the board speaks this protocol and its core is `target`'s.
    pub fn expect_target(&mut self, target: &Target) -> Result<BoardInfo, MachineError> {
        let info = self.info()?;
        if info.protocol_version != host::PROTOCOL_VERSION {
            return Err(MachineError::Input(format!(
                "the board speaks host protocol {} and this monorail speaks {}; {REBUILD}",
                info.protocol_version,
                host::PROTOCOL_VERSION
            )));
        }
        if (
            info.lanes as usize,
            info.vector_lanes as usize,
            info.config_hash,
        ) != (target.lanes, target.vector_lanes, target.config_hash())
        {
            return Err(MachineError::Input(format!(
                "the board's core has {} lanes, {} vector lanes and config hash {:016x}; target \
                 {} has {}, {} and {:016x}: load the bitstream `monorail bitstream` builds for \
                 this board, or give the `--target` it was built with",
                info.lanes,
                info.vector_lanes,
                info.config_hash,
                target.name,
                target.lanes,
                target.vector_lanes,
                target.config_hash()
            )));
        }
        Ok(info)
    }
}

/// What loading a bundle over the host link sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadPlan {
    /// Matrix-memory words (the weights; the key/value cache is left alone).
    pub matrix_words: usize,
    /// Vector-space elements (the whole initial image).
    pub vector_elements: usize,
    /// Instructions.
    pub instructions: usize,
    /// Bytes on the wire, commands and replies included.
    pub bytes: usize,
}

/// A WRITE: (space, first word, the words' bytes).
type Write = (u8, u32, Vec<Vec<u8>>);

/// The writes that load `bundle` (for a core of `lanes` matrix lanes): one per matrix region
/// that is not the cache, then the vector space, then the program.
pub(crate) fn writes(bundle: &Bundle, lanes: usize) -> Result<Vec<Write>, MachineError> {
    let mut writes = Vec::new();
    for region in &bundle.manifest.regions {
        if !region.is_matrix() || region.is_cache() {
            continue;
        }
        let start = region.start as usize;
        let words = (start..start + region.size as usize)
            .map(|w| {
                bundle
                    .matrix
                    .get(w * lanes..(w + 1) * lanes)
                    .map(|b| b.iter().map(|&v| v as u8).collect())
                    .ok_or_else(|| {
                        MachineError::Input(format!(
                            "region {} lies outside the bundle's matrix image",
                            region.name
                        ))
                    })
            })
            .collect::<Result<Vec<Vec<u8>>, _>>()?;
        writes.push((host::SPACE_MATRIX, region.start, words));
    }
    let vector = bundle
        .vector
        .iter()
        .map(|v| v.to_le_bytes().to_vec())
        .collect();
    writes.push((host::SPACE_VECTOR, 0, vector));
    let program = bundle
        .program
        .iter()
        .map(|i| {
            i.encode()
                .map(|bits| bits.to_le_bytes().to_vec())
                .map_err(|e| MachineError::Input(format!("`{i}`: {e}")))
        })
        .collect::<Result<_, _>>()?;
    writes.push((host::SPACE_PROGRAM, 0, program));
    Ok(writes)
}

/// What [`HostLink::load`] sends for `bundle`.
pub fn load_plan(bundle: &Bundle, lanes: usize) -> Result<LoadPlan, MachineError> {
    let mut plan = LoadPlan::default();
    for (space, _, words) in writes(bundle, lanes)? {
        let n = words.len();
        match space {
            host::SPACE_MATRIX => plan.matrix_words += n,
            host::SPACE_VECTOR => plan.vector_elements += n,
            _ => plan.instructions += n,
        }
        plan.bytes += 10 + 1 + words.iter().map(Vec::len).sum::<usize>();
    }
    Ok(plan)
}

impl<L: ByteLink> HostLink<L> {
    /// Load `bundle`'s weights, vector image and program into the board with WRITE commands
    /// (the key/value cache needs nothing: the program writes a position before reading it).
    /// For a board whose bitstream was built with another model of the same target, or one
    /// whose memories cannot be initialised by its bitstream.
    /// A refused WRITE is reported as the core refuses it: its reply comes once the port has
    /// dropped the words, after its idle limit ([`host::idle_limit_cycles`] of `target`'s clock).
    pub fn load(&mut self, bundle: &Bundle, target: &Target) -> Result<LoadPlan, MachineError> {
        let plan = load_plan(bundle, target.lanes)?;
        for (space, address, words) in writes(bundle, target.lanes)? {
            self.link
                .send(&host::write_command(space, address, words.len() as u32))?;
            for word in &words {
                self.link.send(word)?;
            }
            // `0x82`, or the refusal's bytes.
            let mut reply = self
                .link
                .receive(1, host::idle_limit_cycles(target.clock_hz))?;
            let rest = host::reply_bytes(reply[0], 1) - 1;
            if rest > 0 {
                reply.extend(self.link.receive(rest, 0)?);
            }
            host::parse_reply(host::WRITE, &reply, 1).map_err(|e| {
                let why = if reply == [host::ERROR, host::WRITE, host::REFUSED_RANGE] {
                    " (is the board's core the bundle's target?)"
                } else {
                    ""
                };
                MachineError::Input(format!(
                    "a WRITE of {} words to space {space} at {address}: {e}{why}",
                    words.len()
                ))
            })?;
        }
        Ok(plan)
    }
}

impl<L: ByteLink> Machine for HostLink<L> {
    fn record_values(&mut self, _on: bool) {}

    fn record_only(&mut self, _steps: &[ModelStep]) {}

    /// STEP's five bytes out, its seven-byte reply back. A board reports no intermediate
    /// values: the link carries tokens.
    fn step(&mut self, token: u32, pos: usize) -> Result<StepResult, MachineError> {
        check_request(self.vocab_size, self.context, token, pos)?;
        self.link
            .send(&host::step_command(token as u16, pos as u16))?;
        // The reply's first byte comes when the step ends, at the latest at the step limit
        // (then an error reply).
        let mut reply = self.link.receive(1, STEP_LIMIT_CYCLES)?;
        let rest = host::reply_bytes(reply[0], host::STEP_REPLY_BYTES) - 1;
        reply.extend(self.link.receive(rest, 0)?);
        let (next, cycles) = host::parse_step_reply(&reply).map_err(MachineError::Input)?;
        let next = check_answer(self.vocab_size, i64::from(next)).map_err(|e| {
            MachineError::Input(format!(
                "the board at position {pos}: {e}: it may hold another model's weights \
                 (`monorail chat --load` loads this one)"
            ))
        })?;
        Ok(StepResult {
            next,
            cycles: u64::from(cycles),
            values: Vec::new(),
        })
    }
}

/// A serial port to a real board (8N1, raw).
pub struct SerialLink {
    port: Box<dyn serialport::SerialPort>,
    name: String,
    baud: u32,
    clock_hz: u64,
}

impl SerialLink {
    /// Open `path` at `baud` for a core clocked at `clock_hz`.
    pub fn open(path: &str, baud: u32, clock_hz: u64) -> Result<SerialLink, MachineError> {
        let port = serialport::new(path, baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(100))
            .open()
            .map_err(|e| {
                MachineError::Input(format!(
                    "{path}: {e} (is the board plugged in, and may you open the port? On Linux \
                     the user must be in the `dialout` group)"
                ))
            })?;
        // A command that a previous session left half-sent is abandoned by the port after
        // `host::idle_limit_cycles` of silence: wait that out, with half again as a margin, and
        // drop what arrived meanwhile. (A reply still to come, of a step or a long READ that
        // session started, is not covered: INFO's check then fails, and a second try succeeds.)
        let idle_s = host::idle_limit_cycles(clock_hz) as f64 / clock_hz as f64;
        std::thread::sleep(Duration::from_secs_f64(1.5 * idle_s));
        let _ = port.clear(serialport::ClearBuffer::All);
        Ok(SerialLink {
            port,
            name: path.to_string(),
            baud,
            clock_hz,
        })
    }
}

impl ByteLink for SerialLink {
    fn send(&mut self, bytes: &[u8]) -> Result<(), MachineError> {
        self.port
            .write_all(bytes)
            .and_then(|_| self.port.flush())
            .map_err(|e| MachineError::Input(format!("{}: writing: {e}", self.name)))
    }

    fn receive(&mut self, n: usize, compute_cycles: u64) -> Result<Vec<u8>, MachineError> {
        // The core's work, the bytes' time on the line, and a second for the USB bridge.
        let compute = compute_cycles as f64 / self.clock_hz as f64;
        let line = (n as f64 + 8.0) * f64::from(host::UART_BITS_PER_BYTE) / f64::from(self.baud);
        let deadline = Instant::now() + Duration::from_secs_f64(compute + line + 1.0);
        let mut out = vec![0u8; n];
        let mut got = 0;
        while got < n {
            match self.port.read(&mut out[got..]) {
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(MachineError::Input(format!("{}: reading: {e}", self.name))),
            }
            if got < n && Instant::now() > deadline {
                return Err(MachineError::Input(format!(
                    "{}: {}: is its bitstream Monorail's, at {} baud?",
                    self.name,
                    cut_short("the board", &out[..got], n),
                    self.baud
                )));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{cut_short, ByteLink, SerialLink};

    /// A board that sends nothing is told as such, not as "0 of 13 bytes"; one cut short shows
    /// what it sent.
    #[test]
    fn a_reply_cut_short_says_what_came() {
        assert_eq!(
            cut_short("the board", &[], 13),
            "the board sent nothing (13 bytes awaited)"
        );
        assert_eq!(
            cut_short("the board", &[], 1),
            "the board sent nothing (1 byte awaited)"
        );
        assert_eq!(
            cut_short("the host port", &[0x81, 0x04], 13),
            "the host port sent 2 of 13 bytes ([81, 04]) and then nothing"
        );
    }

    /// The serial port to a real board, through a pseudo-terminal whose other end plays the
    /// board: what is sent arrives as it was, a reply is read whole, and a board that answers
    /// nothing or part of a reply is told as such, with the port and the speed to check.
    #[cfg(unix)]
    #[test]
    fn the_serial_link_speaks_over_a_port_and_says_what_a_silent_board_sent() {
        use std::io::{Read, Write};
        let (mut board, port) = serialport::TTYPort::pair().expect("a pseudo-terminal");
        let path = serialport::SerialPort::name(&port).expect("the terminal's path");
        let mut link = SerialLink::open(&path, 115_200, 1_000_000).unwrap();
        drop(port);

        link.send(&[0x01, 0x80, 0xff]).unwrap();
        let mut sent = [0u8; 3];
        board.read_exact(&mut sent).unwrap();
        assert_eq!(sent, [0x01, 0x80, 0xff]);
        board.write_all(&[0x81, 0x04, 0x00, 0x0a]).unwrap();
        assert_eq!(link.receive(4, 1_000).unwrap(), [0x81, 0x04, 0x00, 0x0a]);

        let silent = link.receive(13, 0).unwrap_err().to_string();
        assert!(
            silent.contains(&format!(
                "{path}: the board sent nothing (13 bytes awaited): is its bitstream \
                 Monorail's, at 115200 baud?"
            )),
            "{silent}"
        );
        board.write_all(&[0x81, 0x04]).unwrap();
        let cut = link.receive(13, 0).unwrap_err().to_string();
        assert!(
            cut.contains(&format!(
                "{path}: the board sent 2 of 13 bytes ([81, 04]) and then nothing"
            )),
            "{cut}"
        );
    }
}
