"""``tools/test.py`` writes results.json and metrics.json atomically and can be re-run (with
--overwrite): a write that fails midway leaves the previous files whole and no temporary file behind."""

import errno
import json
import os

import pytest
from reliability_helpers import error_line

from posedy import fileio
from posedy.evaluation import results as results_module


def _run(test_tool, experiment, checkpoint, out, *extra):
    return test_tool.main([str(experiment), "--checkpoint", str(checkpoint), "--gt-boxes",
                           "--work-dir", str(out), "--no-progress", *extra])


@pytest.fixture
def first_run(test_tool, experiment, checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(test_tool, experiment, checkpoint, out) == 0
    capsys.readouterr()
    return out, {name: (out / name).read_bytes() for name in ("results.json", "metrics.json")}


def _leftovers(out):
    return sorted(p.name for p in out.iterdir() if p.name not in ("results.json", "metrics.json"))


def test_rerun_gives_the_same_results(test_tool, experiment, checkpoint, first_run):
    out, before = first_run
    assert _run(test_tool, experiment, checkpoint, out, "--overwrite") == 0
    assert (out / "results.json").read_bytes() == before["results.json"]
    assert json.loads((out / "metrics.json").read_bytes())["AP"] == json.loads(before["metrics.json"])["AP"]
    assert _leftovers(out) == []


@pytest.mark.parametrize("target", ["results.json", "metrics.json"])
@pytest.mark.parametrize("stage", ["fsync", "replace"])
def test_failed_write_keeps_the_old_file_and_no_temporaries(stage, target, test_tool, experiment, checkpoint,
                                                            first_run, monkeypatch, capsys):
    out, before = first_run
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src, dst):
        if os.path.basename(dst) == target:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    def fsync(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(f".{target}."):
            # The temporary file is half written when the disk fills up.
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    if stage == "replace":
        monkeypatch.setattr(fileio.os, "replace", replace)
    else:
        monkeypatch.setattr(fileio.os, "fsync", fsync)
    rc = _run(test_tool, experiment, checkpoint, out, "--overwrite")
    monkeypatch.undo()
    assert rc == 1
    assert error_line(capsys) == f"error: {out / target}: cannot write (No space left on device)"
    assert (out / target).read_bytes() == before[target]
    json.loads((out / "results.json").read_bytes())  # both files are whole JSON
    json.loads((out / "metrics.json").read_bytes())
    assert _leftovers(out) == []


def test_interrupt_during_the_results_write(test_tool, experiment, checkpoint, first_run, monkeypatch, capsys):
    """Ctrl-C (or any exception) while the JSON text is produced: old file intact, no temp file."""
    out, before = first_run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(results_module, "format_keypoint_results", interrupted)
    assert _run(test_tool, experiment, checkpoint, out, "--overwrite") == 130  # the tools' boundary: one line, exit 130
    monkeypatch.undo()
    assert error_line(capsys).startswith("error: interrupted; files already written are kept")
    assert (out / "results.json").read_bytes() == before["results.json"]
    assert _leftovers(out) == []


def test_interrupt_inside_the_metrics_json_dump(test_tool, experiment, checkpoint, first_run, monkeypatch, capsys):
    out, before = first_run
    real_dumps = json.dumps

    def dumps(obj, *args, **kwargs):
        if isinstance(obj, dict) and "run" in obj:
            raise KeyboardInterrupt
        return real_dumps(obj, *args, **kwargs)

    monkeypatch.setattr(results_module.json, "dumps", dumps)
    assert _run(test_tool, experiment, checkpoint, out, "--overwrite") == 130  # the tools' boundary: one line, exit 130
    monkeypatch.undo()
    assert error_line(capsys).startswith("error: interrupted; files already written are kept")
    assert (out / "metrics.json").read_bytes() == before["metrics.json"]
    assert _leftovers(out) == []
