//! The host link's client (`HostLink`) against a scripted byte link: what it sends for STEP, how
//! it reads the reply (its first byte within the step limit, then the rest), how it waits for a
//! WRITE's reply while loading, and the errors.

mod common;

use std::collections::VecDeque;

use common::ending_bundle;
use monorail_contract::host::{
    self as host, idle_limit_cycles, step_command, ERROR, INFO_REPLY_BYTES, PROTOCOL_VERSION,
    REFUSED_COMMAND, REFUSED_RANGE, REFUSED_STEP_LIMIT, REPLY, STEP, WRITE,
};
use monorail_contract::target::Target;
use monorail_contract::timing::STEP_LIMIT_CYCLES;
use monorail_sim::link::{ByteLink, HostLink};
use monorail_sim::{Machine, MachineError};

/// Records what is sent and each receive's request; answers from a script.
#[derive(Default)]
struct Scripted {
    sent: Vec<u8>,
    replies: VecDeque<u8>,
    requests: Vec<(usize, u64)>,
}

impl ByteLink for Scripted {
    fn send(&mut self, bytes: &[u8]) -> Result<(), MachineError> {
        self.sent.extend_from_slice(bytes);
        Ok(())
    }

    fn receive(&mut self, n: usize, compute_cycles: u64) -> Result<Vec<u8>, MachineError> {
        self.requests.push((n, compute_cycles));
        if self.replies.len() < n {
            return Err(MachineError::Input(format!(
                "sent {} of {n} bytes",
                self.replies.len()
            )));
        }
        Ok(self.replies.drain(..n).collect())
    }
}

fn link(replies: &[u8]) -> HostLink<Scripted> {
    let b = ending_bundle(&Target::builtin("sim-tiny").unwrap());
    let scripted = Scripted {
        replies: replies.iter().copied().collect(),
        ..Default::default()
    };
    HostLink::new(scripted, &b)
}

/// INFO's reply from a core of `target` speaking protocol `version`, or from one built before
/// the version (`None`: the reply without its last byte).
fn info_reply(target: &Target, version: Option<u8>) -> Vec<u8> {
    let mut reply = host::info_reply(target);
    reply.pop();
    reply.extend(version);
    reply
}

#[test]
fn info_checks_the_protocol_version_before_the_target() {
    let target = Target::builtin("sim-tiny").unwrap();
    // This protocol: the board is the target's.
    let mut host = link(&info_reply(&target, Some(PROTOCOL_VERSION)));
    let info = host.expect_target(&target).unwrap();
    assert_eq!(info.protocol_version, PROTOCOL_VERSION);
    assert_eq!(host.link().sent, vec![host::INFO]);
    assert_eq!(
        host.link().requests,
        vec![(INFO_REPLY_BYTES - 1, 0), (1, 0)]
    );
    // A bitstream from before the version: its reply stops a byte short, and says so.
    let mut host = link(&info_reply(&target, None));
    let e = host.expect_target(&target).unwrap_err().to_string();
    assert!(
        e.contains("without the host protocol's version")
            && e.contains(&format!("before host protocol {PROTOCOL_VERSION}"))
            && e.contains("monorail bitstream"),
        "{e}"
    );
    // Bytes that are not an INFO reply (stale ones, another speed) are reported as they are.
    let mut stale = info_reply(&target, None);
    stale[0] = STEP | REPLY;
    let mut host = link(&stale);
    let e = host.expect_target(&target).unwrap_err().to_string();
    assert!(
        e.contains("sent 0 of 1 bytes") && !e.contains("built before"),
        "{e}"
    );
    // Another version, even with the target's hash, is refused, naming both.
    let mut host = link(&info_reply(&target, Some(PROTOCOL_VERSION + 1)));
    let e = host.expect_target(&target).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "speaks host protocol {} and this monorail speaks {PROTOCOL_VERSION}",
            PROTOCOL_VERSION + 1
        )),
        "{e}"
    );
    // The version right, the target another: refused, naming the target.
    let other = Target::builtin("ulx3s-85f").unwrap();
    let mut host = link(&info_reply(&other, Some(PROTOCOL_VERSION)));
    let e = host.expect_target(&target).unwrap_err().to_string();
    assert!(e.contains("target sim-tiny"), "{e}");
}

#[test]
fn a_step_reply_is_read_its_first_byte_within_the_step_limit() {
    let mut host = link(&[STEP | REPLY, 7, 1, 0x10, 0x27, 0, 0]);
    let result = host.step(3, 0).unwrap();
    assert_eq!((result.next, result.cycles), (263, 10_000));
    assert_eq!(host.link().sent, step_command(3, 0));
    assert_eq!(host.link().requests, vec![(1, STEP_LIMIT_CYCLES), (6, 0)]);
    // A token past the bundle's vocabulary (a board running another model) is refused, not
    // handed on to be looked up.
    let vocab_size = ending_bundle(&Target::builtin("sim-tiny").unwrap())
        .manifest
        .model
        .vocab_size;
    let [low, high] = (vocab_size as u16).to_le_bytes();
    let mut host = link(&[STEP | REPLY, low, high, 0x10, 0x27, 0, 0]);
    let e = host.step(3, 0).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "the board at position 0: the step answered token {vocab_size}, outside the \
             vocabulary of {vocab_size} tokens"
        )) && e.contains("chat --load"),
        "{e}"
    );
}

#[test]
fn a_step_stopped_at_the_limit_is_reported_as_such() {
    let mut host = link(&[ERROR, STEP, REFUSED_STEP_LIMIT]);
    let e = host.step(3, 0).unwrap_err().to_string();
    assert!(e.contains("without reaching its program's end"), "{e}");
    assert_eq!(host.link().requests, vec![(1, STEP_LIMIT_CYCLES), (2, 0)]);
    // Any other refusal is named as one.
    let mut host = link(&[ERROR, 0x42, REFUSED_COMMAND]);
    let e = host.step(3, 0).unwrap_err().to_string();
    assert!(
        e.contains("refused") && e.contains("0x42 is not a command"),
        "{e}"
    );
    // A token or position the bundle does not serve is refused before anything is sent, in the
    // words the other machines use.
    let mut host = link(&[]);
    let e = host.step(1 << 15, 0).unwrap_err().to_string();
    assert!(e.contains("is outside the vocabulary of"), "{e}");
    let e = host.step(0, 1 << 15).unwrap_err().to_string();
    assert!(e.contains("is past the bundle's context of"), "{e}");
    assert!(host.link().sent.is_empty());
}

#[test]
fn a_refused_write_while_loading_is_reported_as_the_refusal() {
    // The port answers a refused WRITE after its idle limit, once the words have stopped: the
    // link waits that long for the first byte, then reads the refusal's others.
    let target = Target::builtin("sim-tiny").unwrap();
    let bundle = ending_bundle(&target);
    let mut host = link(&[ERROR, WRITE, REFUSED_RANGE]);
    let e = host.load(&bundle, &target).unwrap_err().to_string();
    assert!(
        e.contains("refused command 0x02: its words reach past the space's end")
            && e.contains("is the board's core the bundle's target?"),
        "{e}"
    );
    assert_eq!(
        host.link().requests,
        vec![(1, idle_limit_cycles(target.clock_hz)), (2, 0)]
    );
    // Accepted: one byte each.
    let plan = monorail_sim::link::load_plan(&bundle, target.lanes).unwrap();
    assert!(plan.instructions > 0);
    let mut host = link(&[WRITE | REPLY; 64]);
    host.load(&bundle, &target).unwrap();
    assert!(host
        .link()
        .requests
        .iter()
        .all(|&r| r == (1, idle_limit_cycles(target.clock_hz))));
}
