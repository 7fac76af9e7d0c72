#!/usr/bin/env bash
# Backup and restore beside the native tools, on the same data in the same run:
#
#   benches/backup.sh [SIZE] [POSTGRES_URL|none]
#
# SIZE is what `rapport demo --size` takes (default large = 1,000,000
# customers plus contacts, leads, follow-ups and tasks). Fills a SQLite
# database and (with POSTGRES_URL, a server where databases may be created,
# default postgres://postgres@127.0.0.1:5432/postgres; `none` skips it) a
# PostgreSQL database with the same demo data, then times, with peak RSS from
# /usr/bin/time -v:
#   rapport backup create / rapport restore   vs   sqlite3 .backup / .restore
#   rapport backup create --sqlite-snapshot / rapport restore of it (the
#     SQLite-only page archive) vs the same sqlite3 commands
#   rapport backup create / rapport restore   vs   pg_dump -Fc / pg_restore
# `rapport restore` includes its own verification pass and the read-back of
# every restored row against the archive's checksums; the native tools do
# neither. Needs sqlite3 (and pg_dump, pg_restore, psql for PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-large}
pg=${2:-postgres://postgres@127.0.0.1:5432/postgres}
tools=(sqlite3 /usr/bin/time)
[ "$pg" = none ] || tools+=(pg_dump pg_restore psql)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (apt-get install -y sqlite3 postgresql-client time)" >&2; exit 2; }
done
# RAPPORT_BENCH_BIN: a rapport binary to measure instead of building one.
if [ -n "${RAPPORT_BENCH_BIN:-}" ]; then
  bin=$RAPPORT_BENCH_BIN
else
  cargo build --release --quiet --bin rapport
  bin=$PWD/target/release/rapport
fi
work=$(mktemp -d)
pgbase=${pg%/*}
dbs=(rapport_bench_src rapport_bench_dst rapport_bench_native)
[ "$pg" = none ] && dbs=()
cleanup() {
  for d in "${dbs[@]}"; do psql -q "$pg" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export RAPPORT_LOG__LEVEL=warn RAPPORT_LOG__KEEP=0
rows=()
# run NAME COMMAND...: time a command, keep "NAME seconds peak-RSS-MB".
run() {
  local name=$1; shift
  /usr/bin/time -v "$@" > "$work/out" 2> "$work/time" || { cat "$work/out" "$work/time" >&2; exit 1; }
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")
  rows+=("$(printf '%-44s %8.1f s %8.0f MB' "$name" "$wall" "$(echo "$rss/1024" | bc -l)")")
  echo "${rows[-1]}"
}

for d in "${dbs[@]}"; do psql -q "$pg" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" -c "CREATE DATABASE $d"; done
# Wait for the disk to settle between steps so one step's write-back does not
# land in the next one's time.
settle() { sync; sleep 2; }

echo "== SQLite, demo --size $size"
export RAPPORT_DATA_DIR=$work/sqlite
start=$(date +%s)
"$bin" demo --size "$size" 2>/dev/null | sed -n 1p
echo "   (generated in $(( $(date +%s) - start )) s; database $(du -h "$work/sqlite/rapport.db" | cut -f1))"
settle; run "rapport backup create (sqlite)" "$bin" backup create --out "$work/s.tar.zst"
settle; run "rapport backup create --sqlite-snapshot" "$bin" backup create --sqlite-snapshot --out "$work/snap.tar.zst"
settle; run "sqlite3 .backup" sqlite3 "$work/sqlite/rapport.db" ".backup $work/s-native.db"
settle; run "rapport restore (sqlite -> sqlite)" "$bin" restore "$work/s.tar.zst" --into "$work/s-restored.db"
rm -f "$work/s-restored.db"
settle; run "rapport restore (sqlite snapshot)" "$bin" restore "$work/snap.tar.zst" --into "$work/snap-restored.db"
rm -f "$work/snap-restored.db"
settle; run "sqlite3 .restore" sqlite3 "$work/s-native-restored.db" ".restore $work/s-native.db"
settle; run "rapport backup verify (sqlite snapshot)" "$bin" backup verify "$work/snap.tar.zst"
echo "   archive $(du -h "$work/s.tar.zst" | cut -f1), snapshot archive $(du -h "$work/snap.tar.zst" | cut -f1), sqlite3 copy $(du -h "$work/s-native.db" | cut -f1)"
rm -f "$work/s-native.db" "$work/s-native-restored.db" "$work/snap.tar.zst"

if [ "$pg" != none ]; then

echo "== PostgreSQL, demo --size $size"
export RAPPORT_DATA_DIR=$work/pg RAPPORT_DATABASE__URL=$pgbase/rapport_bench_src
start=$(date +%s)
"$bin" demo --size "$size" 2>/dev/null | sed -n 1p
echo "   (generated in $(( $(date +%s) - start )) s)"
settle; run "rapport backup create (postgres)" "$bin" backup create --out "$work/p.tar.zst"
settle; run "pg_dump -Fc" pg_dump -Fc -f "$work/p.dump" "$pgbase/rapport_bench_src"
settle; run "rapport restore (postgres -> postgres)" "$bin" restore "$work/p.tar.zst" --into "$pgbase/rapport_bench_dst"
settle; run "pg_restore" pg_restore -d "$pgbase/rapport_bench_native" "$work/p.dump"
run "rapport backup verify" "$bin" backup verify "$work/p.tar.zst"
echo "   archive $(du -h "$work/p.tar.zst" | cut -f1), pg_dump $(du -h "$work/p.dump" | cut -f1)"
fi

echo
echo "== summary (size $size)"
printf '%s\n' "${rows[@]}"
