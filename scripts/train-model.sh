#!/usr/bin/env bash
# Reproduce a committed model from nothing: its corpus and tokenizer (`monorail corpus`), then its
# training run (scripts/train.py, JAX on the CPU), into models/NAME/. Run with --help.
set -euo pipefail

# The training library, pinned: the only list to edit. CPU wheels from PyPI, about 650 MB
# installed (PyTorch's PyPI wheels bring CUDA and are several times larger).
PINS=(jax==0.4.38 jaxlib==0.4.38 optax==0.2.4 numpy==2.4.6)

usage() {
  cat <<EOF
Usage: scripts/train-model.sh NAME

Trains models/NAME from models/NAME/train.json: writes its corpus and tokenizer with
\`monorail corpus\`, trains with scripts/train.py and copies model.bin, tokenizer.bin,
reference.json and train.log into models/NAME/. Work files go to build/train/NAME/.
The pinned training library is installed into .tools/train-venv on first use (${PINS[*]}).
Tests and CI never train: they use the committed files.
EOF
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
name="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
model_dir="$root/models/$name"
if [[ ! -f "$model_dir/train.json" ]]; then
  echo "train-model: $model_dir/train.json not found; models with one: $(ls "$root/models")" >&2
  exit 2
fi

venv="$root/.tools/train-venv"
stamp="$venv/pins.txt"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "${PINS[*]}" ]]; then
  echo "train-model: installing ${PINS[*]} into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "${PINS[@]}"
  echo "${PINS[*]}" > "$stamp"
fi

work="$root/build/train/$name"
rm -rf "$work"
mkdir -p "$work/data" "$work/out"
(cd "$root" && cargo build --release --quiet)
corpus() { "$venv/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['corpus'][sys.argv[2]])" "$model_dir/train.json" "$1"; }
"$root/target/release/monorail" corpus --seed "$(corpus seed)" --stories "$(corpus stories)" \
  --heldout-stories "$(corpus heldout_stories)" --vocab "$(corpus vocab)" -o "$work/data"

"$venv/bin/python" "$root/scripts/train.py" --config "$model_dir/train.json" \
  --data "$work/data" --out "$work/out" 2>&1 | tee "$work/out/train.log"

cp "$work/out/model.bin" "$work/out/reference.json" "$work/out/train.log" "$model_dir/"
cp "$work/data/tokenizer.bin" "$model_dir/"
echo "train-model: wrote $model_dir" >&2
