import argparse
import textwrap

import numpy as np

from posedy.bench import postprocess
from posedy.evaluation.rescore_nms import select_final_poses


def test_predictions_are_seeded_and_shaped():
    a = postprocess.make_predictions(300, 20, seed=3)
    b = postprocess.make_predictions(300, 20, seed=3)
    assert a["keypoints"].shape == (300, 17, 3) and a["image_ids"].max() < 20
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def _run(*extra):
    parser = argparse.ArgumentParser()
    postprocess.add_arguments(parser)
    return postprocess.run(parser.parse_args(["--num-boxes", "400", "--num-images", "20", "--repeats", "2", *extra]))


def test_run_times_the_real_selection_and_suppresses_duplicates():
    result = _run()
    preds = postprocess.make_predictions(400, 20, seed=0)
    final = select_final_poses(preds["keypoints"], preds["box_scores"], preds["areas"], preds["image_ids"],
                               keypoint_thr=0.2, oks_thr=0.9)
    # What was timed is the pipeline itself: it keeps exactly what a direct call keeps.
    assert result["kept"] == len(final["index"])
    assert 0 < result["kept"] < 400  # duplicates of the same person are suppressed
    assert len(result["total_s_all"]) == 2 and result["json_mb"] >= 0
    assert result["total_s"] >= result["select_s"] > 0 and result["write_s"] > 0
    assert "hrnet_oks_nms_s" not in result


def test_hrnet_comparison_reports_whether_the_keep_sets_agree(tmp_path):
    """A stand-in checkout (lib/nms/nms.py importing the two compiled modules HRNet's does) whose
    oks_nms keeps every pose: the benchmark must then report the sets as different."""
    nms = tmp_path / "lib" / "nms"
    nms.mkdir(parents=True)
    (nms / "nms.py").write_text(textwrap.dedent("""
        from .cpu_nms import cpu_nms
        from .gpu_nms import gpu_nms


        def oks_nms(kpts_db, thresh):
            return list(range(len(kpts_db)))
    """))
    result = _run("--hrnet-root", str(tmp_path))
    assert result["hrnet_kept"] == 400 and result["same_keep_set"] is False
    assert result["hrnet_over_ours"] == result["hrnet_oks_nms_s"] / result["ours_oks_nms_s"]
