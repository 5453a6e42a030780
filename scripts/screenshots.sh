#!/usr/bin/env bash
# Screenshots of the Temporal Web UI during a demo run, for the README: the workflow list filtered by
# GrinStage = "failed", a parked book, and the batch. Starts the demo (its own Temporal dev server,
# GRIN simulator and worker, in a temporary folder) with some books parked on purpose, waits until the
# batch settles, captures the pages with headless Chromium (driven by devkit/devtools/page-screenshot.ts)
# and stops everything it started.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/screenshots.sh [--out DIR] [--sample N] [--park N] [--size WxH] [--keep]

Runs `npm run demo -- --stay --park N` in a temporary folder, waits until its batch has settled, then
takes three screenshots of the Temporal Web UI with headless Chromium:
  DIR/failed-list.png   the saved view "Parked books" (GrinStage = "failed") with the columns the
                        README sets (GrinStage, GrinBatch, GrinParkReason: why each book is parked)
  DIR/parked-book.png   a parked book's "User Metadata" tab (summary, details, why it is parked)
  DIR/batch.png         the batch's "User Metadata" tab (its counts)
and stops the demo (and with it the Temporal dev server it started).

  --out DIR     where to write the PNGs (default docs/screenshots)
  --sample N    books in the demo batch (default 8)
  --park N      how many of them get a damaged archive at GRIN and end parked (default 2)
  --size WxH    browser window size (default 1600x900)
  --keep        keep the demo's temporary folder (its Temporal db, board and logs)
  -h, --help    this help

Needs Chromium (Debian: apt-get install -y chromium); CHROMIUM=/path/to/chrome overrides.
EOF
}

OUT=docs/screenshots
SAMPLE=8
PARK=2
SIZE=1600x900
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --sample) SAMPLE=$2; shift 2 ;;
    --park) PARK=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$SIZE" in *x*) ;; *) echo "--size must be WxH, e.g. 1400x900" >&2; exit 2 ;; esac
if [ "$PARK" -lt 1 ] || [ "$PARK" -ge "$SAMPLE" ]; then
  echo "--park must be at least 1 and less than --sample (a parked book and a stored one are shown)" >&2
  exit 2
fi

CHROME=${CHROMIUM:-}
if [ -z "$CHROME" ]; then
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then CHROME=$(command -v "$c"); break; fi
  done
fi
if [ -z "$CHROME" ]; then
  echo "Chromium not found: install it (Debian: apt-get install -y chromium) or set CHROMIUM=/path/to/chrome" >&2
  exit 1
fi

cd "$(dirname "$0")/.."
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
node scripts/build-if-stale.js

DATA=$(mktemp -d "${TMPDIR:-/tmp}/grin-screenshots.XXXXXX")
LOG=$DATA/demo.log
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
PORT=$(free_port)
UI_PORT=$(free_port)
while [ "$UI_PORT" = "$PORT" ]; do UI_PORT=$(free_port); done

DEMO_PID=
cleanup() {
  local rc=$?
  if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then
    # The demo stops its worker, simulator and the Temporal dev server it started on SIGTERM.
    kill -TERM "$DEMO_PID" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$DEMO_PID" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$DEMO_PID" 2>/dev/null; then
      echo "the demo did not stop within 60 s; killing its process group" >&2
      kill -KILL -- "-$DEMO_PID" 2>/dev/null || true
    fi
  fi
  if [ "$KEEP" = 1 ] || [ $rc -ne 0 ]; then echo "demo folder kept: $DATA (log: $LOG)" >&2; else rm -rf "$DATA"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "starting the demo: $SAMPLE books, $PARK parked on purpose; Temporal on 127.0.0.1:$PORT, Web UI on :$UI_PORT (log: $LOG)"
# setsid: its own process group, so nothing it started can outlive a forced stop.
setsid node dist/devkit/demo.js --data "$DATA/demo" --sample "$SAMPLE" --park "$PARK" --stay --port "$PORT" --ui-port "$UI_PORT" >"$LOG" 2>&1 &
DEMO_PID=$!

# The demo says "--stay: ..." once every book is stored or parked.
deadline=$((SECONDS + 1200))
until grep -q -- '^--stay:' "$LOG"; do
  if ! kill -0 "$DEMO_PID" 2>/dev/null; then echo "the demo exited before its batch settled:" >&2; tail -20 "$LOG" >&2; exit 1; fi
  if [ $SECONDS -ge $deadline ]; then echo "the batch did not settle within 20 minutes:" >&2; tail -20 "$LOG" >&2; exit 1; fi
  sleep 2
done
grep -E '^(batch|board|  [^ ]+ \[)' "$LOG" || true

BATCH_ID=$(sed -n 's/^batch of [0-9]* books started: \(.*\)$/\1/p' "$LOG" | head -1)
PARKED=$(sed -n 's/^  \([^ ]*\) \[.*$/\1/p' "$LOG" | head -1)
if [ -z "$BATCH_ID" ] || [ -z "$PARKED" ]; then echo "could not read the batch id or a parked book from $LOG" >&2; exit 1; fi
BOOK_ID="grin/DEMO/$PARKED"
PARKED_AT=$(sed -n "s/^  $PARKED \[\([^]]*\)\].*$/\1/p" "$LOG" | head -1)

TEMPORAL=$(node -e "console.log(require('./dist/devkit/devtools/tools').ensureTemporalCli())")
run_id() { "$TEMPORAL" workflow describe --address "127.0.0.1:$PORT" -w "$1" -o json | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).workflowExecutionInfo.execution.runId))"; }
enc() { node -e 'console.log(encodeURIComponent(process.argv[1]))' "$1"; }
UI=http://127.0.0.1:$UI_PORT/namespaces/default/workflows

# The list's columns as an operator sets them once per browser (devkit/devtools/web-ui-list.ts).
COLUMNS=$(node dist/devkit/devtools/web-ui-list.js default)
shot() { # file url text-to-wait-for...
  local file=$1 url=$2; shift 2
  local waits=()
  for t in "$@"; do waits+=(--wait-for "$t"); done
  echo "  $file <- $url"
  node dist/devkit/devtools/page-screenshot.js --chromium "$CHROME" --size "$SIZE" --local-storage "$COLUMNS" --url "$url" --out "$OUT/$file" "${waits[@]}"
}

echo "screenshots into $OUT:"
# The link that saves the view "Parked books"; the row shows the reason (GrinParkReason) without opening the book.
shot failed-list.png "$UI?query=$(enc 'GrinStage="failed"')&savedQuery=$(enc 'Parked books')" "$PARKED" "$PARK Workflow" "Parked books" "GrinParkReason" " at $PARKED_AT: "
# The "User Metadata" tab: the summary and details set at start, and the current details (why parked).
shot parked-book.png "$UI/$(enc "$BOOK_ID")/$(run_id "$BOOK_ID")/user-metadata" "parked at" "to do"
shot batch.png "$UI/$(enc "$BATCH_ID")/$(run_id "$BATCH_ID")/user-metadata" "settled" "$PARK parked"
echo "done; stopping the demo"
