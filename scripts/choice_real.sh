#!/usr/bin/env bash
# The forced-choice runs of docs/evaluation/preregistration-real.md, one at a time, in its order.
# Each run writes NAME.json (the result) and NAME.txt (the table, the wall time, the load).
# Usage: scripts/choice_real.sh [RUN ...]   (default: the eight whole-bank runs)
# RUN is MODEL-BANK, MODEL-BANK-strength (whole bank and --strength), MODEL-BANK-strength-quick
# (16 items) or MODEL-BANK-layers (16 items, every 4th block); MODEL: embedded gemma qwen05 qwen15
set -u
OUT=docs/evaluation/choice/real
PY=${PY:-python}
mkdir -p "$OUT"

args_of() {  # model bank -> the model's defaults.yaml block and strengths, the bank's stance
  local model=$1 bank=$2 stance
  case $bank in moral) stance=utilitarian ;; sentiment) stance=pessimistic ;; esac
  case $model in
    embedded) echo "--model embedded:smollm2-135m-instruct --layer 21 --sara-coeff 2 --actadd-coeff 2 --stance $stance" ;;
    gemma) echo "--model pypi:gemma-3-270m --layer 6 --sara-coeff 1 --actadd-coeff 1 --stance $stance" ;;
    qwen05) echo "--model pypi:qwen2.5-coder-0.5b-instruct --layer 12 --sara-coeff 2 --actadd-coeff 4 --stance $stance" ;;
    qwen15) echo "--model pypi:qwen2.5-coder-1.5b-instruct --layer 14 --sara-coeff 1 --actadd-coeff 8 --stance $stance" ;;
  esac
}

run() {  # NAME model bank [extra args...]
  local name=$1 model=$2 bank=$3
  shift 3
  local t0 t1
  t0=$(date +%s)
  # shellcheck disable=SC2046
  nice -n 5 "$PY" -m sara_core choice --items "$bank" $(args_of "$model" "$bank") \
    --no-progress --json "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>"$OUT/$name.log"
  local rc=$?
  t1=$(date +%s)
  {
    echo "exit $rc; wall $((t1 - t0)) s; started $(date -u -d "@$t0" +%FT%TZ)"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  } >>"$OUT/$name.txt"
}

RUNS=("$@")
[ ${#RUNS[@]} -eq 0 ] && RUNS=(embedded-sentiment qwen05-sentiment qwen15-sentiment
  embedded-moral gemma-sentiment gemma-moral qwen05-moral qwen15-moral)
for r in "${RUNS[@]}"; do
  case $r in
    *-strength-quick) m=${r%%-*}; b=${r#*-}; b=${b%-strength-quick}
      run "$r" "$m" "$b" --quick --strength "$OUT/strength-quick-$m-$b" ;;
    *-strength) m=${r%%-*}; b=${r#*-}; b=${b%-strength}
      run "$r" "$m" "$b" --strength "$OUT/strength-$m-$b" ;;
    *-layers) m=${r%%-*}; b=${r#*-}; b=${b%-layers}
      run "$r" "$m" "$b" --quick --layers every:4 ;;
    *) run "$r" "${r%%-*}" "${r#*-}" ;;
  esac
done
