#!/usr/bin/env bash
#   Comptoir - benchmarks (not part of check.sh). Loopback only.
#
#   usage: bench/run.sh [http|mdp|checkout|cart|pos|freshness|dashboard|all]
#                       [--seconds N] [--no-cache] [--connections N] [--carts N]
#                       [--pgbench-scale N] [--registers N] [--samples N]
#                       [--pace MS]
#
#   http      nginx (one worker) answering a fixed product-sized JSON body,
#             then the edge's GET /api/v1/products/{id} (through the broker
#             to a product worker and PostgreSQL), each with `wrk -t2 -c64
#             --latency`; prints requests/s, p50 and p99 and the edge/nginx
#             ratio. The edge's response cache is on as configured
#             (routes.cfg gives the product route a TTL of 1 s: nearly every
#             request is a hit); --no-cache turns the cache off (edge/cache = 0
#             in the test configuration, then the edge is restarted by its
#             supervisor) so that every request goes to PostgreSQL and back.
#   mdp       bench/mdp_bench.c: a raw ROUTER/DEALER echo against the same
#             echo through comptoir-broker and N workers, with CURVE on and
#             off, the same number of requests in flight; prints the ratios.
#   checkout  POST /api/v1/checkout with wrk (bench/checkout.lua): 32
#             connections (--connections), as many customers, one prepared
#             guest cart (one unit of a product given a large stock at web)
#             per request, a fresh Idempotency-Key, tok_visa; only 201s
#             count. Then, on the same PostgreSQL cluster, `pgbench -i -s 32`
#             (--pgbench-scale) on a scratch database and `pgbench -c 32 -j 2
#             -T <same seconds>` (TPC-B-like). Prints checkouts/s and their
#             p95, pgbench's tps, the ratio, the targets of issue 4 (>= 0.25x,
#             p95 <= 25 ms), the stock check and the CPU each process used per
#             checkout (bench/cpu.py). Default 20 s each; --carts prepared
#             carts (default 300 for each second).
#   cart      POST /api/v1/carts/{id}/items (one unit of a priced product)
#             with wrk (bench/cart.lua), 32 connections, over 512 prepared
#             carts (--carts): once with the configured 3 cart workers, once
#             with cart/instances=1, each in a test environment started for
#             it (so none may be running in this slot). Prints adds/s, the
#             percentiles, the ratio, and checks that the carts' quantities
#             add up to the 2xx answers counted. Default 20 s each.
#   pos       POST /api/v1/sales (issue 8) with wrk (bench/pos.lua): 16
#             registers (--registers) spread over the 3 stores (the 6
#             seeded, the others inserted into the test cluster's
#             comptoir_sales by bench/prepare.py pos), each opened by its
#             store's cashier, one wrk thread and connection each with its
#             own token; 1 to 3 lines of the 8 cheapest products (given a
#             large stock at each store first), a fresh Idempotency-Key, a
#             cash payment over the total. Only 201s count. Then pgbench
#             TPC-B-like -c <registers> on a scratch database of the same
#             cluster for the same seconds. Prints sales/s, p50/p95/p99,
#             pgbench's tps, the ratio, the CPU per sale, and checks that
#             receipts are gapless per store and that comptoir_sales holds
#             exactly the 201s counted. Default 15 s.
#   freshness while 8 registers (--registers) of stores 1 and 2 sell as in
#             pos, bench/freshness.py rings up a sale every 200 ms at store
#             3's register (no other sale there: the marker) and polls the
#             dashboard as a manager until that store's sales_7d and
#             revenue_7d_cents include it; prints p50/p95/p99 of the time
#             from the 201 to visibility over 60 samples (--samples),
#             target within one second, the load's sales/s, and how many
#             sales reporting had applied when the load stopped. The load
#             is closed-loop (saturating) unless --pace MS puts MS
#             milliseconds between a register's answer and its next sale.
#             Three probe sales in a row not visible within 10 s end it.
#   dashboard GET /api/v1/reports/dashboard as a manager with wrk -t1 -c1
#             (--connections) for 10 s each (--seconds), with 10 days
#             (9,990 rows) then 1,000 days (999,000 rows) of synthetic
#             history in the reporting read models (bench/dashboard.py,
#             removed at the end); each time preceded by the same wrk on
#             GET /api/v1/locations (a fixed answer through edge, broker,
#             a context and PostgreSQL), the reference. Prints p50/p95/p99,
#             dashboard/reference, and 1,000 days/10 days raw and divided
#             by the reference's own ratio. Target (issue 8): p95 <= 5 ms
#             with 1,000,000 rows, the same as with 10,000.
#
#   Uses the test environment (scripts/testenv.sh) of the slot given by
#   COMPTOIR_TEST_VAR_DIR and COMPTOIR_TEST_PORT_OFFSET (default var/test
#   and 0), started here when it is not running and stopped again
#   afterwards. Results: var/bench/ (var/bench-<offset>/ in another slot).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT" || exit 1
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

WHAT=all
SECONDS_EACH=
NO_CACHE=
CONNECTIONS=
CARTS=
PGBENCH_SCALE=32
REGISTERS=
SAMPLES=60
PACE=
while [ $# -gt 0 ]; do
    case $1 in
        http|mdp|checkout|cart|pos|freshness|dashboard|all) WHAT=$1 ;;
        --seconds) SECONDS_EACH=${2:?}; shift ;;
        --no-cache) NO_CACHE=1 ;;
        --connections) CONNECTIONS=${2:?}; shift ;;
        --carts) CARTS=${2:?}; shift ;;
        --pgbench-scale) PGBENCH_SCALE=${2:?}; shift ;;
        --registers) REGISTERS=${2:?}; shift ;;
        --samples) SAMPLES=${2:?}; shift ;;
        --pace) PACE=${2:?}; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^#/, ""); if (substr($0, 1, 3) == "   ") $0 = substr($0, 4); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "bench: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

#   The slot: the same variables scripts/testenv.sh reads.
T=${COMPTOIR_TEST_VAR_DIR:-var/test}
OFFSET=${COMPTOIR_TEST_PORT_OFFSET:-0}
export COMPTOIR_TEST_VAR_DIR=$T COMPTOIR_TEST_PORT_OFFSET=$OFFSET
EDGE_PORT=$((18080 + OFFSET))

B=var/bench
if [ "$OFFSET" != 0 ]; then B=var/bench-$OFFSET; fi
NGINX_PORT=$((18090 + OFFSET))
mkdir -p "$B"
deps_install $COMPTOIR_DEPS_RUN $COMPTOIR_DEPS_BENCH || exit 1
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1)
if [ ! -x launcher/comptoir ]; then
    echo "bench: build first (./run.sh or make -j2)" >&2
    exit 1
fi

STARTED_ENV=
NGINX_STARTED=
cleanup () {
    if [ -n "$NGINX_STARTED" ] && [ -f "$B/nginx.pid" ]; then
        kill "$(cat "$B/nginx.pid")" 2>/dev/null
    fi
    if [ -n "$STARTED_ENV" ]; then
        scripts/testenv.sh stop >/dev/null 2>&1
    fi
}
trap cleanup EXIT

#   wrk_run NAME URL [HEADER] : prints "NAME req/s p50 p99" into $B/NAME.txt.
wrk_run () {
    local name=$1 url=$2 header=${3:-} out=$B/$1.wrk
    if [ -n "$header" ]; then
        wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency -H "$header" "$url" >"$out" 2>&1
    else
        wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency "$url" >"$out" 2>&1
    fi
    local rps p50 p99 errors
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    errors=$(awk '/Non-2xx or 3xx responses:/ {print $NF} /Socket errors:/ {print "socket:" $0}' "$out" | tr '\n' ' ')
    printf '%-8s %10s req/s   p50 %-9s p99 %-9s %s\n' "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" \
        "${errors:+errors: $errors}" | tee "$B/$name.txt"
}

env_running () {
    [ -f "$T/env.sh" ] && curl -sf -o /dev/null "http://127.0.0.1:$EDGE_PORT/ready"
}

ensure_env () {
    if ! env_running; then
        echo "bench: starting the test environment ($T, port offset $OFFSET)" >&2
        scripts/testenv.sh start || exit 1
        STARTED_ENV=1
    elif [ -n "$NO_CACHE" ]; then
        echo "bench: --no-cache needs to start the system itself; stop the running one" \
             "(scripts/testenv.sh stop)" >&2
        exit 1
    fi
    # shellcheck source=/dev/null
    . "$T/env.sh"
    if [ -n "$NO_CACHE" ]; then
        no_cache || exit 1
    fi
}

#   The test environment clears COMPTOIR_* from its environment, so the
#   switch goes into its configuration; the supervisor restarts the edge,
#   which reads it again.
no_cache () {
    local config=$COMPTOIR_TEST_CONFIG pid i
    python3 scripts/cfgpatch.py "$config" "$config.nocache" "edge/cache=0" \
        && mv "$config.nocache" "$config" || return 1
    pid=$(pgrep -f "comptoir-edge --config $config" | head -1)
    if [ -z "$pid" ]; then
        echo "bench: no edge process to restart" >&2
        return 1
    fi
    kill "$pid"
    for i in $(seq 1 50); do
        if ! kill -0 "$pid" 2>/dev/null && curl -sf -o /dev/null "$COMPTOIR_TEST_EDGE/ready"; then
            return 0
        fi
        sleep 0.2
    done
    echo "bench: the edge did not come back without its cache" >&2
    return 1
}

bench_http () {
    local SECONDS_EACH=${SECONDS_EACH:-10}   # wrk_run reads it (dynamic scope)
    ensure_env
    local id body
    id=$(curl -sf -H "X-API-Key: $COMPTOIR_TEST_API_KEY" "$COMPTOIR_TEST_EDGE/api/v1/products?per_page=1" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
    if [ -z "$id" ]; then
        echo "bench: no product to read from the edge" >&2
        return 1
    fi
    #   nginx answers the body the edge answers for that product.
    body=$(curl -sf -H "X-API-Key: $COMPTOIR_TEST_API_KEY" "$COMPTOIR_TEST_EDGE/api/v1/products/$id")
    printf '%s' "$body" >"$B/product.json"
    local user=
    if [ "$(id -u)" = 0 ]; then user="user root;"; fi
    cat >"$B/nginx.conf" <<EOF
$user
worker_processes 1;
daemon on;
pid $ROOT/$B/nginx.pid;
error_log $ROOT/$B/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = /product.json {
            default_type application/json;
            root $ROOT/$B;
        }
    }
}
EOF
    nginx -p "$ROOT/$B" -c "$ROOT/$B/nginx.conf" -e "$ROOT/$B/nginx-error.log" || return 1
    NGINX_STARTED=1
    sleep 0.3
    local cache
    cache=$(curl -s -o /dev/null -D - -H "X-API-Key: $COMPTOIR_TEST_API_KEY" \
        "$COMPTOIR_TEST_EDGE/api/v1/products/$id" | awk -F': ' 'tolower($1) == "x-cache" {print $2}' | tr -d '\r')
    echo "body: $(wc -c <"$B/product.json") bytes (product $id); wrk -t2 -c64 -d${SECONDS_EACH}s;" \
         "edge cache: ${cache:-off}"
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGINX_PORT/product.json")" != 200 ]; then
        echo "bench: nginx does not serve the body, see $B/nginx-error.log" >&2
        return 1
    fi
    wrk_run nginx "http://127.0.0.1:$NGINX_PORT/product.json"
    wrk_run edge "$COMPTOIR_TEST_EDGE/api/v1/products/$id" "X-API-Key: $COMPTOIR_TEST_API_KEY"
    kill "$(cat "$B/nginx.pid")" 2>/dev/null
    NGINX_STARTED=
    python3 - "$B/nginx.txt" "$B/edge.txt" <<'EOF'
import sys
def rps(path):
    try:
        return float(open(path).read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
nginx, edge = rps(sys.argv[1]), rps(sys.argv[2])
if nginx > 0:
    print("ratio edge/nginx: %.2f" % (edge / nginx))
EOF
}

bench_mdp () {
    if [ ! -f bench/mdp_bench.c ]; then
        echo "bench: bench/mdp_bench.c is missing" >&2
        return 1
    fi
    # shellcheck disable=SC2046
    cc -std=gnu11 -O2 -Wall -Wextra -Wno-unused-parameter -Iruntime bench/mdp_bench.c \
        broker/mdp_broker.c runtime/libcomptoir.a \
        $(pkg-config --cflags --libs libczmq libzmq msgpack jansson libsodium libpq hiredis) \
        -lm -o "$B/mdp_bench" || return 1
    "$B/mdp_bench" --broker broker/comptoir-broker --dir "$B/mdp" --seconds "${SECONDS_EACH:-10}"
}

#   result_field FILE NAME : the value of NAME=... on the RESULT line of FILE.
result_field () {
    awk -v name="$2" '/^RESULT / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) print kv[2] } }' "$1"
}

#   wrk_result DIR : whether DIR/wrk.txt has wrk's RESULT line (else says why).
wrk_result () {
    if ! grep -q '^RESULT ' "$1/wrk.txt"; then
        echo "bench: wrk gave no result" >&2
        cat "$1/wrk.txt" "$1/wrk.err" >&2
        return 1
    fi
}

#   env_roots : the supervisor (every context, broker, edge), PostgreSQL's
#   postmaster and Redis of this slot, for bench/cpu.py.
env_roots () {
    local file
    for file in "$T/run/comptoir.pid" "$T/pg/data/postmaster.pid" "$T/redis/redis.pid"; do
        [ -f "$file" ] && head -1 "$file"
    done
}

#   pg_db DBNAME : the test cluster's conninfo for another database.
pg_db () {
    printf '%s\n' "${COMPTOIR_TEST_PG_ADMIN/dbname=postgres/dbname=$1}"
}

#   pgbench_reference DIR CLIENTS SECONDS LABEL : TPC-B-like pgbench on a
#   scratch database of the same cluster (-i -s $PGBENCH_SCALE, then -c
#   CLIENTS -j 2 -T SECONDS): DIR/pgbench.txt, and the CPU per pgbench
#   transaction in DIR/cpu-pgbench.txt.
pgbench_reference () {
    local dir=$1 clients=$2 seconds=$3 label=$4 scratch=bench_pgbench
    if [ -z "$PGBENCH" ]; then
        echo "bench: pgbench not found (postgresql-client-15 ships it)" >&2
        return 1
    fi
    psql "$COMPTOIR_TEST_PG_ADMIN" -qc "DROP DATABASE IF EXISTS $scratch" -c "CREATE DATABASE $scratch" \
        >/dev/null || return 1
    echo "$label: pgbench -i -s $PGBENCH_SCALE" >&2
    "$PGBENCH" -i -q -s "$PGBENCH_SCALE" "$(pg_db $scratch)" >"$dir/pgbench-init.txt" 2>&1 || {
        cat "$dir/pgbench-init.txt" >&2; return 1; }
    # shellcheck disable=SC2046
    python3 bench/cpu.py snap "$dir/cpu-pgbench.before" $(env_roots)
    "$PGBENCH" -c "$clients" -j 2 -T "$seconds" "$(pg_db $scratch)" >"$dir/pgbench.txt" 2>&1
    # shellcheck disable=SC2046
    python3 bench/cpu.py snap "$dir/cpu-pgbench.after" $(env_roots)
    psql "$COMPTOIR_TEST_PG_ADMIN" -qc "DROP DATABASE IF EXISTS $scratch" >/dev/null
    local pg_tx
    pg_tx=$(awk '/number of transactions actually processed/ {split($NF, a, "/"); print a[1]}' "$dir/pgbench.txt")
    python3 bench/cpu.py diff "$dir/cpu-pgbench.before" "$dir/cpu-pgbench.after" "${pg_tx:-0}" \
        >"$dir/cpu-pgbench.txt"
}

bench_checkout () {
    local CONNECTIONS=${CONNECTIONS:-32}
    local seconds=${SECONDS_EACH:-20} dir=$B/checkout
    local carts=${CARTS:-$((seconds * 300))}
    if [ -z "$PGBENCH" ]; then
        echo "bench: pgbench not found (postgresql-client-15 ships it)" >&2
        return 1
    fi
    ensure_env
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "checkout: preparing $carts carts and $CONNECTIONS customers" >&2
    local t0=$SECONDS
    python3 bench/prepare.py checkout "$dir" "$carts" "$CONNECTIONS" || return 1
    echo "checkout: prepared in $((SECONDS - t0)) s" >&2
    local product stock_before
    read -r product _ _ stock_before <"$dir/product.txt"

    # shellcheck disable=SC2046
    python3 bench/cpu.py snap "$dir/cpu.before" $(env_roots)
    top_frame "$dir/top.txt" $((seconds / 2))
    local top_pid=$!
    local TIMEFORMAT='%U %S'
    { time BENCH_DIR=$dir BENCH_THREADS=2 BENCH_RUN="bench-$$-$(date +%s)" \
        wrk -t2 -c"$CONNECTIONS" -d"${seconds}s" --timeout 10s --latency -s bench/checkout.lua \
        "$COMPTOIR_TEST_EDGE/api/v1/checkout" >"$dir/wrk.txt" 2>"$dir/wrk.err"; } 2>"$dir/wrk.time"
    # shellcheck disable=SC2046
    python3 bench/cpu.py snap "$dir/cpu.after" $(env_roots)
    wait "$top_pid" 2>/dev/null
    wrk_result "$dir" || return 1
    local ok other exhausted wsec p50 p95 p99 statuses
    ok=$(result_field "$dir/wrk.txt" ok)
    other=$(result_field "$dir/wrk.txt" other)
    exhausted=$(result_field "$dir/wrk.txt" exhausted)
    wsec=$(result_field "$dir/wrk.txt" seconds)
    p50=$(result_field "$dir/wrk.txt" p50_ms)
    p95=$(result_field "$dir/wrk.txt" p95_ms)
    p99=$(result_field "$dir/wrk.txt" p99_ms)
    statuses=$(result_field "$dir/wrk.txt" statuses)
    python3 bench/cpu.py diff "$dir/cpu.before" "$dir/cpu.after" "$ok" >"$dir/cpu.txt"
    #   Requests wrk had in flight when it stopped still finish on the
    #   server: the stock may drop by up to --connections more than the 201s.
    sleep 1
    local stock_after
    stock_after=$(python3 bench/prepare.py checkout-verify "$dir")

    local tps pg_lat
    pgbench_reference "$dir" "$CONNECTIONS" "$seconds" checkout || return 1
    tps=$(awk '/^tps = / {print $3; exit}' "$dir/pgbench.txt")
    pg_lat=$(awk '/^latency average/ {print $4}' "$dir/pgbench.txt")

    python3 - "$ok" "$other" "$exhausted" "$wsec" "$p50" "$p95" "$p99" "${statuses:-}" "${tps:-0}" \
        "${pg_lat:-?}" "$stock_before" "$stock_after" "$CONNECTIONS" "$seconds" "$PGBENCH_SCALE" \
        "$(cat "$dir/wrk.time")" <<'EOF' | tee "$dir/summary.txt"
import sys
(ok, other, exhausted, wsec, p50, p95, p99, statuses, tps, pg_lat, before, after, conns,
 seconds, scale, wrk_cpu) = sys.argv[1:]
ok, other, exhausted = int(ok), int(other), int(exhausted)
wsec, p95, tps = float(wsec), float(p95), float(tps)
rate = ok / wsec if wsec else 0.0
drop = int(before) - int(after)
print("checkout: %d x 201 in %.1f s = %.1f checkouts/s; p50 %s ms, p95 %.1f ms, p99 %s ms"
      % (ok, wsec, rate, p50, p95, p99))
print("          non-201: %d%s%s" % (other, " (" + statuses + ")" if statuses else "",
      "; carts ran out" if exhausted else ""))
print("          web stock dropped by %d (201s %d; up to %s more were in flight at the end)"
      % (drop, ok, conns))
print("          wrk's own CPU: %s s user+sys" % " + ".join(wrk_cpu.split()))
print("pgbench:  TPC-B-like, scale %s, -c %s -j 2 -T %s: %.1f tps, latency average %s ms"
      % (scale, conns, seconds, tps, pg_lat))
ratio = rate / tps if tps else 0.0
invalid = exhausted or other > 0.01 * (ok + other) or not (ok <= drop <= ok + int(conns))
print("ratio checkouts/s / pgbench tps: %.3f (target >= 0.25: %s); p95 %.1f ms (target <= 25 ms: %s)%s"
      % (ratio, "met" if ratio >= 0.25 else "not met", p95, "met" if p95 <= 25 else "not met",
         "; RUN INVALID (non-201 over 1 %, carts ran out or stock mismatch)" if invalid else ""))
EOF
    echo "CPU per checkout (bench/cpu.py, $dir/cpu.txt):"
    cat "$dir/cpu.txt"
    echo "CPU per pgbench transaction ($dir/cpu-pgbench.txt):"
    cat "$dir/cpu-pgbench.txt"
}

#   cart_round LABEL SETTINGS : one environment with SETTINGS, prepared
#   carts, the wrk load; prints one line, leaves $B/cart-LABEL/.
cart_round () {
    local CONNECTIONS=${CONNECTIONS:-32}
    local label=$1 settings=$2 seconds=${SECONDS_EACH:-20} dir=$B/cart-$1
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "cart: starting the test environment with '${settings:-defaults}'" >&2
    COMPTOIR_TEST_SETTINGS=$settings scripts/testenv.sh start >"$dir/testenv.log" 2>&1 || {
        tail -5 "$dir/testenv.log" >&2; return 1; }
    STARTED_ENV=1
    # shellcheck source=/dev/null
    . "$T/env.sh"
    local workers
    workers=$(grep -c '^cart-' "$COMPTOIR_TEST_SUPERVISOR_STATUS")
    python3 bench/prepare.py cart "$dir" "${CARTS:-512}" || return 1
    local product
    read -r product _ <"$dir/product.txt"
    # shellcheck disable=SC2046
    python3 bench/cpu.py snap "$dir/cpu.before" $(env_roots)
    BENCH_DIR=$dir BENCH_THREADS=2 BENCH_PRODUCT=$product \
        wrk -t2 -c"$CONNECTIONS" -d"${seconds}s" --timeout 10s --latency -s bench/cart.lua \
        "$COMPTOIR_TEST_EDGE/api/v1/carts" >"$dir/wrk.txt" 2>"$dir/wrk.err"
    # shellcheck disable=SC2046
    python3 bench/cpu.py snap "$dir/cpu.after" $(env_roots)
    sleep 1
    local ok other wsec p50 p95 p99 statuses sum max
    ok=$(result_field "$dir/wrk.txt" ok)
    other=$(result_field "$dir/wrk.txt" other)
    wsec=$(result_field "$dir/wrk.txt" seconds)
    p50=$(result_field "$dir/wrk.txt" p50_ms)
    p95=$(result_field "$dir/wrk.txt" p95_ms)
    p99=$(result_field "$dir/wrk.txt" p99_ms)
    statuses=$(result_field "$dir/wrk.txt" statuses)
    if [ -z "$ok" ]; then
        echo "bench: wrk gave no result" >&2
        cat "$dir/wrk.txt" "$dir/wrk.err" >&2
        return 1
    fi
    python3 bench/cpu.py diff "$dir/cpu.before" "$dir/cpu.after" "$ok" >"$dir/cpu.txt"
    read -r sum max < <(python3 bench/prepare.py cart-verify "$dir")
    python3 - "$label" "$workers" "$ok" "$other" "$wsec" "$p50" "$p95" "$p99" "${statuses:-}" \
        "$sum" "$max" "$CONNECTIONS" <<'EOF' | tee "$dir/summary.txt"
import sys
label, workers, ok, other, wsec, p50, p95, p99, statuses, total, most, conns = sys.argv[1:]
ok, other, total, wsec = int(ok), int(other), int(total), float(wsec)
extra = total - ok
print("cart %-6s %s cart workers: %d x 2xx in %.1f s = %.1f adds/s; p50 %s ms, p95 %s ms, p99 %s ms;"
      " non-2xx %d%s" % (label, workers, ok, wsec, ok / wsec if wsec else 0, p50, p95, p99, other,
                         " (" + statuses + ")" if statuses else ""))
print("            quantities in the carts: %d = 2xx counted %+d (0 to +%s expected: requests in flight"
      " when wrk stopped); largest line %s of 999: %s"
      % (total, extra, conns, most, "consistent" if 0 <= extra <= int(conns) else "MISMATCH"))
EOF
    echo "CPU per add ($dir/cpu.txt):"
    cat "$dir/cpu.txt"
    scripts/testenv.sh stop >/dev/null 2>&1
    STARTED_ENV=
}

bench_cart () {
    if env_running; then
        echo "bench: cart starts the test environment twice with its own settings;" \
             "stop the running one first (scripts/testenv.sh stop)" >&2
        return 1
    fi
    cart_round three "${COMPTOIR_TEST_SETTINGS:-}" || return 1
    cart_round one "${COMPTOIR_TEST_SETTINGS:+$COMPTOIR_TEST_SETTINGS }cart/instances=1" || return 1
    python3 - "$B/cart-three/summary.txt" "$B/cart-one/summary.txt" <<'EOF'
import re, sys
def rate(path):
    match = re.search(r"= ([0-9.]+) adds/s", open(path).read())
    return float(match.group(1)) if match else 0.0
three, one = rate(sys.argv[1]), rate(sys.argv[2])
if one:
    print("ratio 3 workers / 1 worker: %.2f" % (three / one))
EOF
}

#   top_frame OUT AFTER : top's second frame (the CPU share of each process
#   over one second) AFTER seconds from now, in the background.
top_frame () {
    (sleep "$2"; top -b -n2 -d1 -w 160 | awk '/^top -/ { n++ } n == 2' | head -30 >"$1") &
}

#   pos_load DIR RUN SECONDS REGISTERS : wrk with bench/pos.lua over
#   DIR/registers.txt, one thread and connection per register, each thread
#   stopping itself after SECONDS (wrk's -d leaves 5 s of grace).
pos_load () {
    BENCH_DIR=$1 BENCH_RUN=$2 BENCH_SECONDS=$3 \
        wrk -t"$4" -c"$4" -d"$(($3 + 5))s" --timeout 10s --latency -s bench/pos.lua \
        "$COMPTOIR_TEST_EDGE/api/v1/sales" >"$1/wrk.txt" 2>"$1/wrk.err"
}

bench_pos () {
    local seconds=${SECONDS_EACH:-15} registers=${REGISTERS:-16} dir=$B/pos
    local run
    run=pos$$x$(date +%s)
    ensure_env
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "pos: opening $registers registers over stores 1,2,3, stock at each store" >&2
    python3 bench/prepare.py pos "$dir" "$registers" 1,2,3 || return 1
    # shellcheck disable=SC2046
    python3 bench/cpu.py snap "$dir/cpu.before" $(env_roots)
    top_frame "$dir/top.txt" $((seconds / 2))
    local top_pid=$!
    pos_load "$dir" "$run" "$seconds" "$registers"
    # shellcheck disable=SC2046
    python3 bench/cpu.py snap "$dir/cpu.after" $(env_roots)
    wait "$top_pid" 2>/dev/null
    wrk_result "$dir" || return 1
    local ok
    ok=$(result_field "$dir/wrk.txt" ok)
    python3 bench/cpu.py diff "$dir/cpu.before" "$dir/cpu.after" "$ok" >"$dir/cpu.txt"
    sleep 1
    python3 bench/prepare.py pos-verify "$run" >"$dir/verify.txt"
    local gapless=$?
    pgbench_reference "$dir" "$registers" "$seconds" pos || return 1
    python3 - "$dir/wrk.txt" "$dir/verify.txt" "$gapless" "$dir/pgbench.txt" "$registers" "$seconds" \
        "$PGBENCH_SCALE" <<'PY' | tee "$dir/summary.txt"
import re, sys
wrk, verify, gapless, pgbench, registers, seconds, scale = sys.argv[1:]
r = dict(kv.split("=", 1) for kv in
         next(l for l in open(wrk) if l.startswith("RESULT ")).split()[1:])
ok, other, inflight, wsec = int(r["ok"]), int(r["other"]), int(r["inflight"]), float(r["seconds"])
rate = ok / wsec if wsec else 0.0
lines = open(verify).read().splitlines()
recorded = int(next(l for l in lines if l.startswith("run: ")).split()[1])
unfinished = int(next(l for l in lines if l.startswith("unfinished: ")).split()[1])
pg = open(pgbench).read()
tps = float(re.search(r"^tps = ([0-9.]+)", pg, re.M).group(1)) if re.search(r"^tps = ", pg, re.M) else 0.0
lat = re.search(r"^latency average = ([0-9.]+)", pg, re.M)
print("pos:      %s registers: %d x 201 in %.2f s = %.1f sales/s; p50 %s ms, p95 %s ms, p99 %s ms"
      % (registers, ok, wsec, rate, r["p50_ms"], r["p95_ms"], r["p99_ms"]))
print("          non-201: %d%s; requests the script built but had no answer for when wrk stopped: %d"
      % (other, " (" + r["statuses"] + ")" if r["statuses"] else "", inflight))
for line in lines:
    if line.startswith("store "):
        print("          " + line)
exact = recorded == ok and unfinished == 0
print("          comptoir_sales holds %d completed sales of this run (%d unfinished): %s"
      % (recorded, unfinished, "exactly the 201s counted" if exact else "MISMATCH with %d 201s" % ok))
print("pgbench:  TPC-B-like, scale %s, -c %s -j 2 -T %s: %.1f tps, latency average %s ms"
      % (scale, registers, seconds, tps, lat.group(1) if lat else "?"))
print("ratio sales/s / pgbench tps: %.3f%s" % (rate / tps if tps else 0.0,
      "" if exact and gapless == "0" and other == 0 else "; RUN INVALID (see above)"))
PY
    echo "CPU per sale (bench/cpu.py, $dir/cpu.txt):"
    cat "$dir/cpu.txt"
    echo "CPU per pgbench transaction ($dir/cpu-pgbench.txt):"
    cat "$dir/cpu-pgbench.txt"
}

bench_freshness () {
    local registers=${REGISTERS:-8} dir=$B/freshness
    local run
    run=fresh$$x$(date +%s)
    ensure_env
    rm -rf "$dir"
    mkdir -p "$dir/load" "$dir/probe"
    echo "freshness: opening $registers registers over stores 1,2 and a probe register at store 3" >&2
    python3 bench/prepare.py pos "$dir/load" "$registers" 1,2 || return 1
    python3 bench/prepare.py pos "$dir/probe" 1 3 || return 1
    # shellcheck disable=SC2046
    python3 bench/cpu.py snap "$dir/cpu.before" $(env_roots)
    #   The load runs until the probe is done (SIGINT: wrk prints its result);
    #   exec, so that $! is wrk itself.
    (exec env BENCH_DELAY_MS="$PACE" BENCH_DIR="$dir/load" BENCH_RUN="$run" BENCH_SECONDS=3600 \
        wrk -t"$registers" -c"$registers" -d3600s --timeout 10s --latency -s bench/pos.lua \
        "$COMPTOIR_TEST_EDGE/api/v1/sales" >"$dir/load/wrk.txt" 2>"$dir/load/wrk.err") &
    local load_pid=$!
    sleep 2
    top_frame "$dir/top.txt" 5
    local top_pid=$!
    python3 bench/freshness.py "$dir/probe" "$SAMPLES" 200 >"$dir/probe.txt"
    local probe=$?
    kill -INT "$load_pid" 2>/dev/null
    wait "$load_pid"
    # shellcheck disable=SC2046
    python3 bench/cpu.py snap "$dir/cpu.after" $(env_roots)
    wait "$top_pid" 2>/dev/null
    cp "$dir/load/wrk.txt" "$dir/wrk.txt"
    #   How far behind reporting was when the load stopped.
    local sold applied
    sold=$(psql "$(pg_db comptoir_sales)" -XAtc "SELECT count (*) FROM sales WHERE status = 'completed'")
    applied=$(psql "$(pg_db comptoir_reporting)" -XAtc "SELECT count (*) FROM store_sales")
    echo "when the load stopped: comptoir_sales $sold completed sales, reporting's store_sales $applied" \
        >"$dir/backlog.txt"
    local ok
    ok=$(result_field "$dir/wrk.txt" ok)
    python3 bench/cpu.py diff "$dir/cpu.before" "$dir/cpu.after" "${ok:-0}" >"$dir/cpu.txt"
    cat "$dir/backlog.txt"
    if [ "$probe" != 0 ] || ! grep -q '^RESULT ' "$dir/probe.txt"; then
        echo "bench: the probe failed" >&2
        cat "$dir/probe.txt" >&2
        return 1
    fi
    python3 - "$dir/wrk.txt" "$dir/probe.txt" "$registers" "$PACE" <<'PY' | tee "$dir/summary.txt"
import sys
def result(path):
    line = next((l for l in open(path) if l.startswith("RESULT ")), "RESULT")
    return dict(kv.split("=", 1) for kv in line.split()[1:])
load, probe, registers, pace = result(sys.argv[1]), result(sys.argv[2]), sys.argv[3], sys.argv[4]
seconds = float(load.get("seconds", 0))
ok = int(load.get("ok", 0))
print("load:      %s registers at stores 1 and 2%s: %d x 201 in %.1f s = %.1f sales/s; p50 %s ms,"
      " p95 %s ms; non-201 %s" % (registers, ", %s ms between a register's sales" % pace if pace else
                                  " back to back", ok, seconds, ok / seconds if seconds else 0,
                                  load.get("p50_ms"), load.get("p95_ms"), load.get("other")))
p99 = float(probe["p99_ms"]) if probe["p99_ms"] != "-" else float("inf")
print("freshness: %s probe sales at store 3, 201 -> on the dashboard: p50 %s ms, p95 %s ms, p99 %s ms,"
      " max %s ms; not seen within 10 s: %s" % (probe["samples"], probe["p50_ms"], probe["p95_ms"],
                                              probe["p99_ms"], probe["max_ms"], probe["late"]))
late = int(probe["late"])
if int(probe["extra"]) > 0:
    verdict = "; RUN INVALID (another writer at store 3)"
elif late >= 3 and int(probe["samples"]) + late < 50:
    verdict = "; the probe ended early: reporting fell behind the load"
elif int(probe["samples"]) < 50:
    verdict = "; RUN INVALID (under 50 samples)"
else:
    verdict = ""
print("target p99 within one second: %s%s" % ("met" if p99 <= 1000 and late == 0 else "NOT MET", verdict))
PY
    python3 bench/prepare.py pos-verify "$run" | grep '^store '
    echo "CPU per load sale (bench/cpu.py, $dir/cpu.txt):"
    cat "$dir/cpu.txt"
}

#   latency_run OUT URL [HEADER...] : wrk with bench/latency.lua.
latency_run () {
    local out=$1 url=$2 args=() header
    shift 2
    for header in "$@"; do args+=(-H "$header"); done
    wrk -t1 -c"${CONNECTIONS:-1}" -d"${SECONDS_EACH:-10}s" --timeout 10s -s bench/latency.lua \
        "${args[@]}" "$url" >"$out" 2>&1
    if ! grep -q '^RESULT ' "$out"; then
        echo "bench: wrk gave no result for $url" >&2
        cat "$out" >&2
        return 1
    fi
}

bench_dashboard () {
    local dir=$B/dashboard days rows
    ensure_env
    rm -rf "$dir"
    mkdir -p "$dir"
    local manager
    manager=$(python3 -c 'import sys; sys.path.insert(0, "bench"); from prepare import Client, staff_login
print(staff_login(Client(), "manager", 1))') || return 1
    python3 bench/dashboard.py clean || return 1
    for days in 10 1000; do
        echo "dashboard: loading $days days of synthetic history" >&2
        rows=$(python3 bench/dashboard.py load "$days") || { python3 bench/dashboard.py clean; return 1; }
        echo "$rows" >"$dir/rows-$days.txt"
        latency_run "$dir/locations-$days.txt" "$COMPTOIR_TEST_EDGE/api/v1/locations" \
            "X-API-Key: $COMPTOIR_TEST_API_KEY" || { python3 bench/dashboard.py clean; return 1; }
        # shellcheck disable=SC2046
        python3 bench/cpu.py snap "$dir/cpu-$days.before" $(env_roots)
        latency_run "$dir/dashboard-$days.txt" "$COMPTOIR_TEST_EDGE/api/v1/reports/dashboard" \
            "X-API-Key: $COMPTOIR_TEST_API_KEY" "Authorization: Bearer $manager" \
            || { python3 bench/dashboard.py clean; return 1; }
        # shellcheck disable=SC2046
        python3 bench/cpu.py snap "$dir/cpu-$days.after" $(env_roots)
        python3 bench/cpu.py diff "$dir/cpu-$days.before" "$dir/cpu-$days.after" \
            "$(result_field "$dir/dashboard-$days.txt" requests)" >"$dir/cpu-$days.txt"
    done
    python3 bench/dashboard.py clean
    python3 - "$dir" "${CONNECTIONS:-1}" "${SECONDS_EACH:-10}" <<'PY' | tee "$dir/summary.txt"
import sys
dir, conns, seconds = sys.argv[1:]
def result(path):
    line = next(l for l in open(path) if l.startswith("RESULT "))
    return dict(kv.split("=", 1) for kv in line.split()[1:])
p95 = {}
for days in ("10", "1000"):
    rows = open("%s/rows-%s.txt" % (dir, days)).read().strip()
    ref, dash = result("%s/locations-%s.txt" % (dir, days)), result("%s/dashboard-%s.txt" % (dir, days))
    p95[days] = (float(dash["p95_ms"]), float(ref["p95_ms"]))
    print("history %4s days, daily_product %7s rows: dashboard %s requests, p50 %s p95 %s p99 %s ms;"
          " GET /locations p50 %s p95 %s p99 %s ms; dashboard/locations p95 %.2f; non-2xx %s/%s"
          % (days, rows, dash["requests"], dash["p50_ms"], dash["p95_ms"], dash["p99_ms"], ref["p50_ms"],
             ref["p95_ms"], ref["p99_ms"], p95[days][0] / p95[days][1], dash["non2xx"], ref["non2xx"]))
raw = p95["1000"][0] / p95["10"][0]
normalized = (p95["1000"][0] / p95["1000"][1]) / (p95["10"][0] / p95["10"][1])
print("wrk -t1 -c%s -d%ss each; dashboard p95, 1,000 days / 10 days: %.2f raw, %.2f against GET /locations"
      % (conns, seconds, raw, normalized))
print("targets: p95 <= 5 ms with 1,000,000 rows: %s (%.2f ms); cost flat with history (normalized <= 1.3): %s"
      % ("met" if p95["1000"][0] <= 5 else "NOT MET", p95["1000"][0], "met" if normalized <= 1.3 else "NOT MET"))
PY
    echo "CPU per dashboard request, 1,000 days ($dir/cpu-1000.txt):"
    cat "$dir/cpu-1000.txt"
}

case $WHAT in
    http) bench_http ;;
    mdp) bench_mdp ;;
    checkout) bench_checkout ;;
    cart) bench_cart ;;
    pos) bench_pos ;;
    freshness) bench_freshness ;;
    dashboard) bench_dashboard ;;
    all)
        bench_http; bench_mdp; bench_checkout
        if [ -n "$STARTED_ENV" ]; then
            scripts/testenv.sh stop >/dev/null 2>&1
            STARTED_ENV=
        fi
        bench_cart; bench_pos; bench_freshness; bench_dashboard ;;
esac
