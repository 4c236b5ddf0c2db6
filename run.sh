#!/usr/bin/env bash
#   Comptoir - install, build and run the whole system on this machine.
#
#   usage: ./run.sh [--detach] [--config FILE]
#          ./run.sh stop
#          ./run.sh --help
#
#   On a fresh Debian 12 machine, as root: installs the missing Debian
#   packages, builds, creates the CURVE certificates and the demo API key,
#   starts a private PostgreSQL cluster (var/pg, socket only) when
#   postgres/product is empty and a private Redis (var/redis) when none
#   answers on redis/port, then runs `launcher/comptoir up`: the broker, the
#   contexts' workers and the HTTP edge on http://127.0.0.1:8080. The demo data
#   (and demo accounts with random passwords, in var/demo-accounts.txt) is
#   loaded once the system answers /ready. Ctrl-C stops everything.
#
#   --detach   return once the system is ready, leaving it running
#   stop       stop what a detached run started (supervisor, Redis, PostgreSQL)
#
#   Logs: var/log/<process>.log (supervisor, broker, product-1, product-2,
#   edge, postgres, redis). A second run reuses var/.
set -u
ROOT=$(cd "$(dirname "$0")" && pwd -P)
cd "$ROOT" || exit 1
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
# shellcheck source=scripts/pg.sh
. scripts/pg.sh
# shellcheck source=scripts/redis.sh
. scripts/redis.sh
# shellcheck source=scripts/system.sh
. scripts/system.sh

CONFIG=etc/comptoir.cfg
DETACH=
COMMAND=run
PG_RUN_PORT=5433
while [ $# -gt 0 ]; do
    case $1 in
        --detach|-d) DETACH=1 ;;
        --config) CONFIG=${2:?--config needs a file}; shift ;;
        stop) COMMAND=stop ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^#/, ""); if (substr($0, 1, 3) == "   ") $0 = substr($0, 4); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (./run.sh --help)" >&2; exit 2 ;;
    esac
    shift
done

say () { echo "comptoir: $*" >&2; }

#   Where this configuration keeps var/ (read once launcher/comptoir exists).
var_dir () {
    local var
    var=$(sys_get "$CONFIG" comptoir/var 2>/dev/null)
    printf '%s\n' "${var:-var}"
}

stop_all () {
    local var
    var=$(var_dir)
    sys_supervisor_stop "$var/run/comptoir.pid" "${SYS_SUPERVISOR_PID:-}"
    if [ -f "$var/run/redis.started" ]; then
        redis_stop "$var/redis" "$(cat "$var/run/redis.started")"
        rm -f "$var/run/redis.started"
    fi
    if [ -f "$var/run/pg.started" ]; then
        pg_stop "$var/pg" "$(cat "$var/run/pg.started")"
        rm -f "$var/run/pg.started"
    fi
}

if [ "$COMMAND" = stop ]; then
    if [ ! -x launcher/comptoir ]; then
        say "nothing built, nothing to stop"
        exit 0
    fi
    stop_all
    say "stopped"
    exit 0
fi

#   1. Debian packages.
deps_install $COMPTOIR_DEPS_RUN || { say "could not install the Debian packages"; exit 1; }

#   2. Build.
sys_build || { say "build failed"; exit 1; }

VAR=$(var_dir)
mkdir -p "$VAR/log" "$VAR/run"
if PID=$(sys_pid_of "$VAR/run/comptoir.pid"); then
    say "already running (supervisor pid $PID); ./run.sh stop first"
    exit 1
fi

#   3. Keys: every process's certificate, admitted by the broker before
#   anything starts, and the demo API key.
launcher/comptoir --config "$CONFIG" keys 2>>"$VAR/log/supervisor.log" || {
    say "could not create the keys, see $VAR/log/supervisor.log"; exit 1; }

#   4. PostgreSQL: a private cluster when no server is configured.
if [ -z "$(sys_get "$CONFIG" postgres/product)" ]; then
    pg_start "$VAR/pg" "$PG_RUN_PORT" "$VAR/log/postgres.log" || exit 1
    echo "$PG_RUN_PORT" >"$VAR/run/pg.started"
    pg_export_env
    say "PostgreSQL: $(pg_conninfo 'comptoir_<context>')"
fi

#   5. Redis: a private server when none answers on the configured port.
REDIS_HOST=$(sys_get "$CONFIG" redis/host)
REDIS_PORT=$(sys_get "$CONFIG" redis/port)
case ${REDIS_HOST:-127.0.0.1} in
    127.0.0.1|localhost)
        if [ "$(redis-cli -h 127.0.0.1 -p "${REDIS_PORT:-6380}" ping 2>/dev/null)" != PONG ]; then
            redis_start "$VAR/redis" "${REDIS_PORT:-6380}" "$VAR/log/redis.log" || exit 1
            echo "${REDIS_PORT:-6380}" >"$VAR/run/redis.started"
            say "Redis: 127.0.0.1:${REDIS_PORT:-6380} (data in $VAR/redis)"
        fi ;;
esac

#   6. The system, under the supervisor; demo data once it is ready.
EDGE_PORT=$(sys_get "$CONFIG" edge/port)
EDGE_ADDRESS=$(sys_get "$CONFIG" edge/address)
EDGE=http://${EDGE_ADDRESS:-127.0.0.1}:${EDGE_PORT:-8080}
if [ -n "$DETACH" ]; then
    sys_supervisor_start "$CONFIG" "$VAR/log/supervisor.log" detach
else
    sys_supervisor_start "$CONFIG" "$VAR/log/supervisor.log"
    trap 'echo >&2; say "stopping"; stop_all; exit 0' INT TERM HUP
fi
say "starting (logs in $VAR/log/)"
if ! sys_wait_ready "$EDGE" 60 "$SYS_SUPERVISOR_PID"; then
    tail -n 20 "$VAR/log/supervisor.log" >&2
    stop_all
    exit 1
fi
sys_seed "$CONFIG" "$VAR" || { say "loading the demo data failed"; stop_all; exit 1; }

KEY_FILE=$(sys_get "$CONFIG" edge/consumers/demo/key_file)
KEY=$(cat "${KEY_FILE:-$VAR/keys/api/demo.key}" 2>/dev/null)
echo
echo "Comptoir is ready on $EDGE. Try:"
echo
echo "  curl -H 'X-API-Key: $KEY' $EDGE/api/v1/products"
echo
ACCOUNTS=$VAR/demo-accounts.txt
if [ -f "$ACCOUNTS" ]; then
    #   Lines: role login password store_id (written once, mode 0600).
    read -r _ LOGIN PASSWORD _ < <(grep '^customer ' "$ACCOUNTS" | head -n 1)
    if [ -n "${LOGIN:-}" ]; then
        echo "A demo customer's token (the demo accounts and their passwords are in $ACCOUNTS):"
        echo
        echo "  curl -H 'X-API-Key: $KEY' -H 'Content-Type: application/json' \\"
        echo "       -d '{\"email\": \"$LOGIN\", \"password\": \"$PASSWORD\"}' $EDGE/api/v1/auth/login"
        echo
    fi
    read -r _ LOGIN PASSWORD _ < <(grep '^manager ' "$ACCOUNTS" | head -n 1)
    if [ -n "${LOGIN:-}" ]; then
        echo "A store manager's token, for the dashboard (GET $EDGE/api/v1/reports/dashboard"
        echo "with -H 'Authorization: Bearer <token>'); cashiers ring up sales the same way:"
        echo
        echo "  curl -H 'X-API-Key: $KEY' -H 'Content-Type: application/json' \\"
        echo "       -d '{\"username\": \"$LOGIN\", \"password\": \"$PASSWORD\"}' $EDGE/api/v1/auth/staff/login"
        echo
    fi
fi
echo "The broker, live: monitor/comptoir-top --config $CONFIG   (q quits)"
echo
if [ -n "$DETACH" ]; then
    echo "Running in the background; stop it with: ./run.sh stop"
    exit 0
fi
echo "Press Ctrl-C to stop."
wait "$SYS_SUPERVISOR_PID"
RC=$?
trap - INT TERM HUP
if [ "$RC" = 0 ]; then
    say "stopping"
else
    #   The supervisor ended on its own (it was killed, or could not start).
    say "the supervisor exited (code $RC), see $VAR/log/supervisor.log"
fi
stop_all
exit "$RC"
