#!/usr/bin/env bash
# Builds the Kotlin bindings (bindings/ffi/generate.sh) once, then compiles and runs
# Checkout.kt (see bindings/ffi/kotlin-run.sh; needs Debian's libjna-java).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f bindings/ffi/kotlin/libobol_ffi.so ] || bindings/ffi/generate.sh
bindings/ffi/kotlin-run.sh examples/kotlin/Checkout.kt CheckoutKt
