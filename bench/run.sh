#!/usr/bin/env bash
#   Comptoir - benchmarks (not part of check.sh). Loopback only.
#
#   usage: bench/run.sh [http|mdp|all] [--seconds N] [--no-cache]
#
#   http  nginx (one worker) answering a fixed product-sized JSON body, then
#         the edge's GET /api/v1/products/{id} (through the broker to a
#         product worker and PostgreSQL), each with `wrk -t2 -c64 --latency`;
#         prints requests/s, p50 and p99 and the edge/nginx ratio. The
#         edge's response cache is on as configured (routes.cfg gives the
#         product route a TTL of 1 s: nearly every request is a hit);
#         --no-cache turns the cache off (edge/cache = 0 in the test
#         configuration, then the edge is restarted by its supervisor) so
#         that every request goes to PostgreSQL and back.
#   mdp   bench/mdp_bench.c: a raw ROUTER/DEALER echo against the same echo
#         through comptoir-broker and N workers, with CURVE on and off, the
#         same number of requests in flight; prints the ratios.
#
#   Uses the test environment (scripts/testenv.sh), started here when it is
#   not running and stopped again afterwards. Results: var/bench/.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT" || exit 1
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

WHAT=all
SECONDS_EACH=10
NO_CACHE=
while [ $# -gt 0 ]; do
    case $1 in
        http|mdp|all) WHAT=$1 ;;
        --seconds) SECONDS_EACH=${2:?}; shift ;;
        --no-cache) NO_CACHE=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^#/, ""); if (substr($0, 1, 3) == "   ") $0 = substr($0, 4); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "bench: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

B=var/bench
NGINX_PORT=18090
mkdir -p "$B"
deps_install $COMPTOIR_DEPS_RUN $COMPTOIR_DEPS_BENCH || exit 1
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

ensure_env () {
    if [ ! -f var/test/env.sh ] || ! curl -sf -o /dev/null http://127.0.0.1:18080/ready; then
        echo "bench: starting the test environment" >&2
        scripts/testenv.sh start || exit 1
        STARTED_ENV=1
    elif [ -n "$NO_CACHE" ]; then
        echo "bench: --no-cache needs to start the system itself; stop the running one" \
             "(scripts/testenv.sh stop)" >&2
        exit 1
    fi
    # shellcheck source=/dev/null
    . var/test/env.sh
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
    "$B/mdp_bench" --broker broker/comptoir-broker --dir "$B/mdp" --seconds "$SECONDS_EACH"
}

case $WHAT in
    http) bench_http ;;
    mdp) bench_mdp ;;
    all) bench_http; bench_mdp ;;
esac
