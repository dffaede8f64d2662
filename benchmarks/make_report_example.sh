#!/usr/bin/env bash
# docs/report_example.html: ATOM with the built-in weights (3 runs, seeds 0-2, as the README's table) and
# OpenCV's CSRT over the five shared sequences, then `atom-jax report` with the failure thumbnails.
# Run from anywhere, with ../shared beside the repository:
#
#   bash benchmarks/make_report_example.sh [--root DIR] [--sequences A,B] [--runs K] [--results DIR] [--out HTML]
#
# Defaults: --root ../shared/data/sequences, all its sequences, --runs 3, --results results/report_example
# (resumable: finished sequences are kept), --out docs/report_example.html.
set -euo pipefail
cd "$(dirname "$0")/.."

root=../shared/data/sequences
sequences=()
runs=3
results=results/report_example
out=docs/report_example.html
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root=$2; shift 2 ;;
        --sequences) sequences=(--sequences "$2"); shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "make_report_example.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python -m atom_jax.cli eval --dataset generic --root "$root" "${sequences[@]}" --tracker atom,csrt \
    --runs "$runs" --results "$results" --no-progress --report "$out"
