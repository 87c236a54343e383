"""ONNX export of dynamic models: onnxruntime agrees with PyTorch for a fixed and a dynamic batch."""

import importlib.util
import runpy
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from posedy.config import load_experiment
from posedy.deploy import export_onnx, onnx_export
from posedy.layers import DynamicConv2d
from posedy.models import build_pose_model
from posedy.deploy import OnnxExport

ort = pytest.importorskip("onnxruntime")
# onnxscript comes with the dev extra; without it every export takes the TorchScript fallback.
_EXPECTED_EXPORTER = onnx_export.TORCH_EXPORT if importlib.util.find_spec("onnxscript") else onnx_export.TORCHSCRIPT


def _small_dynamic_net() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        DynamicConv2d(8, 16, 1, bias=False, temperature=1.0), nn.BatchNorm2d(16), nn.ReLU6(),
        DynamicConv2d(16, 16, 5, 2, 2, groups=16, bias=False, temperature=1.0), nn.BatchNorm2d(16), nn.ReLU6(),
        DynamicConv2d(16, 8, 3, 1, 1, temperature=1.0),
    )
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x.numpy()})[0]


@pytest.mark.parametrize("batch", [1, "dynamic"])
def test_small_dynamic_net_matches_onnxruntime(tmp_path, batch):
    net = _small_dynamic_net()
    written = export_onnx(net, tmp_path / "net.onnx", image_size_wh=(20, 28), batch=batch)
    assert written.exporter == _EXPECTED_EXPORTER, written.fallback_reason
    path = written.path
    sizes = [1] if batch == 1 else [1, 3, 5]
    for n in sizes:
        x = torch.randn(n, 3, 28, 20, generator=torch.Generator().manual_seed(n))
        with torch.no_grad():
            expected = net(x).numpy()
        np.testing.assert_allclose(_run(path, x), expected, atol=1e-4, rtol=1e-4)
    assert net.training is False and isinstance(net[1], nn.BatchNorm2d), "export must not modify the model"


def _export_tool_main(argv):
    """``tools/export_onnx.py``'s ``main`` run in this process (no interpreter start-up)."""
    return runpy.run_path(str(_repo_root() / "tools" / "export_onnx.py"), run_name="export_onnx")["main"](argv)


def _repo_root():
    return Path(__file__).resolve().parents[2]


EXPERIMENT_YAML = """
name: export-test
model:
  backbone: {name: mobilenet_v2, width_mult: 0.5, dynamic: true, num_kernels: 4}
  head: {name: upsample_bneck, dynamic: true, num_kernels: 4}
  temperature: 1.0
data:
  image_size: [96, 128]
  heatmap_size: [24, 32]
"""


def _experiment(tmp_path) -> Path:
    path = tmp_path / "mbv2-x0.5_dy4_typeB_128x96.yaml"
    path.write_text(EXPERIMENT_YAML)
    return path


def test_export_tool_reports_a_bad_checkpoint_in_one_line(tmp_path, capsys):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    code = _export_tool_main([str(_experiment(tmp_path)), "--checkpoint", str(bad), "--out", str(tmp_path / "x.onnx")])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0], lines
    assert not (tmp_path / "x.onnx").exists()


def test_export_tool_writes_a_dynamic_batch_pose_model_that_matches(tmp_path, capsys):
    experiment = _experiment(tmp_path)
    cfg = load_experiment(experiment)
    torch.manual_seed(0)
    model = build_pose_model(cfg.model)
    ckpt = tmp_path / "model.pth"
    torch.save({"model": model.state_dict()}, ckpt)
    out = tmp_path / "model.onnx"
    code = _export_tool_main([str(experiment), "--checkpoint", str(ckpt), "--out", str(out), "--batch", "dynamic",
                              "--check"])
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    diff = float(printed[-1].split("=")[-1])
    assert out.exists() and diff < 1e-4
    reason = onnx_export.torch_export_unavailable(onnx_export.DEFAULT_OPSET)
    assert printed[0].endswith(f", {OnnxExport(out, _EXPECTED_EXPORTER, reason).describe()})"), printed[0]


def test_export_tool_writes_an_ort_nchwc_graph_that_matches(tmp_path, capsys):
    experiment = _experiment(tmp_path)
    torch.manual_seed(0)
    model = build_pose_model(load_experiment(experiment).model)
    ckpt = tmp_path / "model.pth"
    torch.save({"model": model.state_dict()}, ckpt)
    out = tmp_path / "model_nchwc.onnx"
    code = _export_tool_main([str(experiment), "--checkpoint", str(ckpt), "--out", str(out),
                              "--format", "ort-nchwc", "--check"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "ort-nchwc, batch 1" in printed
    assert float(printed.strip().splitlines()[-1].split("=")[-1]) < 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([experiment.name, "model.pth", out.name])


def test_failed_export_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous export")

    def broken_export(model, args, f, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"half a model")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export_onnx(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1)), target, image_size_wh=(8, 8), batch=1)
    assert target.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_posedy_exports_raise_no_deprecation_warning(tmp_path):
    """torch's exporter deprecation (and any other) is an error here for posedy's own calls."""
    from posedy.deploy.ort_nchwc import nchwc_block_size

    net = nn.Sequential(DynamicConv2d(3, 4, 3, padding=1, num_kernels=2), nn.ReLU()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        export_onnx(net, tmp_path / "net.onnx", (8, 8), batch="dynamic")
        nchwc_block_size()
    assert (tmp_path / "net.onnx").stat().st_size > 0


def _batch_axes(path):
    import onnx

    graph = onnx.load(str(path)).graph
    return [v.type.tensor_type.shape.dim[0].dim_param for v in list(graph.input) + list(graph.output)]


def _matches_at_batches(net, path, sizes=(1, 3)):
    for n in sizes:
        x = torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(n))
        with torch.no_grad():
            np.testing.assert_allclose(_run(path, x), net(x).numpy(), atol=1e-4, rtol=1e-4)


def _tiny_dynamic_net():
    torch.manual_seed(0)
    return nn.Sequential(DynamicConv2d(3, 4, 3, padding=1, num_kernels=2, temperature=1.0), nn.ReLU(),
                         DynamicConv2d(4, 4, 1, num_kernels=2, temperature=1.0)).eval()


@pytest.mark.skipif(_EXPECTED_EXPORTER != onnx_export.TORCH_EXPORT, reason="onnxscript is not installed")
@pytest.mark.filterwarnings(r"error::DeprecationWarning:posedy\.")
def test_the_torch_export_exporter_writes_a_named_dynamic_batch(tmp_path):
    net = _tiny_dynamic_net()
    written = export_onnx(net, tmp_path / "net.onnx", (8, 8), batch="dynamic")
    assert (written.exporter, written.fallback_reason) == (onnx_export.TORCH_EXPORT, "")
    assert written.describe() == "torch.export-based exporter"
    assert _batch_axes(written.path) == ["batch", "batch"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.onnx"]  # no external weights file
    _matches_at_batches(net, written.path)


@pytest.mark.filterwarnings(r"error::DeprecationWarning:posedy\.")
def test_a_failing_torch_export_falls_back_to_torchscript_and_says_why(tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        raise RuntimeError("\x1b[96mno translation\x1b[0m for aten::something\nsecond line")

    monkeypatch.setattr(onnx_export, "torch_export", failing)
    monkeypatch.setattr(onnx_export, "torch_export_unavailable", lambda opset: "")
    net = _tiny_dynamic_net()
    written = export_onnx(net, tmp_path / "net.onnx", (8, 8), batch="dynamic")
    assert written.exporter == onnx_export.TORCHSCRIPT
    assert written.fallback_reason == ("the torch.export-based exporter failed: RuntimeError: "
                                       "no translation for aten::something")
    assert written.describe() == f"TorchScript-based exporter (fallback: {written.fallback_reason})"
    assert _batch_axes(written.path) == ["batch", "batch"]
    _matches_at_batches(net, written.path)


def test_the_torchscript_fallback_for_an_old_opset_or_without_onnxscript(tmp_path, monkeypatch):
    assert onnx_export.torch_export_unavailable(17) == (
        "opset 17 is below 18, the lowest the torch.export-based exporter writes")
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        written = export_onnx(net, tmp_path / "net.onnx", (8, 8), batch=1, opset=17)
    assert written.exporter == onnx_export.TORCHSCRIPT and written.fallback_reason.startswith("opset 17 ")
    import onnx

    assert onnx.load(str(written.path)).opset_import[0].version == 17
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript"
                        else find_spec(name, *a))
    assert onnx_export.torch_export_unavailable(18) == (
        "onnxscript, which the torch.export-based exporter needs, is not installed")


def test_the_grouped_path_is_not_what_a_dynamic_batch_exports():
    """ONNX Conv's group is a constant: the batch-as-groups path would fix the batch, so a
    dynamic-batch export uses "branches" (kxk) and "bmm" (1x1) instead."""
    model = onnx_export.prepare_for_export(_tiny_dynamic_net(), "dynamic")
    assert [m.implementation for m in model.modules() if isinstance(m, DynamicConv2d)] == ["branches", "bmm"]
