"""Atomic writes: hidden temporaries, umask permissions, cleanup on signals and after SIGKILL."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vecsmith._atomic import atomic_open, atomic_path, remove_leftovers

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _child(code: str, target: Path) -> subprocess.Popen:
    """Start a child that begins a write to `target`, prints READY, and waits inside it."""
    script = "\n".join([
        "import sys, time", f"sys.path.insert(0, {SRC!r})",
        "from vecsmith._atomic import atomic_open", code,
        f"with atomic_open({str(target)!r}, 'wb') as fh:",
        "    fh.write(b'x' * 1000)", "    fh.flush()",
        "    print('READY', flush=True)", "    time.sleep(60)"])
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY"
    return proc


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_replaces_only_on_success_and_hides_temp(tmp_path):
    out = tmp_path / "a.bin"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_open(out, "wb") as fh:
        fh.write(b"new")
        names = _temps(tmp_path)
        assert len(names) == 1 and names[0].startswith(".a.bin.")
        raise RuntimeError("boom")
    assert out.read_bytes() == b"old" and _temps(tmp_path) == []
    with atomic_open(out, "wb") as fh:
        fh.write(b"new")
    assert out.read_bytes() == b"new" and _temps(tmp_path) == []


def test_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "m.bin") as tmp:
            tmp.write_bytes(b"1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.bin").stat().st_mode) == 0o644


def test_parents_not_created_unless_asked(tmp_path):
    target = tmp_path / "no" / "such" / "out.bin"
    with pytest.raises(FileNotFoundError, match=r"folder .*such does not exist"), \
            atomic_open(target):
        pass
    assert not (tmp_path / "no").exists()
    with atomic_open(target, parents=True) as fh:
        fh.write(b"ok")
    assert target.read_bytes() == b"ok"


def test_refuses_to_overwrite_an_input(tmp_path):
    src = tmp_path / "in.vec"
    src.write_text("x 1\n")
    link = tmp_path / "link.vec"
    link.symlink_to(src)
    for out in (src, link):
        with pytest.raises(ValueError, match="refusing to overwrite the input"), \
                atomic_open(out, "w", inputs=[src]):
            pass
    assert src.read_text() == "x 1\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_removes_temp_and_keeps_old_file(tmp_path, sig):
    out = tmp_path / "model.store"
    out.write_bytes(b"old")
    proc = _child("", out)
    assert len(_temps(tmp_path)) == 1
    proc.send_signal(sig)
    rc = proc.wait(timeout=30)
    assert rc != 0  # it still ends as the signal asks
    assert _temps(tmp_path) == []
    assert out.read_bytes() == b"old"


def test_sigterm_runs_previous_handler(tmp_path):
    out = tmp_path / "model.store"
    code = ("import signal, sys\n"
            "signal.signal(signal.SIGTERM, lambda s, f: (print('MINE', flush=True), "
            "sys.exit(3)))")
    proc = _child(code, out)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 3
    assert proc.stdout.read().strip() == "MINE"
    assert _temps(tmp_path) == [] and not out.exists()


def test_handlers_restored_after_write(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with atomic_open(tmp_path / "x.bin") as fh:
        assert signal.getsignal(signal.SIGTERM) is not before
        fh.write(b"1")
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigkill_leftover_removed_by_next_write(tmp_path):
    out = tmp_path / "v.store"
    proc = _child("", out)
    proc.kill()
    proc.wait(timeout=30)
    left = _temps(tmp_path)
    assert len(left) == 1 and str(proc.pid) in left[0]
    # a live process's temporary (ours) is never touched
    mine = tmp_path / f".v.store.{os.getpid()}.abcd1234.tmp"
    mine.write_bytes(b"")
    for _ in range(50):  # the pid is dead once reaped; give the kernel a moment
        if remove_leftovers(out) or not (tmp_path / left[0]).exists():
            break
        time.sleep(0.05)
    assert _temps(tmp_path) == [mine.name]
    mine.unlink()
    proc2 = _child("", out)  # a dead writer's file is cleaned up by the next write too
    proc2.kill()
    proc2.wait(timeout=30)
    with atomic_open(out) as fh:
        fh.write(b"new")
    assert _temps(tmp_path) == [] and out.read_bytes() == b"new"
