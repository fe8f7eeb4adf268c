#!/usr/bin/env bash
# cheesecache vs nginx on the shared bench kit's fixture, in one run.
#
#   bash bench/run.sh [KIT_DIR]
#
# KIT_DIR  the shared bench kit (default: ../shared/bench relative to the repo, or $BENCH_KIT).
#          If it is not writable or has no fixture, it is copied to $KIT_COPY (/tmp/bench) and the
#          fixture is built there once with the kit's setup-fixture.sh (that step needs the internet).
#
# What it does (all traffic to 127.0.0.1, every load bounded in count or time):
#   1. starts the kit's fixture nginx on 127.0.0.1:8700 (`peers.sh start fixture`) unless it is
#      already answering, and a fresh `twistd -n cheesecache` on a free loopback port with an empty
#      temporary data dir, upstream = the fixture;
#   2. runs the kit's run.sh phases, interleaving nginx (the fixture served directly: the
#      reference) and cheesecache so that both see the same machine state:
#        cheesecache: coalesce coalesce-file        (50 concurrent cold GETs of never-fetched
#                                                    pages / one 7.4 MB wheel; upstream hits counted)
#        BIG_ROUNDS x { nginx, cheesecache: bigfile } (83 MB wheel: cold (1st round only), 3 warm,
#                                                    4 parallel warm, TTFB, RSS)
#        ROUNDS x { nginx, cheesecache: index }      (50 WARM_SET pages JSON + HTML at c=$CONCS,
#                                                    the 20 smallest pages at c=16, RSS)
#        ROUNDS x { nginx, cheesecache: index-gzip } (50 JSON pages, c=16, Accept-Encoding: gzip)
#        ROUNDS x { proxpi: index }                  (PROXPI=1: the same page work on proxpi, the
#                                                    reference of the small-page target, in the same run)
#   3. (PROFILE=1, py-spy installed into $TOOLS_VENV if missing) profiles cheesecache under two
#      more wrk runs (50 warm JSON pages, 20 small JSON pages; not part of the figures);
#   4. (SLOWUP=1, only if it started the fixture) throttles the fixture's files to $SLOW_RATE per
#      connection (`peers.sh rate fixture 20m`) and runs the kit's bigfile phase on nginx and on a
#      second, fresh cheesecache (cold = streaming from a slow upstream), then un-throttles;
#   5. (COLD_REPS=3) the cold big file again, each time on a fresh cheesecache, beside nginx's own
#      GET of it, unthrottled and (only if it started the fixture) with the fixture's files
#      throttled to each rate of $COLD_RATES; unthrottled, also bench/coldfloor.py (a plain-Python
#      proxy doing the least work a cold file needs: the floor under cheesecache's figure);
#      and (UV_COLD_REPS=9) pairs of uv installs, against nginx, then against a fresh cheesecache;
#      and (META_UV_REPS=9) the same pairs against an upstream that lists core metadata, as the
#      public index does (bench/metadata_upstream.py, served by a second nginx); with each pair,
#      the CPU the fresh cheesecache used for its install;
#   6. (SCALE=1) bench/scale.py: a 700,000-name root list and a 10,000-file page, cold and warm;
#   7. stops what it started and writes bench/RESULTS.md (bench/report.py) from the raw results
#      in bench/results/<UTC stamp>/ (ignored by git). About 8 minutes on 2 cores.
#
# Environment knobs: TWISTD (cheesecache's twistd; default: .venv/bin/twistd of the repo,
# /tmp/dev/bin/twistd, or twistd on PATH; else the repo is pip-installed into a temp venv),
# ROUNDS (3), BIG_ROUNDS (3), CONCS ("16"), DUR (10s), INDEX_TTL (3600: no revalidation during the run),
# PROFILE (1), PYSPY, SLOWUP (1), SLOW_RATE (20m), COLD_REPS (3), COLD_RATES ("0 600m 300m 100m"), UV_COLD_REPS (9),
# META_UV_REPS (9), RES (results dir), RESULTS_MD (bench/RESULTS.md),
# PROXPI (1: install proxpi with the kit's recipe into $PEERS/proxpi if missing and measure it too),
# SCALE (1: run bench/scale.py too).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
KIT=${1:-${BENCH_KIT:-$REPO/../shared/bench}}
KIT=$(cd "$KIT" 2>/dev/null && pwd) || { echo "run.sh: no bench kit at ${1:-$REPO/../shared/bench}" >&2; exit 2; }
KIT_COPY=${KIT_COPY:-/tmp/bench}
TOOLS_VENV=${TOOLS_VENV:-/tmp/cc-bench-tools}
ROUNDS=${ROUNDS:-3}
BIG_ROUNDS=${BIG_ROUNDS:-3}
export CONCS=${CONCS:-16} DUR=${DUR:-10s}
INDEX_TTL=${INDEX_TTL:-3600}
PROFILE=${PROFILE:-1}
PROFILE_S=${PROFILE_S:-10}
SLOWUP=${SLOWUP:-1}
SLOW_RATE=${SLOW_RATE:-20m}
COLD_REPS=${COLD_REPS:-3}
COLD_RATES=${COLD_RATES:-0 600m 300m 100m}
UV_COLD_REPS=${UV_COLD_REPS:-9}
META_UV_REPS=${META_UV_REPS:-9}
PROXPI=${PROXPI:-1}
SCALE=${SCALE:-1}
export PEERS=${PEERS:-/tmp/peers}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES=${RES:-$HERE/results/$STAMP}
RESULTS_MD=${RESULTS_MD:-$HERE/RESULTS.md}
export RUN=${RUN:-/tmp/bench-run}
FIXTURE_URL=http://127.0.0.1:8700/simple/
T_START=$(date +%s)

say() { printf '[bench %s] %s\n' "$(date -u +%T)" "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- the kit, writable, with a fixture
source "$KIT/sets.env"
have_fixture() { [ -f "$1/fixture/MANIFEST.json" ] && [ -n "$(find "${BIG_DIR:-/tmp/bench-big}" -name "$BIG_FILE" 2>/dev/null | head -1)" ]; }
if [ -w "$KIT" ] && have_fixture "$KIT"; then
  B=$KIT
else
  B=$KIT_COPY
  if [ "$B" != "$KIT" ]; then
    mkdir -p "$B"
    # refresh the kit's scripts in the copy; the fixture built there is kept
    cp -rf "$KIT/." "$B/"   # the kit's scripts (a fixture built in the copy is kept)
    chmod -R u+w "$B"
  fi
  if ! have_fixture "$B"; then
    say "building the fixture in $B (kit's setup-fixture.sh, needs the internet once)"
    bash "$B/setup-fixture.sh" > "$B/setup-fixture.log" 2>&1 || { tail -20 "$B/setup-fixture.log"; die "setup-fixture.sh failed"; }
  fi
fi
source "$B/sets.env"
for t in nginx wrk hey curl; do
  command -v "$t" >/dev/null || { say "installing nginx-light wrk hey (apt-get)";
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light wrk hey > /dev/null || die "apt-get failed"; break; }
done

# ---------------------------------------------------------------- cheesecache's twistd
if [ -z "${TWISTD:-}" ]; then
  for c in "$REPO/.venv/bin/twistd" /tmp/dev/bin/twistd "$(command -v twistd 2>/dev/null)"; do
    [ -n "$c" ] && [ -x "$c" ] && "$(dirname "$c")/python" -c 'import cheesecache' 2>/dev/null && { TWISTD=$c; break; }
  done
fi
if [ -z "${TWISTD:-}" ]; then
  say "no twistd with cheesecache found: installing the repo into $TOOLS_VENV-cc"
  python3 -m venv "$TOOLS_VENV-cc" && env -u PIP_FIND_LINKS "$TOOLS_VENV-cc/bin/pip" install -q "$REPO" || die "pip install failed"
  TWISTD=$TOOLS_VENV-cc/bin/twistd
fi
CCPY=$(dirname "$TWISTD")/python

# ---------------------------------------------------------------- py-spy (optional)
if [ "$PROFILE" = 1 ] && [ -z "${PYSPY:-}" ]; then
  if [ ! -x "$TOOLS_VENV/bin/py-spy" ]; then
    say "installing py-spy into $TOOLS_VENV"
    { python3 -m venv "$TOOLS_VENV" && env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null \
        "$TOOLS_VENV/bin/pip" install -q py-spy; } > /dev/null 2>&1 || say "py-spy install failed: no profile"
  fi
  [ -x "$TOOLS_VENV/bin/py-spy" ] && PYSPY=$TOOLS_VENV/bin/py-spy
fi

# ---------------------------------------------------------------- start the fixture and cheesecache
mkdir -p "$RES"
TMPD=$(mktemp -d /tmp/cc-bench.XXXXXX)
STARTED_FIXTURE=0
STARTED_PROXPI=0
RATE_SET=0
STARTED_META=0
CC_PID=
PX_PID=
cleanup() {
  [ -n "${RSS_ALL_PID:-}" ] && kill -TERM "$RSS_ALL_PID" 2>/dev/null && wait "$RSS_ALL_PID" 2>/dev/null
  stop_cc
  [ "$STARTED_PROXPI" = 1 ] && bash "$B/peers.sh" stop proxpi && STARTED_PROXPI=0
  [ "$RATE_SET" = 1 ] && bash "$B/peers.sh" rate fixture 0 > /dev/null && RATE_SET=0
  [ "$STARTED_FIXTURE" = 1 ] && bash "$B/peers.sh" stop fixture && STARTED_FIXTURE=0
  [ "$STARTED_META" = 1 ] && nginx -c "$META/nginx.conf" -s stop && STARTED_META=0
  rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if curl -s -o /dev/null -m 2 "$FIXTURE_URL"; then
  [ -f "$RUN/fixture/pid" ] && kill -0 "$(cat "$RUN/fixture/pid")" 2>/dev/null || die "something answers on 8700 but $RUN/fixture/pid is not it"
  say "fixture already running (pid $(cat "$RUN/fixture/pid")): using it, will not stop it"
else
  bash "$B/peers.sh" start fixture || die "could not start the fixture"
  STARTED_FIXTURE=1
fi
FIX_PID=$(cat "$RUN/fixture/pid")
[ -f "$RUN/fixture/access.log" ] || die "no fixture access log at $RUN/fixture/access.log"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# The CPU time (ms, all its threads) process PID has used so far; nothing where the kernel keeps no
# schedstat.  On 2 shared cores a cold install's time follows the server's CPU, which uv's does not
# count in.
cpu_ms() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {if (NR) printf "%d", s / 1e6}'; }
start_cc() {  # NAME [UPSTREAM] : a fresh cheesecache (empty data dir $CC_DATA, $TMPD/NAME-data) on a free loopback port
  local name=$1 upstream=${2:-$FIXTURE_URL}
  PORT=$(free_port)
  CC_URL=http://127.0.0.1:$PORT/simple/
  CC_LOG=$TMPD/$name.log
  CC_DATA=$TMPD/$name-data
  CC_CMD=("$TWISTD" --pidfile "$TMPD/$name.pid" -n cheesecache --listen "tcp:$PORT:interface=127.0.0.1"
          --upstream "$upstream" --data-dir "$CC_DATA" --index-ttl "$INDEX_TTL")
  setsid "${CC_CMD[@]}" > "$CC_LOG" 2>&1 < /dev/null &
  CC_PID=$!
  for _ in $(seq 300); do
    curl -s -o /dev/null -m 2 "http://127.0.0.1:$PORT/" && break
    kill -0 "$CC_PID" 2>/dev/null || { cat "$CC_LOG"; CC_PID=; die "cheesecache died at start"; }
    sleep 0.1
  done
  curl -s -o /dev/null -m 2 "http://127.0.0.1:$PORT/" || die "cheesecache does not answer on $PORT"
  say "cheesecache ($name) pid $CC_PID on $CC_URL (data dir $TMPD/$name-data), fixture pid $FIX_PID"
}
stop_cc() {
  if [ -n "$CC_PID" ] && kill -0 "$CC_PID" 2>/dev/null; then
    kill -TERM "$CC_PID"
    for _ in $(seq 100); do kill -0 "$CC_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$CC_PID" 2>/dev/null && { say "cheesecache ignored TERM: KILL"; kill -KILL "$CC_PID"; echo "cheesecache ignored SIGTERM for 10 s" >> "$RES/problems.txt"; }
    say "cheesecache stopped (pid $CC_PID)"
  fi
  CC_PID=
  [ -n "${CC_LOG:-}" ] && [ -f "$CC_LOG" ] && cp "$CC_LOG" "$RES/"
}
drop_cc() {  # stop the cheesecache and remove its data dir (the fresh-cache pairs)
  stop_cc
  rm -rf "$CC_DATA"
}
start_cc cheesecache

# ---------------------------------------------------------------- proxpi (optional): same work, same run
if [ "$PROXPI" = 1 ]; then
  if [ ! -x "$PEERS/proxpi/bin/gunicorn" ]; then
    say "installing proxpi into $PEERS/proxpi (the kit's peers.sh recipe)"
    { python3 -m venv "$PEERS/proxpi" && env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null \
        "$PEERS/proxpi/bin/pip" install -q proxpi gunicorn; } > /dev/null 2>&1 || say "proxpi install failed: not measured"
  fi
  if [ -f "$RUN/proxpi/pid" ] && kill -0 "$(cat "$RUN/proxpi/pid")" 2>/dev/null; then
    say "proxpi already running (pid $(cat "$RUN/proxpi/pid")): using it, will not stop it"
    PX_PID=$(cat "$RUN/proxpi/pid")
  elif [ -x "$PEERS/proxpi/bin/gunicorn" ]; then
    bash "$B/peers.sh" start proxpi --fresh && STARTED_PROXPI=1 && PX_PID=$(cat "$RUN/proxpi/pid")
  fi
  PX_URL=$(bash "$B/peers.sh" url proxpi)
fi

# ---------------------------------------------------------------- environment + commands
{
  echo "date_utc=$(date -u +%FT%TZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p')"
  echo "mem_GiB=$(free -g | awk '/Mem:/{print $2}')"
  echo "kernel=$(uname -sr)"
  echo "os=$(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "python_cheesecache=$("$CCPY" --version 2>&1)"
  echo "python_kit=$(python3 --version 2>&1)"
  echo "twisted=$("$CCPY" -c 'import twisted; print(twisted.__version__)' 2>&1)"
  echo "treq=$("$CCPY" -c 'import treq; print(treq.__version__)' 2>&1)"
  echo "cheesecache=$("$CCPY" -c 'import cheesecache; print(cheesecache.__version__)' 2>&1)"
  echo "git_head=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$([ -n "$(git -C "$REPO" status --porcelain -- cheesecache twisted 2>/dev/null)" ] && echo ' + uncommitted changes in cheesecache/ (working tree measured)')"
  echo "nginx=$(nginx -v 2>&1 | sed 's/.*: //')"
  echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
  echo "hey=$(dpkg-query -W -f '${Version}' hey 2>/dev/null)"
  echo "curl=$(curl --version | head -1 | cut -d' ' -f1-2)"
  [ -n "$PX_PID" ] && echo "proxpi=$("$PEERS/proxpi/bin/pip" list 2>/dev/null | awk 'tolower($1) ~ /^(proxpi|gunicorn|flask)$/ {printf "%s %s, ", $1, $2}' | sed 's/, $//') (gunicorn --preload, 1 worker, --threads 2: the kit's peers.sh)"
  echo "kit=$KIT (run from $B)"
  echo "fixture_fetched_at=$(python3 -c "import json; print(json.load(open('$B/fixture/MANIFEST.json'))['fetched_at'])" 2>/dev/null)"
  echo "rounds=$ROUNDS"; echo "concs=$CONCS"; echo "dur=$DUR"; echo "index_ttl=$INDEX_TTL"
  echo "cc_port=$PORT"
  echo "cc_cmd=${CC_CMD[*]}" | sed "s#$TMPD/cheesecache#\$TMP/cheesecache#g"
} > "$RES/environment.txt"
: > "$RES/commands.txt"
: > "$RES/rss-checkpoints.tsv"

rss_now() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$CC_PID/status" 2>/dev/null; }
checkpoint() { printf '%s\t%s\n' "$1" "$(rss_now)" >> "$RES/rss-checkpoints.tsv"; }
alive() { kill -0 "$CC_PID" 2>/dev/null || { say "cheesecache (pid $CC_PID) is gone!"; echo "cheesecache died before: $1" >> "$RES/problems.txt"; CC_PID=; return 1; }; }

# run.sh NAME-DIR URL PID PHASES... -> $RES/DIR/summary.tsv (appended)
kit() {
  local dir=$1 name=$2 url=$3 pid=$4; shift 4
  echo "OUT=\$RES/$dir bash \$KIT/run.sh $name $url <pid of $name> $*" >> "$RES/commands.txt"
  OUT=$RES/$dir bash "$B/run.sh" "$name" "$url" "$pid" "$@" 2>&1 | tee -a "$RES/run-log.txt" | sed 's/^/    /'
}
uv_cold_pair() {  # DIR : the fresh cheesecache's cold uv install, and the CPU it used (DIR/server-cpu-ms)
  local before after
  before=$(cpu_ms "$CC_PID")
  kit "$1" cheesecache "$CC_URL" "$CC_PID" uv:cold
  after=$(cpu_ms "$CC_PID")
  if [ -n "$before" ] && [ -n "$after" ] && [ -d "$RES/$1" ]; then echo $((after - before)) > "$RES/$1/server-cpu-ms"; fi
}
nginx_run() { kit "nginx$1" nginx "$FIXTURE_URL" "$FIX_PID" "${@:2}"; }
cc_run() { alive "$*" && kit "cheesecache$1" cheesecache "$CC_URL" "$CC_PID" "${@:2}"; checkpoint "after ${*:2}${1:+ (round ${1#-r})}"; }

# whole-life RSS of cheesecache
python3 "$B/lib/rss_sampler.py" "$CC_PID" "$RES/rss-cheesecache-whole-run.txt" 0.1 &
RSS_ALL_PID=$!
checkpoint "start"

say "cold: coalescing (pages, file) on the fresh cache"
cc_run "" coalesce coalesce-file
say "big file: nginx, then cheesecache (cold + warm)"
nginx_run "" bigfile
cc_run "" bigfile
for r in $(seq 2 "$BIG_ROUNDS"); do   # more warm big-file pairs (one sample each is noisy)
  nginx_run "-big$r" bigfile
  cc_run "-big$r" bigfile
done
# uv installing requests twisted treq into a fresh venv, no client cache: nginx
# directly, then cheesecache for the first time (cold: the install set's pages and
# files were never asked for) and again (warm).
export UV=${UV:-$(command -v uv || echo "$REPO/.venv/bin/uv")}
[ -x "$UV" ] || UV=/tmp/dev/bin/uv
say "uv installs: nginx x2, cheesecache cold, then warm x2 (UV=$UV)"
nginx_run "-uv" uv:n1 uv:n2
cc_run "-uv" uv:cold uv:warm1 uv:warm2
for r in $(seq "$ROUNDS"); do
  say "warm pages, round $r/$ROUNDS"
  nginx_run "-r$r" index
  cc_run "-r$r" index
  nginx_run "-r$r" index-gzip
  cc_run "-r$r" index-gzip
  if [ -n "$PX_PID" ]; then
    kill -0 "$PX_PID" 2>/dev/null && kit "proxpi-r$r" proxpi "$PX_URL" "$PX_PID" index \
      || { say "proxpi (pid $PX_PID) is gone"; echo "proxpi died before round $r" >> "$RES/problems.txt"; PX_PID=; }
  fi
done

# ---------------------------------------------------------------- profile (not part of the figures)
profile_one() {  # LABEL PROJECTS...  : py-spy on cheesecache during one wrk run (JSON, c=16)
  local label=$1 spy; shift
  printf "/simple/%s/\n" "$@" > "$RES/paths-$label.txt"
  "$PYSPY" record --pid "$CC_PID" --duration $((PROFILE_S + 2)) --rate 100 --format raw \
      --output "$RES/profile-$label.txt" > "$RES/py-spy-$label.log" 2>&1 &
  spy=$!
  sleep 1
  timeout $((PROFILE_S + 30)) wrk -t2 -c16 -d"${PROFILE_S}s" --timeout 30s -s "$B/lib/multi.lua" \
      "http://127.0.0.1:$PORT" -- "$RES/paths-$label.txt" "application/vnd.pypi.simple.v1+json" "" \
      > "$RES/wrk-profile-$label.txt" 2>&1
  wait "$spy"
  python3 "$HERE/profile_top.py" "$RES/profile-$label.txt" > "$RES/profile-top-$label.txt" 2>&1 || true
  echo "$PYSPY record --pid <cheesecache pid> --duration $((PROFILE_S + 2)) --rate 100 --format raw -o profile-$label.txt &" >> "$RES/commands.txt"
  echo "  wrk -t2 -c16 -d${PROFILE_S}s --timeout 30s -s \$KIT/lib/multi.lua http://127.0.0.1:PORT -- paths-$label.txt application/vnd.pypi.simple.v1+json" >> "$RES/commands.txt"
  checkpoint "after profile run ($label)"
}
if [ "$PROFILE" = 1 ] && [ -n "${PYSPY:-}" ] && alive profile; then
  say "py-spy profiles of cheesecache under wrk (JSON, c=16, ${PROFILE_S}s each): 50 warm pages, 20 small pages"
  profile_one warm-json $WARM_SET
  alive profile && profile_one small-json $SMALL_SET
fi

alive "end of run" && checkpoint "end"
kill -TERM "$RSS_ALL_PID" 2>/dev/null; wait "$RSS_ALL_PID" 2>/dev/null; RSS_ALL_PID=
# du of the data dir: what the cache holds
du -sk "$TMPD/cheesecache-data" 2>/dev/null | awk '{printf "data_dir_MB=%.1f\n", $1/1024}' >> "$RES/environment.txt"
stop_cc

# ---------------------------------------------------------------- big file behind a slow upstream
# (like the kit's bench-extra.sh slowup: fixture files limited to $SLOW_RATE per connection; a second
# fresh cheesecache so the wheel is cold again). Only when this script started the fixture.
if [ "$SLOWUP" = 1 ] && [ "$STARTED_FIXTURE" = 1 ]; then
  say "big file behind a throttled upstream ($SLOW_RATE per connection): nginx, then a fresh cheesecache"
  bash "$B/peers.sh" rate fixture "$SLOW_RATE" && RATE_SET=1
  echo "bash \$KIT/peers.sh rate fixture $SLOW_RATE" >> "$RES/commands.txt"
  BIG_SETTLE=10 nginx_run "-slowup" bigfile
  start_cc cheesecache-slowup
  BIG_SETTLE=10 kit "cheesecache-slowup" cheesecache "$CC_URL" "$CC_PID" bigfile
  stop_cc
  bash "$B/peers.sh" rate fixture 0 && RATE_SET=0
  echo "bash \$KIT/peers.sh rate fixture 0" >> "$RES/commands.txt"
fi
# ---------------------------------------------------------------- cold big file, on fresh caches
# One cold GET per cheesecache is one noisy sample, and nginx's first GET of the run (the bigfile
# phase's reference) may come from disk.  Here each of COLD_REPS pairs is nginx's own GET of the
# wheel, then a fresh cheesecache's first GET (it streams from the fixture while it fetches),
# for each upstream rate in COLD_RATES (0 = unthrottled; the throttled rates only when this
# script started the fixture): where cheesecache's streaming stops keeping up with its upstream.
cold_pair() {  # RATE REP -> a line of $RES/cold-sweep.tsv
  local rate=$1 rep=$2 ng cc url off hits
  ng=$(timeout 120 curl -sS -L -o /dev/null -w '%{speed_download} %{time_starttransfer} %{size_download}' "$NG_BIG_URL")
  start_cc "cheesecache-cold-$rate-$rep"
  off=$(stat -c %s "$RUN/fixture/access.log")
  url=$(python3 "$B/lib/find_file_url.py" "$CC_URL" "$BIG_PROJECT" "$BIG_FILE")
  cc=$(timeout 120 curl -sS -L -o /dev/null -w '%{speed_download} %{time_starttransfer} %{size_download}' "$url")
  sleep 0.5
  hits=$(python3 "$B/lib/upstream_hits.py" "$RUN/fixture/access.log" "$off" "$BIG_FILE" | head -1 | sed -E 's/.*match=([0-9]+).*/\1/')
  drop_cc
  printf '%s\t%s\t%s\t%s\t%s\n' "$rate" "$rep" "$ng" "$cc" "$hits" | tr ' ' '\t' >> "$RES/cold-sweep.tsv"
}
if [ "$COLD_REPS" -gt 0 ]; then
  NG_BIG_URL=$(python3 "$B/lib/find_file_url.py" "$FIXTURE_URL" "$BIG_PROJECT" "$BIG_FILE")
  printf 'rate\trep\tnginx_Bps\tnginx_ttfb_s\tnginx_bytes\tcc_Bps\tcc_ttfb_s\tcc_bytes\tcc_upstream_gets\n' > "$RES/cold-sweep.tsv"
  echo "# cold sweep: per rate (peers.sh rate fixture RATE) and rep: curl -L -o /dev/null <fixture's wheel URL>, then a fresh cheesecache and curl -L -o /dev/null <its wheel URL>" >> "$RES/commands.txt"
  for rate in $COLD_RATES; do
    if [ "$rate" != 0 ]; then
      [ "$STARTED_FIXTURE" = 1 ] || continue
      bash "$B/peers.sh" rate fixture "$rate" > /dev/null && RATE_SET=1
    fi
    say "cold big file on fresh caches, upstream rate $rate: $COLD_REPS pairs"
    for rep in $(seq "$COLD_REPS"); do cold_pair "$rate" "$rep"; done
    if [ "$rate" = 0 ]; then
      say "the floor: a plain-Python proxy passing the wheel on (bench/coldfloor.py), $COLD_REPS pairs per shape"
      timeout 300 "$CCPY" "$HERE/coldfloor.py" "$NG_BIG_URL" --pairs "$COLD_REPS" > "$RES/cold-floor.tsv" \
        || echo "bench/coldfloor.py failed" >> "$RES/problems.txt"
      echo "python bench/coldfloor.py <fixture's wheel URL> --pairs $COLD_REPS > cold-floor.tsv" >> "$RES/commands.txt"
    fi
    if [ "$rate" != 0 ]; then bash "$B/peers.sh" rate fixture 0 > /dev/null && RATE_SET=0; fi
  done
fi
# ---------------------------------------------------------------- uv cold, on fresh caches
# The uv phase above has one cold install, against the faster of two nginx runs: one sample.
# Here UV_COLD_REPS pairs: uv against nginx, then against a fresh cheesecache (everything cold).
if [ "$UV_COLD_REPS" -gt 0 ]; then
  say "uv cold on fresh caches: $UV_COLD_REPS pairs with nginx"
  for rep in $(seq "$UV_COLD_REPS"); do
    nginx_run "-uvpair$rep" uv:direct
    start_cc "cheesecache-uvpair$rep"
    uv_cold_pair "cheesecache-uvpair$rep"
    drop_cc
  done
fi
# ---------------------------------------------------------------- uv cold, upstream with core metadata
# The kit's fixture lists no core metadata, so uv reads each wheel's metadata with HEAD and range
# requests.  The public index lists it on nearly every wheel, and uv then fetches .metadata files
# instead.  bench/metadata_upstream.py makes such an upstream from the fixture; a second nginx,
# configured as the fixture's, serves it, and gzips its pages for cheesecache too (by default nginx
# sends a request carrying Via the pages as they are).  META_UV_REPS pairs, as above.
if [ "$META_UV_REPS" -gt 0 ]; then
  say "uv cold on fresh caches, upstream with core metadata: $META_UV_REPS pairs with its nginx"
  META=$RUN/meta-fixture
  rm -rf "$META" && mkdir -p "$META/tmp"
  META_PORT=$(free_port)
  META_URL=http://127.0.0.1:$META_PORT/simple/
  if python3 "$HERE/metadata_upstream.py" "$B/fixture" "$META/root" 8700 "$META_PORT" 2> "$RES/metadata-upstream.log" \
     && sed -e "s#$RUN/fixture#$META#g" -e "s#127.0.0.1:8700#127.0.0.1:$META_PORT#" -e "s#root $B/fixture;#root $META/root;#" \
          -e "s#gzip_static on;#gzip_static on; gzip_proxied any;#" \
          "$RUN/fixture/nginx.conf" > "$META/nginx.conf" \
     && grep -q "gzip_proxied any;" "$META/nginx.conf" \
     && nginx -c "$META/nginx.conf" 2>> "$RES/metadata-upstream.log"; then
    STARTED_META=1
    echo "python bench/metadata_upstream.py \$KIT/fixture <dir> 8700 $META_PORT; nginx -c <the fixture's conf, moved to it, with gzip_proxied any>" >> "$RES/commands.txt"
    for _ in $(seq 50); do curl -s -o /dev/null -m 2 "$META_URL" && break; sleep 0.1; done
    for rep in $(seq "$META_UV_REPS"); do
      FIXLOG=$META/access.log kit "nginx-metapair$rep" nginx "$META_URL" "$(cat "$META/nginx.pid")" uv:direct
      start_cc "cheesecache-metapair$rep" "$META_URL"
      FIXLOG=$META/access.log uv_cold_pair "cheesecache-metapair$rep"
      drop_cc
    done
    nginx -c "$META/nginx.conf" -s stop && STARTED_META=0
    rm -rf "$META/root"
  else
    echo "the upstream with core metadata could not be made (metadata-upstream.log): not measured" >> "$RES/problems.txt"
  fi
fi
# ---------------------------------------------------------------- scale
# (bench/scale.py: a generated upstream on loopback, root lists up to 700,000 names and pages up
# to 10,000 files, each fetched cold once and then 20 times warm; its own cheesecache in-process)
if [ "$SCALE" = 1 ]; then
  say "scale: generated root lists and project pages (bench/scale.py)"
  timeout 600 "$CCPY" "$HERE/scale.py" > "$RES/scale.md" 2> "$RES/scale.log" \
    || echo "bench/scale.py failed (see scale.log)" >> "$RES/problems.txt"
  echo "python bench/scale.py > scale.md" >> "$RES/commands.txt"
fi
echo "wall_s=$(( $(date +%s) - T_START ))" >> "$RES/environment.txt"
cleanup
trap - EXIT
python3 "$HERE/report.py" "$RES" "$RESULTS_MD" && say "wrote $RESULTS_MD (raw: $RES)"
