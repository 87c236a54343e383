"""Seeded fuzz test of the tools' bad-input promise.

For each kind of input a tool reads (experiment YAML: train.py and complexity.py; annotation
JSON: train.py and browse_dataset.py; detection JSON: test.py; results JSON: test.py and
visualize.py) a seeded generator applies one mutation to a field the tool reads: a type
swapped, a value made non-finite, a key duplicated, a value nested deeply. Every mutated input
must give a non-zero exit, exactly one 'error:' line, no traceback, and leave the files already
in the output folder byte for byte as they were.
"""

import json
import random

import pytest
import yaml
from reliability_helpers import DET_FILE, TRAIN_ANN, VAL_ANN, coco_json, load_tool, write_experiment

SEED = 0
CASES_PER_KIND = 8
SWAPS = ("text", [1, 2], {"a": 1}, None, True, -3, 1.5)
NON_FINITE = (float("nan"), float("inf"), float("-inf"))

CONFIG_FIELDS = {  # dotted key -> kind of value it holds
    "train.lr": float, "train.epochs": int, "train.batch_size": int, "train.seed": int, "train.lr_steps": list,
    "data.sigma": float, "data.box_padding": float, "data.image_size": list, "data.augment.flip": bool,
    "model.backbone.num_kernels": int, "model.backbone.name": str, "model.temperature": float,
    "test.oks_thr": float, "data.augment.scale_factor": float,
}
IMAGE_FIELDS = ("id", "file_name", "width", "height")
ANNOTATION_FIELDS = ("id", "image_id", "category_id", "bbox", "keypoints", "area", "num_keypoints")
DET_FIELDS = ("image_id", "category_id", "bbox", "score")
RESULT_FIELDS = ("image_id", "category_id", "keypoints", "score")


def _nested(value, depth=200):
    for _ in range(depth):
        value = [value]
    return value


def _bad_value(rng, kind, current):
    """A value of the wrong type, non-finite, or deeply nested, never a valid one."""
    choice = rng.choice(("swap", "non_finite", "nest"))
    if choice == "nest":
        return _nested(current)
    if choice == "non_finite" and kind in (float, int, list, None):
        value = rng.choice(NON_FINITE)
        return [value, value] if kind is list else value
    swaps = [v for v in SWAPS if type(v) is not kind and not (kind is float and type(v) is int)
             and not (kind is list and isinstance(v, list))]
    if kind is None:  # a JSON field the loaders type-check: anything but its own type
        swaps = [v for v in SWAPS if type(v) is not type(current)
                 and not (isinstance(current, float) and type(v) is int)]
    return rng.choice(swaps)


def _json_with_duplicate_key(obj_text: str, key: str, value) -> str:
    """Insert ``"key": value`` a second time at the start of the first object holding ``key``."""
    marker = f'"{key}":'
    at = obj_text.index(marker)
    start = obj_text.rindex("{", 0, at) + 1
    return obj_text[:start] + f'"{key}": {json.dumps(value)}, ' + obj_text[start:]


def _config_cases(rng, experiment_text):
    cases = []
    for n in range(CASES_PER_KIND):
        tree = yaml.safe_load(experiment_text)
        key = rng.choice(sorted(CONFIG_FIELDS))
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        if n % 4 == 3:
            text = yaml.safe_dump(tree, sort_keys=False)
            # The same key twice in its section (block style: indent by depth).
            indent = "  " * (len(parents) - 1)
            line = next(line for line in text.splitlines() if line.startswith(f"{indent}{parents[-1]}:")) \
                if parents else None
            if line is None:
                text = text + f"{leaf}: 1\n"
            else:
                text = text.replace(line + "\n", line + "\n" + f"{indent}  {leaf}: 1\n" + f"{indent}  {leaf}: 2\n", 1)
            cases.append((f"dup:{key}", text))
            continue
        node[leaf] = _bad_value(rng, CONFIG_FIELDS[key], node.get(leaf, 1))
        cases.append((f"{key}", yaml.safe_dump(tree, sort_keys=False)))
    return cases


def _json_cases(rng, data, pick):
    """``pick(data) -> (container dict, field)``; mutated JSON texts."""
    cases = []
    for n in range(CASES_PER_KIND):
        copy = json.loads(json.dumps(data))
        container, field = pick(rng, copy)
        if n % 4 == 3:
            text = json.dumps(copy)
            cases.append((f"dup:{field}", _json_with_duplicate_key(text, field, container[field])))
            continue
        container[field] = _bad_value(rng, None, container[field])
        cases.append((field, json.dumps(copy)))
    return cases


def _pick_annotation(rng, data):
    if rng.random() < 0.4:
        return rng.choice(data["images"]), rng.choice(IMAGE_FIELDS)
    return rng.choice(data["annotations"]), rng.choice(ANNOTATION_FIELDS)


def _pick_entry(fields):
    return lambda rng, data: (rng.choice(data), rng.choice(fields))


def _expect_one_error(rc, capsys, name):
    err = capsys.readouterr().err
    assert rc not in (0, None), (name, err)
    assert "Traceback" not in err, (name, err)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, (name, err)


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _unchanged(folder, before) -> bool:
    """The files that were there are byte for byte the same; the only new file allowed is the
    training lock (``posedy.engine.workdir``), which is empty and holds no lock after the run."""
    after = _snapshot(folder)
    new = {str(p) for p in set(after) - set(before)}
    return {k: after.get(k) for k in before} == before and new <= {".posedy-train.lock"}


@pytest.fixture
def outputs(tmp_path):
    """An output folder holding files of an earlier run, which no failed run may touch."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "last.pth").write_bytes(b"earlier checkpoint")
    (out / "results.json").write_text("[]\n")
    (out / "metrics.json").write_text("{}\n")
    return out


def test_fuzz_experiment_yaml(synthetic_root, tmp_path, outputs, capsys):
    rng = random.Random(SEED)
    base = write_experiment(tmp_path, synthetic_root).read_text()
    before = _snapshot(outputs)
    train, complexity = load_tool("train"), load_tool("complexity")
    for i, (name, text) in enumerate(_config_cases(rng, base)):
        cfg = tmp_path / f"fuzz{i}.yaml"
        cfg.write_text(text)
        _expect_one_error(train.main([str(cfg), "--work-dir", str(outputs), "--resume"]), capsys, name)
        _expect_one_error(complexity.main([str(cfg)]), capsys, name)
    assert _unchanged(outputs, before)


def test_fuzz_annotation_json(synthetic_root, data_copy, tmp_path, outputs, capsys):
    rng = random.Random(SEED + 1)
    original = coco_json(data_copy)
    cfg = write_experiment(tmp_path, data_copy)
    before = _snapshot(outputs)
    train, browse = load_tool("train"), load_tool("browse_dataset")
    for name, text in _json_cases(rng, original, _pick_annotation):
        (data_copy / TRAIN_ANN).write_text(text)
        _expect_one_error(train.main([str(cfg), "--work-dir", str(outputs), "--resume"]), capsys, name)
        _expect_one_error(browse.main([str(cfg), "--out", str(outputs), "--n", "1"]), capsys, name)
    assert _unchanged(outputs, before)


def test_fuzz_detection_json(synthetic_root, checkpoint, tmp_path, outputs, capsys):
    rng = random.Random(SEED + 2)
    dets = json.loads((synthetic_root / DET_FILE).read_text())[:5]
    cfg = write_experiment(tmp_path, synthetic_root)
    before = _snapshot(outputs)
    test = load_tool("test")
    for i, (name, text) in enumerate(_json_cases(rng, dets, _pick_entry(DET_FIELDS))):
        det = tmp_path / f"det{i}.json"
        det.write_text(text)
        # --overwrite: past the earlier-result guard, so that the detection file is what fails.
        rc = test.main([str(cfg), "--checkpoint", str(checkpoint), "--det-boxes", str(det),
                        "--work-dir", str(outputs), "--no-progress", "--overwrite"])
        _expect_one_error(rc, capsys, name)
    assert _unchanged(outputs, before)


def test_fuzz_results_json(synthetic_root, tmp_path, outputs, capsys):
    rng = random.Random(SEED + 3)
    images = coco_json(synthetic_root, "val2017")["images"]
    results = [{"image_id": img["id"], "category_id": 1, "keypoints": [5.0, 5.0, 0.9] * 17, "score": 0.8}
               for img in images]
    before = _snapshot(outputs)
    test, visualize = load_tool("test"), load_tool("visualize")
    ann = synthetic_root / VAL_ANN
    for i, (name, text) in enumerate(_json_cases(rng, results, _pick_entry(RESULT_FIELDS))):
        res = tmp_path / f"res{i}.json"
        res.write_text(text)
        _expect_one_error(test.main(["--results", str(res), "--ann", str(ann)]), capsys, name)
        rc = visualize.main(["--results", str(res), "--ann", str(ann), "--images",
                             str(synthetic_root / "images" / "val2017"), "--out", str(outputs)])
        _expect_one_error(rc, capsys, name)
    assert _unchanged(outputs, before)
