#!/bin/sh
# WN18RR ComplEx: teacher pretraining.
# Recipe: --preset WN18RR/ComplEx/DualDE (neuralkg_distil/presets/recipes.yaml); teacher 500 -> student 64 dims.
# Extra flags after the script name win; environment variables: see scripts/run_recipe.sh.
cd "$(dirname "$0")/../.." || exit 1
DATASET=WN18RR MODEL=ComplEx PHASE=pretrain VARIANT=DualDE
DEFAULT_TEACHER_DIM=500 DEFAULT_STUDENT_DIM=64
. scripts/run_recipe.sh
