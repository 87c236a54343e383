"""Two gloo processes on CPU: DDP keeps the ranks' weights identical and in sync."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, work_dir: str, out_dir: str) -> None:
    import os

    from engine_standins import make_trainer

    from posedy.engine.distributed import cleanup_distributed, init_distributed

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    # What torchrun would export; init_distributed joins with env:// and gloo on CPU.
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    info = init_distributed("cpu")
    assert (info.rank, info.world_size, dist.get_backend()) == (rank, world_size, "gloo")
    try:
        # 24 samples / (batch 3 x 2 ranks) = 4 iterations per epoch, 2 epochs.
        # As under torchrun: only rank 0 holds a validator (and its AP reaches every rank).
        validate = (lambda model: {"AP": 0.25}) if rank == 0 else None
        trainer = make_trainer(work_dir, epochs=2, batch_size=3, dist=info, checkpoint_interval_iters=3,
                               validate=validate)
        summary = trainer.fit()
        assert summary["best_ap"] == 0.25 and summary["best_epoch"] == 1
        state = {k: v.clone() for k, v in trainer.model.module.state_dict().items()}
        torch.save({"state": state, "indices": trainer.sampler.epoch_indices(1).tolist()},
                   f"{out_dir}/rank{rank}.pt")
    finally:
        cleanup_distributed()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not built")
def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    out.mkdir()
    mp.start_processes(_worker, args=(2, _free_port(), str(work), str(out)), nprocs=2, join=True,
                       start_method="spawn")
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    # The ranks trained on disjoint halves of each epoch ...
    assert not set(rank0["indices"]) & set(rank1["indices"])
    # ... and still hold bit-identical parameters and buffers.
    for name, value in rank0["state"].items():
        assert torch.equal(value, rank1["state"][name]), name
    # Training moved the weights, and rank 0 alone wrote the checkpoint and the log.
    from engine_standins import TinyPoseNet

    torch.manual_seed(0)
    initial = TinyPoseNet().state_dict()
    assert not torch.equal(initial["head.weight"], rank0["state"]["head.weight"])
    ckpt = torch.load(work / "last.pth", weights_only=True)
    assert ckpt["world_size"] == 2 and ckpt["step"] == 8
    assert torch.equal(ckpt["model"]["head.weight"], rank0["state"]["head.weight"])
    assert sorted(p.name for p in work.iterdir()) == ["best.pth", "last.pth", "metrics.jsonl"]
