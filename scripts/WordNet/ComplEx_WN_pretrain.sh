#!/bin/sh
# Pretrain the ComplEx teacher on WN18RR (DualDE reference setting: teacher 500 -> student 64).
# neuralkg-distil, in NeuralKG's script style. Run from anywhere: sh scripts/WordNet/ComplEx_WN_pretrain.sh
# Override with environment variables: DATA_PATH, OUTPUT_DIR, PYTHON, ACCELERATOR, DEVICES, NUM_WORKERS, TEACHER_DIM, MAX_EPOCHS.
cd "$(dirname "$0")/../.." || exit 1

DATA_PATH=${DATA_PATH:-dataset/WN18RR}
OUTPUT_DIR=${OUTPUT_DIR:-output}
PYTHON=${PYTHON:-python}
ACCELERATOR=${ACCELERATOR:-auto}
DEVICES=${DEVICES:-1}
NUM_WORKERS=${NUM_WORKERS:-4}
DATASET=$(basename "$DATA_PATH")
MODEL_NAME=ComplEx
TEACHER_DIM=${TEACHER_DIM:-500}
MAX_EPOCHS=${MAX_EPOCHS:-5000}
CHECK_PER_EPOCH=${CHECK_PER_EPOCH:-50}
PATIENCE=${PATIENCE:-10}

$PYTHON -u main.py \
    --litmodel_name PretrainLitModel \
    --loss_name Adv_Loss \
    --adv_temp 1.0 \
    --emb_dim "$TEACHER_DIM" \
    --margin 200.0 \
    --train_bs 512 \
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
