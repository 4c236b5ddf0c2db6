#!/usr/bin/env bash
#   Comptoir - every test, from a fresh Debian 12 machine to one verdict.
#
#   usage: ./check.sh [--quick]
#
#   Installs the missing Debian packages, builds with -Werror, starts the test
#   environment (scripts/testenv.sh: its own PostgreSQL, Redis, broker, two
#   product workers and the edge on test ports, under var/test), then runs:
#     - every test program the Makefile lists in TESTS (unit, broker, edge,
#       launcher, integration...), with the test environment's variables;
#     - the end-to-end tests tests/e2e/test_*.py and the chaos tests
#       tests/chaos/test_*.py (workers killed with SIGKILL under load);
#     - the envelope fuzzer (libFuzzer) for 60 s;
#     - the test programs again, built with AddressSanitizer and UBSan.
#   Every suite's output is in var/test/logs/<suite>.log. The PASS:/FAIL:
#   lines of all suites are added up (a suite that dies without its summary
#   line counts as one failure) and the last line is `N passed, N failed`.
#   Exits non-zero when anything failed. Stops what it started, always.
#
#   --quick   skip the fuzz run and the sanitizer build
set -u
ROOT=$(cd "$(dirname "$0")" && pwd -P)
cd "$ROOT" || exit 1
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
# shellcheck source=scripts/system.sh
. scripts/system.sh

QUICK=
for arg in "$@"; do
    case $arg in
        --quick) QUICK=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^#/, ""); if (substr($0, 1, 3) == "   ") $0 = substr($0, 4); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "check.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

LOGS=$ROOT/var/test/logs
FUZZ_SECONDS=${COMPTOIR_FUZZ_SECONDS:-60}
TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()
START=$(date +%s)
rm -rf "$LOGS"
mkdir -p "$LOGS"

say () { echo "check: $*" >&2; }

finish () {
    echo
    echo "== summary ($(( $(date +%s) - START )) s; logs in $LOGS/)"
    local line
    for line in "${SUMMARY[@]}"; do
        echo "  $line"
    done
    echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
    if [ "$TOTAL_FAILED" -gt 0 ]; then
        exit 1
    fi
    exit 0
}

record () {     # record SUITE PASSED FAILED [NOTE]
    TOTAL_PASSED=$((TOTAL_PASSED + $2))
    TOTAL_FAILED=$((TOTAL_FAILED + $3))
    SUMMARY+=("$(printf '%-28s %3d passed, %3d failed %s' "$1" "$2" "$3" "${4:-}")")
    printf '%-28s %3d passed, %3d failed %s\n' "$1" "$2" "$3" "${4:-}"
}

#   run_suite NAME SECONDS CMD... : runs one suite, adds up its lines.
run_suite () {
    local name=$1 seconds=$2 log rc passed failed note=
    shift 2
    log=$LOGS/$name.log
    timeout --kill-after=10 "$seconds" "$@" >"$log" 2>&1 </dev/null
    rc=$?
    passed=$(grep -c '^PASS: ' "$log")
    failed=$(grep -c '^FAIL: ' "$log")
    if [ "$rc" = 77 ] && [ "$failed" = 0 ]; then
        note="(skipped)"
    elif ! grep -Eq '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log"; then
        failed=$((failed + 1))
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            note="(timed out after ${seconds}s)"
        else
            note="(died without its summary, exit $rc)"
        fi
    elif [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
        failed=1
        note="(exit $rc)"
    fi
    record "$name" "$passed" "$failed" "$note"
    if [ "$failed" != 0 ]; then
        grep '^FAIL: ' "$log" | sed 's/^/    /' | head -20
        tail -n 15 "$log" | sed 's/^/    | /'
    fi
}

#   run_step NAME CMD... : a step that is one test (build, start...).
run_step () {
    local name=$1 log
    shift
    log=$LOGS/$name.log
    if "$@" >"$log" 2>&1 </dev/null; then
        record "$name" 1 0
        return 0
    fi
    record "$name" 0 1
    tail -n 25 "$log" | sed 's/^/    | /'
    return 1
}

#   make_var VAR : a variable of the Makefile in the current folder (TESTS...).
make_var () {
    printf 'print-var:\n\t@echo $(%s)\n' "$1" | make -s -f Makefile -f - print-var 2>/dev/null
}

cleanup () {
    "$ROOT/scripts/testenv.sh" stop >>"$LOGS/testenv-stop.log" 2>&1
}

#   ---- 1. packages and build ---------------------------------------------
say "packages"
if ! run_step deps deps_install $COMPTOIR_DEPS_RUN $COMPTOIR_DEPS_CHECK; then
    finish
fi
build () {
    if [ -f Makefile ] && ! grep -q -- '-Werror' Makefile; then
        #   Configured without -Werror: configure again.
        ./configure -q
    fi
    sys_build && make -j2 check TESTS=
}
say "build"
if ! run_step build build; then
    finish
fi

trap cleanup EXIT
trap 'exit 130' INT TERM

#   ---- 2. test environment ------------------------------------------------
say "test environment"
ENV_READY=
if run_step testenv scripts/testenv.sh start; then
    # shellcheck source=/dev/null
    . var/test/env.sh
    ENV_READY=1
fi

#   ---- 3. test programs ---------------------------------------------------
TEST_PROGRAMS=$(make_var TESTS)
say "test programs: $TEST_PROGRAMS"
RAN_SCRIPTS=" "
for program in $TEST_PROGRAMS; do
    case $program in
        *.py)
            RAN_SCRIPTS="$RAN_SCRIPTS$program "
            run_suite "e2e-$(basename "$program" .py)" 300 python3 "$program" ;;
        *)
            run_suite "$(basename "$program")" 600 "./$program" ;;
    esac
done

#   ---- 4. end-to-end and chaos (Python) -----------------------------------
for script in tests/e2e/test_*.py; do
    [ -f "$script" ] || continue
    case $RAN_SCRIPTS in *" $script "*) continue ;; esac
    say "$script"
    run_suite "e2e-$(basename "$script" .py)" 300 python3 "$script"
done
for script in tests/chaos/test_*.py; do
    [ -f "$script" ] || continue
    name=chaos-$(basename "$script" .py | sed 's/^test_//; s/_/-/g')
    say "$script"
    if [ -n "$ENV_READY" ]; then
        run_suite "$name" 240 python3 "$script"
    else
        record "$name" 0 1 "(no test environment)"
    fi
done

#   ---- 5. fuzzing ---------------------------------------------------------
fuzz () {
    local dir=var/test/fuzz flags
    mkdir -p "$dir/corpus"
    if [ -d tests/fuzz_corpus ]; then
        cp -n tests/fuzz_corpus/* "$dir/corpus/" 2>/dev/null
    fi
    flags=$(pkg-config --cflags --libs libczmq libzmq msgpack jansson libsodium)
    # shellcheck disable=SC2086
    clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -Iruntime tests/fuzz_envelope.c runtime/envelope.c runtime/logline.c \
        $flags -o "$dir/fuzz_envelope" || { echo "FAIL: fuzz_envelope_build"; return 1; }
    echo "PASS: fuzz_envelope_build"
    if ASAN_OPTIONS=detect_leaks=1 "$dir/fuzz_envelope" -max_total_time="$FUZZ_SECONDS" \
            -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
            -artifact_prefix="$dir/" "$dir/corpus"; then
        echo "PASS: fuzz_envelope_${FUZZ_SECONDS}s"
        echo "2 passed, 0 failed"
    else
        echo "FAIL: fuzz_envelope_${FUZZ_SECONDS}s (crash input in $dir/)"
        echo "1 passed, 1 failed"
        return 1
    fi
}
if [ -z "$QUICK" ] && [ -f tests/fuzz_envelope.c ]; then
    if command -v clang >/dev/null; then
        say "fuzzing the envelope for ${FUZZ_SECONDS}s"
        export -f fuzz
        export FUZZ_SECONDS
        run_suite fuzz-envelope $((FUZZ_SECONDS + 240)) bash -c fuzz
    else
        record fuzz-envelope 0 0 "(skipped: no clang)"
    fi
fi

#   ---- 6. sanitizers ------------------------------------------------------
#   The source tree is configured in place, which automake forbids for a
#   VPATH build, so the sanitizer build works on a copy of the sources
#   (tracked and new files, no build products) in build-asan/src.
asan_build () {
    local src=build-asan/src manifest=build-asan/manifest
    #   A copy made before the manifest existed cannot be trusted: start over.
    [ -f "$manifest" ] || rm -rf "$src"
    mkdir -p "$src"
    #   Modification times are kept, so make rebuilds only what changed.
    git ls-files -z -c -o --exclude-standard | grep -zv '^build-asan/' >"$manifest.new" || return 1
    #   A source moved or deleted since the last copy must go from the copy
    #   too: a stale header next to its includer would win over the new one.
    if [ -f "$manifest" ]; then
        comm -z -23 <(sort -z "$manifest") <(sort -z "$manifest.new") \
            | (cd "$src" && xargs -0 -r rm -f --)
    fi
    tar --null --ignore-failed-read -T "$manifest.new" -cf - 2>/dev/null | tar -xf - -C "$src" \
    || return 1
    mv -f "$manifest.new" "$manifest"
    (
        cd "$src" || exit 1
        if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
            autoreconf -fi || exit 1
        fi
        if [ ! -f Makefile ] || [ Makefile.in -nt Makefile ]; then
            ./configure -q CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
                LDFLAGS="-fsanitize=address,undefined" || exit 1
        fi
        make -j2 check TESTS=
    )
}
if [ -z "$QUICK" ]; then
    say "sanitizer build"
    if run_step asan-build asan_build; then
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
        cd build-asan/src || exit 1
        for program in $(make_var TESTS); do
            case $program in *.py) continue ;; esac
            run_suite "asan-$(basename "$program")" 900 "./$program"
        done
        cd "$ROOT" || exit 1
    fi
fi

finish
