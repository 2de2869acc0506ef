//! The host port's protocol on the Verilated core: INFO, WRITE and READ of every space, a
//! program loaded through the port and run with STEP, and the errors. (Every co-simulated
//! token also goes through STEP.)

mod common;

use common::{bundle, core};
use monorail_contract::isa::assemble;
use monorail_contract::target::{Target, VectorMemory};
use monorail_contract::timing::token_cycles;
use monorail_hw::host::{ERROR, INFO, SPACE_MATRIX, SPACE_PROGRAM, SPACE_VECTOR, STEP};
use monorail_sim::rtl::Rtl;

fn machine(target: &Target) -> (Rtl, tempfile::TempDir) {
    let b = bundle(
        target,
        "end token=r0",
        vec![0; target.matrix_bytes()],
        vec![0; target.vector_space()],
    );
    let images = tempfile::TempDir::new().unwrap();
    b.write(images.path(), target).unwrap();
    let rtl = Rtl::load(target, b, &core(&target.name), images.path()).unwrap();
    (rtl, images)
}

#[test]
fn the_host_port_speaks_its_protocol() {
    let target = Target::builtin("sim-tiny").unwrap();
    let (mut rtl, _images) = machine(&target);

    // INFO: the core says what it is.
    rtl.send(&[INFO]).unwrap();
    let info = rtl.receive(13).unwrap();
    assert_eq!(info[0], 0x84);
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
        let back = rtl.read_words(SPACE_VECTOR, at, values.len(), 4).unwrap();
        for (i, (&v, b)) in values.iter().zip(&back).enumerate() {
            let bits = memory.bits();
            let expected = (v << (32 - bits)) >> (32 - bits);
            let got = i32::from_le_bytes(b[..4].try_into().unwrap());
            assert_eq!(got, expected, "{} element {i}", memory.name());
            assert_eq!(rtl.vector(at as usize + i).unwrap(), expected);
        }
    }

    // The matrix memory, in two tiles.
    for word in [7u32, target.matrix_tile_words as u32 + 3] {
        let words = vec![vec![1u8, 0x80, 0x7f, 0xff], vec![9, 8, 7, 6]];
        rtl.write_words(SPACE_MATRIX, word, &words).unwrap();
        assert_eq!(rtl.read_words(SPACE_MATRIX, word, 2, 4).unwrap(), words);
        assert_eq!(rtl.matrix(word as usize, 1).unwrap(), -128);
    }

    // A program through the port, then a step.
    let program = assemble("li dst=r3 imm=4242\nend token=r3 wait=sxu:1").unwrap();
    let words: Vec<Vec<u8>> = program
        .iter()
        .map(|i| i.encode().unwrap().to_le_bytes().to_vec())
        .collect();
    rtl.write_words(SPACE_PROGRAM, 0, &words).unwrap();
    assert_eq!(rtl.read_words(SPACE_PROGRAM, 0, 2, 16).unwrap(), words);
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
    assert_eq!(rtl.receive(2).unwrap(), vec![ERROR, 0x42]);
    rtl.send(&[0x03, 7, 0, 0, 0, 0, 1, 0, 0, 0]).unwrap();
    assert_eq!(rtl.receive(2).unwrap(), vec![ERROR, 7]);
    rtl.send(&[INFO]).unwrap();
    assert_eq!(rtl.receive(13).unwrap()[0], 0x84);
}

#[test]
fn a_core_built_without_tracing_refuses_to_dump_waveforms() {
    let target = Target::builtin("sim-tiny").unwrap();
    let (mut rtl, images) = machine(&target);
    let path = images.path().join("waves.vcd");
    let err = rtl.model().trace_open(&path).unwrap_err().to_string();
    assert!(
        err.contains("built without tracing") && err.contains("waves.vcd"),
        "{err}"
    );
    assert!(!path.exists());
    // The core still runs.
    rtl.send(&[INFO]).unwrap();
    assert_eq!(rtl.receive(13).unwrap()[0], 0x84);
}
