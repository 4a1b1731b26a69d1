#!/usr/bin/env bash
# Builds the library (release) and generates its Kotlin, Swift and Python bindings into
# bindings/ffi/{kotlin,swift,python}, each beside a copy of the library it loads. The
# generator is the workspace's own uniffi-bindgen, the exact UniFFI version of the library.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p obol-ffi -p uniffi-bindgen
library=target/release/libobol_ffi.so
for language in kotlin swift python; do
  out=bindings/ffi/$language
  target/release/uniffi-bindgen generate "$library" --language "$language" --out-dir "$out" \
    --no-format --metadata-no-deps
  cp "$library" "$out/"
done
echo "bindings in bindings/ffi/{kotlin,swift,python}"
