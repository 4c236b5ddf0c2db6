#!/usr/bin/env bash
#   Comptoir - the test environment: the whole system on test ports, under
#   var/test, with its own PostgreSQL cluster and Redis.
#
#   usage: scripts/testenv.sh start|stop|status
#
#   start  builds nothing (run make first); derives var/test/comptoir.cfg from
#          etc/comptoir.cfg (broker 15555, edge 18080, admin 18081, Redis
#          16380, PostgreSQL socket port 15433; the supervisor's shipped
#          restart budget and cool-down), starts PostgreSQL (fresh databases
#          every time, durability off for speed) and Redis, creates keys,
#          starts the supervisor (broker, every context, edge), waits for /ready,
#          loads the seeds and writes var/test/env.sh:
#              . var/test/env.sh   # COMPTOIR_TEST_* for the tests
#   stop   stops the supervisor, Redis and PostgreSQL of the test environment.
#
#   Logs: var/test/log/<process>.log (supervisor.log, postgres.log, redis.log).
#
#   Two environments can run side by side (parallel work on one machine):
#   COMPTOIR_TEST_VAR_DIR (default var/test) moves the folder and
#   COMPTOIR_TEST_PORT_OFFSET (default 0, a multiple of 1000 below 10000)
#   shifts every port, e.g. 1000: edge 19080, broker 16555.
#   COMPTOIR_TEST_SETTINGS adds settings of its own, space-separated
#   path=value items applied last (e.g. "cart/instances=1" for a benchmark).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT" || exit 1
# shellcheck source=scripts/pg.sh
. scripts/pg.sh
# shellcheck source=scripts/redis.sh
. scripts/redis.sh
# shellcheck source=scripts/system.sh
. scripts/system.sh

T=${COMPTOIR_TEST_VAR_DIR:-var/test}
OFFSET=${COMPTOIR_TEST_PORT_OFFSET:-0}
case $OFFSET in
    0|1000|2000|3000|4000|5000|6000|7000|8000|9000) ;;
    *) echo "testenv: COMPTOIR_TEST_PORT_OFFSET must be a multiple of 1000 below 10000" >&2; exit 2 ;;
esac
PG_TEST_PORT=$((15433 + OFFSET))
REDIS_TEST_PORT=$((16380 + OFFSET))
BROKER_TEST_PORT=$((15555 + OFFSET))
EDGE_TEST_PORT=$((18080 + OFFSET))
ADMIN_TEST_PORT=$((18081 + OFFSET))
EVENTS_TEST_PORT=$((15560 + OFFSET))    # inventory 15560/1, order 15562/3, product 15564/5, sales 15566/7
CONFIG=$T/comptoir.cfg

testenv_stop () {
    sys_supervisor_stop "$T/run/comptoir.pid"
    redis_stop "$T/redis" "$REDIS_TEST_PORT"
    pg_stop "$T/pg" "$PG_TEST_PORT"
    rm -f "$T/env.sh"
}

testenv_start () {
    #   Settings come from the generated file only: no stray overrides from
    #   the developer's shell (run.sh's COMPTOIR_POSTGRES_* for example).
    local name
    for name in $(compgen -e | grep '^COMPTOIR_' | grep -v '^COMPTOIR_TEST_'); do
        unset "$name"
    done
    if [ ! -x launcher/comptoir ]; then
        echo "testenv: launcher/comptoir is not built (make -j2)" >&2
        return 1
    fi
    testenv_stop
    #   Fresh keys every time: the broker admits exactly this plan's processes.
    rm -rf "$T/keys"
    mkdir -p "$T/log" "$T/run" "$T/keys"
    rm -f "$T"/.seeded-*

    pg_start "$T/pg" "$PG_TEST_PORT" "$T/log/postgres.log" test || return 1
    local ctx
    for ctx in $COMPTOIR_PG_CONTEXTS; do
        pg_psql postgres -c "DROP DATABASE IF EXISTS comptoir_$ctx WITH (FORCE)" >/dev/null || return 1
    done
    pg_psql postgres -c "DROP DATABASE IF EXISTS comptoir_product_scratch WITH (FORCE)" >/dev/null || return 1
    pg_databases_ensure || return 1
    pg_psql postgres -c "CREATE DATABASE comptoir_product_scratch" >/dev/null || return 1
    redis_start "$T/redis" "$REDIS_TEST_PORT" "$T/log/redis.log" || return 1
    redis-cli -p "$REDIS_TEST_PORT" flushall >/dev/null

    local overrides=(
        "comptoir/var=$T"
        "keys/dir=$T/keys"
        "broker/bind=tcp://127.0.0.1:$BROKER_TEST_PORT"
        "broker/endpoint=tcp://127.0.0.1:$BROKER_TEST_PORT"
        "edge/port=$EDGE_TEST_PORT"
        "edge/admin_port=$ADMIN_TEST_PORT"
        "edge/consumers/demo/key_file=$T/keys/api/demo.key"
        #   The suites and the benchmarks share the demo key: limits they
        #   cannot reach. The rate-limit test has its own consumer with
        #   the default 100 a minute, and logins from 127.0.0.1 are many
        #   in the suites.
        "edge/consumers/demo/rate_limit/minute=1000000000"
        "edge/consumers/demo/rate_limit/hour=1000000000"
        "edge/consumers/demo/rate_limit/day=1000000000"
        "edge/consumers/ratetest/key_file=$T/keys/api/ratetest.key"
        "edge/consumers/ratetest/rate_limit/minute=100"
        "edge/consumers/ratetest/rate_limit/hour=0"
        "edge/consumers/ratetest/rate_limit/day=0"
        "edge/auth_rate_limit/minute=100000"
        "edge/jwks_refresh_s=2"
        "edge/jwks_min_interval_ms=500"
        "edge/cors/origins=https://shop.example.test"
        "edge/rate_limit_redis=1"
        "auth/jwt_keys_dir=$T/keys/jwt"
        #   The suites fail logins in a row to reach the lockout; the
        #   slowdown before it (1 s, 2 s ...) is tested in customer_it.
        "auth/slowdown_after=1000"
        "redis/host=127.0.0.1"
        "redis/port=$REDIS_TEST_PORT"
        #   The inventory's event relay, away from run.sh's 5560/5561.
        "inventory/events_publish=tcp://127.0.0.1:$EVENTS_TEST_PORT"
        "inventory/events_replay=tcp://127.0.0.1:$((EVENTS_TEST_PORT + 1))"
        "order/events_publish=tcp://127.0.0.1:$((EVENTS_TEST_PORT + 2))"
        "order/events_replay=tcp://127.0.0.1:$((EVENTS_TEST_PORT + 3))"
        "product/events_publish=tcp://127.0.0.1:$((EVENTS_TEST_PORT + 4))"
        "product/events_replay=tcp://127.0.0.1:$((EVENTS_TEST_PORT + 5))"
        "sales/events_publish=tcp://127.0.0.1:$((EVENTS_TEST_PORT + 6))"
        "sales/events_replay=tcp://127.0.0.1:$((EVENTS_TEST_PORT + 7))"
        #   The chaos test kills the order worker mid-checkout: its sagas
        #   are driven to an end within seconds, not half a minute.
        "order/recover_after_s=3"
        "order/recover_interval_ms=500"
        #   The same for a sales worker killed mid-sale (tests/chaos/test_kill_sales.py).
        "sales/recover_after_s=3"
        "sales/recover_interval_ms=500"
        "product/instances=2"
        #   The supervisor keeps its shipped settings (restart budget,
        #   backoff, cool-down): the chaos suites prove what users run.
    )
    for ctx in $COMPTOIR_PG_CONTEXTS; do
        overrides+=("postgres/$ctx=$(pg_conninfo "comptoir_$ctx")")
    done
    local extra
    for extra in ${COMPTOIR_TEST_SETTINGS:-}; do
        case $extra in
            */*=*) overrides+=("$extra") ;;
            *) echo "testenv: COMPTOIR_TEST_SETTINGS item '$extra' is not path/to/key=value" >&2; return 1 ;;
        esac
    done
    python3 scripts/cfgpatch.py etc/comptoir.cfg "$CONFIG" "${overrides[@]}" || return 1

    launcher/comptoir --config "$CONFIG" keys >>"$T/log/supervisor.log" 2>&1 || {
        echo "testenv: comptoir keys failed, see $T/log/supervisor.log" >&2; return 1; }
    sys_supervisor_start "$CONFIG" "$T/log/supervisor.log" detach
    local edge=http://127.0.0.1:$EDGE_TEST_PORT
    if ! sys_wait_ready "$edge" 60 "$SYS_SUPERVISOR_PID"; then
        tail -n 20 "$T/log/supervisor.log" >&2
        return 1
    fi
    sys_seed "$CONFIG" "$T" || return 1

    local key
    key=$(cat "$T/keys/api/demo.key")
    {
        echo "#  written by scripts/testenv.sh start; source it: . $T/env.sh"
        echo "export COMPTOIR_TEST_PG_ADMIN='$(pg_conninfo postgres)'"
        echo "export COMPTOIR_TEST_PG_PRODUCT='$(pg_conninfo comptoir_product_scratch)'"
        echo "export COMPTOIR_TEST_PG_PRODUCT_LIVE='$(pg_conninfo comptoir_product)'"
        echo "export COMPTOIR_TEST_REDIS='127.0.0.1:$REDIS_TEST_PORT'"
        echo "export COMPTOIR_TEST_BROKER='tcp://127.0.0.1:$BROKER_TEST_PORT'"
        echo "export COMPTOIR_TEST_EDGE='$edge'"
        echo "export COMPTOIR_TEST_ADMIN='http://127.0.0.1:$ADMIN_TEST_PORT'"
        echo "export COMPTOIR_TEST_API_KEY='$key'"
        echo "export COMPTOIR_TEST_RATE_KEY='$(cat "$T/keys/api/ratetest.key")'"
        echo "export COMPTOIR_TEST_CONFIG='$ROOT/$CONFIG'"
        echo "export COMPTOIR_TEST_VAR='$ROOT/$T'"
        echo "export COMPTOIR_TEST_EVENTS_INVENTORY='tcp://127.0.0.1:$EVENTS_TEST_PORT'"
        echo "export COMPTOIR_TEST_EVENTS_INVENTORY_REPLAY='tcp://127.0.0.1:$((EVENTS_TEST_PORT + 1))'"
        echo "export COMPTOIR_TEST_EVENTS_ORDER='tcp://127.0.0.1:$((EVENTS_TEST_PORT + 2))'"
        echo "export COMPTOIR_TEST_EVENTS_ORDER_REPLAY='tcp://127.0.0.1:$((EVENTS_TEST_PORT + 3))'"
        echo "export COMPTOIR_TEST_EVENTS_PRODUCT='tcp://127.0.0.1:$((EVENTS_TEST_PORT + 4))'"
        echo "export COMPTOIR_TEST_EVENTS_PRODUCT_REPLAY='tcp://127.0.0.1:$((EVENTS_TEST_PORT + 5))'"
        echo "export COMPTOIR_TEST_EVENTS_SALES='tcp://127.0.0.1:$((EVENTS_TEST_PORT + 6))'"
        echo "export COMPTOIR_TEST_EVENTS_SALES_REPLAY='tcp://127.0.0.1:$((EVENTS_TEST_PORT + 7))'"
        echo "export COMPTOIR_TEST_SUPERVISOR_STATUS='$ROOT/$T/run/children'"
        echo "export COMPTOIR_TEST_SUPERVISOR_PID='$ROOT/$T/run/comptoir.pid'"
    } >"$T/env.sh"
    echo "testenv: ready at $edge (. $T/env.sh)" >&2
}

case ${1:-} in
    start)  testenv_start ;;
    stop)   testenv_stop ;;
    status) cat "$T/run/children" 2>/dev/null || { echo "testenv: not running" >&2; exit 1; } ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^#/, ""); if (substr($0, 1, 3) == "   ") $0 = substr($0, 4); print; next } NR > 1 { exit }' "$0" ;;
    *)      echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
