"""Top-down inference: a pose model over crops, with the flip test, decoded to image coordinates.

``predict`` is step 2 of the evaluation recipe (``posedy.evaluation.evaluator.evaluate``,
shared by ``tools/test.py``, validation during training and ``tools/inspect_attention.py``).
Its model is any callable mapping an (N, 3, H, W) float tensor to (N, K, h, w) heatmaps: an
``nn.Module`` or an ONNX runner (``OnnxPoseRunner``). Checkpoints are loaded with
``posedy.engine.checkpoint.load_checkpoint``.
"""

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from posedy.data.crop import normalize_crop, warp_crop
from posedy.data.geometry import box_to_center_scale, get_affine_transform
from posedy.engine.logging import is_terminal
from posedy.errors import one_line_message
from posedy.evaluation.decode import decode_to_image
from posedy.evaluation.flip import average_with_flipped


def _as_heatmaps(output) -> torch.Tensor:
    # Models with intermediate supervision return a list; the last output is the final one.
    if isinstance(output, (list, tuple)):
        output = output[-1]
    return output if isinstance(output, torch.Tensor) else torch.as_tensor(np.asarray(output))


def _model_device(model) -> torch.device:
    if isinstance(model, nn.Module):
        for tensor in model.parameters():
            return tensor.device
    return torch.device("cpu")


def infer_heatmaps(model, images: torch.Tensor, flip_pairs, *, flip: bool = True,
                   shift: bool = True) -> torch.Tensor:
    """Heatmaps of a batch of crops, fused with the flipped crops' when ``flip``.

    Args:
        model: callable (N, 3, H, W) float tensor -> (N, K, h, w) heatmaps.
        images: (N, 3, H, W) float tensor on the model's device.
        flip_pairs: ``(left, right)`` joint index pairs.
        flip: flip test; shift: HRNet's one-pixel shift of the flipped heatmaps.
    Returns:
        (N, K, h, w) float32 tensor on the device of the model output.
    """
    heatmaps = _as_heatmaps(model(images)).float()
    (height, width), (hm_h, hm_w) = images.shape[2:], heatmaps.shape[2:]
    # Decoding maps heatmap pixels back with one isotropic stride; a head whose output
    # does not keep the crop's aspect ratio would silently shift every joint.
    if height * hm_w != width * hm_h:
        raise ValueError(f"model output {hm_h}x{hm_w} (h x w) does not have the aspect ratio of its "
                         f"input {height}x{width}; check data.image_size against the architecture")
    if flip:
        flipped = _as_heatmaps(model(torch.flip(images, dims=(3,)))).float()
        heatmaps = average_with_flipped(heatmaps, flipped.to(heatmaps.device), flip_pairs, shift)
    return heatmaps


def predict(model, loader, flip_pairs, *, flip: bool = True, shift: bool = True,
            method: str = "quarter", device=None, progress: bool = False) -> dict:
    """Run a pose model over a top-down dataset and decode joints in image coordinates.

    Args:
        model: ``nn.Module`` (put in eval mode here) or any callable mapping an
            (N, 3, H, W) float tensor to (N, K, h, w) heatmaps.
        loader: iterable of batches of dataset items (CONTRACTS.md: ``image``, ``center``,
            ``scale``, ``score``, ``image_id``, ``index``), e.g. a ``DataLoader``.
        flip_pairs: ``(left, right)`` joint index pairs for the flip test.
        flip, shift: flip test and HRNet's shift (see ``posedy.evaluation.flip``).
        method: heatmap decoding, ``"quarter"``, ``"dark"`` or ``"argmax"``.
        device: where images go; default the model's device (CPU for non-modules).
        progress: show a tqdm progress bar.
    Returns:
        dict of per-instance arrays in dataset order: ``keypoints`` (N, K, 3) float64 image
        ``(x, y, score)``, ``center`` (N, 2), ``scale`` (N, 2), ``areas`` (N,) padded crop
        area ``scale_w * scale_h``, ``box_scores`` (N,), ``image_ids`` (N,) int64,
        ``index`` (N,) int64, ``corrupt`` (N,) bool (items whose image could not be read
        and were replaced by a black crop; ``evaluator.evaluate_predictions`` drops them).
    """
    device = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training if isinstance(model, nn.Module) else None
    if isinstance(model, nn.Module):
        model.eval()
    parts = {k: [] for k in ("keypoints", "center", "scale", "box_scores", "image_ids", "index", "corrupt")}
    try:
        with torch.inference_mode():
            # A bar only on a terminal: in a redirected log, its cleared frames are lines of spaces.
            bar_on = progress and is_terminal(sys.stderr)
            for batch in tqdm(loader, desc="inference", disable=not bar_on, leave=False):
                images = batch["image"].to(device, non_blocking=True)
                heatmaps = infer_heatmaps(model, images, flip_pairs, flip=flip, shift=shift)
                center = np.asarray(batch["center"], dtype=np.float64).reshape(-1, 2)
                scale = np.asarray(batch["scale"], dtype=np.float64).reshape(-1, 2)
                parts["keypoints"].append(decode_to_image(heatmaps.cpu().numpy(), center, scale, method))
                parts["center"].append(center)
                parts["scale"].append(scale)
                parts["box_scores"].append(np.asarray(batch["score"], dtype=np.float64).reshape(-1))
                parts["image_ids"].append(np.asarray(batch["image_id"], dtype=np.int64).reshape(-1))
                parts["index"].append(np.asarray(batch["index"], dtype=np.int64).reshape(-1))
                corrupt = batch.get("corrupt", np.zeros(len(center), dtype=bool))
                parts["corrupt"].append(np.asarray(corrupt, dtype=bool).reshape(-1))
    finally:
        if was_training:
            model.train()
    if not parts["keypoints"]:
        raise ValueError("the loader yielded no batches")
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["areas"] = out["scale"].prod(axis=1)
    return out


class OnnxPoseRunner:
    """An ONNX pose model as a callable (N, 3, H, W) float tensor -> (N, K, h, w) tensor.

    Args:
        path: ``.onnx`` file with one image input and the heatmaps as first output. A model
            whose input batch is fixed at 1 (``--batch 1``, ``--format ort-nchwc``) is run one
            image at a time.
    Raises:
        ValueError: one line naming the file when onnxruntime cannot load it.
    """

    training = False

    def __init__(self, path):
        import onnxruntime

        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"{self.path}: no such ONNX file")
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"{self.path}: not a loadable ONNX model ({one_line_message(exc)[:120]})") from None
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.one_at_a_time = bool(model_input.shape) and model_input.shape[0] == 1

    def input_size_wh(self):
        """The crop size ``(w, h)`` the ONNX graph is fixed to, or None where it is symbolic."""
        shape = self.session.get_inputs()[0].shape
        if len(shape) == 4 and all(isinstance(v, int) for v in shape[2:]):
            return int(shape[3]), int(shape[2])
        return None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        array = images.detach().cpu().numpy().astype(np.float32)
        if self.one_at_a_time:
            outs = [self.session.run(None, {self.input_name: array[i:i + 1]})[0] for i in range(len(array))]
            return torch.from_numpy(np.concatenate(outs, axis=0))
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])


def predict_boxes(model, image, boxes, image_size, flip_pairs, *, padding: float = 1.25, flip: bool = True,
                  shift: bool = True, method: str = "quarter", device=None) -> np.ndarray:
    """Poses of the people in given boxes of one image (the dataset's val crop, no dataset).

    Args:
        model: callable (N, 3, H, W) float tensor -> (N, K, h, w) heatmaps.
        image: (H, W, 3) uint8 BGR.
        boxes: (N, 4) ``(x, y, w, h)`` person boxes in image pixels.
        image_size: crop ``(w, h)`` the model was trained on.
        flip_pairs, flip, shift, method: as for ``predict``.
    Returns:
        (N, K, 3) float64 image ``(x, y, score)``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    aspect = float(image_size[0]) / float(image_size[1])
    centers, scales, crops = [], [], []
    for box in boxes:
        center, scale = box_to_center_scale(box, aspect, padding)
        mat = get_affine_transform(center, scale, 0.0, image_size)
        crops.append(normalize_crop(warp_crop(image, mat, image_size), bgr=True))
        centers.append(center)
        scales.append(scale)
    device = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training if isinstance(model, nn.Module) else None
    if isinstance(model, nn.Module):
        model.eval()
    try:
        with torch.inference_mode():
            images = torch.from_numpy(np.stack(crops)).to(device)
            heatmaps = infer_heatmaps(model, images, flip_pairs, flip=flip, shift=shift)
    finally:
        if was_training:
            model.train()
    return decode_to_image(heatmaps.cpu().numpy(), np.stack(centers), np.stack(scales), method)
