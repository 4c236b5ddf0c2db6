# shellcheck shell=bash
#   Comptoir - a private Redis for one checkout (run.sh, testenv).
#
#   The cart context keeps carts in Redis; with no server configured we start
#   our own from a generated redis.conf: loopback only, append-only file on
#   (a restart loses no cart), daemonized with a pid file so `stop` finds it.
#   Redis runs as the invoking user (root is fine for redis-server).

#   redis_start DIR PORT LOG : writes DIR/redis.conf, starts the server unless
#   one answers on PORT, waits until it answers PING.
redis_start () {
    local dir=$1 port=$2 log=$3 i
    mkdir -p "$dir" "$(dirname "$log")"
    dir=$(cd "$dir" && pwd -P)
    case $log in /*) ;; *) log="$(cd "$(dirname "$log")" && pwd -P)/$(basename "$log")";; esac
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
        echo "comptoir: Redis already answers on 127.0.0.1:$port" >&2
        return 0
    fi
    cat >"$dir/redis.conf" <<EOF
# written by scripts/redis.sh at every start
bind 127.0.0.1
protected-mode yes
port $port
dir $dir
appendonly yes
appendfsync everysec
daemonize yes
pidfile $dir/redis.pid
logfile $log
save ""
EOF
    redis-server "$dir/redis.conf" >>"$log" 2>&1 || {
        echo "comptoir: redis-server did not start, see $log" >&2; return 1; }
    for i in $(seq 1 100); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
            return 0
        fi
        sleep 0.1
    done
    echo "comptoir: Redis does not answer on 127.0.0.1:$port, see $log" >&2
    return 1
}

#   redis_stop DIR PORT : stops the server started by redis_start.
redis_stop () {
    local dir=$1 port=$2 pid i
    [ -f "$dir/redis.pid" ] || return 0
    pid=$(cat "$dir/redis.pid" 2>/dev/null)
    redis-cli -h 127.0.0.1 -p "$port" shutdown >/dev/null 2>&1 || true
    if [ -n "$pid" ]; then
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ]; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$dir/redis.pid"
}
