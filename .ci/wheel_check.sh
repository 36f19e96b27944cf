#!/usr/bin/env bash
# The wheel as a user installs and runs it: a clean venv with the runtime dependencies only (no dev group),
# a fresh database migrated and seeded, `kith serve --workers 2` answering /ready and a brotli-compressed
# listing, and `kith worker`s from the same venv running an import to the end.
# Needs PostgreSQL on DATABASE_URL's server and Redis on REDIS_URL; every wait is bounded; about
# a minute on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${DATABASE_URL:=postgresql://postgres@127.0.0.1:5432/postgres}"
: "${REDIS_URL:=redis://127.0.0.1:6379/0}"
server_url="${DATABASE_URL%/*}"

work="$(mktemp -d)"
db="kith_wheel_$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  dropdb -h 127.0.0.1 -U postgres --if-exists --force "$db" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS_URL" --scan --pattern "$KITH_QUEUE_PREFIX:*" 2>/dev/null | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  rm -rf "$work"
}
export KITH_QUEUE_PREFIX="kith_wheel_$$"  # this check's streams, apart from any other user of the Redis database
trap cleanup EXIT

fail() {
  echo "wheel check: $*" >&2
  for log in "$work"/*.log; do [ -s "$log" ] && { echo "--- $log" >&2; tail -30 "$log" >&2; }; done
  exit 1
}

# Started in its own process group (set -m), so cleanup stops it with everything it forked.
start() {
  local log="$1"
  shift
  set -m
  "$@" >"$work/$log.log" 2>&1 &
  pids+=("$!")
  set +m
}

uv build --quiet --wheel --out-dir "$work/dist"
uv venv --quiet "$work/venv"
uv pip install --quiet --python "$work/venv/bin/python" "$work"/dist/kith-*.whl
kith="$work/venv/bin/kith"
python="$work/venv/bin/python"

createdb -h 127.0.0.1 -U postgres "$db"
export DATABASE_URL="$server_url/$db" KITH_DATA_DIR="$work/data" REDIS_URL
cd "$work"  # nothing from the repository's working tree on the path
"$kith" migrate >/dev/null

# The processes start (slow on a busy machine) while the tenant is seeded.
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
start serve "$kith" serve --workers 2 --port "$port"
start sync "$kith" worker --queue sync
start compute "$kith" worker --queue compute
"$kith" tenant create pk >/dev/null
"$kith" seed --tenant pk --size tiny >"$work/seed.log" 2>&1 || fail "kith seed failed"
token="$("$kith" token create --tenant pk)"

ready=""
for _ in $(seq 120); do
  if curl -fsS --max-time 2 "$base/ready" >/dev/null 2>&1; then ready=1 && break; fi
  sleep 1
done
[ -n "$ready" ] || fail "/ready did not answer 200 within two minutes"

auth=(-H "Authorization: Bearer $token")
curl -fsS --max-time 10 "${auth[@]}" -H "Accept-Encoding: br" -D "$work/headers" -o "$work/contacts.br" \
  "$base/api/v1/contacts?limit=100" || fail "the listing failed"
grep -qi '^content-encoding: br' "$work/headers" || fail "the listing was not brotli-compressed: $(cat "$work/headers")"
"$python" - "$work/contacts.br" <<'EOF' || fail "the brotli body does not decode to a page of contacts"
import sys, json, brotli
page = json.loads(brotli.decompress(open(sys.argv[1], "rb").read()))
assert len(page["items"]) == 100, page
EOF

# An import: the API queues it (Redis), the sync worker imports, the compute worker scores and refreshes.
printf 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Wheel Check\r\nEMAIL:wheel@example.com\r\nEND:VCARD\r\n' >"$work/one.vcf"
run_id="$(curl -fsS --max-time 10 "${auth[@]}" -F "file=@$work/one.vcf" "$base/api/v1/sync/vcard" |
  "$python" -c 'import sys, json; print(json.load(sys.stdin)["id"])')" || fail "the upload was refused"
run=""
for _ in $(seq 240); do
  run="$(curl -fsS --max-time 5 "${auth[@]}" "$base/api/v1/sync/runs/$run_id")" || true
  if "$python" -c 'import sys, json; r = json.loads(sys.argv[1]); sys.exit(0 if r["status"] == "succeeded" and r["stages"]["refresh"]["status"] == "succeeded" else 1)' "$run" 2>/dev/null; then
    echo "wheel check: served, compressed, and ran import $run_id through the workers"
    exit 0
  fi
  sleep 0.5
done
fail "sync run $run_id did not succeed within two minutes: $run"
