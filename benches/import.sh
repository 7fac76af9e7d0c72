#!/usr/bin/env bash
# Import/export benchmark (issue 9): generate N customers as CSV (Chinese
# and Latin names, ~2% duplicates of earlier rows by phone, ~1% by name),
# import them with duplicate checking into a fresh SQLite data dir with the
# release binary, time `sqlite3 .import` of the same file into a plain
# table, and time the export of every row; peak RSS via /usr/bin/time -v.
#
#   benches/import.sh [ROWS] [DIR]        default 1000000 /tmp/bench-import
set -euo pipefail

ROWS=${1:-1000000}
DIR=${2:-/tmp/bench-import}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RAPPORT_BENCH_BIN:-$ROOT/target/release/rapport}
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release)
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed: apt-get install -y sqlite3" >&2; exit 2; }
rm -rf "$DIR" && mkdir -p "$DIR/data"
export RAPPORT_DATA_DIR=$DIR/data RAPPORT_DATABASE__URL=$DIR/data/rapport.db RAPPORT_LOG__DIR=$DIR/data/log
CSV=$DIR/customers.csv
python3 - "$ROWS" "$CSV" <<'PY'
import random, sys
n, path = int(sys.argv[1]), sys.argv[2]
r = random.Random(9)
sur = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
cities = ["深圳", "广州", "北京", "上海", "杭州", "成都", "武汉", "南京"]
words = ["星河", "蓝海", "云帆", "华信", "启明", "恒通", "金桥", "博远", "天成", "瑞丰"]
kinds = ["科技", "贸易", "实业", "电子", "物流", "咨询"]
with open(path, "w", encoding="utf-8") as f:
    f.write("客户名称,手机号,电子邮件,省份,城市,行业,级别,来源,地址,备注\n")
    for i in range(n):
        if i > 100 and r.random() < 0.02:
            j = r.randrange(i)   # the same phone as an earlier row
            phone = f"13{j:09d}"
        else:
            phone = f"13{i:09d}"
        if r.random() < 0.6:
            city = r.choice(cities)
            name = f"{city}市{r.choice(words)}{r.choice(kinds)}{i}有限公司"
        elif r.random() < 0.7:
            name = f"{r.choice(sur)}{r.choice(given)}{r.choice(given)}{i}"
            city = r.choice(cities)
        else:
            name = f"Acme Trading {i} Co., Ltd."
            city = "Hong Kong"
        f.write(f"\"{name}\",{phone},c{i}@example.cn,广东,{city},{r.choice(kinds)},{r.choice('ABC')},展会,科技园{i % 100}号,\"第一行\n第二行\"\n")
PY
echo "file: $(du -h "$CSV" | cut -f1), $ROWS rows"
"$BIN" migrate >/dev/null
echo 'Bench-Harbour-Lantern-7' | "$BIN" init --admin-email admin@bench.cn --admin-name 管理员 --password-stdin >/dev/null
TIMEFMT="%e s, peak RSS %M KiB"
echo "== rapport import (duplicate checking, SQLite)"
/usr/bin/time -f "$TIMEFMT" -o "$DIR/import.time" "$BIN" import customers "$CSV" --json > "$DIR/import.json"
python3 -c "import json;s=json.load(open('$DIR/import.json'));print(f\"rows {s['rows']} created {s['created']} skipped {s['skipped']} rejected {s['rejected']} in {s['seconds']:.1f} s = {s['rows_per_second']:.0f} rows/s (rebuild at the end {s.get('rebuild_seconds',0):.1f} s)\")"
echo "process: $(cat "$DIR/import.time")"
echo "== sqlite3 .import into a plain table"
rm -f "$DIR/plain.db"
START=$(date +%s.%N)
sqlite3 "$DIR/plain.db" <<SQL
.mode csv
.import $CSV plain
SQL
END=$(date +%s.%N)
PLAIN=$(python3 -c "print(f'{$END-$START:.2f}')")
IMPORT=$(python3 -c "import json;print(json.load(open('$DIR/import.json'))['seconds'])")
echo "sqlite3 .import: $PLAIN s; ratio rapport/sqlite3 = $(python3 -c "print(f'{$IMPORT/$PLAIN:.1f}')")"
echo "== rapport export (CSV)"
/usr/bin/time -f "$TIMEFMT" -o "$DIR/export.time" "$BIN" export customers --format csv --out "$DIR/export.csv"
echo "process: $(cat "$DIR/export.time")"
