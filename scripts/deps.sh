# shellcheck shell=bash
#   Comptoir - Debian packages the commands need, installed only when missing.
#
#   Sourced by run.sh, check.sh and bench/run.sh. We ask dpkg what is
#   installed first, so a machine that already has everything never touches
#   the network, and a fresh Debian 12 machine runs `apt-get update` once and
#   one `apt-get install -y` for what is missing. Only Debian's own archive is
#   used: nothing is downloaded from anywhere else.

#   To build and run the system (PostgreSQL 15 on Debian 12 ships its contrib
#   modules inside postgresql-15; there is no separate contrib package).
COMPTOIR_DEPS_RUN="build-essential autoconf automake libtool pkg-config \
libzmq3-dev libczmq-dev libmsgpack-dev libpq-dev libhiredis-dev libsodium-dev \
libmicrohttpd-dev libjansson-dev zlib1g-dev postgresql-15 postgresql-client-15 \
redis-server redis-tools curl python3 util-linux passwd libncurses-dev"

#   Extra for check.sh: clang and its libFuzzer runtime for the fuzz run;
#   tmux for comptoir-top's test (tests/chaos/test_top.py).
COMPTOIR_DEPS_CHECK="clang libclang-rt-14-dev tmux"

#   Extra for bench/run.sh: the reference HTTP server and the load tool.
COMPTOIR_DEPS_BENCH="nginx-light wrk"

COMPTOIR_APT_UPDATED=${COMPTOIR_APT_UPDATED:-}

#   deps_missing PKG... : prints the packages dpkg does not report installed.
deps_missing () {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        if [ "$status" != "installed" ]; then
            printf '%s\n' "$pkg"
        fi
    done
}

#   deps_install PKG... : installs the missing ones (apt-get update once).
deps_install () {
    local missing
    missing=$(deps_missing "$@" | tr '\n' ' ')
    missing=${missing% }
    if [ -z "$missing" ]; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "comptoir: missing Debian packages: $missing" >&2
        echo "comptoir: run as root, or: sudo apt-get install -y $missing" >&2
        return 1
    fi
    echo "comptoir: installing Debian packages: $missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "$COMPTOIR_APT_UPDATED" ]; then
        apt-get update -q >&2 || return 1
        COMPTOIR_APT_UPDATED=1
    fi
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >&2
}
