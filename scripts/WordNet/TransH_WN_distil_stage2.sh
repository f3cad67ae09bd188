#!/bin/sh
# WN18RR TransH: distillation stage 2 (teacher unfrozen, from the stage-1 checkpoint).
# Recipe: --preset WN18RR/TransH (neuralkg_distil/presets/recipes.yaml); teacher 64 -> student 32 dims.
# Extra flags after the script name win; environment variables: see scripts/run_recipe.sh.
cd "$(dirname "$0")/../.." || exit 1
DATASET=WN18RR MODEL=TransH PHASE=distil_stage2 VARIANT=
DEFAULT_TEACHER_DIM=64 DEFAULT_STUDENT_DIM=32
. scripts/run_recipe.sh
