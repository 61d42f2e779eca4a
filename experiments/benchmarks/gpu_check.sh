#!/usr/bin/env bash
# One prepared GPU check (issue 18): the full survey with trainer=gpu and the DTW grid on CUDA, in a
# single run on the GPU machine. Prepare here first (from the project root):
#     ../shared/gpu/prepare.sh --data
# then, through the device tool, carry [".gpu"] and run:
#     bash experiments/benchmarks/gpu_check.sh [--quick]
# It prints each figure and leaves them under $OUT (or ./gpu_out): survey report, timings, DTW grid.
set -uo pipefail
out=${OUT:-$PWD/gpu_out}; mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/wheels/*.whl \
  && python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site MMML_DATA=$PWD/.gpu/data MMML_CACHE=/tmp/mmml_cache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" \
  | tee -a "$out/gpu.txt"
quick=""; [[ ${1:-} == --quick ]] && quick="--quick"
# the DTW grid first: it is short, and its figures survive a survey that runs out of time
if [[ -f experiments/benchmarks/dtw_grid.py ]]; then
  ( time python3 experiments/benchmarks/dtw_grid.py --device cuda --out "$out/dtw" ) 2>&1 | tee "$out/dtw_grid.log"
fi
start=$(date +%s)
python3 -m mmml.survey --out "$out/survey" $quick trainer=gpu 2>&1 | tail -n 40 | tee "$out/survey.log"
echo "survey${quick:+ (quick)} with trainer=gpu: $(( $(date +%s) - start )) s wall" | tee -a "$out/survey.log"
