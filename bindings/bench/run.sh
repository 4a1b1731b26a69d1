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
(cd bindings/ffi/tests/kotlin && [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error)
kotlin=bindings/ffi/tests/kotlin/node_modules/kotlin-compiler
classpath=/usr/share/java/jna.jar:$kotlin/lib/kotlinx-coroutines-core-jvm.jar
out=$(mktemp -d)
"$kotlin/bin/kotlinc" bindings/ffi/kotlin/dev/obol/obol_ffi.kt bindings/bench/Overhead.kt \
  -nowarn -cp "$classpath" -d "$out/overhead.jar"
java -Djna.library.path=bindings/ffi/kotlin \
  -cp "$out/overhead.jar:$classpath:$kotlin/lib/kotlin-stdlib.jar" OverheadKt "$calls"
