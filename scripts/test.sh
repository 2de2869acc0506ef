#!/usr/bin/env bash
# The whole test suite, as CI runs it: the pinned toolchain (installed on first use and checked),
# formatting, lints, documentation and every test of the workspace.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-tools.sh --check
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
cargo test --workspace
