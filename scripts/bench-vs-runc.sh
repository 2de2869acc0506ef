#!/usr/bin/env bash
# Tokens per second of llama2.c's run.c, Monorail's float reference and its golden model, measured
# side by side: the three run interleaved, round after round, so machine noise hits all alike, and
# the medians and ratios are printed.
#
# Usage: scripts/bench-vs-runc.sh RUN_C_BINARY MODEL TOKENIZER [ROUNDS] [STEPS]
#   RUN_C_BINARY  llama2.c's run built by you (e.g. gcc -O3 -o run run.c -lm)
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
# Resolve the user's paths before moving to the repository.
absolute() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
runc=$(absolute "$1") model=$(absolute "$2") tokenizer=$(absolute "$3") rounds=${4:-11} steps=${5:-512}
for f in "$runc" "$model" "$tokenizer"; do
  [ -e "$f" ] || { echo "bench-vs-runc: $f does not exist" >&2; exit 2; }
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --quiet
monorail=target/release/monorail
rate() {
  local r
  r=$(grep -o 'achieved tok/s: [0-9.]*' | awk '{print $3}') || true
  [ -n "$r" ] || { echo "bench-vs-runc: a run printed no 'achieved tok/s' line" >&2; exit 1; }
  echo "$r"
}
declare -a c f g
for ((i = 0; i < rounds; i++)); do
  c+=("$("$runc" "$model" -z "$tokenizer" -n "$steps" -t 0 2>&1 >/dev/null | rate)")
  f+=("$("$monorail" run -e float --model "$model" -z "$tokenizer" -n "$steps" -t 0 2>&1 >/dev/null | rate)")
  g+=("$("$monorail" run -e golden --model "$model" -z "$tokenizer" -n "$steps" -t 0 2>&1 >/dev/null | rate)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
mc=$(median "${c[@]}") mf=$(median "${f[@]}") mg=$(median "${g[@]}")
echo "model: $model, $steps positions, greedy, median of $rounds interleaved rounds"
echo "| engine | tokens/s | relative to run.c |"
echo "| --- | ---: | ---: |"
awk -v c="$mc" -v f="$mf" -v g="$mg" 'BEGIN {
  printf "| llama2.c run.c | %.0f | 1.00x |\n", c
  printf "| monorail float | %.0f | %.2fx |\n", f, f / c
  printf "| monorail golden | %.0f | %.2fx |\n", g, g / c
}'
