"""Compare an exported ONNX file with the PyTorch model it came from."""

import numpy as np
import torch
from torch import nn


def max_abs_difference(model: nn.Module, onnx_path, image_size_wh, batch: int = 1, seed: int = 0) -> float:
    """Largest |onnxruntime - PyTorch eval| over one seeded random batch of (batch, 3, h, w)."""
    import onnxruntime

    w, h = image_size_wh
    x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        expected = model(x).numpy()
    model.train(was_training)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    return float(np.abs(got - expected).max())
