"""Tiny stand-ins for the engine tests: a pose-like net with dynamic convs and a seeded dataset.

Importable by name from the tests of this folder (pytest puts it on sys.path), by spawned
DDP workers and by the fault-injection runner.
"""

import numpy as np
import torch
from torch import nn

from posedy.layers import DynamicConv2d

NUM_JOINTS = 4
IMAGE_HW = (64, 48)
HEATMAP_HW = (16, 12)


class TinyPoseNet(nn.Module):
    """(N, 3, 64, 48) -> (N, 4, 16, 12); one dynamic conv so the temperature matters."""

    def __init__(self, num_joints: int = NUM_JOINTS, width: int = 8, temperature: float = 30.0):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.dynamic = DynamicConv2d(width, width, 3, 2, 1, bias=False, num_kernels=4, temperature=temperature)
        self.bn = nn.BatchNorm2d(width)
        self.head = nn.Conv2d(width, num_joints, 1)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.dynamic(self.stem(x)))))


class TinyPoseNetWide(TinyPoseNet):
    """Another architecture (wider), for mismatch tests."""

    def __init__(self):
        super().__init__(width=12)


class TinyKeypointDataset(torch.utils.data.Dataset):
    """Bright blobs at random joint positions; randomness from (seed, epoch, index) only."""

    def __init__(self, length: int = 24, seed: int = 0, num_joints: int = NUM_JOINTS):
        self.length = length
        self.seed = seed
        self.num_joints = num_joints
        self.epoch = 0

    def __len__(self):
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        h, w = IMAGE_HW
        hh, hw = HEATMAP_HW
        image = rng.normal(0.0, 0.1, size=(3, h, w)).astype(np.float32)
        target = np.zeros((self.num_joints, hh, hw), np.float32)
        ys, xs = np.mgrid[0:hh, 0:hw]
        weight = np.ones((self.num_joints, 1), np.float32)
        for k in range(self.num_joints):
            x, y = rng.uniform(1, hw - 2), rng.uniform(1, hh - 2)
            target[k] = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 1.0 ** 2))
            image[k % 3, int(y * 4):int(y * 4) + 4, int(x * 4):int(x * 4) + 4] += 1.0 + k
            weight[k, 0] = float(rng.uniform() > 0.2)
        return {"image": torch.from_numpy(image), "target": torch.from_numpy(target),
                "target_weight": torch.from_numpy(weight), "index": index}


class ExplodingModel(TinyPoseNet):
    """Outputs NaN from the ``bad_call``-th forward in training mode on."""

    def __init__(self, bad_call: int):
        super().__init__()
        self.bad_call = bad_call
        self.calls = 0

    def forward(self, x):
        out = super().forward(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.bad_call:
                out = out * float("nan")
        return out


class OOMModel(TinyPoseNet):
    def forward(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def make_trainer(work_dir, *, epochs=2, batch_size=4, length=24, seed=0, tau_schedule="linear",
                 checkpoint_interval_iters=0, validate=None, hooks=None, model=None, dist=None,
                 log_interval=1, lr_steps=(1,), num_workers=0, persistent_workers=False, warmup_iters=0,
                 channels_last=False):
    """A Trainer over the stand-ins, built as the runner builds the real one."""
    from posedy.engine.distributed import DistInfo, EpochSampler
    from posedy.engine.loss import JointsMSELoss
    from posedy.engine.schedule import TemperatureSchedule
    from posedy.engine.trainer import LoopSettings, Trainer

    torch.manual_seed(seed)
    model = model if model is not None else TinyPoseNet()
    if channels_last:
        from posedy.layers import to_channels_last
        to_channels_last(model)  # as runner.build_trainer does
    dist = dist or DistInfo()
    if dist.distributed:
        model = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(lr_steps), gamma=0.1)
    dataset = TinyKeypointDataset(length=length, seed=seed)
    sampler = EpochSampler(len(dataset), batch_size, seed, dist.rank, dist.world_size, shuffle=True)
    tau = TemperatureSchedule(tau_schedule, 30.0, 1.0, anneal_iters=sampler.batches_per_epoch * epochs)
    settings = LoopSettings(epochs=epochs, num_workers=num_workers, persistent_workers=persistent_workers,
                            val_interval=1, checkpoint_interval_iters=checkpoint_interval_iters,
                            log_interval=log_interval, warmup_iters=warmup_iters, channels_last=channels_last,
                            tensorboard=False)
    return Trainer(model, dataset, JointsMSELoss(), optimizer, scheduler, tau, sampler, settings, work_dir=work_dir,
                   validate=validate, dist=dist, config={"name": "tiny"}, hooks=hooks)
