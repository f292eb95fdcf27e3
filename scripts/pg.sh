# Sourced by scripts/run and scripts/test: makes sure a PostgreSQL server is reachable and
# exports DATABASE_URL (an admin URL: superuser, database "postgres").
#  - DATABASE_URL set: use it; if it points at this machine and the server is down, start the
#    machine's cluster (pg_ctlcluster).
#  - DATABASE_URL unset: a throwaway cluster made with the installed PostgreSQL binaries in
#    $MCP_PG_DIR (default /tmp/mcp-worker-pg) on port $MCP_PG_PORT (default 54329).

pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] || { echo "no PostgreSQL binaries under /usr/lib/postgresql: apt-get install postgresql" >&2; return 1; }
    echo "$d"
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

wait_ready() {
    local i
    for i in $(seq 1 60); do
        pg_isready -q -d "$1" && return 0
        sleep 0.5
    done
    echo "PostgreSQL at $1 did not become ready" >&2
    return 1
}

ensure_postgres() {
    if [ -n "${DATABASE_URL:-}" ]; then
        if ! pg_isready -q -d "$DATABASE_URL"; then
            case "$DATABASE_URL" in
                *@127.0.0.1*|*@localhost*)
                    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
                        echo "starting the local PostgreSQL cluster" >&2
                        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
                    fi ;;
            esac
            wait_ready "$DATABASE_URL"
        fi
        return 0
    fi
    local bin dir port
    bin=$(pg_bin) || return 1
    dir=${MCP_PG_DIR:-/tmp/mcp-worker-pg}
    port=${MCP_PG_PORT:-54329}
    export DATABASE_URL="postgres://postgres@127.0.0.1:${port}/postgres"
    if pg_isready -q -h 127.0.0.1 -p "$port"; then
        return 0
    fi
    if [ ! -f "$dir/PG_VERSION" ]; then
        echo "creating a throwaway PostgreSQL cluster in $dir (port $port)" >&2
        mkdir -p "$dir"
        [ "$(id -u)" = 0 ] && chown postgres: "$dir"
        as_postgres "$bin/initdb" -D "$dir" -U postgres -A trust --no-sync >/dev/null
    fi
    as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
    wait_ready "$DATABASE_URL"
}
