#!/bin/sh
# FB15K237 RotatE: distillation stage 1 (teacher frozen).
# Recipe: --preset FB15K237/RotatE (neuralkg_distil/presets/recipes.yaml); teacher 64 -> student 32 dims.
# Extra flags after the script name win; environment variables: see scripts/run_recipe.sh.
cd "$(dirname "$0")/../.." || exit 1
DATASET=FB15K237 MODEL=RotatE PHASE=distil VARIANT=
DEFAULT_TEACHER_DIM=64 DEFAULT_STUDENT_DIM=32
. scripts/run_recipe.sh
