//! The host link's protocol: the bytes of the commands (STEP, WRITE, READ, INFO), their replies,
//! the spaces and the errors, as the core's host port speaks it (`hw/src/host.rs`) and the host
//! (the simulators, `monorail chat`) speaks to it. It is part of the contract because both sides
//! read it: documented in `docs/boards.md`, "The host link".

use crate::isa;
use crate::target::Target;
use crate::timing::STEP_LIMIT_CYCLES;

/// Command bytes.
pub const STEP: u8 = 0x01;
/// Write words to a space.
pub const WRITE: u8 = 0x02;
/// Read words from a space.
pub const READ: u8 = 0x03;
/// Identify the core.
pub const INFO: u8 = 0x04;
/// Replies start with the command byte or'ed with this.
pub const REPLY: u8 = 0x80;
/// An error reply: this, the command refused (or the byte that is not one), and why
/// (`REFUSED_*`).
pub const ERROR: u8 = 0xee;
/// Bytes of an error reply.
pub const ERROR_REPLY_BYTES: usize = 3;
/// Why: the byte is not a command.
pub const REFUSED_COMMAND: u8 = 1;
/// Why: WRITE or READ named a space that does not exist.
pub const REFUSED_SPACE: u8 = 2;
/// Why: WRITE or READ reached past its space's end.
pub const REFUSED_RANGE: u8 = 3;
/// Why: the token step was stopped at the step limit (or on the small core at an instruction
/// without a routine, or past the program's last instruction).
pub const REFUSED_STEP_LIMIT: u8 = 4;
/// Space of the matrix memory.
pub const SPACE_MATRIX: u8 = 0;
/// Space of the vector address space.
pub const SPACE_VECTOR: u8 = 1;
/// Space of the program memory.
pub const SPACE_PROGRAM: u8 = 2;
/// Bytes of a word of the vector space: an element, an `i32`, little-endian. (A matrix word is
/// the target's lanes' bytes.)
pub const VECTOR_WORD_BYTES: usize = std::mem::size_of::<i32>();
/// Bytes of a word of the program space: an encoded instruction, little-endian.
pub const PROGRAM_WORD_BYTES: usize = isa::INSTRUCTION_BYTES;

/// Bytes of the STEP command: `0x01`, the token (2), the position (2).
pub const STEP_COMMAND_BYTES: usize = 5;
/// Bytes of STEP's reply: `0x81`, the next token (2), the cycles (4).
pub const STEP_REPLY_BYTES: usize = 7;
/// Bit times a byte takes on the UART: a start bit, eight data bits and a stop bit (8N1).
pub const UART_BITS_PER_BYTE: u32 = 10;

/// The seconds a token step takes through the host link at `baud` (its STEP command and reply
/// on the line, one after the other as a host that waits for each reply sends them) and
/// `step_cycles` of the core at `clock_hz`; the USB bridge's latency not counted.
pub fn step_seconds(baud: u32, clock_hz: f64, step_cycles: f64) -> f64 {
    let line_bytes = (STEP_COMMAND_BYTES + STEP_REPLY_BYTES) as f64;
    line_bytes * f64::from(UART_BITS_PER_BYTE) / f64::from(baud) + step_cycles / clock_hz
}
/// Bytes of INFO's reply: `0x84`, lanes (2), vector lanes (2), the target's config hash (8),
/// the protocol's version (1).
pub const INFO_REPLY_BYTES: usize = 14;
/// The version of this protocol, INFO's last byte. A host checks it before anything else: the
/// configuration hash is the target's, and does not change when the port's protocol does.
/// 2: the error replies of three bytes and this byte. Bitstreams built before it send no
/// version byte: their INFO reply is the 13 bytes before it.
pub const PROTOCOL_VERSION: u8 = 2;

/// The length of a reply whose first byte is `first`, to a command whose reply is `len` bytes:
/// an error reply's, or `len`.
pub fn reply_bytes(first: u8, len: usize) -> usize {
    if first == ERROR {
        ERROR_REPLY_BYTES
    } else {
        len
    }
}

/// INFO's reply from `target`'s core, first byte first: `0x84`, lanes, vector lanes, the
/// target's config hash, the protocol's version.
pub fn info_reply(target: &Target) -> Vec<u8> {
    let mut info = vec![REPLY | INFO];
    info.extend_from_slice(&(target.lanes as u16).to_le_bytes());
    info.extend_from_slice(&(target.vector_lanes as u16).to_le_bytes());
    info.extend_from_slice(&target.config_hash().to_le_bytes());
    info.push(PROTOCOL_VERSION);
    info
}

/// The STEP command for `token` at `pos`.
pub fn step_command(token: u16, pos: u16) -> [u8; STEP_COMMAND_BYTES] {
    let [t0, t1] = token.to_le_bytes();
    let [p0, p1] = pos.to_le_bytes();
    [STEP, t0, t1, p0, p1]
}

/// The header of WRITE (`count` words to `space` from `address`; the words follow) or READ.
fn memory_command(command: u8, space: u8, address: u32, count: u32) -> [u8; 10] {
    let mut bytes = [0u8; 10];
    bytes[0] = command;
    bytes[1] = space;
    bytes[2..6].copy_from_slice(&address.to_le_bytes());
    bytes[6..10].copy_from_slice(&count.to_le_bytes());
    bytes
}

/// WRITE's header: `count` words to `space` from `address`, the words to follow it.
pub fn write_command(space: u8, address: u32, count: u32) -> [u8; 10] {
    memory_command(WRITE, space, address, count)
}

/// READ: `count` words of `space` from `address`.
pub fn read_command(space: u8, address: u32, count: u32) -> [u8; 10] {
    memory_command(READ, space, address, count)
}

/// What a reply to `command` says after its first byte, or why it is not one: the reply must
/// start with the command byte or'ed with [`REPLY`] and be `len` bytes long.
pub fn parse_reply(command: u8, reply: &[u8], len: usize) -> Result<&[u8], String> {
    match reply.first() {
        Some(&b) if b == command | REPLY && reply.len() == len => Ok(&reply[1..]),
        Some(&ERROR) => Err(refusal(command, reply)),
        _ => Err(format!(
            "the host port answered {reply:02x?} to command 0x{command:02x}"
        )),
    }
}

/// What an error reply to `command` says.
fn refusal(command: u8, reply: &[u8]) -> String {
    let why = match reply {
        [ERROR, c, REFUSED_COMMAND] => format!("0x{c:02x} is not a command"),
        [ERROR, c, REFUSED_SPACE] if *c == command => "the space does not exist".to_string(),
        [ERROR, c, REFUSED_RANGE] if *c == command => {
            "its words reach past the space's end".to_string()
        }
        [ERROR, STEP, REFUSED_STEP_LIMIT] if command == STEP => format!(
            "the core stopped the token step without reaching its program's end (after \
             {STEP_LIMIT_CYCLES} cycles, or on the small core at an instruction it has no \
             routine for, or past the program's last instruction): the program in the board is \
             damaged or partly loaded (load it again: `monorail chat --load`, or a new \
             bitstream)"
        ),
        _ => format!("an error reply this host does not know: {reply:02x?}"),
    };
    format!("the host port refused command 0x{command:02x}: {why}")
}

/// STEP's reply: (the next token, the step's cycles).
pub fn parse_step_reply(reply: &[u8]) -> Result<(u16, u32), String> {
    let b = parse_reply(STEP, reply, STEP_REPLY_BYTES)?;
    Ok((
        u16::from_le_bytes([b[0], b[1]]),
        u32::from_le_bytes([b[2], b[3], b[4], b[5]]),
    ))
}

/// INFO's reply: (lanes, vector lanes, the target's config hash, the protocol's version).
pub fn parse_info_reply(reply: &[u8]) -> Result<(u16, u16, u64, u8), String> {
    let b = parse_reply(INFO, reply, INFO_REPLY_BYTES)?;
    let mut hash = [0u8; 8];
    hash.copy_from_slice(&b[4..12]);
    Ok((
        u16::from_le_bytes([b[0], b[1]]),
        u16::from_le_bytes([b[2], b[3]]),
        u64::from_le_bytes(hash),
        b[12],
    ))
}

/// How long a command waits for its next byte before the port abandons it and waits for a
/// command again: a tenth of a second, in cycles of a core clocked at `clock_hz`. A host that
/// stopped mid-command (a lost byte, a program stopped while it wrote) leaves the port in step
/// for the next session; a UART byte takes 8.3 ms at the slowest speed the boards allow.
pub fn idle_limit_cycles(clock_hz: u64) -> u64 {
    (clock_hz / 10).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_laid_out_as_documented() {
        assert_eq!(
            write_command(SPACE_VECTOR, 0x0102_0304, 5),
            [WRITE, 1, 4, 3, 2, 1, 5, 0, 0, 0]
        );
        assert_eq!(read_command(SPACE_PROGRAM, 7, 2)[..3], [READ, 2, 7]);
        assert_eq!(step_command(0x0201, 3), [STEP, 1, 2, 3, 0]);
        assert_eq!(
            parse_step_reply(&[STEP | REPLY, 0x87, 1, 0x10, 0x27, 0, 0]),
            Ok((391, 10_000))
        );
        assert!(parse_step_reply(&[STEP | REPLY, 1, 2]).is_err());
        for (reply, says) in [
            ([ERROR, WRITE, REFUSED_SPACE], "space does not exist"),
            ([ERROR, WRITE, REFUSED_RANGE], "past the space's end"),
            ([ERROR, 9, REFUSED_COMMAND], "0x09 is not a command"),
            ([ERROR, WRITE, 9], "does not know: [ee, 02, 09]"),
            ([ERROR, READ, REFUSED_RANGE], "does not know"),
        ] {
            let e = parse_reply(WRITE, &reply, 1).unwrap_err();
            assert!(
                e.contains("refused command 0x02") && e.contains(says),
                "{e}"
            );
        }
        let e = parse_step_reply(&[ERROR, STEP, REFUSED_STEP_LIMIT]).unwrap_err();
        assert!(e.contains("stopped the token step"), "{e}");
        assert!(parse_reply(WRITE, &[WRITE | REPLY], 1).is_ok());
        let mut info = vec![INFO | REPLY, 64, 0, 8, 0];
        info.extend_from_slice(&0xfeed_u64.to_le_bytes());
        info.push(PROTOCOL_VERSION);
        assert_eq!(
            parse_info_reply(&info),
            Ok((64, 8, 0xfeed, PROTOCOL_VERSION))
        );
        // A reply of another length (a bitstream from before the version) is not one.
        assert!(parse_info_reply(&info[..13]).is_err());
        let target = Target::builtin("sim-tiny").unwrap();
        assert_eq!(
            parse_info_reply(&info_reply(&target)),
            Ok((4, 4, target.config_hash(), PROTOCOL_VERSION))
        );
        assert_eq!(reply_bytes(ERROR, STEP_REPLY_BYTES), ERROR_REPLY_BYTES);
        assert_eq!(
            reply_bytes(STEP | REPLY, STEP_REPLY_BYTES),
            STEP_REPLY_BYTES
        );
    }
}
