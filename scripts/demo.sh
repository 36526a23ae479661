#!/usr/bin/env bash
# The demo: a restore by prefix with its estimate (S3 lists the objects), then a bulk
# restore of 2,000 objects with awkward keys, end to end on this
# machine (moto for S3, SNS and SQS, the embedded local DynamoDB, the local Step Functions
# engine running statemachine/bulk-restore.asl.json with the real handlers, and the batch
# simulator), in scaled time (1000x: Glacier's 3 to 5 hours take seconds). The objects
# and their restores are on moto's S3; the restore-events queue is in memory with SQS's
# semantics (moto's SQS serves about 80 requests a second, so at this speed the queue
# fell hours of clock time behind and the job timed out). Everything it starts stops
# with it. DEMO_OBJECTS and DEMO_TIME_SCALE change the size and speed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/glacier-bulk-restore/target}"
OBJECTS="${DEMO_OBJECTS:-2000}"
SCALE="${DEMO_TIME_SCALE:-1000}"
OUT="$CARGO_TARGET_DIR/demo"

echo "==> installing the pinned moto server (once)"
GBR_MOTO_SERVER="$(bash scripts/moto.sh)"
export GBR_MOTO_SERVER

echo "==> building gbr-local"
cargo build -q -p gbr-local --bin gbr-local
mkdir -p "$OUT"

echo "==> a restore by prefix, with no list: the estimate first, then S3 Batch Operations (simulated) lists the bucket"
# Objects under photos/2019/ and beside it, archived or not: only the archived .tif
# objects under the prefix are restored; the others under it are skipped, and said to be.
cat > "$OUT/prefix-setup.csv" <<'CSV'
demo-photos,photos/2019/beach 001.tif,GLACIER,archived
demo-photos,photos/2019/beach 002.tif,DEEP_ARCHIVE,archived
demo-photos,photos/2019/café ✓.tif,GLACIER,archived
demo-photos,photos/2019/c++ notes+more.tif,GLACIER,archived
demo-photos,photos/2019/thumb.tif,STANDARD,archived
demo-photos,photos/2019/recent.tif,GLACIER_IR,archived
demo-photos,photos/2019/notes.txt,GLACIER,archived
demo-photos,photos/2020/beach 003.tif,GLACIER,archived
CSV
prefix_status=0
"$CARGO_TARGET_DIR/debug/gbr-local" run --setup "$OUT/prefix-setup.csv" \
  --prefix s3://demo-photos/photos/2019/ --suffix .tif --tier BULK --virtual-time \
  --seed 7 || prefix_status=$?
if [ "$prefix_status" -ne 0 ]; then
  echo "the restore by prefix did not complete (exit $prefix_status)" >&2
  exit "$prefix_status"
fi

echo "==> writing a manifest of $OBJECTS objects: spaces, '+', commas, quotes, Unicode, version ids"
python3 - "$OBJECTS" "$OUT/manifest.csv" <<'PY'
import sys, urllib.parse
count, path = int(sys.argv[1]), sys.argv[2]
names = ["summer trip", "c++ notes+more", "a, b and c", "résumé ✓", "東京 写真", "100% \"done\""]
rows = []
for i in range(count):
    key = f"archive/{i % 40:02}/{names[i % len(names)]} {i:05}.tiff"
    # Version ids are labels: the run puts each object and lists the id S3 gave it.
    # (moto restores only the newest version of a key, so each key has one version.)
    version = f"v{i}"
    encoded = urllib.parse.quote(key, safe="/")
    field = f'"{encoded}"' if i % 7 == 0 else encoded
    rows.append(f"demo-archive,{field},{version}")
with open(path, "w", encoding="utf-8") as f:
    f.write("\r\n".join(rows) + "\r\n")
PY

echo "==> checking it as a user would: gbr manifest check"
cargo run -q -p gbr-cli -- manifest check "$OUT/manifest.csv" | head -4

echo "==> running the job (clock ${SCALE}x wall time; each line is one bulk event from the SNS topic's queue)"
status=0
"$CARGO_TARGET_DIR/debug/gbr-local" run --manifest "$OUT/manifest.csv" \
  --storage-class GLACIER --tier STANDARD --time-scale "$SCALE" \
  --duplicate-rate 0.2 --reorder --restore-queue memory --seed 7 --out "$OUT" || status=$?

cat <<TXT

==> what to look at (written by this run)
  $OUT/job.json        the job's record in the jobs table, and its summed counters
  $OUT/history.json    the Step Functions execution history (GetExecutionHistory shape)
  $OUT/execution.json  the execution: status, output, state transitions
  $OUT/events.jsonl    every bulk event, as the progress queue delivered it
To explore a live stack instead: cargo run -p gbr-local -- up
  (it prints the API URL and key, and the moto and DynamoDB endpoints for the AWS CLI, e.g.
   aws --endpoint-url <DynamoDB> dynamodb scan --table-name local-jobs
   aws --endpoint-url <moto> sqs receive-message --queue-url <progress queue>)
TXT
exit "$status"
