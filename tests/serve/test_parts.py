"""The service's parts alone: the job store's recovery and retention, client file names, the
options a client may send, and the one-line error when the extra is missing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .helpers import require_serve

require_serve()


def test_store_recover_and_expire(tmp_path):
    from affectlens.serve.store import JobStore

    store = JobStore(tmp_path)
    ids = [store.new_id() for _ in range(3)]
    for i in ids:
        store.add(i, "video", "v.mp4", {}, {})
    running = store.claim()
    assert running.id == ids[0] and running.state == "running"
    (store.folder(running.id) / "out").mkdir()
    store.claim()
    store.finish(ids[1], "done", files=["results.jsonl"])
    orphan = store.folder("f" * 32)
    orphan.mkdir()
    store.close()
    store = JobStore(tmp_path)  # a restart
    assert store.recover() == [ids[0]]
    assert store.get(ids[0]).state == "failed" and "server stopped" in store.get(ids[0]).error
    assert not (store.folder(ids[0]) / "out").exists() and not orphan.exists()
    assert store.get(ids[1]).files == ("results.jsonl",) and store.get(ids[2]).state == "queued"
    assert store.expire(3600) == []
    assert sorted(store.expire(0)) == sorted(ids[:2])  # finished ones only
    assert store.get(ids[2]).state == "queued" and not store.folder(ids[0]).exists()
    assert store.counts()["queued"] == 1


@pytest.mark.parametrize(
    "given, shown",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\..\\a.jpg", "a.jpg"),
        ("..", "upload"),
        (".hidden.png", "hidden.png"),
        (None, "upload"),
        ("a\x00b\n.jpg", "ab.jpg"),
        ("x" * 300 + ".jpg", "x" * 120),
    ],
)
def test_display_name(given, shown):
    from affectlens.serve.uploads import display_name

    assert display_name(given) == shown


def test_client_options():
    from affectlens.options import Options
    from affectlens.serve.errors import ApiError
    from affectlens.serve.service import parse_options

    base = Options().replace(fps=2)
    got = parse_options('{"detection": {"threshold": 0.9}}', base)
    assert got.detection.threshold == 0.9 and got.video.sampling.fps == 2  # merged over the server's
    for bad, words in [
        ("[1]", "JSON object"),
        ("{", "not JSON"),
        ('{"detection": {"threshold": 3}}', "threshold"),
        ('{"text": {"transcript": "/etc/passwd"}}', "server path"),
        ('{"nope": 1}', "nope"),
    ]:
        with pytest.raises(ApiError) as err:
            parse_options(bad, base)
        assert err.value.status == 422 and words in err.value.message


def test_missing_extra_is_one_line():
    code = (
        "import sys; sys.modules['fastapi'] = None\nfrom affectlens.cli import main\nraise SystemExit(main(['serve']))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'affectlens[serve]'" in lines[0] and "fastapi" in lines[0]
