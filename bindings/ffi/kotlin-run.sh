#!/usr/bin/env bash
# Compiles a Kotlin program with the generated bindings (bindings/ffi/kotlin, made by
# generate.sh) and runs it on the JVM: kotlin-run.sh <file.kt> <MainClassKt> [args...].
# The compiler comes from npm (tests/kotlin), JNA from Debian's libjna-java.
set -euo pipefail
cd "$(dirname "$0")/../.."
source=$1 main=$2
shift 2
(cd bindings/ffi/tests/kotlin && [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error)
kotlin=bindings/ffi/tests/kotlin/node_modules/kotlin-compiler
classpath=/usr/share/java/jna.jar:$kotlin/lib/kotlinx-coroutines-core-jvm.jar
out=$(mktemp -d)
"$kotlin/bin/kotlinc" bindings/ffi/kotlin/dev/obol/obol_ffi.kt "$source" \
  -nowarn -cp "$classpath" -d "$out/program.jar"
java -Djna.library.path=bindings/ffi/kotlin \
  -cp "$out/program.jar:$classpath:$kotlin/lib/kotlin-stdlib.jar" "$main" "$@"
