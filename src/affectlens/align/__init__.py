"""Face alignment: a similarity transform of the five landmarks onto a model's template."""

from affectlens.align.warp import crop_whole_image, estimate_similarity, invert_affine, warp_face

__all__ = ["crop_whole_image", "estimate_similarity", "invert_affine", "warp_face"]
