"""Losses of GFPGAN: registered classes (``LOSSES``) and small pure functions used by the training step."""

from gfpgan.losses import component, gan, identity, perceptual, pixel, pyramid
from gfpgan.losses.component import component_feature_loss, component_style_loss, roi_align_boxes, roi_crops
from gfpgan.losses.gan import GANLoss, gan_d_loss, gan_g_loss, path_length_penalty, r1_penalty
from gfpgan.losses.identity import gray_resize_for_identity, identity_loss
from gfpgan.losses.perceptual import PerceptualLoss, gram_matrix
from gfpgan.losses.pixel import CharbonnierLoss, L1Loss, MSELoss, WeightedTVLoss
from gfpgan.losses.pyramid import gt_pyramid, pyramid_l1

__all__ = [
    "CharbonnierLoss",
    "GANLoss",
    "L1Loss",
    "MSELoss",
    "PerceptualLoss",
    "WeightedTVLoss",
    "component",
    "component_feature_loss",
    "component_style_loss",
    "gan",
    "gan_d_loss",
    "gan_g_loss",
    "gram_matrix",
    "gray_resize_for_identity",
    "gt_pyramid",
    "identity",
    "identity_loss",
    "perceptual",
    "pixel",
    "pyramid",
    "pyramid_l1",
    "path_length_penalty",
    "r1_penalty",
    "roi_align_boxes",
    "roi_crops",
]
