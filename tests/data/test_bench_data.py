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
