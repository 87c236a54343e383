import argparse

import numpy as np

from posedy.bench import postprocess


def test_predictions_are_seeded_and_shaped():
    a = postprocess.make_predictions(300, 20, seed=3)
    b = postprocess.make_predictions(300, 20, seed=3)
    assert a["keypoints"].shape == (300, 17, 3) and a["image_ids"].max() < 20
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_run_reports_timings_and_suppresses_duplicates():
    parser = argparse.ArgumentParser()
    postprocess.add_arguments(parser)
    result = postprocess.run(parser.parse_args(["--num-boxes", "400", "--num-images", "20", "--repeats", "1"]))
    assert 0 < result["kept"] < 400  # duplicates of the same person are suppressed
    assert result["total_s"] >= result["select_s"] > 0 and result["write_s"] > 0
    assert "hrnet_oks_nms_s" not in result
