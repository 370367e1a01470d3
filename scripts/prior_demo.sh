#!/usr/bin/env bash
# The paper's claim in miniature, on CPU (docs/prior_demo.md): train a small StyleGAN2 prior on the quickstart's
# synthetic faces, then GFP-GAN with that frozen prior and the Table-4 "without GFP" twin under the same budget,
# and score both on the 64 held-out degraded faces, with the degraded input as the first row (as Table 1).
# Run from the repository root; about 45 minutes on this project's 2-core CPU.
set -euo pipefail
python train.py -opt options/prior_demo/stylegan2_32.yml
python train.py -opt options/prior_demo/gfpgan_with_prior.yml
python train.py -opt options/prior_demo/gfpgan_without_gfp.yml
for run in gfpgan_with_prior gfpgan_without_gfp; do
  gfpgan-infer -i datasets/quickstart/val_32/lq -o results/prior_demo/$run --aligned \
    --model-path experiments/prior_demo_$run/models/net_g_latest.pth
done
gfpgan-eval --restored datasets/quickstart/val_32/lq results/prior_demo/gfpgan_without_gfp/restored_faces \
  results/prior_demo/gfpgan_with_prior/restored_faces --names "Input" "without GFP" "with the prior" \
  --gt datasets/quickstart/val_32/gt --lq datasets/quickstart/val_32/lq --metrics psnr ssim \
  --suffix _00 --out results/prior_demo/report --sheet-count 8
