"""posedy.fileio: the one atomic writer, and every writer of the package going through it."""

import errno
import os
import stat

import pytest
import torch

from posedy import fileio


def _entries(folder):
    return sorted(p.name for p in folder.iterdir())


def test_writes_whole_file_with_the_ordinary_mode(tmp_path):
    target = tmp_path / "out.txt"
    fileio.atomic_write_text(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode("utf-8")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert _entries(tmp_path) == ["out.txt"]


class Boom(Exception):
    pass


@pytest.mark.parametrize("failure", [Boom, KeyboardInterrupt])
def test_an_error_mid_write_keeps_the_old_file_and_no_temporary(tmp_path, failure):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(failure):
        with fileio.atomic_output(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".out.json.") and tmp.name.endswith(".tmp")
            with open(tmp, "w") as fh:
                fh.write("half of the new")
            raise failure()
    assert target.read_text() == "old"
    assert _entries(tmp_path) == ["out.json"]


@pytest.mark.parametrize("stage", ["fsync", "replace"])
def test_a_full_disk_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch, stage):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, stage, full)
    with pytest.raises(OSError, match="No space left"):
        fileio.atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert _entries(tmp_path) == ["out.bin"]


def test_file_and_folder_are_fsynced_and_the_hook_sees_the_written_file(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    real_fsync, synced, seen = os.fsync, [], []

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    with fileio.atomic_output(target, before_replace=lambda tmp: seen.append((tmp.name, tmp.read_bytes()))) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and seen == [(tmp.name, b"new")]
    assert synced == [str(tmp), str(tmp_path)]  # the file before the rename, the folder after


def test_temporary_names_are_unique(tmp_path):
    target = tmp_path / "out.txt"
    with fileio.atomic_output(target) as first, fileio.atomic_output(target) as second:
        assert first != second and first.exists() and second.exists()
        first.write_text("1")
        second.write_text("2")
    assert target.read_text() == "1"  # the outer block ends last and wins
    assert _entries(tmp_path) == ["out.txt"]


def _save_checkpoint(path):
    from posedy.engine.checkpoint import save_checkpoint
    save_checkpoint({"x": torch.zeros(2)}, path)


def _results_text(path):
    from posedy.evaluation.results import write_json_atomic
    write_json_atomic(path, "new")


def _onnx_writer(path):
    from posedy.deploy.onnx_export import written_atomically
    with written_atomically(path) as tmp:
        tmp.write_bytes(b"new")


def _synthetic_json(path):
    from posedy.data.synthetic import _write_json_atomic
    _write_json_atomic(path, {"new": 1})


def _report(path):
    from posedy.reports import publish
    publish("new", path)


@pytest.mark.parametrize("writer", [_save_checkpoint, _results_text, _onnx_writer, _synthetic_json, _report])
def test_every_writer_goes_through_the_one_helper(tmp_path, monkeypatch, capsys, writer):
    target = tmp_path / "file"
    writer(target)
    assert _entries(tmp_path) == ["file"]
    target.write_bytes(b"old")
    calls = []
    real_output = fileio.atomic_output

    def counted(path, **kwargs):
        calls.append(path)
        return real_output(path, **kwargs)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio, "atomic_output", counted)
    for module in ("posedy.engine.checkpoint", "posedy.deploy.onnx_export"):
        monkeypatch.setattr(f"{module}.atomic_output", counted)
    monkeypatch.setattr(fileio.os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        writer(target)
    monkeypatch.undo()
    assert [os.fspath(p) for p in calls] == [os.fspath(target)]
    assert target.read_bytes() == b"old"
    assert _entries(tmp_path) == ["file"]
