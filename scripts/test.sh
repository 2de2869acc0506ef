#!/usr/bin/env bash
# The whole test suite, as CI runs it: the pinned toolchain (installed on first use and checked),
# formatting, lints, documentation and every test of the workspace.
#
# `cargo test --workspace` runs one test program after another. The command's end-to-end tests
# (tests/cli.rs: every board's bitstream, most of an hour of place and route on a fresh machine)
# keep both cores busy only while two long builds run; the libraries' tests (syntheses of every
# target, Verilated cores: a quarter of an hour, mostly one test at a time) run beside them
# instead of after them. Their output follows the command's; either failing fails the suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-tools.sh --check
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
cargo test --workspace --no-run

libraries_log="$(mktemp)"
# In a process group of its own (started with job control on), so that stopping the group
# stops the test program cargo runs and the tools it started, not cargo alone: the script
# exits early only when interrupted.
set -m
cargo test --workspace --exclude monorail >"$libraries_log" 2>&1 &
libraries=$!
set +m
trap 'kill -- -"$libraries" 2>/dev/null || true; rm -f "$libraries_log"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failed=()
cargo test -p monorail || failed+=("the command's tests (cargo test -p monorail)")
wait "$libraries" || failed+=("the libraries' tests (cargo test --workspace --exclude monorail)")
echo "--- the libraries' tests, run beside the command's"
cat "$libraries_log"
if ((${#failed[@]})); then
    printf 'FAILED: %s\n' "${failed[@]}" >&2
    exit 1
fi
