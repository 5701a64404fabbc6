#!/usr/bin/env bash
# Start a throwaway PostgreSQL on 127.0.0.1 for the test suite, and export its URL.
#
# Source it (`. .ci/postgres.sh`): it installs Debian's postgresql package when no server binaries
# are found, runs initdb as an unprivileged user (initdb refuses root) in a temporary folder, starts
# the server on a free loopback port with password authentication, creates the database
# `batchstore`, exports BATCHSTORE_TEST_POSTGRES_URL, and stops the server when the calling shell exits.
set -euo pipefail

_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(_pg_bin)" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q postgresql >/dev/null
fi
PG_BIN="$(_pg_bin)"

# The server runs as a non-root user: `postgres` (the package makes it) when we are root.
if [ "$(id -u)" = 0 ]; then
    PG_USER=postgres
    as_pg() { runuser -u "$PG_USER" -- "$@"; }
else
    PG_USER="$(id -un)"
    as_pg() { "$@"; }
fi

PG_DIR="$(mktemp -d /tmp/batchstore-pg.XXXXXX)"
chmod 755 "$PG_DIR"
[ "$(id -u)" = 0 ] && chown "$PG_USER" "$PG_DIR"
PG_PASSWORD="batchstore-ci-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$PG_PASSWORD" > "$PG_DIR/pwfile"
[ "$(id -u)" = 0 ] && chown "$PG_USER" "$PG_DIR/pwfile"
PG_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U batchstore --pwfile="$PG_DIR/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
# fsync off: a test database need not survive a power cut. max_connections: pools of parallel tests.
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c full_page_writes=off -c max_connections=300" \
    >/dev/null
# Over the server's own socket (trust); clients of the tests use TCP with the password.
as_pg "$PG_BIN/createdb" -h "$PG_DIR" -p "$PG_PORT" -U batchstore batchstore

_pg_stop() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; }
trap _pg_stop EXIT

export BATCHSTORE_TEST_POSTGRES_URL="postgresql://batchstore:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/batchstore"
echo "postgres: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
