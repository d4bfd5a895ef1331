#!/usr/bin/env bash
# The apps corpus (fixtures/apps/*): every app packaged twice -- static
# analysis alone and with trace statistics -- with limits.local_bytes set to a
# third of its env, so that every app really spreads over local, EFS and S3,
# then verified: the packaged function must answer every event exactly as the
# unpackaged one. The static output goes through `caios-pack verify`; the
# traced one is packaged with `package --stats TRACE --verify EVENTS`, which
# verifies it (and applies lazy bindings only when verify passes with them).
# Then the import time (init) of the traced package is measured against the
# eager all-local import of the unpackaged handler (benches/apps_init.py).
#
# Usage: benches/apps.sh [APP...]        (default: every app of fixtures/apps)
#   APPS_PYTHON=python3.11   interpreter for pip, trace, package and verify
#   APPS_WORK=DIR            working copies and outputs (default target/apps-bench)
#   APPS_SKIP_VERIFY=1       package only (no verify, so no lazy bindings either); the
#                            identical columns say "-"
#   APPS_STATIC=0            skip the static package (its columns say "-")
#   APPS_SKIP_TIME=1         no init timing (its columns say "-")
#   APPS_ROUNDS=N            timed rounds per app for the init times (default 5)
#   APPS_LIMITS=default      keep each app's own limits (Lambda's 262,144,000 bytes unless
#                            its caios-pack.yaml says otherwise) instead of env / 3: the
#                            packaging a user gets, where most apps fit locally
#   APPS_BIN=PATH            caios-pack binary (default target/release/caios-pack,
#                            built with `cargo build --release` when missing)
#   APPS_BUDGET=tightest     package the traced unit with --max-latency set to the smallest
#                            cold start the model can promise (`package --check`, with the
#                            lazy bindings that qualify) plus 2 %, as benches/cold_start.sh
#                            does: the fastest placement, what a user asking for speed gets.
#                            Default: no budget (the cheapest placement).
#   APPS_EFS_SIM=PATH        examples/efs_sim binary serving a plan's EFS tier in the init
#                            timing with the plan's EFS costs (default target/debug/examples/
#                            efs_sim, built when missing; needs /dev/fuse and root).
#                            APPS_EFS_SIM=plain reads the EFS tree as a plain folder.
#
# Envs are built once per requirements.txt under target/apps-envs/NAME with
# `pip install --target` and reused while the requirements are unchanged.
# Prints one table row per app: env MB (without __pycache__), bytes per tier
# from plan.json's groups, modules the catalogue marks lazy, the lazy-binding
# statements applied (plan.json's emitted.lazy_bindings, trace only), whether
# verify found the outputs identical (static, trace), and the init times:
# median ms of the eager import and of the traced package over APPS_ROUNDS
# rounds, each in a fresh process, and the change in percent; then the
# arithmetic mean of the per-app changes. Timings never fail the run: exits 1
# when any app is not identical, fails to package, fails unpackaged or fails
# to import in the timing runs, 2 on bad usage.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${APPS_PYTHON:-python3}
work=${APPS_WORK:-$repo/target/apps-bench}
bin=${APPS_BIN:-$repo/target/release/caios-pack}
rounds=${APPS_ROUNDS:-5}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "APPS_ROUNDS must be a positive integer" >&2; exit 2; }
cd "$repo" || exit 2

if [[ $# -gt 0 ]]; then
  apps=("$@")
else
  apps=()
  for d in fixtures/apps/*/; do
    [[ -f $d/caios-pack.yaml ]] && apps+=("$(basename "$d")")
  done
fi
for app in "${apps[@]}"; do
  [[ -f fixtures/apps/$app/caios-pack.yaml ]] || { echo "no app fixtures/apps/$app" >&2; exit 2; }
done

if [[ ! -x $bin && -z ${APPS_BIN:-} ]]; then
  cargo build --release --locked || exit 2
fi
efs_sim=${APPS_EFS_SIM:-$repo/target/debug/examples/efs_sim}
if [[ -z ${APPS_SKIP_TIME:-} && $efs_sim != plain && ! -x $efs_sim && -z ${APPS_EFS_SIM:-} ]]; then
  cargo build --locked --example efs_sim || exit 2
fi
case ${APPS_BUDGET:-none} in
  none | tightest) ;;
  *) echo "APPS_BUDGET must be none or tightest" >&2; exit 2 ;;
esac

# tightest_budget UNIT TRACE: "--max-latency Nms" from `package --check`
# (with lazy bindings only when verify runs, which applies them); fails when
# the check reports no floor.
tightest_budget() {
  # A 1 ms budget is infeasible on purpose (exit 1): the report is the point.
  { "$bin" package "$1" --site-packages "$env" --python "$py" --stats "$2" \
    --max-latency 1ms --check --format json 2>/dev/null || true; } | "$py" -c '
import json, sys
doc = json.load(sys.stdin)
floor = doc.get("min_latency_ms")
if sys.argv[1] == "verify" and doc.get("min_latency_with_lazy_bindings_ms"):
    floor = doc["min_latency_with_lazy_bindings_ms"]
if not floor:
    sys.exit("package --check reported no min_latency_ms")
print("--max-latency %dms" % (int(floor * 1.02) + 1))' "$([[ -n ${APPS_SKIP_VERIFY:-} ]] && echo noverify || echo verify)"
}

# env_for APP: builds or reuses target/apps-envs/APP; prints its path.
env_for() {
  local app=$1 env=$repo/target/apps-envs/$1 req=$repo/fixtures/apps/$1/requirements.txt
  if [[ -f $env/.apps-complete ]] && cmp -s "$env/.apps-complete" "$req"; then
    echo "$env"
    return 0
  fi
  rm -rf "$env"
  echo "building env of $app" >&2
  "$py" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$env" -r "$req" >&2 || return 1
  cp "$req" "$env/.apps-complete"
  echo "$env"
}

# summary DIST: "LOCAL EFS S3 LAZY BINDINGS" from plan.json and catalogue.json.
summary() {
  "$py" - "$1" <<'EOF'
import json, sys, os
dist = sys.argv[1]
plan = json.load(open(os.path.join(dist, "plan.json")))
tiers = {"local": 0, "efs": 0, "s3": 0}
for g in plan["groups"]:
    tiers[str(g["tier"]).lower()] = tiers.get(str(g["tier"]).lower(), 0) + g["bytes"]
cat = json.load(open(os.path.join(dist, "catalogue.json")))
lazy = sum(1 for m in cat.get("modules", {}).values() if m.get("lazy"))
bindings = len(plan.get("emitted", {}).get("lazy_bindings") or [])
print(tiers["local"], tiers["efs"], tiers["s3"], lazy, bindings)
EOF
}

# verify_dist UNIT ENV DIST EVENTS LOG: prints yes / NO / ERR(code).
verify_dist() {
  if [[ -n ${APPS_SKIP_VERIFY:-} ]]; then
    echo "-"
    return
  fi
  "$bin" verify "$1" --site-packages "$2" --dist "$3" --events "$4" --python "$py" >"$5" 2>&1
  local rc=$?
  case $rc in
    0) echo yes ;;
    1) echo NO ;;
    *) echo "ERR($rc)" ;;
  esac
}

# init_times UNIT DIST OUT LOG: "EAGER PACKAGED CHANGE" (ms, ms, %) from
# benches/apps_init.py, or "ERR(code)".
init_times() {
  if [[ -n ${APPS_SKIP_TIME:-} ]]; then
    echo "- - -"
    return
  fi
  local handler efs_args=()
  [[ $efs_sim != plain ]] && efs_args=(--efs-sim "$efs_sim")
  handler=$(sed -n 's/^handler:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$1/caios-pack.yaml" | head -1)
  "$py" "$repo/benches/apps_init.py" --src "$1/src" --env "$env" --dist "$2" \
    --work "$out/init-work" --handler "${handler:-handler.handler}" --rounds "$rounds" \
    --python "$py" "${efs_args[@]}" >"$3" 2>"$4"
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "ERR($rc)"
    return
  fi
  "$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["eager_ms"], d["packaged_ms"], d["change_pct"])' "$3"
}

mkdir -p "$work"
rows=()
changes=()
failed=0
for app in "${apps[@]}"; do
  src=$repo/fixtures/apps/$app
  out=$work/$app
  env=$(env_for "$app") || { rows+=("$app|env failed|||||||||||"); failed=1; continue; }
  env_bytes=$(du -sb --exclude=__pycache__ "$env" | cut -f1)
  local_bytes=$((env_bytes / 3))
  [[ ${APPS_LIMITS:-third} == default ]] && local_bytes=
  rm -rf "$out"
  mkdir -p "$out/unit"
  # A working copy of the unit with limits.local_bytes = env / 3.
  (cd "$src" && tar --exclude=__pycache__ -cf - .) | (cd "$out/unit" && tar -xf -)
  [[ -n $local_bytes ]] && printf '\nlimits:\n  local_bytes: %d\n' "$local_bytes" >>"$out/unit/caios-pack.yaml"
  unit=$out/unit
  events=$unit/events.json
  status_s=ERR status_t=ERR sum_s="- - - - -" sum_t="- - - - -" times="- - -"
  mb=$(awk -v b="$env_bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
  # verify calls two runs that raise the same error identical: the
  # unpackaged handler must answer every event first.
  if ! "$py" -I -S "$repo/fixtures/apps/run_unpackaged.py" "$src" "$env" >"$out/unpackaged.json" 2>"$out/unpackaged.log"; then
    rows+=("$app|$mb|-/-/-|-|UNPACKAGED FAILS|-/-/-|-|-|-|-|-|-|0")
    echo "$app: the unpackaged handler fails (see $out/unpackaged.json)" >&2
    failed=1
    continue
  fi
  t0=$SECONDS
  if [[ ${APPS_STATIC:-1} == 0 ]]; then
    status_s="-"
  elif "$bin" package "$unit" --site-packages "$env" --python "$py" --out "$out/static" >"$out/package-static.log" 2>&1; then
    sum_s=$(summary "$out/static")
    status_s=$(verify_dist "$unit" "$env" "$out/static" "$events" "$out/verify-static.log")
  else
    status_s="PKG($?)"
  fi
  if "$bin" trace "$unit" --site-packages "$env" --python "$py" --events "$events" --out "$out/trace.json" >"$out/trace.log" 2>&1; then
    # --verify: the package is verified on the events, and its lazy bindings
    # are kept only when verify passes with them. A difference exits 1 after
    # plan.json is written.
    verify_args=(--verify "$events")
    [[ -n ${APPS_SKIP_VERIFY:-} ]] && verify_args=()
    budget_args=()
    if [[ ${APPS_BUDGET:-none} == tightest ]]; then
      if budget=$(tightest_budget "$unit" "$out/trace.json"); then
        read -r -a budget_args <<<"$budget"
      else
        # No floor to size the budget from: the row fails (an unparsable
        # budget makes package exit 2, shown as PKG(2)).
        echo "$app: package --check gave no budget" >&2
        budget_args=(--max-latency none)
      fi
    fi
    "$bin" package "$unit" --site-packages "$env" --python "$py" --stats "$out/trace.json" \
      "${verify_args[@]}" "${budget_args[@]}" --out "$out/traced" >"$out/package-trace.log" 2>&1
    rc=$?
    if [[ $rc -eq 0 ]]; then
      sum_t=$(summary "$out/traced")
      if [[ -n ${APPS_SKIP_VERIFY:-} ]]; then status_t="-"; else status_t=yes; fi
    elif [[ $rc -eq 1 && -f $out/traced/plan.json ]]; then
      sum_t=$(summary "$out/traced")
      status_t=NO
    else
      status_t="PKG($rc)"
    fi
  else
    status_t="TRACE($?)"
  fi
  if [[ $status_t == yes || $status_t == - ]]; then
    times=$(init_times "$unit" "$out/traced" "$out/init.json" "$out/init.log")
    if [[ $times == ERR* ]]; then
      echo "$app: the init timing failed (see $out/init.log)" >&2
      failed=1
      times="$times - -"
    fi
  fi
  secs=$((SECONDS - t0))
  [[ $status_s == yes || $status_s == - ]] || failed=1
  [[ $status_t == yes || $status_t == - ]] || failed=1
  read -r l_s e_s s_s lazy_s _ <<<"$sum_s"
  read -r l_t e_t s_t lazy_t bind_t <<<"$sum_t"
  read -r eager_ms packaged_ms change <<<"$times"
  [[ $change =~ ^-?[0-9] ]] && changes+=("$change")
  rows+=("$app|$mb|$l_s/$e_s/$s_s|$lazy_s|$status_s|$l_t/$e_t/$s_t|$lazy_t|$bind_t|$status_t|$eager_ms|$packaged_ms|$change|$secs")
  echo "$app: static $status_s, trace $status_t, init $eager_ms -> $packaged_ms ms ($change %) (logs in $out)" >&2
done

mb() { if [[ $1 =~ ^[0-9]+$ ]]; then awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; else echo "$1"; fi; }
pct() { if [[ $1 =~ ^-?[0-9] ]]; then awk -v c="$1" 'BEGIN { printf "%+.1f%%", c }'; else echo "$1"; fi; }
echo
echo "| app | env MB | static local/efs/s3 MB | static lazy | static identical | trace local/efs/s3 MB | trace lazy | lazy bindings | trace identical | eager init ms | packaged init ms | init change | s |"
echo "|---|---:|---|---:|---|---|---:|---:|---|---:|---:|---:|---:|"
for row in "${rows[@]}"; do
  IFS='|' read -r app envmb tiers_s lazy_s st_s tiers_t lazy_t bind_t st_t eager_ms packaged_ms change secs <<<"$row"
  IFS=/ read -r a b c <<<"$tiers_s"
  tiers_s="$(mb "$a")/$(mb "$b")/$(mb "$c")"
  IFS=/ read -r a b c <<<"$tiers_t"
  tiers_t="$(mb "$a")/$(mb "$b")/$(mb "$c")"
  echo "| $app | $envmb | $tiers_s | $lazy_s | $st_s | $tiers_t | $lazy_t | $bind_t | $st_t | $eager_ms | $packaged_ms | $(pct "$change") | $secs |"
done
if [[ ${#changes[@]} -gt 0 ]]; then
  echo
  printf '%s\n' "${changes[@]}" | awk '{ s += $1; n++ } END { printf "average import-time change over %d apps: %+.1f%%\n", n, s / n }'
fi
exit $failed
