#!/usr/bin/env bash
# Builds the Kotlin bindings (bindings/ffi/generate.sh), compiles Checkout.kt with the Kotlin
# compiler from npm and runs it on the JVM with Debian's JNA (apt-get install libjna-java).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f bindings/ffi/kotlin/libobol_ffi.so ] || bindings/ffi/generate.sh
(cd bindings/ffi/tests/kotlin && [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error)
kotlin=bindings/ffi/tests/kotlin/node_modules/kotlin-compiler
classpath=/usr/share/java/jna.jar:$kotlin/lib/kotlinx-coroutines-core-jvm.jar
out=$(mktemp -d)
"$kotlin/bin/kotlinc" bindings/ffi/kotlin/dev/obol/obol_ffi.kt examples/kotlin/Checkout.kt \
  -nowarn -cp "$classpath" -d "$out/checkout.jar"
java -Djna.library.path=bindings/ffi/kotlin \
  -cp "$out/checkout.jar:$classpath:$kotlin/lib/kotlin-stdlib.jar" CheckoutKt
