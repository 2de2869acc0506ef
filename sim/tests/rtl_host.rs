//! The host port's protocol on the Verilated core: INFO, WRITE and READ of every space, a
//! program loaded through the port and run with STEP, and the errors. (Every co-simulated
//! token also goes through STEP.)

mod common;

use common::{core, ending_bundle};
use monorail_contract::host::{
    idle_limit_cycles, read_command, write_command, ERROR, ERROR_REPLY_BYTES, INFO,
    INFO_REPLY_BYTES, PROGRAM_WORD_BYTES, PROTOCOL_VERSION, READ, REFUSED_COMMAND, REFUSED_RANGE,
    REFUSED_SPACE, REFUSED_STEP_LIMIT, REPLY, SPACE_MATRIX, SPACE_PROGRAM, SPACE_VECTOR, STEP,
    VECTOR_WORD_BYTES, WRITE,
};
use monorail_contract::isa::{assemble, encode_program, Instr};
use monorail_contract::target::{Target, VectorMemory};
use monorail_contract::timing::token_cycles;
use monorail_sim::rtl::Rtl;

fn machine(target: &Target) -> (Rtl, tempfile::TempDir) {
    machine_with(target, &[])
}

/// The program of assembly `text`, and its instructions as the host port's words.
fn program_words(text: &str) -> (Vec<Instr>, Vec<Vec<u8>>) {
    let program = assemble(text).unwrap();
    let bytes = encode_program(&program).unwrap();
    (program, bytes.chunks(16).map(<[u8]>::to_vec).collect())
}

/// [`machine`] with plusargs for the model.
fn machine_with(target: &Target, plusargs: &[String]) -> (Rtl, tempfile::TempDir) {
    let b = ending_bundle(target);
    let images = tempfile::TempDir::new().unwrap();
    b.write(images.path(), target).unwrap();
    let rtl = Rtl::load_with(target, b, &core(&target.name), images.path(), plusargs).unwrap();
    (rtl, images)
}

/// Two matrix words of `lanes` bytes written through the port from each of `at`, read back
/// through it and through the debug port; the words either side of them (below `end`), which
/// the memory's byte-wise writes must leave alone, read through the debug port before and after.
/// Every byte of the two words differs from the others (lane x 97 is one to one on bytes), and
/// about half are negative: a byte from another lane, group of lanes or word shows.
fn matrix_round_trip(rtl: &mut Rtl, lanes: usize, at: &[u32], end: u32) {
    let words: Vec<Vec<u8>> = (0..2)
        .map(|w| {
            (0..lanes)
                .map(|lane| 0x80u8.wrapping_add(((w * lanes + lane) as u8).wrapping_mul(97)))
                .collect()
        })
        .collect();
    let beside = |rtl: &mut Rtl, word: u32| -> Vec<i8> {
        [word.checked_sub(1), Some(word + 2).filter(|&w| w < end)]
            .into_iter()
            .flatten()
            .flat_map(|w| (0..lanes).map(move |lane| (w as usize, lane)))
            .map(|(w, lane)| rtl.matrix(w, lane).unwrap())
            .collect()
    };
    for &word in at {
        let before = beside(rtl, word);
        rtl.write_words(SPACE_MATRIX, word, &words).unwrap();
        assert_eq!(
            rtl.read_words(SPACE_MATRIX, word, 2, lanes).unwrap(),
            words,
            "word {word}"
        );
        for (w, bytes) in words.iter().enumerate() {
            for (lane, &byte) in bytes.iter().enumerate() {
                assert_eq!(rtl.matrix(word as usize + w, lane).unwrap(), byte as i8);
            }
        }
        assert_eq!(beside(rtl, word), before);
    }
}

#[test]
fn the_host_port_speaks_its_protocol() {
    let target = Target::builtin("sim-tiny").unwrap();
    let (mut rtl, _images) = machine(&target);

    // INFO: the core says what it is.
    rtl.send(&[INFO]).unwrap();
    let info = rtl.receive(INFO_REPLY_BYTES).unwrap();
    // Its bytes read one by one here, apart from `host::parse_info_reply`: the version last.
    assert_eq!(info[0], 0x84);
    assert_eq!(info[INFO_REPLY_BYTES - 1], PROTOCOL_VERSION);
    assert_eq!(u16::from_le_bytes([info[1], info[2]]), 4);
    assert_eq!(u16::from_le_bytes([info[3], info[4]]), 4);
    assert_eq!(
        u64::from_le_bytes(info[5..13].try_into().unwrap()),
        target.config_hash()
    );

    // The vector space: values at each memory's width, read back sign-extended.
    for memory in VectorMemory::ALL {
        let at = target.range_of(memory).start as u32 + 5;
        let values = [-3i32, 100, -(1 << 17) + 7, 123_456_789];
        let words: Vec<Vec<u8>> = values.iter().map(|v| v.to_le_bytes().to_vec()).collect();
        rtl.write_words(SPACE_VECTOR, at, &words).unwrap();
        let back = rtl
            .read_words(SPACE_VECTOR, at, values.len(), VECTOR_WORD_BYTES)
            .unwrap();
        for (i, (&v, b)) in values.iter().zip(&back).enumerate() {
            let bits = memory.bits();
            let expected = (v << (32 - bits)) >> (32 - bits);
            let got = i32::from_le_bytes(b[..4].try_into().unwrap());
            assert_eq!(got, expected, "{} element {i}", memory.name());
            assert_eq!(rtl.vector(at as usize + i).unwrap(), expected);
        }
    }

    // The matrix memory, in two tiles.
    matrix_round_trip(
        &mut rtl,
        target.lanes,
        &[7, target.matrix_tile_words as u32 + 3],
        target.matrix_words() as u32,
    );

    // A program through the port, then a step.
    let (program, words) = program_words("li dst=r3 imm=4242\nend token=r3 wait=sxu:1");
    rtl.write_words(SPACE_PROGRAM, 0, &words).unwrap();
    assert_eq!(
        rtl.read_words(SPACE_PROGRAM, 0, 2, PROGRAM_WORD_BYTES)
            .unwrap(),
        words
    );
    rtl.send(&[STEP, 1, 0, 0, 0]).unwrap();
    let mut reply = Vec::new();
    for _ in 0..200 {
        if let Ok(r) = rtl.receive(7) {
            reply = r;
            break;
        }
    }
    assert_eq!(reply[0], 0x81);
    assert_eq!(u16::from_le_bytes([reply[1], reply[2]]), 4242);
    assert_eq!(
        u32::from_le_bytes(reply[3..7].try_into().unwrap()) as u64,
        token_cycles(&program, &target, 0).unwrap()
    );

    // Refusals: an unknown command, an unknown space; the port then carries on.
    rtl.send(&[0x42]).unwrap();
    assert_eq!(
        rtl.receive(ERROR_REPLY_BYTES).unwrap(),
        vec![ERROR, 0x42, REFUSED_COMMAND]
    );
    rtl.send(&[0x03, 7, 0, 0, 0, 0, 1, 0, 0, 0]).unwrap();
    assert_eq!(
        rtl.receive(ERROR_REPLY_BYTES).unwrap(),
        vec![ERROR, READ, REFUSED_SPACE]
    );
    rtl.send(&[INFO]).unwrap();
    assert_eq!(rtl.receive(INFO_REPLY_BYTES).unwrap()[0], 0x84);
}

#[test]
fn wide_matrix_words_round_trip_through_the_port() {
    // Past 8 lanes each tile picks a read's byte within its group of 8 lanes, then among the
    // groups: 2 groups on `ecp5-45f`, 8 on `ulx3s-85f`. Words in the first and last tiles.
    for name in ["ecp5-45f", "ulx3s-85f"] {
        let target = Target::builtin(name).unwrap();
        let (mut rtl, _images) = machine(&target);
        let end = target.matrix_words() as u32;
        matrix_round_trip(&mut rtl, target.lanes, &[0, end - 2], end);
    }
}

#[test]
fn words_beyond_a_space_are_refused_and_a_stalled_command_is_abandoned() {
    let target = Target::builtin("sim-tiny").unwrap();
    let (mut rtl, _images) = machine(&target);
    let limit = idle_limit_cycles(target.clock_hz);
    let info = |rtl: &mut Rtl| {
        rtl.send(&[INFO]).unwrap();
        assert_eq!(rtl.receive(INFO_REPLY_BYTES).unwrap()[0], 0x84);
    };
    let program = rtl
        .read_words(SPACE_PROGRAM, 0, 1, PROGRAM_WORD_BYTES)
        .unwrap();

    // READs past a space's end, or from beyond any memory, are refused at once.
    let vector_end = target.vector_space() as u32;
    for (space, address, count) in [
        (SPACE_VECTOR, vector_end - 1, 2),
        (SPACE_VECTOR, vector_end, 1),
        (SPACE_MATRIX, target.matrix_words() as u32, 1),
        (SPACE_MATRIX, 1 << 24, 1),
        (SPACE_PROGRAM, 1, u32::MAX),
    ] {
        rtl.send(&read_command(space, address, count)).unwrap();
        assert_eq!(
            rtl.receive(ERROR_REPLY_BYTES).unwrap(),
            vec![ERROR, READ, REFUSED_RANGE],
            "{space} {address}"
        );
    }
    // No words at a space's end are not past it; a WRITE of none to an unknown space is
    // refused at once (it has no words to drop).
    rtl.send(&read_command(SPACE_VECTOR, vector_end, 0))
        .unwrap();
    assert_eq!(rtl.receive(1).unwrap(), vec![READ | REPLY]);
    rtl.send(&write_command(7, 0, 0)).unwrap();
    assert_eq!(
        rtl.receive(ERROR_REPLY_BYTES).unwrap(),
        vec![ERROR, WRITE, REFUSED_SPACE]
    );
    // The last word of a space is not past it.
    assert_eq!(
        rtl.read_words(SPACE_VECTOR, vector_end - 1, 1, VECTOR_WORD_BYTES)
            .unwrap()
            .len(),
        1
    );

    // A refused WRITE's words are taken and dropped, then the refusal: nothing is written.
    let words = target.program_words as u32;
    for (space, why) in [(SPACE_PROGRAM, REFUSED_RANGE), (7, REFUSED_SPACE)] {
        rtl.send(&write_command(space, words - 1, 2)).unwrap();
        rtl.send(&[0x55; 32]).unwrap();
        // (`receive` gives up after 1,000 quiet cycles)
        rtl.model().tick(limit - 2_000);
        assert!(
            rtl.receive(1).is_err(),
            "the refusal waits for the host to stop"
        );
        rtl.model().tick(2_000);
        assert_eq!(
            rtl.receive(ERROR_REPLY_BYTES).unwrap(),
            vec![ERROR, WRITE, why]
        );
        info(&mut rtl);
    }
    assert_eq!(
        rtl.read_words(SPACE_PROGRAM, 0, 1, PROGRAM_WORD_BYTES)
            .unwrap(),
        program
    );
    assert_eq!(
        rtl.read_words(SPACE_PROGRAM, words - 1, 1, PROGRAM_WORD_BYTES)
            .unwrap(),
        vec![vec![0u8; 16]]
    );

    // A command whose bytes stop coming waits for them up to the limit...
    rtl.send(&read_command(SPACE_VECTOR, 5, 1)[..4]).unwrap();
    rtl.model().tick(limit - 10);
    rtl.send(&read_command(SPACE_VECTOR, 5, 1)[4..]).unwrap();
    assert_eq!(rtl.receive(1).unwrap(), vec![READ | REPLY]);
    rtl.receive(4).unwrap();
    // ... and is abandoned after it, so the next session starts in step: here a WRITE stopped
    // after one word and two bytes of its second.
    rtl.write_words(SPACE_VECTOR, 5, &[vec![1, 0, 0, 0], vec![2, 0, 0, 0]])
        .unwrap();
    rtl.send(&write_command(SPACE_VECTOR, 5, 2)).unwrap();
    rtl.send(&[9, 0, 0, 0, 9, 0]).unwrap();
    rtl.model().tick(limit + 10);
    info(&mut rtl);
    assert_eq!((rtl.vector(5).unwrap(), rtl.vector(6).unwrap()), (9, 2));
}

/// A token step that never reaches its program's end (here a program that was never loaded:
/// its words decode as `nop`, and the fetch wraps around) is stopped at the step limit, and STEP
/// is answered with an error; the port then works on, and a loaded program runs.
#[test]
fn a_step_without_an_end_is_stopped_at_the_step_limit() {
    let target = Target::builtin("sim-tiny").unwrap();
    let limit = 5_000u64;
    let (mut rtl, _images) = machine_with(&target, &[format!("+monorail_step_limit={limit}")]);
    let nothing = vec![vec![0u8; 16]; target.program_words];
    rtl.write_words(SPACE_PROGRAM, 0, &nothing).unwrap();
    rtl.send(&[STEP, 1, 0, 0, 0]).unwrap();
    // (`receive` gives up after 1,000 quiet cycles)
    rtl.model().tick(limit - 1_500);
    assert!(rtl.receive(1).is_err(), "the step runs up to its limit");
    let reply = rtl.receive(ERROR_REPLY_BYTES).unwrap();
    assert_eq!(reply, vec![ERROR, STEP, REFUSED_STEP_LIMIT]);
    let e = monorail_contract::host::parse_step_reply(&reply).unwrap_err();
    assert!(e.contains("without reaching its program's end"), "{e}");
    let (program, words) = program_words("li dst=r3 imm=77\nend token=r3 wait=sxu:1");
    rtl.write_words(SPACE_PROGRAM, 0, &words).unwrap();
    rtl.send(&[STEP, 1, 0, 0, 0]).unwrap();
    let reply = rtl.receive(7).unwrap();
    assert_eq!(
        monorail_contract::host::parse_step_reply(&reply).unwrap(),
        (77, token_cycles(&program, &target, 0).unwrap() as u32)
    );
}

#[test]
fn a_core_built_without_tracing_refuses_to_dump_waveforms() {
    let target = Target::builtin("sim-tiny").unwrap();
    let (mut rtl, images) = machine(&target);
    let path = images.path().join("waves.vcd");
    let err = rtl
        .model()
        .trace_open(&path, target.clock_hz)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("built without tracing") && err.contains("waves.vcd"),
        "{err}"
    );
    assert!(!path.exists());
    // The core still runs.
    rtl.send(&[INFO]).unwrap();
    assert_eq!(rtl.receive(INFO_REPLY_BYTES).unwrap()[0], 0x84);
}

/// The small core's top speaks the same protocol through the same port: its program words go to
/// the vector memory as four elements each (written in four cycles, read in five), which the
/// port waits for.
#[test]
fn the_small_core_speaks_the_protocol_through_the_same_port() {
    let target = Target::builtin("icebreaker").unwrap();
    let (mut rtl, _images) = machine(&target);
    rtl.send(&[INFO]).unwrap();
    let info = rtl.receive(INFO_REPLY_BYTES).unwrap();
    assert_eq!(
        monorail_contract::host::parse_info_reply(&info).unwrap(),
        (4, 2, target.config_hash(), PROTOCOL_VERSION)
    );

    // The vector space's first and last elements, and the matrix memory's first and last words.
    let vector_end = target.vector_space() as u32;
    let values = [-3i32, 100, -(1 << 20) + 7, 123_456_789];
    let words: Vec<Vec<u8>> = values.iter().map(|v| v.to_le_bytes().to_vec()).collect();
    for at in [0, vector_end - values.len() as u32] {
        rtl.write_words(SPACE_VECTOR, at, &words).unwrap();
        assert_eq!(
            rtl.read_words(SPACE_VECTOR, at, values.len(), VECTOR_WORD_BYTES)
                .unwrap(),
            words
        );
        assert_eq!(rtl.vector(at as usize + 2).unwrap(), values[2]);
    }
    let matrix_end = target.matrix_words() as u32;
    matrix_round_trip(&mut rtl, target.lanes, &[0, matrix_end - 2], matrix_end);

    // Program words at the program's start and end, read back whole, and left apart from the
    // vector space's last elements, which lie just below them.
    let (_, last) = program_words("li dst=r7 imm=-5\nnop cycles=3");
    let last_at = target.program_words as u32 - last.len() as u32;
    rtl.write_words(SPACE_PROGRAM, last_at, &last).unwrap();
    assert_eq!(
        rtl.read_words(SPACE_PROGRAM, last_at, 2, PROGRAM_WORD_BYTES)
            .unwrap(),
        last
    );
    assert_eq!(
        rtl.read_words(
            SPACE_VECTOR,
            vector_end - values.len() as u32,
            4,
            VECTOR_WORD_BYTES
        )
        .unwrap(),
        words
    );
    let (program, words) = program_words("li dst=r3 imm=4242\nend token=r3 wait=sxu:1");
    rtl.write_words(SPACE_PROGRAM, 0, &words).unwrap();
    assert_eq!(
        rtl.read_words(SPACE_PROGRAM, 0, 2, PROGRAM_WORD_BYTES)
            .unwrap(),
        words
    );
    rtl.send(&[STEP, 1, 0, 0, 0]).unwrap();
    rtl.model()
        .tick(token_cycles(&program, &target, 0).unwrap());
    let reply = rtl.receive(7).unwrap();
    assert_eq!(
        monorail_contract::host::parse_step_reply(&reply).unwrap(),
        (4242, token_cycles(&program, &target, 0).unwrap() as u32)
    );

    // Refusals past the spaces' ends, as on the wide core.
    for (space, address) in [
        (SPACE_PROGRAM, target.program_words as u32),
        (SPACE_VECTOR, vector_end),
        (SPACE_MATRIX, matrix_end),
    ] {
        rtl.send(&read_command(space, address, 1)).unwrap();
        assert_eq!(
            rtl.receive(ERROR_REPLY_BYTES).unwrap(),
            vec![ERROR, READ, REFUSED_RANGE]
        );
    }

    // A program without an end: the small core stops past its last word, and STEP is refused.
    let nothing = vec![vec![0u8; 16]; target.program_words];
    rtl.write_words(SPACE_PROGRAM, 0, &nothing).unwrap();
    rtl.send(&[STEP, 1, 0, 0, 0]).unwrap();
    let mut reply = Vec::new();
    for _ in 0..100 {
        if let Ok(r) = rtl.receive(ERROR_REPLY_BYTES) {
            reply = r;
            break;
        }
    }
    assert_eq!(reply, vec![ERROR, STEP, REFUSED_STEP_LIMIT]);
}

/// A small core's step that runs too long (here a `matvec` of 64 x 256, stopped inside its
/// routine's inner loop by the lowered limit) is stopped at the step limit as the wide core's
/// is; the next step's loops start afresh (a `matvec` again: two loops deep).
#[test]
fn the_small_core_stops_a_step_at_the_step_limit() {
    let target = Target::builtin("icebreaker").unwrap();
    let limit = 5_000u64;
    let (mut rtl, _images) = machine_with(&target, &[format!("+monorail_step_limit={limit}")]);
    let acc = target.range_of(VectorMemory::Accumulator).start;
    let input = target.range_of(VectorMemory::Input).start;
    let matvec =
        |rows, cols| format!("matvec dst=v{acc} w=m0 wreg=r0 x=v{input} rows={rows} cols={cols}");
    let (_, words) = program_words(&format!("{}\nend token=r0", matvec(64, 256)));
    rtl.write_words(SPACE_PROGRAM, 0, &words).unwrap();
    rtl.send(&[STEP, 1, 0, 0, 0]).unwrap();
    // (`receive` gives up after 1,000 quiet cycles)
    rtl.model().tick(limit - 1_500);
    assert!(rtl.receive(1).is_err(), "the step runs up to its limit");
    assert_eq!(
        rtl.receive(ERROR_REPLY_BYTES).unwrap(),
        vec![ERROR, STEP, REFUSED_STEP_LIMIT]
    );
    let (program, words) = program_words(&format!(
        "{}\nli dst=r3 imm=77\nend token=r3 wait=sxu:1",
        matvec(4, 16)
    ));
    rtl.write_words(SPACE_PROGRAM, 0, &words).unwrap();
    let cycles = token_cycles(&program, &target, 0).unwrap();
    rtl.send(&[STEP, 1, 0, 0, 0]).unwrap();
    rtl.model().tick(cycles);
    let reply = rtl.receive(7).unwrap();
    assert_eq!(
        monorail_contract::host::parse_step_reply(&reply).unwrap(),
        (77, cycles as u32)
    );
}
