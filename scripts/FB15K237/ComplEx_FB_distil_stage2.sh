#!/bin/sh
# Distillation stage 2 on FB15K237: student and teacher trained together.
# Starts from the stage-1 checkpoint of ComplEx_FB_distil.sh (or STUDENT_CKPT=...).
# neuralkg-distil, in NeuralKG's script style. Run from anywhere: sh scripts/FB15K237/ComplEx_FB_distil_stage2.sh
# Override with environment variables: DATA_PATH, OUTPUT_DIR, PYTHON, ACCELERATOR, DEVICES, NUM_WORKERS, TEACHER_DIM, STUDENT_DIM, MAX_EPOCHS, STUDENT_CKPT.
cd "$(dirname "$0")/../.." || exit 1

DATA_PATH=${DATA_PATH:-dataset/FB15K237}
OUTPUT_DIR=${OUTPUT_DIR:-output}
PYTHON=${PYTHON:-python}
ACCELERATOR=${ACCELERATOR:-auto}
DEVICES=${DEVICES:-1}
NUM_WORKERS=${NUM_WORKERS:-4}
DATASET=$(basename "$DATA_PATH")
MODEL_NAME=ComplEx
TEACHER_DIM=${TEACHER_DIM:-500}
STUDENT_DIM=${STUDENT_DIM:-64}
MAX_EPOCHS=${MAX_EPOCHS:-200}
CHECK_PER_EPOCH=${CHECK_PER_EPOCH:-10}
PATIENCE=${PATIENCE:-10}
STUDENT_CKPT_FLAG=${STUDENT_CKPT:+--student_ckpt $STUDENT_CKPT}
$PYTHON -u main.py \
    --litmodel_name KGDistillLitModel \
    --loss_name DualDE_Loss \
    --stage2 \
    --teacher_dim "$TEACHER_DIM" \
    $STUDENT_CKPT_FLAG \
    --emb_dim "$STUDENT_DIM" \
    --margin 24.0 \
    --adv_temp 1.0 \
    --alpha 0.5 \
    --beta 0.5 \
    --train_bs 1024 \
    --num_neg 1024 \
    --lr 1e-5 \
    --regularization 5e-6 \
    --data_path "$DATA_PATH" \
    --dataset_name "$DATASET" \
    --output_dir "$OUTPUT_DIR" \
    --model_name $MODEL_NAME \
    --train_sampler_class TorchUniSampler \
    --accelerator "$ACCELERATOR" \
    --devices "$DEVICES" \
    --num_workers "$NUM_WORKERS" \
    --eval_bs 256 \
    --max_epochs "$MAX_EPOCHS" \
    --check_per_epoch "$CHECK_PER_EPOCH" \
    --early_stop_patience "$PATIENCE" \
    "$@"
