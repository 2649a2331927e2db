#!/bin/bash
# usage: scripts/pg-up.sh DIR PORT  -- a throwaway PostgreSQL cluster on 127.0.0.1 for the tests.
# Prints nothing on success; the server's PID is the first line of DIR/data/postmaster.pid.
set -euo pipefail
DIR=$1; PORT=$2
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir -p "$DIR"; chown postgres:postgres "$DIR"
runuser -u postgres -- "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$DIR/initdb.log"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/pg.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
