#!/bin/sh
# Distillation stage 1 on WN18RR: frozen RotatE teacher -> small student (RotatE gamma=6, epsilon=2).
# Needs the teacher from RotatE_WN_pretrain.sh.
# neuralkg-distil, in NeuralKG's script style. Run from anywhere: sh scripts/WordNet/RotatE_WN_distil.sh
# Override with environment variables: DATA_PATH, OUTPUT_DIR, PYTHON, ACCELERATOR, DEVICES, NUM_WORKERS, TEACHER_DIM, STUDENT_DIM, MAX_EPOCHS, TEACHER_CKPT.
cd "$(dirname "$0")/../.." || exit 1

DATA_PATH=${DATA_PATH:-dataset/WN18RR}
OUTPUT_DIR=${OUTPUT_DIR:-output}
PYTHON=${PYTHON:-python}
ACCELERATOR=${ACCELERATOR:-auto}
DEVICES=${DEVICES:-1}
NUM_WORKERS=${NUM_WORKERS:-4}
DATASET=$(basename "$DATA_PATH")
MODEL_NAME=RotatE
TEACHER_DIM=${TEACHER_DIM:-500}
STUDENT_DIM=${STUDENT_DIM:-64}
MAX_EPOCHS=${MAX_EPOCHS:-1000}
CHECK_PER_EPOCH=${CHECK_PER_EPOCH:-50}
PATIENCE=${PATIENCE:-10}

$PYTHON -u main.py \
    --litmodel_name KGDistillLitModel \
    --loss_name DualDE_Loss \
    --teacher_ckpt "${TEACHER_CKPT:-$OUTPUT_DIR/$DATASET/${MODEL_NAME}_${TEACHER_DIM}/pretrain/best.ckpt}" \
    --teacher_dim "$TEACHER_DIM" \
    --emb_dim "$STUDENT_DIM" \
    --margin 6.0 \
    --adv_temp 1.0 \
    --alpha 0.5 \
    --beta 0.5 \
    --train_bs 1024 \
    --num_neg 256 \
    --lr 1e-4 \
    --regularization 0.0 \
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
