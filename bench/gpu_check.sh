#!/usr/bin/env bash
# The GPU checks of issue 17, run through the `device` tool on a lent GPU machine (docs/performance.md):
# the step benchmark (baseline, unfused, fused) in fp32 and bf16, and a short DARTS search on digits with and
# without the fusion pass. Needs lark and graphviz wheels in .whl/ (see the device tool's README).
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import torch; print('torch', torch.__version__)"
timeout 120 python3 bench/step_bench.py --device cuda --config small --repeats 10 --matmul 8192
timeout 150 python3 bench/step_bench.py --device cuda --config paper --repeats 10 --matmul 8192
timeout 80 python3 bench/step_bench.py --device cuda --config paper --repeats 10 --matmul 8192 --precision bf16 --no-check --no-memory
for prec in fp32 bf16; do
  for fuse in on off; do
    start=$(date +%s%N)
    timeout 70 python3 -m dasdsl run spaces/darts.das --epochs 2 --device cuda --fuse $fuse --precision $prec \
      --out /tmp/runs_${prec}_${fuse} --quiet > /tmp/run.log 2>&1
    rc=$?
    end=$(date +%s%N)
    echo "dasdsl run spaces/darts.das --epochs 2 --device cuda --fuse $fuse --precision $prec: rc $rc, $(( (end - start) / 1000000 )) ms wall"
    tail -3 /tmp/run.log
    python3 -c "import json, glob; [print({k: v for k, v in json.load(open(f)).items() if 'acc' in k}) for f in glob.glob('/tmp/runs_${prec}_${fuse}/*/summary.json')]"
  done
done
