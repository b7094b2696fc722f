#!/bin/bash
# Fixed-seed outputs a restructure must leave unchanged: check, compile and fmt of every shipped space, short
# searches, a training and two exports, all from the checkout TREE, written to OUTDIR. Compare two with
# bench/snapshot_compare.py (times and run-directory timestamps aside):
#   bench/snapshot.sh /path/to/old-checkout /tmp/before && bench/snapshot.sh . /tmp/after
#   python3 bench/snapshot_compare.py /tmp/before /tmp/after
# Usage: snapshot.sh TREE OUTDIR
set -u
TREE=$(cd "$1" && pwd); OUT=$(mkdir -p "$2" && cd "$2" && pwd); rm -rf "$OUT"; mkdir -p "$OUT"
export PYTHONPATH=$TREE
cd "$TREE"
D="python3 -m dasdsl"
for s in spaces/*.das; do b=$(basename $s .das)
  $D check $s > $OUT/check-$b.txt 2>&1
  $D compile $s > $OUT/compile-$b.txt 2>&1
  $D fmt $s > $OUT/fmt-$b.txt 2>&1
done
for s in pooling mlp widths knobs; do
  $D run spaces/$s.das --epochs 2 --seed 1 --out $OUT/run-$s --quiet > $OUT/run-$s.txt 2>&1
done
$D run spaces/nb201_digits.das --epochs 2 --seed 3 --out $OUT/run-nb201d --quiet > $OUT/run-nb201d.txt 2>&1
$D train $(ls -d $OUT/run-pooling/*/)result.das --epochs 2 --seed 2 --out $OUT/train-pooling --quiet > $OUT/train-pooling.txt 2>&1
$D export $(ls -d $OUT/run-mlp/*/)result.das -o $OUT/export-mlp.py > $OUT/export-mlp.txt 2>&1
$D export spaces/darts_result.das -o $OUT/export-darts.py > $OUT/export-darts.txt 2>&1
