//! The host port: a byte stream in each direction (valid/ready, a byte a cycle at most), over
//! which the host loads the memories, runs token steps and reads results. In simulation the
//! co-simulation drives it directly; on a board a UART bridges it (`board.rs`). Written in
//! rust_hdl's own language: it is control, an FSM over bytes.
//!
//! The protocol (STEP, WRITE, READ, INFO; their bytes and replies; the spaces; the errors) is
//! documented in `docs/boards.md`, "The host link"; its command bytes and message layouts are
//! the contract's (`monorail_contract::host`), which the simulators and the host link use too.

use rust_hdl::prelude::*;

use monorail_contract::host::*;
use monorail_contract::target::{
    Core, Target, MAX_LANES, MAX_MATRIX_WORDS, MAX_PROGRAM_WORDS, MAX_VECTOR_ELEMENTS,
};

use crate::pack::{PackBytes, UnpackBytes};

/// The port's states (as constants: rust_hdl declares an enum's values in every module above the
/// one using it, unused there).
const STATES: [&str; 11] = [
    "command",
    "arguments",
    "dispatch",
    "data",
    "write",
    "read",
    "read_wait",
    "read_element",
    "step",
    "reply",
    "discard",
];

fn state(name: &str) -> u64 {
    STATES.iter().position(|s| *s == name).expect("a state") as u64
}

/// Bytes of a word or a reply: at most a matrix word of the most lanes a target may have
/// (`MAX_LANES`, a byte each).
type ByteCount = Bits<9>;
const _: () = assert!(MAX_LANES < 1 << 9);
const _: () = assert!(INFO_REPLY_BYTES <= 16 && STEP_REPLY_BYTES <= 16 && ERROR_REPLY_BYTES <= 16);
// STEP's reply: the byte, the token (2), the cycles (4).
const _: () = assert!(STEP_REPLY_BYTES == 1 + 2 + 4);

/// Words left of a WRITE or READ: at most a space's size, 2^20 at the most (the matrix
/// memory's 20-bit word addresses). The command's count is 32 bits; one larger than its space is
/// refused before this holds it.
type WordCount = Bits<21>;
const _: () = assert!(
    MAX_MATRIX_WORDS < 1 << 21 && MAX_VECTOR_ELEMENTS < 1 << 21 && MAX_PROGRAM_WORDS < 1 << 21
);

/// The range check's sums: an address and a count below 2^21 each (the bits above are checked
/// to be zero first), and the spaces' sizes.
type RangeSum = Bits<22>;
/// The bits of an address or a count above those `RangeSum` adds.
const RANGE_HIGH_BITS: usize = 32 - 21;

/// The host port block.
#[derive(LogicBlock)]
pub struct HostPort {
    /// Core clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// A byte from the host.
    pub in_valid: Signal<In, Bit>,
    /// The byte.
    pub in_data: Signal<In, Bits<8>>,
    /// The port takes it this cycle.
    pub in_ready: Signal<Out, Bit>,
    /// A byte for the host.
    pub out_valid: Signal<Out, Bit>,
    /// The byte.
    pub out_data: Signal<Out, Bits<8>>,
    /// The host takes it this cycle.
    pub out_ready: Signal<In, Bit>,
    /// Start a token step.
    pub start: Signal<Out, Bit>,
    /// Its token.
    pub start_token: Signal<Out, Bits<16>>,
    /// Its position.
    pub start_pos: Signal<Out, Bits<16>>,
    /// The step has finished (one cycle).
    pub done: Signal<In, Bit>,
    /// The step was stopped at the step limit (with `done`).
    pub step_aborted: Signal<In, Bit>,
    /// Its token.
    pub result_token: Signal<In, Bits<16>>,
    /// Its cycles.
    pub result_cycles: Signal<In, Bits<32>>,
    /// The port drives the memories' ports this cycle.
    pub mem_active: Signal<Out, Bit>,
    /// The access is to the matrix memory.
    pub mem_matrix: Signal<Out, Bit>,
    /// The access is to the vector space.
    pub mem_vector: Signal<Out, Bit>,
    /// The access is to the program.
    pub mem_program: Signal<Out, Bit>,
    /// Its word (matrix, program) or element (vector space).
    pub mem_addr: Signal<Out, Bits<20>>,
    /// Write the word.
    pub mem_we: Signal<Out, Bit>,
    /// The matrix word to write. // (lanes,)
    pub mem_bytes: Vec<Signal<Out, Bits<8>>>,
    /// The program word to write.
    pub mem_word: Signal<Out, Bits<128>>,
    /// The vector element to write.
    pub mem_element: Signal<Out, Bits<32>>,
    /// The matrix word read (the cycle after the address). // (lanes,)
    pub read_bytes: Vec<Signal<In, Bits<8>>>,
    /// The vector element read (the cycle after the address).
    pub read_element: Signal<In, Bits<32>>,
    /// The program word read (the cycle after the address, or when `mem_ready` says).
    pub read_instruction: Signal<In, Bits<128>>,
    /// The memories have finished the access: a write this cycle, a read's data is there. The
    /// port holds a write or a read's wait until they have (the small core writes and reads a
    /// program word as four elements, one a cycle); the wide core's memories always have.
    pub mem_ready: Signal<In, Bit>,
    state: DFF<Bits<4>>,
    command: DFF<Bits<8>>,
    // Cycles since a command's last byte, while it waits for the next.
    idle: DFF<Bits<32>>,
    // The last nine argument bytes, the latest at the end.
    arguments: Vec<DFF<Bits<8>>>,
    count: DFF<Bits<8>>,
    needed: DFF<Bits<8>>,
    space: DFF<Bits<8>>,
    address: DFF<Bits<20>>,
    remaining: DFF<WordCount>,
    // The vector element read, registered on the wide core: the memories' outputs, their lane
    // and memory selection and the reply's byte multiplexers in one cycle were its critical
    // path. The small core's element comes straight from its memory, which holds it.
    element: DFF<Bits<32>>,
    c_element_registered: Constant<Bit>,
    // Bytes of the word being written or read, and the index of the next one (also the reply's
    // next byte).
    bytes: Vec<DFF<Bits<8>>>,
    byte_index: DFF<ByteCount>,
    reply_left: DFF<ByteCount>,
    // What the reply sends (`k_*`): its bytes come from where they are (the word in `bytes`,
    // the command, the refusal, the INFO constants, the step's result, which the core holds
    // until its next step), not from copies of them.
    reply_kind: DFF<Bits<3>>,
    // The index of an INFO, STEP or error reply's next byte: all 16 or fewer.
    reply_index: Signal<Local, Bits<4>>,
    // An error reply's reason (`REFUSED_*`).
    why: DFF<Bits<8>>,
    start_flag: DFF<Bit>,
    word_bytes: Signal<Local, ByteCount>,
    pack_address: PackBytes<20>,
    // The address as sent, all four bytes, to check against the space's size.
    pack_address_sent: PackBytes<32>,
    // The size of the space a WRITE or READ names, in its words.
    space_size: Signal<Local, RangeSum>,
    // The address and the count's low bits summed: the end of the words named, when the bits
    // above are zero.
    words_end: Signal<Local, RangeSum>,
    pack_count: PackBytes<32>,
    // The count's low bits, all a count within a space has.
    pack_remaining: PackBytes<21>,
    pack_token: PackBytes<16>,
    pack_pos: PackBytes<16>,
    pack_word: PackBytes<128>,
    pack_element: PackBytes<32>,
    unpack_token: UnpackBytes<16>,
    unpack_cycles: UnpackBytes<32>,
    unpack_element: UnpackBytes<32>,
    unpack_instruction: UnpackBytes<128>,
    // Constants: rust_hdl writes a literal as 32 bits; named constants keep their width.
    s_command: Constant<Bits<4>>,
    s_arguments: Constant<Bits<4>>,
    s_dispatch: Constant<Bits<4>>,
    s_data: Constant<Bits<4>>,
    s_write: Constant<Bits<4>>,
    s_read: Constant<Bits<4>>,
    s_read_wait: Constant<Bits<4>>,
    s_read_element: Constant<Bits<4>>,
    s_step: Constant<Bits<4>>,
    s_reply: Constant<Bits<4>>,
    s_discard: Constant<Bits<4>>,
    k_data: Constant<Bits<3>>,
    k_ack: Constant<Bits<3>>,
    k_error: Constant<Bits<3>>,
    k_info: Constant<Bits<3>>,
    k_step: Constant<Bits<3>>,
    c_step: Constant<Bits<8>>,
    c_write: Constant<Bits<8>>,
    c_read: Constant<Bits<8>>,
    c_info: Constant<Bits<8>>,
    c_reply: Constant<Bits<8>>,
    c_error: Constant<Bits<8>>,
    c_refused_command: Constant<Bits<8>>,
    c_refused_space: Constant<Bits<8>>,
    c_refused_range: Constant<Bits<8>>,
    c_refused_step_limit: Constant<Bits<8>>,
    c_last_space: Constant<Bits<8>>,
    c_space_matrix: Constant<Bits<8>>,
    c_space_vector: Constant<Bits<8>>,
    c_space_program: Constant<Bits<8>>,
    c_zero8: Constant<Bits<8>>,
    c_one8: Constant<Bits<8>>,
    c_step_arguments: Constant<Bits<8>>,
    c_access_arguments: Constant<Bits<8>>,
    c_no_bytes: Constant<ByteCount>,
    c_one_byte: Constant<ByteCount>,
    c_error_bytes: Constant<ByteCount>,
    c_element_bytes: Constant<ByteCount>,
    c_step_bytes: Constant<ByteCount>,
    c_info_bytes: Constant<ByteCount>,
    c_program_bytes: Constant<ByteCount>,
    c_lane_bytes: Constant<ByteCount>,
    c_no_words: Constant<WordCount>,
    c_one_word: Constant<WordCount>,
    c_one20: Constant<Bits<20>>,
    c_zero32: Constant<Bits<32>>,
    c_one32: Constant<Bits<32>>,
    c_zero_high: Constant<Bits<RANGE_HIGH_BITS>>,
    c_idle_limit: Constant<Bits<32>>,
    c_matrix_words: Constant<RangeSum>,
    c_vector_elements: Constant<RangeSum>,
    c_program_words: Constant<RangeSum>,
    info: Vec<Constant<Bits<8>>>,
}

fn constant<const N: usize>(v: u64) -> Constant<Bits<N>> {
    Constant::new(v.to_bits())
}

impl HostPort {
    /// The host port of `target`'s core: INFO reports its lanes, vector lanes, config hash and
    /// the protocol's version; WRITE and READ stay within its memories.
    pub fn new(target: &Target) -> HostPort {
        let lanes = target.lanes;
        let info = info_reply(target);
        debug_assert_eq!(info.len(), INFO_REPLY_BYTES);
        // The byte and word counts' widths hold for a validated target (`ByteCount`,
        // `WordCount`).
        debug_assert!(lanes <= MAX_LANES && target.matrix_words() <= MAX_MATRIX_WORDS);
        let word = lanes.max(PROGRAM_WORD_BYTES);
        HostPort {
            clock: Default::default(),
            reset: Default::default(),
            in_valid: Default::default(),
            in_data: Default::default(),
            in_ready: Default::default(),
            out_valid: Default::default(),
            out_data: Default::default(),
            out_ready: Default::default(),
            start: Default::default(),
            start_token: Default::default(),
            start_pos: Default::default(),
            done: Default::default(),
            step_aborted: Default::default(),
            result_token: Default::default(),
            result_cycles: Default::default(),
            mem_active: Default::default(),
            mem_matrix: Default::default(),
            mem_vector: Default::default(),
            mem_program: Default::default(),
            mem_addr: Default::default(),
            mem_we: Default::default(),
            mem_bytes: (0..lanes).map(|_| Default::default()).collect(),
            mem_word: Default::default(),
            mem_element: Default::default(),
            read_bytes: (0..lanes).map(|_| Default::default()).collect(),
            read_element: Default::default(),
            read_instruction: Default::default(),
            mem_ready: Default::default(),
            state: Default::default(),
            command: Default::default(),
            idle: Default::default(),
            arguments: (0..9).map(|_| Default::default()).collect(),
            count: Default::default(),
            needed: Default::default(),
            space: Default::default(),
            address: Default::default(),
            remaining: Default::default(),
            element: Default::default(),
            c_element_registered: Constant::new(target.core != Core::Small),
            bytes: (0..word).map(|_| Default::default()).collect(),
            byte_index: Default::default(),
            reply_left: Default::default(),
            reply_kind: Default::default(),
            reply_index: Default::default(),
            why: Default::default(),
            start_flag: Default::default(),
            word_bytes: Default::default(),
            pack_address: Default::default(),
            pack_address_sent: Default::default(),
            space_size: Default::default(),
            words_end: Default::default(),
            pack_count: Default::default(),
            pack_remaining: Default::default(),
            pack_token: Default::default(),
            pack_pos: Default::default(),
            pack_word: Default::default(),
            pack_element: Default::default(),
            unpack_token: Default::default(),
            unpack_cycles: Default::default(),
            unpack_element: Default::default(),
            unpack_instruction: Default::default(),
            s_command: constant(state("command")),
            s_arguments: constant(state("arguments")),
            s_dispatch: constant(state("dispatch")),
            s_data: constant(state("data")),
            s_write: constant(state("write")),
            s_read: constant(state("read")),
            s_read_wait: constant(state("read_wait")),
            s_read_element: constant(state("read_element")),
            s_step: constant(state("step")),
            s_reply: constant(state("reply")),
            s_discard: constant(state("discard")),
            k_data: constant(0),
            k_ack: constant(1),
            k_error: constant(2),
            k_info: constant(3),
            k_step: constant(4),
            c_step: constant(STEP as u64),
            c_write: constant(WRITE as u64),
            c_read: constant(READ as u64),
            c_info: constant(INFO as u64),
            c_reply: constant(REPLY as u64),
            c_error: constant(ERROR as u64),
            c_refused_command: constant(REFUSED_COMMAND as u64),
            c_refused_space: constant(REFUSED_SPACE as u64),
            c_refused_range: constant(REFUSED_RANGE as u64),
            c_refused_step_limit: constant(REFUSED_STEP_LIMIT as u64),
            c_last_space: constant(SPACE_PROGRAM as u64),
            c_space_matrix: constant(SPACE_MATRIX as u64),
            c_space_vector: constant(SPACE_VECTOR as u64),
            c_space_program: constant(SPACE_PROGRAM as u64),
            c_zero8: constant(0),
            c_one8: constant(1),
            // (The bytes after the command byte.)
            c_step_arguments: constant((step_command(0, 0).len() - 1) as u64),
            c_access_arguments: constant((read_command(0, 0, 0).len() - 1) as u64),
            c_no_bytes: constant(0),
            c_one_byte: constant(1),
            c_error_bytes: constant(ERROR_REPLY_BYTES as u64),
            c_element_bytes: constant(VECTOR_WORD_BYTES as u64),
            c_step_bytes: constant(STEP_REPLY_BYTES as u64),
            c_info_bytes: constant(info.len() as u64),
            c_program_bytes: constant(PROGRAM_WORD_BYTES as u64),
            c_lane_bytes: constant(lanes as u64),
            c_no_words: constant(0),
            c_one_word: constant(1),
            c_one20: constant(1),
            c_zero32: constant(0),
            c_one32: constant(1),
            c_zero_high: constant(0),
            c_idle_limit: constant(idle_limit_cycles(target.clock_hz)),
            c_matrix_words: constant(target.matrix_words() as u64),
            c_vector_elements: constant(target.vector_space() as u64),
            c_program_words: constant(target.program_words as u64),
            info: info.iter().map(|&b| constant(b as u64)).collect(),
        }
    }
}

impl Logic for HostPort {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, command, idle, count, needed, space, address, remaining,
            byte_index, reply_left, reply_kind, why, start_flag
        );
        for i in 0..self.arguments.len() {
            self.arguments[i].clock.next = self.clock.val();
            self.arguments[i].d.next = self.arguments[i].q.val();
        }
        for i in 0..self.bytes.len() {
            self.bytes[i].clock.next = self.clock.val();
            self.bytes[i].d.next = self.bytes[i].q.val();
        }
        // The arguments, as numbers: WRITE/READ's address and count, STEP's token and position.
        for i in 0..self.pack_address.bytes.len() {
            self.pack_address.bytes[i].next = self.arguments[i + 1].q.val();
        }
        for i in 0..self.pack_address_sent.bytes.len() {
            self.pack_address_sent.bytes[i].next = self.arguments[i + 1].q.val();
        }
        for i in 0..self.pack_count.bytes.len() {
            self.pack_count.bytes[i].next = self.arguments[i + 5].q.val();
        }
        // (The same bytes: the count as the range check compares it, and as `remaining` holds
        // it once checked.)
        for i in 0..self.pack_remaining.bytes.len() {
            self.pack_remaining.bytes[i].next = self.arguments[i + 5].q.val();
        }
        self.words_end.next = self.pack_address_sent.word.val().get_bits::<22>(0)
            + self.pack_count.word.val().get_bits::<22>(0);
        // The size of the space the arguments name.
        self.space_size.next = self.c_vector_elements.val();
        if self.arguments[0].q.val() == self.c_space_matrix.val() {
            self.space_size.next = self.c_matrix_words.val();
        }
        if self.arguments[0].q.val() == self.c_space_program.val() {
            self.space_size.next = self.c_program_words.val();
        }
        for i in 0..self.pack_token.bytes.len() {
            self.pack_token.bytes[i].next = self.arguments[i + 5].q.val();
            self.pack_pos.bytes[i].next = self.arguments[i + 7].q.val();
        }
        self.start_token.next = self.pack_token.word.val();
        self.start_pos.next = self.pack_pos.word.val();
        // The word to write, from its bytes.
        for i in 0..self.mem_bytes.len() {
            self.mem_bytes[i].next = self.bytes[i].q.val();
        }
        for i in 0..self.pack_word.bytes.len() {
            self.pack_word.bytes[i].next = self.bytes[i].q.val();
        }
        for i in 0..self.pack_element.bytes.len() {
            self.pack_element.bytes[i].next = self.bytes[i].q.val();
        }
        self.mem_word.next = self.pack_word.word.val();
        self.mem_element.next = self.pack_element.word.val();
        self.unpack_token.word.next = self.result_token.val();
        self.unpack_cycles.word.next = self.result_cycles.val();
        self.element.clock.next = self.clock.val();
        self.element.d.next = self.read_element.val();
        self.unpack_element.word.next = self.read_element.val();
        if self.c_element_registered.val() {
            self.unpack_element.word.next = self.element.q.val();
        }
        self.unpack_instruction.word.next = self.read_instruction.val();
        // Bytes of a word of the current space.
        self.word_bytes.next = self.c_element_bytes.val();
        if self.space.q.val() == self.c_space_matrix.val() {
            self.word_bytes.next = self.c_lane_bytes.val();
        }
        if self.space.q.val() == self.c_space_program.val() {
            self.word_bytes.next = self.c_program_bytes.val();
        }
        // Defaults.
        self.in_ready.next = false;
        self.out_valid.next = false;
        // The reply's next byte (a word's bytes shift down as they are sent).
        self.reply_index.next = self.byte_index.q.val().get_bits::<4>(0);
        self.out_data.next = self.bytes[0].q.val();
        if self.reply_kind.q.val() == self.k_ack.val() {
            self.out_data.next = self.command.q.val() | self.c_reply.val();
        }
        if self.reply_kind.q.val() == self.k_error.val() {
            self.out_data.next = self.why.q.val();
            if self.byte_index.q.val() == self.c_no_bytes.val() {
                self.out_data.next = self.c_error.val();
            }
            if self.byte_index.q.val() == self.c_one_byte.val() {
                self.out_data.next = self.command.q.val();
            }
        }
        if self.reply_kind.q.val() == self.k_info.val() {
            for i in 0..self.info.len() {
                if self.reply_index.val().index() == i {
                    self.out_data.next = self.info[i].val();
                }
            }
        }
        if self.reply_kind.q.val() == self.k_step.val() {
            self.out_data.next = self.c_step.val() | self.c_reply.val();
            // (Bytes 1 and 2 the token, 3 to 6 the cycles: the loops count the byte's index, which
            // rust_hdl writes as a number without a width.)
            for i in 1..3 {
                if self.reply_index.val().index() == i {
                    self.out_data.next = self.unpack_token.bytes[i - 1].val();
                }
            }
            for i in 3..STEP_REPLY_BYTES {
                if self.reply_index.val().index() == i {
                    self.out_data.next = self.unpack_cycles.bytes[i - 3].val();
                }
            }
        }
        self.start_flag.d.next = false;
        self.start.next = self.start_flag.q.val();
        self.mem_active.next = false;
        self.mem_matrix.next = self.space.q.val() == self.c_space_matrix.val();
        self.mem_vector.next = self.space.q.val() == self.c_space_vector.val();
        self.mem_program.next = self.space.q.val() == self.c_space_program.val();
        self.mem_addr.next = self.address.q.val();
        self.mem_we.next = false;

        // While a command waits for its next byte: the cycles since the last one.
        self.idle.d.next = self.c_zero32.val();
        if ((self.state.q.val() == self.s_arguments.val())
            | (self.state.q.val() == self.s_data.val())
            | (self.state.q.val() == self.s_discard.val()))
            & !self.in_valid.val()
        {
            self.idle.d.next = self.idle.q.val() + self.c_one32.val();
        }
        // (the idle count is reset on entering those states, and with every byte)
        if self.state.q.val() == self.s_command.val() {
            self.in_ready.next = true;
            if self.in_valid.val() {
                self.command.d.next = self.in_data.val();
                self.count.d.next = self.c_zero8.val();
                self.byte_index.d.next = self.c_no_bytes.val();
                self.state.d.next = self.s_arguments.val();
                if self.in_data.val() == self.c_step.val() {
                    self.needed.d.next = self.c_step_arguments.val();
                } else if (self.in_data.val() == self.c_write.val())
                    | (self.in_data.val() == self.c_read.val())
                {
                    self.needed.d.next = self.c_access_arguments.val();
                } else if self.in_data.val() == self.c_info.val() {
                    self.reply_kind.d.next = self.k_info.val();
                    self.reply_left.d.next = self.c_info_bytes.val();
                    self.state.d.next = self.s_reply.val();
                } else {
                    // (The byte, in `command`, is the reply's second.)
                    self.reply_kind.d.next = self.k_error.val();
                    self.why.d.next = self.c_refused_command.val();
                    self.reply_left.d.next = self.c_error_bytes.val();
                    self.state.d.next = self.s_reply.val();
                }
            }
        } else if self.state.q.val() == self.s_arguments.val() {
            self.in_ready.next = true;
            if self.in_valid.val() {
                // A byte enters at the end; after nine, the first is at the start.
                for i in 1..self.arguments.len() {
                    self.arguments[i - 1].d.next = self.arguments[i].q.val();
                }
                self.arguments[8].d.next = self.in_data.val();
                self.count.d.next = self.count.q.val() + self.c_one8.val();
                if self.count.q.val() + self.c_one8.val() == self.needed.q.val() {
                    if self.command.q.val() == self.c_step.val() {
                        self.start_flag.d.next = true;
                        self.state.d.next = self.s_step.val();
                    } else {
                        self.state.d.next = self.s_dispatch.val();
                    }
                }
            } else if self.idle.q.val() == self.c_idle_limit.val() {
                // The host stopped mid-command: abandon it, and wait for a command.
                self.state.d.next = self.s_command.val();
            }
        } else if self.state.q.val() == self.s_dispatch.val() {
            // WRITE or READ with its arguments: space, address, count.
            self.space.d.next = self.arguments[0].q.val();
            self.address.d.next = self.pack_address.word.val();
            self.remaining.d.next = self.pack_remaining.word.val();
            self.byte_index.d.next = self.c_no_bytes.val();
            self.reply_kind.d.next = self.k_ack.val();
            self.reply_left.d.next = self.c_one_byte.val();
            if (self.arguments[0].q.val() > self.c_last_space.val())
                | (self
                    .pack_address_sent
                    .word
                    .val()
                    .get_bits::<RANGE_HIGH_BITS>(21)
                    != self.c_zero_high.val())
                | (self.pack_count.word.val().get_bits::<RANGE_HIGH_BITS>(21)
                    != self.c_zero_high.val())
                | (self.words_end.val() > self.space_size.val())
            {
                // An unknown space, or words beyond the space's end: refused, saying which. A
                // WRITE's words are taken and dropped first.
                self.reply_kind.d.next = self.k_error.val();
                self.why.d.next = self.c_refused_range.val();
                if self.arguments[0].q.val() > self.c_last_space.val() {
                    self.why.d.next = self.c_refused_space.val();
                }
                self.reply_left.d.next = self.c_error_bytes.val();
                self.remaining.d.next = self.c_no_words.val();
                self.state.d.next = self.s_reply.val();
                if (self.command.q.val() == self.c_write.val())
                    & (self.pack_count.word.val() != self.c_zero32.val())
                {
                    self.state.d.next = self.s_discard.val();
                }
            } else if self.pack_count.word.val() == self.c_zero32.val() {
                self.state.d.next = self.s_reply.val();
            } else if self.command.q.val() == self.c_write.val() {
                self.state.d.next = self.s_data.val();
            } else {
                // READ: its reply byte first, then the words.
                self.state.d.next = self.s_reply.val();
            }
        } else if self.state.q.val() == self.s_data.val() {
            self.in_ready.next = true;
            if self.in_valid.val() {
                // The bytes shift down, and the new one enters at the top of the space's word:
                // when the word is complete its first byte is at the bottom. (A loop of one
                // names the word's top byte where rust_hdl's Verilog can.)
                for i in 0..(self.bytes.len() - 1) {
                    self.bytes[i].d.next = self.bytes[i + 1].q.val();
                }
                if self.space.q.val() == self.c_space_matrix.val() {
                    for i in (self.mem_bytes.len() - 1)..self.mem_bytes.len() {
                        self.bytes[i].d.next = self.in_data.val();
                    }
                } else if self.space.q.val() == self.c_space_vector.val() {
                    for i in (VECTOR_WORD_BYTES - 1)..VECTOR_WORD_BYTES {
                        self.bytes[i].d.next = self.in_data.val();
                    }
                } else {
                    for i in (PROGRAM_WORD_BYTES - 1)..PROGRAM_WORD_BYTES {
                        self.bytes[i].d.next = self.in_data.val();
                    }
                }
                self.byte_index.d.next = self.byte_index.q.val() + self.c_one_byte.val();
                if self.byte_index.q.val() + self.c_one_byte.val() == self.word_bytes.val() {
                    self.state.d.next = self.s_write.val();
                }
            } else if self.idle.q.val() == self.c_idle_limit.val() {
                self.state.d.next = self.s_command.val();
            }
        } else if self.state.q.val() == self.s_discard.val() {
            // A refused WRITE's words: taken and dropped until the host stops sending, then
            // the refusal.
            self.in_ready.next = true;
            if !self.in_valid.val() & (self.idle.q.val() == self.c_idle_limit.val()) {
                self.state.d.next = self.s_reply.val();
            }
        } else if self.state.q.val() == self.s_write.val() {
            // A word of WRITE is complete: write it (held until the memories have).
            self.mem_active.next = true;
            self.mem_we.next = true;
            if self.mem_ready.val() {
                self.address.d.next = self.address.q.val() + self.c_one20.val();
                self.remaining.d.next = self.remaining.q.val() - self.c_one_word.val();
                self.byte_index.d.next = self.c_no_bytes.val();
                self.state.d.next = self.s_data.val();
                if self.remaining.q.val() == self.c_one_word.val() {
                    self.reply_kind.d.next = self.k_ack.val();
                    self.reply_left.d.next = self.c_one_byte.val();
                    self.state.d.next = self.s_reply.val();
                }
            }
        } else if self.state.q.val() == self.s_read.val() {
            // A word of READ: its address now, its data the next cycle.
            self.mem_active.next = true;
            self.state.d.next = self.s_read_wait.val();
        } else if self.state.q.val() == self.s_read_wait.val() {
            // (Held until the memories have the data.)
            self.mem_active.next = true;
            if self.mem_ready.val() {
                self.reply_kind.d.next = self.k_data.val();
                self.reply_left.d.next = self.word_bytes.val();
                self.byte_index.d.next = self.c_no_bytes.val();
                self.address.d.next = self.address.q.val() + self.c_one20.val();
                self.remaining.d.next = self.remaining.q.val() - self.c_one_word.val();
                self.state.d.next = self.s_reply.val();
                if self.space.q.val() == self.c_space_matrix.val() {
                    for i in 0..self.read_bytes.len() {
                        self.bytes[i].d.next = self.read_bytes[i].val();
                    }
                } else if self.space.q.val() == self.c_space_vector.val() {
                    // The element is registered first.
                    self.state.d.next = self.s_read_element.val();
                } else {
                    for i in 0..self.unpack_instruction.bytes.len() {
                        self.bytes[i].d.next = self.unpack_instruction.bytes[i].val();
                    }
                }
            }
        } else if self.state.q.val() == self.s_read_element.val() {
            for i in 0..self.unpack_element.bytes.len() {
                self.bytes[i].d.next = self.unpack_element.bytes[i].val();
            }
            self.state.d.next = self.s_reply.val();
        } else if self.state.q.val() == self.s_step.val() {
            if self.done.val() {
                // The reply reads the token and the cycles where the core holds them.
                self.reply_kind.d.next = self.k_step.val();
                self.byte_index.d.next = self.c_no_bytes.val();
                self.reply_left.d.next = self.c_step_bytes.val();
                self.state.d.next = self.s_reply.val();
                if self.step_aborted.val() {
                    // Stopped at the step limit: refused, saying so.
                    self.reply_kind.d.next = self.k_error.val();
                    self.why.d.next = self.c_refused_step_limit.val();
                    self.reply_left.d.next = self.c_error_bytes.val();
                }
            }
        } else if self.state.q.val() == self.s_reply.val() {
            // Send the bytes; READ goes on to its next word until none remain.
            self.out_valid.next = true;
            if self.out_ready.val() {
                for i in 0..(self.bytes.len() - 1) {
                    self.bytes[i].d.next = self.bytes[i + 1].q.val();
                }
                self.byte_index.d.next = self.byte_index.q.val() + self.c_one_byte.val();
                self.reply_left.d.next = self.reply_left.q.val() - self.c_one_byte.val();
                if self.reply_left.q.val() == self.c_one_byte.val() {
                    self.state.d.next = self.s_command.val();
                    if (self.command.q.val() == self.c_read.val())
                        & (self.remaining.q.val() != self.c_no_words.val())
                    {
                        self.state.d.next = self.s_read.val();
                    }
                }
            }
        } else {
            self.state.d.next = self.s_command.val();
        }
        if self.reset.val() {
            self.state.d.next = self.s_command.val();
        }
    }
}
