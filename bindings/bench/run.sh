#!/usr/bin/env bash
# The binding overhead benchmark: calls/s of `balance` and `transfer`, one call at a time, on
# a fresh SQLite file, straight in Rust, through the FFI object from Rust, and through the
# Python, Kotlin and Node bindings (release builds). Usage: bindings/bench/run.sh [calls]
set -euo pipefail
cd "$(dirname "$0")/../.."
calls=${1:-20000}
bindings/ffi/generate.sh >/dev/null
cargo build --release -p obol-node
cp target/release/libobol_node.so bindings/node/obol.linux-x64-gnu.node
cargo run --release -q -p obol-ffi --example overhead -- "$calls"
PYTHONPATH=bindings/ffi/python python3 bindings/bench/overhead.py "$calls"
node bindings/bench/overhead.mjs "$calls"
bindings/ffi/kotlin-run.sh bindings/bench/Overhead.kt OverheadKt "$calls"
