#!/usr/bin/env bash
# The city build on a borrowed many-core machine without internet (see README.md here).
#
#   bash bench/device/city_build.sh            # from the repository root
#
# Installs the wheels in .whl/ (no index, no dependency resolution) into /tmp/site,
# then times `build_city` for the whole city on all cores, and one split district on
# all cores and on one worker (the speed-up), printing build time and the peak RSS of
# every worker. Results (JSON + log) go to $OUT (default ./out).
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
OUT=${OUT:-$PWD/out}
SITE=${SITE:-/tmp/site}
WHL=${WHL:-.whl}
WORKERS=${WORKERS:-$(nproc)}
SCALE=${SCALE:-1.0}
SPEEDUP_AREA=${SPEEDUP_AREA:-longhua}      # a split district: geography + res-6 pieces
SPEEDUP_SCALE=${SPEEDUP_SCALE:-0.5}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/city_build.log") 2>&1
echo "== $(date -u +%FT%TZ) $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $($PY -V)"

t0=$(date +%s)
rm -rf "$SITE" && mkdir -p "$SITE"
if $PY -m pip --version >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$WHL"/*.whl || exit 1
else  # no pip: a wheel is a zip file laid out for site-packages
  for w in "$WHL"/*.whl; do $PY -m zipfile -e "$w" "$SITE" || exit 1; done
fi
echo "== wheels installed in $(( $(date +%s) - t0 )) s: $(ls "$WHL"/*.whl | wc -l) wheels"
export PYTHONPATH="$PWD:$SITE" PYTHONUNBUFFERED=1 MALLOC_ARENA_MAX=2
$PY -c "import data.synth.city, gis.batch.cluster, distributed; print('== imports ok')" || exit 1

run() {  # run LIMIT_S AREA WORKERS SCALE
  timeout "$1" $PY bench/device/city_build.py --area "$2" --workers "$3" --scale "$4" \
    --out "$OUT" || echo "== $2 w$3 s$4: stopped (status $?, limit $1 s)"
}
run "${CITY_LIMIT_S:-300}" shenzhen "$WORKERS" "$SCALE"
run "${W16_LIMIT_S:-75}" "$SPEEDUP_AREA" "$WORKERS" "$SPEEDUP_SCALE"
run "${W1_LIMIT_S:-150}" "$SPEEDUP_AREA" 1 "$SPEEDUP_SCALE"
$PY - "$OUT" <<'PY'
import json, sys, pathlib
rows = [json.loads(p.read_text()) for p in sorted(pathlib.Path(sys.argv[1]).glob("city_build-*.json"))]
for r in rows:
    print(f"{r['area']:>10} w{r['workers']:<3} scale {r['scale']}: build {r['build_s']} s, "
          f"{r['partitions']} partitions, {r['rows']:,} rows, peak RSS/worker max "
          f"{max(r['peak_rss_mib_per_worker'])} MiB, driver {r['peak_rss_mib_driver']} MiB")
by = {(r["area"], r["workers"]): r for r in rows if r["area"] != "shenzhen"}
w = [k for k in by if k[1] > 1]
if w and (w[0][0], 1) in by:
    print(f"speed-up 1 -> {w[0][1]} workers ({w[0][0]}): "
          f"{by[(w[0][0], 1)]['build_s'] / by[w[0]]['build_s']:.2f}x")
PY
echo "== done in $(( $(date +%s) - t0 )) s"
