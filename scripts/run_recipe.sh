# Shared body of scripts/<folder>/<Model>_<key>_<phase>.sh, sourced by them with DATASET, MODEL,
# PHASE (pretrain | distil | distil_stage2) and the default dimensions set; "$@" are the script's
# extra flags, passed last so they win. Every training value comes from the preset
# (neuralkg_distil/presets/recipes.yaml), not from the scripts.
# Environment: DATA_PATH OUTPUT_DIR PYTHON ACCELERATOR DEVICES NUM_WORKERS TEACHER_DIM STUDENT_DIM
#              MAX_EPOCHS CHECK_PER_EPOCH PATIENCE TEACHER_CKPT STUDENT_CKPT PRESET
DATA_PATH=${DATA_PATH:-dataset/$DATASET}
OUTPUT_DIR=${OUTPUT_DIR:-output}
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
PRESET=${PRESET:-$DATASET/$MODEL${VARIANT:+/$VARIANT}}
TEACHER_DIM=${TEACHER_DIM:-$DEFAULT_TEACHER_DIM}
STUDENT_DIM=${STUDENT_DIM:-$DEFAULT_STUDENT_DIM}
FOLDER=$(basename "$DATA_PATH")
case "$PHASE" in
  pretrain) set -- --emb_dim "$TEACHER_DIM" "$@" ;;
  distil) set -- --emb_dim "$STUDENT_DIM" --teacher_dim "$TEACHER_DIM" \
            --teacher_ckpt "${TEACHER_CKPT:-$OUTPUT_DIR/$FOLDER/${MODEL}_${TEACHER_DIM}/pretrain/best.ckpt}" "$@" ;;
  distil_stage2) set -- --stage2 --emb_dim "$STUDENT_DIM" --teacher_dim "$TEACHER_DIM" \
            ${STUDENT_CKPT:+--student_ckpt "$STUDENT_CKPT"} "$@" ;;
  *) echo "scripts/run_recipe.sh: unknown PHASE '$PHASE' (pretrain, distil or distil_stage2)" >&2; exit 2 ;;
esac
exec $PYTHON -u main.py --preset "$PRESET" --model_name "$MODEL" --data_path "$DATA_PATH" --output_dir "$OUTPUT_DIR" \
  --accelerator "${ACCELERATOR:-auto}" --devices "${DEVICES:-1}" --num_workers "${NUM_WORKERS:-0}" \
  ${MAX_EPOCHS:+--max_epochs "$MAX_EPOCHS"} ${CHECK_PER_EPOCH:+--check_per_epoch "$CHECK_PER_EPOCH"} \
  ${PATIENCE:+--early_stop_patience "$PATIENCE"} "$@"
