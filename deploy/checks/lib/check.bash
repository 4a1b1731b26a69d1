# Shared by the bash checks in deploy/checks (sourced, not run: deploy/check runs only
# deploy/checks/*.sh). `check NAME COMMAND...` runs one check, prints `ok`/`FAIL` with its
# time and its last line of output (all of it on failure), and counts into $passed and
# $failures.
check() {
    local name=$1
    shift
    local start end out status secs
    start=$(date +%s%N)
    out=$("$@" 2>&1)
    status=$?
    end=$(date +%s%N)
    secs=$(awk -v n=$((end - start)) 'BEGIN { printf "%.2f", n / 1e9 }')
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
        printf 'ok    %-58s %6ss  %s\n' "$name" "$secs" "$(printf '%s\n' "$out" | tail -n 1)"
    else
        failures=$((failures + 1))
        printf 'FAIL  %-58s %6ss\n' "$name" "$secs"
        printf '%s\n' "$out" | sed 's/^/      /'
    fi
}
