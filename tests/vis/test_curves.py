import json

import cv2

from posedy.vis.curves import training_curves
from tool_modules import load_tool


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_curves_from_a_resumed_run(tmp_path):
    records = [{"type": "start", "step": 0, "epoch": 1}]
    for step in range(1, 9):  # 4 iterations per epoch, 2 epochs; step 6 logged twice (resume)
        records.append({"type": "train", "step": step, "epoch": (step - 1) // 4 + 1, "iter": (step - 1) % 4 + 1,
                        "loss": 1.0 / step, "lr": 1e-3, "tau": 30.0 - step})
        if step == 6:
            records.append(dict(records[-1], loss=0.5))
        if step % 4 == 0:
            records.append({"type": "epoch", "step": step, "epoch": step // 4, "loss": 0.3, "lr": 1e-3,
                            "tau": 30.0 - step})
            records.append({"type": "val", "step": step, "epoch": step // 4, "AP": 0.1 * step, "AP .5": 0.2})
    _write(tmp_path / "metrics.jsonl", records)
    image = training_curves(tmp_path / "metrics.jsonl", title="run", panel_size=(240, 150))
    assert image.shape == (26 + 300, 480, 3)
    assert cv2.imencode(".png", image)[0]


def test_curves_tool(tmp_path, capsys):
    tool = load_tool("plot_curves")
    assert tool.main([str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'metrics.jsonl'}: no such file")
    _write(tmp_path / "metrics.jsonl", [{"type": "epoch", "step": 4, "epoch": 1, "loss": 0.3, "lr": 1e-3,
                                         "tau": None}])
    assert tool.main([str(tmp_path)]) == 0
    assert (tmp_path / "curves.png").stat().st_size > 1000
