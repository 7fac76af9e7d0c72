#!/usr/bin/env bash
# Sales CRM latency through HTTP at scale: list, filter, search and read for
# customers, contacts, leads, follow-ups and tasks, the to-do centre, and the
# create rate (each create writes its audit row in the same transaction).
#
#   benches/sales.sh [SIZE] [SECONDS] [CONNECTIONS] [DATA_DIR]
#   ONLY='board|pool' benches/sales.sh large 5 2 /tmp/bench-data
#
# SIZE is what `rapport demo --size` takes (default large = 1,000,000
# customers, 1,000,000 contacts, 2,000,000 follow-ups, 200,000 leads,
# 100,000 tasks). Generates the demo data into a fresh data dir (or reuses
# DATA_DIR when it already holds a demo database), starts the release server
# on 127.0.0.1, then loads each endpoint with wrk as an administrator (scope
# "all") and as a salesperson (scope "self"). Needs wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-large}
secs=${2:-10}
conns=${3:-8}
data=${4:-}
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (apt-get install -y $tool)" >&2; exit 2; }
done
cargo build --release --quiet --bin rapport
bin=$PWD/target/release/rapport
work=$(mktemp -d)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
if [ -z "$data" ]; then data=$work/data; fi
export RAPPORT_DATA_DIR=$data RAPPORT_LOG__LEVEL=warn RAPPORT_LOG__KEEP=0
if [ ! -f "$data/demo.txt" ]; then
  start=$(date +%s%3N)
  "$bin" demo --size "$size" > "$data.demo.out" 2>/dev/null || { cat "$data.demo.out"; exit 1; }
  mkdir -p "$data" && mv "$data.demo.out" "$data/demo.txt"
  echo "demo data: $(( $(date +%s%3N) - start )) ms: $(head -1 "$data/demo.txt")"
fi
admin=$(sed -n 's/^log in as \([^ ]*\) .*/\1/p' "$data/demo.txt")
admin_token=$("$bin" token create --user "$admin" --name bench 2>/dev/null)
sales_token=$("$bin" token create --user sales0000@demo.rapport.local --name bench 2>/dev/null)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RAPPORT_SERVER__LISTEN=127.0.0.1:$port "$bin" serve 2>"$work/serve.log" &
pid=$!
until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.05; done
base=http://127.0.0.1:$port
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="=&:,"))' "$1"; }
id=$(curl -fs -H "Authorization: Bearer $admin_token" "$base/api/v1/customers?limit=1&sort=name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')

# One table row from wrk's output: label, req/s, p50, p90, p99, non-2xx.
report() { # label wrk-output
  local rps p50 p90 p99 errs
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$2")
  p50=$(awk '$1=="50%" {print $2}' <<<"$2")
  p90=$(awk '$1=="90%" {print $2}' <<<"$2")
  p99=$(awk '$1=="99%" {print $2}' <<<"$2")
  errs=$(awk '/Non-2xx/ {print $NF}' <<<"$2")
  printf '%-44s %10s %10s %10s %10s %8s\n' "$1" "$rps" "$p50" "$p90" "$p99" "${errs:-0}"
}
# ONLY=regex limits the run to the endpoints whose label matches.
run() { # label token path
  [[ -n "${ONLY:-}" && ! "$1" =~ $ONLY ]] && return
  report "$1" "$(wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $2" "$base$3")"
}
echo "machine: $(nproc) cores; wrk -t2 -c$conns -d${secs}s; $(sed -n 1p "$data/demo.txt")"
printf '%-44s %10s %10s %10s %10s %8s\n' endpoint req/s p50 p90 p99 non-2xx
run "list, first page (admin, all)"            "$admin_token" "/api/v1/customers?limit=50"
run "list, first page (salesperson, self)"     "$sales_token" "/api/v1/customers?limit=50"
run "filtered: level A in Shenzhen (admin)"    "$admin_token" "/api/v1/customers?limit=50&$(enc 'filter=level:eq:A&filter=city:eq:深圳')"
run "filtered + sorted by name (salesperson)"  "$sales_token" "/api/v1/customers?limit=50&sort=name&$(enc 'filter=level:eq:A')"
run "search 科技 (admin)"                      "$admin_token" "/api/v1/customers?limit=50&q=$(enc '科技')"
run "search 张伟 (admin)"                      "$admin_token" "/api/v1/customers?limit=50&q=$(enc '张伟')"
run "search 星河科技 (admin)"                  "$admin_token" "/api/v1/customers?limit=50&q=$(enc '星河科技')"
run "search smith (admin)"                     "$admin_token" "/api/v1/customers?limit=50&q=smith"
run "search 张伟 (salesperson)"                "$sales_token" "/api/v1/customers?limit=50&q=$(enc '张伟')"
run "global search 科技 (salesperson)"         "$sales_token" "/api/v1/search?q=$(enc '科技')"
run "get by id (admin)"                        "$admin_token" "/api/v1/customers/$id"
contact=$(curl -fs -H "Authorization: Bearer $admin_token" "$base/api/v1/contacts?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
run "contacts, first page (admin, all)"        "$admin_token" "/api/v1/contacts?limit=50"
run "contacts, first page (salesperson, self)" "$sales_token" "/api/v1/contacts?limit=50"
run "contacts of one customer (admin)"         "$admin_token" "/api/v1/contacts?limit=50&$(enc "filter=customer_id:eq:$id")"
run "contacts sorted by name (salesperson)"    "$sales_token" "/api/v1/contacts?limit=50&sort=name"
run "contacts search 张伟 (admin)"             "$admin_token" "/api/v1/contacts?limit=50&q=$(enc '张伟')"
run "contacts search 张伟 (salesperson)"       "$sales_token" "/api/v1/contacts?limit=50&q=$(enc '张伟')"
run "contacts search phone 13800 (admin)"      "$admin_token" "/api/v1/contacts?limit=50&q=13800"
run "contacts search smith (admin)"            "$admin_token" "/api/v1/contacts?limit=50&q=smith"
run "contact by id (admin)"                    "$admin_token" "/api/v1/contacts/$contact"
run "follow-ups of one customer (admin)"       "$admin_token" "/api/v1/followups?limit=50&$(enc "filter=customer_id:eq:$id")"
run "follow-ups, newest (salesperson)"         "$sales_token" "/api/v1/followups?limit=50"
run "leads, open (salesperson)"                "$sales_token" "/api/v1/leads?limit=50&view=open"
run "tasks, overdue (salesperson)"             "$sales_token" "/api/v1/tasks?limit=50&view=overdue"
run "to-do centre (salesperson)"               "$sales_token" "/api/v1/todo"
run "global search 张伟 (salesperson)"         "$sales_token" "/api/v1/search?q=$(enc '张伟')"

pipeline=$(curl -fs -H "Authorization: Bearer $admin_token" "$base/api/v1/pipelines" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
pool=$(curl -fs -H "Authorization: Bearer $admin_token" "$base/api/v1/pools" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
run "opportunities, first page (admin)"        "$admin_token" "/api/v1/opportunities?limit=50"
run "opportunities, open (salesperson)"        "$sales_token" "/api/v1/opportunities?limit=50&view=open"
run "opportunities by amount (admin)"          "$admin_token" "/api/v1/opportunities?limit=50&sort=-amount"
run "opportunities search CRM (salesperson)"   "$sales_token" "/api/v1/opportunities?limit=50&q=CRM"
run "pipeline board (admin, all)"              "$admin_token" "/api/v1/pipelines/$pipeline/board"
run "pipeline board (salesperson, self)"       "$sales_token" "/api/v1/pipelines/$pipeline/board"
run "pool customers, first page (salesperson)" "$sales_token" "/api/v1/pools/$pool/customers?limit=50"
run "pool customers search 科技 (salesperson)" "$sales_token" "/api/v1/pools/$pool/customers?limit=50&q=$(enc '科技')"

# The web pages (server-rendered HTML, the same scope as the API).
run "page: home / to-do centre (salesperson)"  "$sales_token" "/"
run "page: customers list (admin, all)"        "$admin_token" "/customers?view=all"
run "page: customers list (salesperson)"       "$sales_token" "/customers?view=mine"
run "page: customers filtered (admin)"         "$admin_token" "/customers?view=all&$(enc 'filter=level:eq:A&filter=city:eq:深圳')"
run "page: customer detail (admin)"            "$admin_token" "/customers/$id"
run "page: customer edit form (admin)"         "$admin_token" "/customers/$id/edit"
run "page: contacts list (salesperson)"        "$sales_token" "/contacts?view=mine"
run "page: pipeline board (admin)"             "$admin_token" "/board/$pipeline"
run "page: global search 张伟 (salesperson)"   "$sales_token" "/search?q=$(enc '张伟')"

# Creates: every request a new customer (or contact) with a unique name, no
# duplicate confirmation, so the duplicate check runs each time.
cat > "$work/create.lua" <<'LUA'
-- Each wrk thread numbers its own requests; setup() gives each thread its
-- own id so two threads never send the same name.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
wrk.headers["Content-Type"] = "application/json"
local path = os.getenv("CREATE_PATH")
local body = os.getenv("CREATE_BODY")
request = function()
  n = n + 1
  local b = string.gsub(body, "NN", tostring(os.time()) .. "-" .. tostring(tid) .. "-" .. n)
  -- nil headers: wrk's own, with the -H Authorization header
  return wrk.format("POST", path, nil, b)
end
LUA
create() { # label token path body
  report "$1" "$(CREATE_PATH=$3 CREATE_BODY=$4 wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/create.lua" -H "Authorization: Bearer $2" "$base")"
}
[[ -z "${ONLY:-}" || "create" =~ $ONLY ]] && \
create "create customer with audit (salesperson)" "$sales_token" "/api/v1/customers" '{"name":"压测客户NN","tags":["压测"]}'
[[ -z "${ONLY:-}" || "create" =~ $ONLY ]] && \
create "create contact with audit (admin)"       "$admin_token" "/api/v1/contacts" "{\"customer_id\":$id,\"name\":\"压测联系人NN\",\"email\":\"nn-NN@example.cn\"}"
echo "server RSS after load: $(awk '/^VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status), peak $(awk '/^VmHWM/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)"

# The pool job over every customer: the first run returns what the rules
# say is due, the second is the steady nightly run (nothing new due).
if [[ -z "${ONLY:-}" || "pool job" =~ $ONLY ]]; then
  for pass in "first run" "second run"; do
    out=$(curl -fs -w ' %{time_total}' -X POST -H "Authorization: Bearer $admin_token" "$base/api/v1/pools/returns")
    echo "pool return job, $pass: $(sed 's/.*"summary":"\([^"]*\)".* \(.*\)/\1 in \2 s/' <<<"$out")"
  done
fi
