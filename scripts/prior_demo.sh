#!/usr/bin/env bash
# The paper's claim in miniature, on CPU (docs/prior_demo.md): train a small StyleGAN2 prior on the quickstart's
# synthetic faces, then GFP-GAN with that frozen prior and the Table-4 "without GFP" twin under the same budget,
# and score both on the 64 held-out degraded faces. Run from the repository root; about 20-30 minutes on 2 cores.
set -euo pipefail
python train.py -opt options/prior_demo/stylegan2_32.yml
python train.py -opt options/prior_demo/gfpgan_with_prior.yml
python train.py -opt options/prior_demo/gfpgan_without_gfp.yml
for run in gfpgan_with_prior gfpgan_without_gfp; do
  gfpgan-infer -i datasets/quickstart/val_32/lq -o results/prior_demo/$run --aligned \
    --model-path experiments/prior_demo_$run/models/net_g_latest.pth
  gfpgan-eval --restored results/prior_demo/$run/restored_faces --gt datasets/quickstart/val_32/gt \
    --metrics psnr ssim --json results/prior_demo/$run.json
done
gfpgan-eval --restored datasets/quickstart/val_32/lq --gt datasets/quickstart/val_32/gt --metrics psnr ssim \
  --json results/prior_demo/input.json
