import argparse

from posedy.bench import data as bench_data


def test_bench_runs_ours_without_reference(synthetic_root):
    parser = argparse.ArgumentParser()
    bench_data.add_arguments(parser)
    args = parser.parse_args(["--coco-sample", "", "--synthetic", str(synthetic_root), "--samples", "4",
                              "--repeats", "1", "--hrnet-root", str(synthetic_root / "no_hrnet")])
    result = bench_data.run(args)
    assert result["reference"].startswith("none (") and "coco_sample" not in result
    syn = result["synthetic"]
    assert syn["samples_per_repeat"] == 4 and "hrnet" not in syn
    assert syn["posedy"]["median_samples_per_s"] > 0 and len(syn["posedy"]["runs"]) == 1


def test_val_crops_match_hrnet_reference(coco_sample):
    """Parity: our un-augmented crops equal HRNet's JointsDataset crops to one grey level.

    Needs a checkout (or bare git directory) of deep-high-resolution-net.pytorch; skipped
    without one. Targets differ by design (HRNet rounds the Gaussian centre to a pixel).
    """
    import os
    from pathlib import Path

    import pytest
    import torch

    from posedy.data.coco import load_coco, load_person_records
    from posedy.data.codec import HeatmapCodec
    from posedy.data.crop import IMAGENET_STD
    from posedy.data.dataset import TopDownDataset

    from posedy.sample_data import repository_root

    # Default: the fetched mirror beside the repository (the convention of ../shared).
    root = Path(os.environ.get("POSEDY_HRNET_ROOT", repository_root().parent / ".mirror"
                               / "leoxiaobin+deep-high-resolution-net.pytorch" / "repo"))
    sample = coco_sample
    if not root.exists():
        pytest.skip(f"HRNet checkout absent: {root} (set POSEDY_HRNET_ROOT)")
    records = load_person_records(load_coco(sample / "test_coco.json"), sample, (192, 256))
    ref = bench_data.make_hrnet_dataset(bench_data.load_hrnet_joints_dataset(root), records, (192, 256),
                                        (48, 64), 2.0)
    ref.is_train = False
    ours = TopDownDataset(records, HeatmapCodec((192, 256), (48, 64), 2.0))
    for i in range(len(records)):
        image, target, weight, _ = ref[i]
        item = ours[i]
        assert (image - item["image"]).abs().max() <= 1.0 / 255.0 / min(IMAGENET_STD) + 1e-5
        assert torch.equal(weight, item["target_weight"])
        # Peaks: HRNet's at int(mu + 0.5), ours at the pixel nearest mu: at most one apart.
        on = weight[:, 0] > 0
        a = target.flatten(1).argmax(1)[on]
        b = item["target"].flatten(1).argmax(1)[on]
        assert (a % 48 - b % 48).abs().max() <= 1 and (a // 48 - b // 48).abs().max() <= 1


def test_reference_path_is_shown_relative_to_the_repository():
    from posedy.sample_data import repository_root
    mirror = repository_root().parent / ".mirror" / "owner+repo" / "repo"
    assert bench_data._shown_path(mirror) == "../.mirror/owner+repo/repo"
    assert bench_data._shown_path(repository_root() / "x") == "x"
