# shellcheck shell=bash
#   Comptoir - a private PostgreSQL cluster for one checkout (run.sh, testenv).
#
#   PostgreSQL refuses to run as root, so the cluster belongs to a system user
#   `comptoir` (created once) and every server command runs through runuser.
#   That user must reach the data folder: when the checkout sits somewhere it
#   cannot enter (a repo under /root, mode 700) the cluster lives in
#   /var/lib/comptoir/<hash>/ and <var>/pg is a symbolic link to it. The
#   socket folder is always /var/lib/comptoir/<hash>/ so its path stays far
#   below the 107-byte limit of a unix socket, whatever the checkout's path.
#   The server listens on that socket only (listen_addresses = ''); the port
#   only names the socket file. Local connections are trusted.
#   Run as a normal user, everything stays that user's, under /tmp for the
#   socket.

COMPTOIR_PG_USER=${COMPTOIR_PG_USER:-comptoir}
COMPTOIR_PG_CONTEXTS="product customer cart order inventory sales reporting"

#   pg_bindir : where initdb and pg_ctl are (not on root's PATH on Debian).
pg_bindir () {
    local dir
    for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/pg_ctl" ]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    echo "comptoir: PostgreSQL server binaries not found (apt-get install postgresql-15)" >&2
    return 1
}

#   pg_as CMD... : runs a command as the cluster's owner.
pg_as () {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$COMPTOIR_PG_USER" -- "$@"
    else
        "$@"
    fi
}

#   pg_user_ensure : the system user that owns clusters (root only).
pg_user_ensure () {
    [ "$(id -u)" = 0 ] || return 0
    if ! id -u "$COMPTOIR_PG_USER" >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/comptoir --no-create-home \
            --shell /usr/sbin/nologin "$COMPTOIR_PG_USER" || return 1
    fi
    mkdir -p /var/lib/comptoir
    chown "$COMPTOIR_PG_USER": /var/lib/comptoir
    chmod 755 /var/lib/comptoir
}

#   pg_hash DIR : a short name for a cluster, from its folder's absolute path.
pg_hash () {
    printf '%s' "$1" | sha1sum | cut -c1-10
}

#   pg_paths PGDIR PORT LOG : sets PG_HOME (the real folder behind PGDIR,
#   holding data/), PG_DATA, PG_SOCKDIR, PG_PORT, PG_LOG.
pg_paths () {
    local pgdir=$1 hash
    mkdir -p "$(dirname "$pgdir")"
    pgdir="$(cd "$(dirname "$pgdir")" && pwd -P)/$(basename "$pgdir")"
    hash=$(pg_hash "$pgdir")
    PG_PORT=$2
    PG_LOG=${3:-/dev/null}
    PG_HOME=$pgdir
    if [ -L "$pgdir" ]; then
        PG_HOME=$(readlink -f "$pgdir")
    fi
    PG_DATA=$PG_HOME/data
    if [ "$(id -u)" = 0 ]; then
        PG_SOCKDIR=/var/lib/comptoir/$hash
    else
        PG_SOCKDIR=/tmp/comptoir-$(id -u)-$hash
    fi
}

#   pg_home_ensure PGDIR : makes PGDIR a folder the owner can use, or a link
#   to one under /var/lib/comptoir when the checkout is out of its reach.
pg_home_ensure () {
    local pgdir=$1 hash target
    pgdir="$(cd "$(dirname "$pgdir")" && pwd -P)/$(basename "$pgdir")"
    if [ -L "$pgdir" ] || [ -d "$pgdir/data" ] || [ "$(id -u)" != 0 ]; then
        mkdir -p "$pgdir"
        return 0
    fi
    mkdir -p "$pgdir"
    chown "$COMPTOIR_PG_USER": "$pgdir"
    chmod 700 "$pgdir"
    if pg_as test -x "$pgdir" -a -w "$pgdir"; then
        return 0
    fi
    #   Out of reach: move the home under /var/lib/comptoir.
    hash=$(pg_hash "$pgdir")
    target=/var/lib/comptoir/$hash-home
    rmdir "$pgdir" 2>/dev/null || { echo "comptoir: $pgdir is not empty" >&2; return 1; }
    mkdir -p "$target"
    chown "$COMPTOIR_PG_USER": "$target"
    chmod 700 "$target"
    ln -s "$target" "$pgdir"
    echo "comptoir: $pgdir is out of reach of user $COMPTOIR_PG_USER: cluster in $target" >&2
}

#   pg_start PGDIR PORT LOG [test] : creates the cluster when absent, starts
#   it when not running, creates the databases. The server's output goes to
#   LOG. "test" turns durability off (fsync) for speed. Sets the PG_*
#   variables (see pg_paths).
pg_start () {
    local pgdir=$1 port=$2 log=$3 mode=${4:-} bin
    bin=$(pg_bindir) || return 1
    pg_user_ensure || return 1
    mkdir -p "$(dirname "$pgdir")" "$(dirname "$log")"
    pg_home_ensure "$pgdir" || return 1
    pg_paths "$pgdir" "$port" "$log"
    mkdir -p "$PG_SOCKDIR"
    if [ "$(id -u)" = 0 ]; then
        chown "$COMPTOIR_PG_USER": "$PG_SOCKDIR"
    fi
    chmod 755 "$PG_SOCKDIR"
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        echo "comptoir: creating PostgreSQL cluster in $PG_DATA" >&2
        pg_as "$bin/initdb" -D "$PG_DATA" -U "$COMPTOIR_PG_USER" --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 >>"$PG_LOG" 2>&1 \
        || pg_as "$bin/initdb" -D "$PG_DATA" -U "$COMPTOIR_PG_USER" --auth=trust \
            --encoding=UTF8 --no-locale >>"$PG_LOG" 2>&1 \
        || { echo "comptoir: initdb failed, see $PG_LOG" >&2; return 1; }
    fi
    #   Our settings, rewritten at every start so a changed port is honoured.
    {
        echo "#  written by scripts/pg.sh at every start"
        echo "listen_addresses = ''"
        echo "port = $PG_PORT"
        echo "unix_socket_directories = '$PG_SOCKDIR'"
        echo "max_connections = 200"
        if [ "$mode" = test ]; then
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } >"$PG_HOME/comptoir.conf.tmp"
    if [ "$(id -u)" = 0 ]; then chown "$COMPTOIR_PG_USER": "$PG_HOME/comptoir.conf.tmp"; fi
    mv -f "$PG_HOME/comptoir.conf.tmp" "$PG_DATA/comptoir.conf"
    if ! grep -q "^include_if_exists = 'comptoir.conf'" "$PG_DATA/postgresql.conf"; then
        echo "include_if_exists = 'comptoir.conf'" | pg_as tee -a "$PG_DATA/postgresql.conf" >/dev/null
    fi
    if pg_as "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        echo "comptoir: PostgreSQL already running ($PG_DATA)" >&2
    else
        #   No -l: the server writes to the stdout that pg_ctl inherited, which
        #   this shell opened (as root when the log folder is out of reach).
        pg_as "$bin/pg_ctl" -D "$PG_DATA" -w -t 60 start \
            </dev/null >>"$PG_LOG" 2>&1 \
        || { echo "comptoir: PostgreSQL did not start, see $PG_LOG" >&2; tail -5 "$PG_LOG" >&2; return 1; }
    fi
    pg_databases_ensure
}

#   pg_conninfo DBNAME : libpq connection string of a database of the cluster.
pg_conninfo () {
    printf 'host=%s port=%s user=%s dbname=%s\n' "$PG_SOCKDIR" "$PG_PORT" "$COMPTOIR_PG_USER" "$1"
}

#   pg_psql DBNAME ARGS... : psql on a database of the cluster.
pg_psql () {
    local db=$1; shift
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$(pg_conninfo "$db")" "$@"
}

#   pg_databases_ensure : one database per context, comptoir_<context>.
pg_databases_ensure () {
    local ctx exists
    for ctx in $COMPTOIR_PG_CONTEXTS; do
        exists=$(pg_psql postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'comptoir_$ctx'") || return 1
        if [ "$exists" != 1 ]; then
            pg_psql postgres -c "CREATE DATABASE comptoir_$ctx" || return 1
        fi
    done
}

#   pg_export_env : COMPTOIR_POSTGRES_<CONTEXT> for the children, unless set.
pg_export_env () {
    local ctx var
    for ctx in $COMPTOIR_PG_CONTEXTS; do
        var=COMPTOIR_POSTGRES_$(printf '%s' "$ctx" | tr '[:lower:]' '[:upper:]')
        if [ -z "${!var:-}" ]; then
            export "$var=$(pg_conninfo "comptoir_$ctx")"
        fi
    done
}

#   pg_stop PGDIR PORT : fast shutdown when running.
pg_stop () {
    local bin
    bin=$(pg_bindir) || return 1
    pg_paths "$1" "$2" ""
    if [ -f "$PG_DATA/postmaster.pid" ]; then
        pg_as "$bin/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
}
