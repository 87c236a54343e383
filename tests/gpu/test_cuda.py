"""CUDA paths, run by tools/gpu_check.sh on a machine with a GPU; skipped (with the reason) without one.

Covers what the CPU suite cannot: every DynamicConv2d implementation forward and backward on
CUDA against the CPU result, AMP and channels_last training steps through the Trainer, a
1-process NCCL DDP step with SyncBatchNorm, and tools/test.py on CUDA.
"""

import itertools
import json
import socket
from pathlib import Path

import pytest
import torch
from torch import nn

from posedy.layers import DynamicConv2d, to_channels_last
from tool_modules import load_tool

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device: the GPU tests need one (tools/gpu_check.sh)")

CASES = [
    # (cin, cout, k, stride, padding, dilation, groups, bias)
    (8, 16, 1, 1, 0, 1, 1, False),
    (8, 16, 1, 2, 0, 1, 1, True),
    (8, 16, 3, 1, 1, 1, 1, True),
    (8, 8, 3, 2, 1, 1, 8, False),
    (12, 6, 3, 1, 2, 2, 3, True),
    (16, 16, 5, 1, 2, 1, 16, False),
]


def _implementations(case):
    cin, cout, k, s, p, d, g, b = case
    return ["auto", "grouped", "branches"] + (["bmm"] if k == 1 and g == 1 and p == 0 else [])


@pytest.mark.parametrize("case,batch,impl,attention",
                         [(c, n, i, a) for c, n, a in itertools.product(CASES, [1, 3], ["softmax", "sigmoid"])
                          for i in _implementations(c)])
def test_dynamic_conv_paths_match_cpu(case, batch, impl, attention):
    torch.manual_seed(0)
    cin, cout, k, s, p, d, g, b = case
    cpu = DynamicConv2d(cin, cout, k, s, p, d, g, b, num_kernels=4, temperature=1.0, attention=attention)
    cpu.set_implementation(impl)
    gpu = DynamicConv2d(cin, cout, k, s, p, d, g, b, num_kernels=4, temperature=1.0, attention=attention).cuda()
    gpu.load_state_dict(cpu.state_dict())
    gpu.set_implementation(impl)
    x = torch.randn(batch, cin, 9, 7, dtype=torch.float64).float()
    x_cpu, x_gpu = x.clone().requires_grad_(), x.cuda().requires_grad_()
    y_cpu, y_gpu = cpu(x_cpu), gpu(x_gpu)
    # TF32 convolutions / matmuls on Ampere and later round to 10 mantissa bits.
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, atol=2e-3, rtol=2e-3)
    grad = torch.randn_like(y_cpu)
    y_cpu.backward(grad)
    y_gpu.backward(grad.cuda())
    torch.testing.assert_close(x_gpu.grad.cpu(), x_cpu.grad, atol=2e-3, rtol=2e-3)
    for (name, a), (_, bb) in zip(cpu.named_parameters(), gpu.named_parameters()):
        torch.testing.assert_close(bb.grad.cpu(), a.grad, atol=5e-3, rtol=5e-3, msg=name)


def _tiny_model():
    from posedy.config import BackboneConfig, HeadConfig, ModelConfig
    from posedy.models import build_pose_model

    torch.manual_seed(0)
    cfg = ModelConfig(BackboneConfig("mobilenet_v2", width_mult=0.35, depth_mult=0.5, dynamic=True),
                      HeadConfig("upsample_bneck", dynamic=True, width_mult=0.25))
    return build_pose_model(cfg)


class _Blobs(torch.utils.data.Dataset):
    """64x48 crops with a bright square per joint; a fixed target per index."""

    def __len__(self):
        return 32

    def __getitem__(self, index):
        g = torch.Generator().manual_seed(index)
        image = torch.randn(3, 64, 48, generator=g) * 0.1
        target = torch.zeros(17, 16, 12)
        for k in range(17):
            y, x = int(torch.randint(1, 15, (1,), generator=g)), int(torch.randint(1, 11, (1,), generator=g))
            target[k, y, x] = 1.0
            image[k % 3, 4 * y:4 * y + 4, 4 * x:4 * x + 4] += 1.0
        return {"image": image, "target": target, "target_weight": torch.ones(17, 1), "index": index}


@pytest.mark.parametrize("amp,channels_last", [(True, False), (False, True), (True, True)])
def test_amp_and_channels_last_training_steps(tmp_path, amp, channels_last):
    from posedy.engine.loss import JointsMSELoss
    from posedy.engine.schedule import TemperatureSchedule
    from posedy.engine.distributed import EpochSampler
    from posedy.engine.trainer import LoopSettings, Trainer

    device = torch.device("cuda")
    model = _tiny_model().to(device)
    if channels_last:
        to_channels_last(model)  # the dynamic layers' 5-D kernel banks have no channels_last
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[100])
    data = _Blobs()
    trainer = Trainer(model, data, JointsMSELoss(), optimizer, scheduler,
                      TemperatureSchedule("linear", 30.0, 1.0, anneal_iters=16), EpochSampler(len(data), 4, 0),
                      LoopSettings(epochs=2, amp=amp, channels_last=channels_last, tensorboard=False),
                      work_dir=tmp_path, device=device)
    assert trainer.amp == amp and trainer.channels_last == channels_last
    summary = trainer.fit()
    assert summary["step"] == 16 and torch.isfinite(torch.tensor(summary["last_loss"]))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_process_nccl_ddp_step_with_sync_bn():
    import torch.distributed as dist

    if not dist.is_nccl_available():
        pytest.skip("this torch build has no NCCL")
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        torch.cuda.set_device(0)
        model = nn.SyncBatchNorm.convert_sync_batchnorm(_tiny_model()).cuda()
        ddp = nn.parallel.DistributedDataParallel(model, device_ids=[0])
        optimizer = torch.optim.Adam(ddp.parameters(), lr=1e-3)
        x = torch.randn(4, 3, 64, 48, device="cuda")
        before = [p.detach().clone() for p in model.parameters()]
        loss = ddp(x).square().mean()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
        value = torch.ones(1, device="cuda")
        dist.all_reduce(value)
        assert value.item() == 1.0
    finally:
        dist.destroy_process_group()


def test_test_tool_on_cuda_matches_cpu(tmp_path, coco_sample):
    tool = load_tool("test")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(f"""
name: tiny
model:
  backbone: {{name: mobilenet_v2, width_mult: 0.35, depth_mult: 0.5, dynamic: true}}
  head: {{name: upsample_bneck, dynamic: true, width_mult: 0.25}}
data: {{root: {coco_sample}, val_ann: test_coco.json, val_images: ., det_file: test_coco_det_AP_H_56.json,
        image_size: [48, 64], heatmap_size: [12, 16], sigma: 1.0, num_workers: 0}}
""")
    ckpt = tmp_path / "tiny.pth"
    torch.save({"model": _tiny_model().state_dict(), "epoch": 1}, ckpt)
    runs = {}
    for device in ("cuda", "cpu"):
        work = tmp_path / device
        assert tool.main([str(cfg), "--checkpoint", str(ckpt), "--work-dir", str(work), "--device", device,
                          "--no-progress"]) == 0
        runs[device] = json.loads((work / "results.json").read_text())
        assert json.loads((work / "metrics.json").read_text())["run"]["device"].startswith(device)
    assert len(runs["cuda"]) == len(runs["cpu"]) > 0
    for a, b in zip(runs["cuda"], runs["cpu"]):
        assert a["image_id"] == b["image_id"]
        assert a["keypoints"] == pytest.approx(b["keypoints"], abs=0.5)
