# shellcheck shell=bash
#   Comptoir - build, keys, supervisor, readiness and seeds, shared by run.sh,
#   scripts/testenv.sh and check.sh.
#
#   Migrations are applied by the system itself (each context's workers run
#   them at start); the demo seed files are loaded only after /ready says
#   every context has a worker, so they always find their tables.

#   sys_build [CONFIGURE-ARGS...] : autoreconf when there is no configure,
#   configure when there is no Makefile, then make -j2.
sys_build () {
    if [ ! -x configure ]; then
        echo "comptoir: autoreconf -fi" >&2
        autoreconf -fi >&2 || return 1
    fi
    if [ ! -f Makefile ]; then
        echo "comptoir: ./configure $*" >&2
        ./configure -q "$@" >&2 || return 1
    fi
    echo "comptoir: make -j2" >&2
    make -j2 >&2 || return 1
}

#   sys_get CONFIG PATH : one setting (environment override first).
sys_get () {
    launcher/comptoir --config "$1" get "$2"
}

#   sys_supervisor_start CONFIG LOG [detach] : starts `comptoir up` in the
#   background; sets SYS_SUPERVISOR_PID. With "detach" it gets its own
#   session, so it outlives the terminal.
sys_supervisor_start () {
    local config=$1 log=$2 mode=${3:-}
    mkdir -p "$(dirname "$log")"
    if [ "$mode" = detach ]; then
        setsid launcher/comptoir up --config "$config" </dev/null >>"$log" 2>&1 &
    else
        launcher/comptoir up --config "$config" </dev/null >>"$log" 2>&1 &
    fi
    SYS_SUPERVISOR_PID=$!
}

#   sys_wait_ready URL SECONDS PID : waits until URL/ready answers 200, or
#   fails when the process PID exits or the time is up.
sys_wait_ready () {
    local url=$1 seconds=$2 pid=$3 code i
    for i in $(seq 1 $((seconds * 5))); do
        code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url/ready" 2>/dev/null || true)
        if [ "$code" = 200 ]; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "comptoir: the supervisor exited before $url/ready answered 200" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "comptoir: $url/ready did not answer 200 within ${seconds}s (last: $code)" >&2
    return 1
}

#   sys_seed CONFIG MARKER_DIR : loads sql/<context>/seed.sql once per
#   running context (supervisor/contexts) into that context's database, whose
#   tables its workers created at start (the seeds are idempotent too).
sys_seed () {
    local config=$1 markers=$2 seed ctx conninfo contexts
    mkdir -p "$markers"
    contexts=$(sys_get "$config" supervisor/contexts | tr ',' ' ')
    for ctx in ${contexts:-product}; do
        seed=sql/$ctx/seed.sql
        [ -f "$seed" ] || continue
        [ -f "$markers/.seeded-$ctx" ] && continue
        conninfo=$(sys_get "$config" "postgres/$ctx")
        if [ -z "$conninfo" ]; then
            echo "comptoir: no database for $ctx (postgres/$ctx): seed skipped" >&2
            continue
        fi
        echo "comptoir: loading $seed" >&2
        psql -X -q -v ON_ERROR_STOP=1 "$conninfo" -f "$seed" >/dev/null || return 1
        touch "$markers/.seeded-$ctx"
    done
    #   Demo accounts have passwords, which no seed file may hold: the
    #   customer context draws them at random, writes them to
    #   MARKER_DIR/demo-accounts.txt (0600) and prints them, once.
    case " ${contexts:-product} " in
        *" customer "*)
            actors/customer/comptoir-customer --config "$config" \
                --demo-accounts "$markers/demo-accounts.txt" || return 1 ;;
    esac
}

#   sys_pid_of PIDFILE : the pid in the file when that process is alive.
sys_pid_of () {
    local pid
    [ -f "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}

#   sys_supervisor_stop PIDFILE [PID] : SIGTERM, wait up to 30 s, SIGKILL.
sys_supervisor_stop () {
    local pid i
    pid=$(sys_pid_of "$1") || pid=${2:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "comptoir: supervisor $pid did not stop within 30 s: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
}
