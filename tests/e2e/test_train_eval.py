"""A small real training run end to end, and `affectlens eval` on the real test splits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from affectlens.cli import main
from affectlens.labels import FER2013_LABELS


@pytest.mark.slow
def test_train_one_epoch_exports_working_onnx(tmp_path, data_root, photos):
    pytest.importorskip("torch", reason="training needs the [train] extra (torch)")
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--out",
            str(out),
            "--epochs",
            "1",
            "--limit-train",
            "320",
            "--limit-val",
            "200",
            "--data-root",
            str(data_root),
            "--name",
            "ferplus-smoke",
        ]
    )
    assert rc == 0
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 1 and 0 <= metrics[0]["ferplus_acc"] <= 1
    assert (out / "last.pt").is_file() and (out / "best.pt").is_file()
    # resuming a finished run trains nothing more and keeps the log
    assert (
        main(
            [
                "train",
                "--out",
                str(out),
                "--epochs",
                "1",
                "--limit-train",
                "320",
                "--limit-val",
                "200",
                "--data-root",
                str(data_root),
                "--name",
                "ferplus-smoke",
                "--no-export",
            ]
        )
        == 0
    )
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1

    from affectlens.models.expression import ExpressionModel
    from affectlens.registry import load_models_json

    cfgs = {c.name: c for c in load_models_json(out / "export" / "models.json")}
    assert set(cfgs) == {"ferplus-smoke", "fer2013-smoke"}
    # each ONNX file is self-contained: its weights are inside, not in a .onnx.data beside it
    assert not list((out / "export").glob("*.data"))
    from affectlens.eval.datasets import read_fer2013

    _, pixels, usage = read_fer2013(data_root)
    p = ExpressionModel(cfgs["ferplus-smoke"]).predict(pixels[usage == "PrivateTest"][:8])
    assert p.shape == (8, 8)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    tpl = np.asarray(cfgs["ferplus-smoke"].template)
    assert tpl.shape == (5, 2) and 10 < tpl[0, 0] < 20 and 28 < tpl[1, 0] < 38  # eyes where FER2013 has them

    # two exported networks merge into one ONNX ensemble whose logits are the members' mean
    import shutil

    from affectlens.train.ensemble import main as ensemble_main

    twin = tmp_path / "twin"
    shutil.copytree(out / "export", twin)
    assert (
        ensemble_main(
            [
                "--members",
                str(out / "export"),
                str(twin),
                "--out",
                str(tmp_path / "ens"),
                "--name",
                "ferplus-smoke2",
                "--data-root",
                str(data_root),
                "--no-flip",
            ]
        )
        == 0
    )
    ens = {c.name: c for c in load_models_json(tmp_path / "ens" / "models.json")}
    assert set(ens) == {"ferplus-smoke2", "fer2013-smoke2"} and not ens["ferplus-smoke2"].flip_tta
    crops = pixels[usage == "PrivateTest"][:8]
    single, merged = ExpressionModel(cfgs["ferplus-smoke"]), ExpressionModel(ens["ferplus-smoke2"])
    x = single.preprocess(crops)
    raw = single.session.run(["ferplus_logits"], {single.input_name: x})[0]  # no mirror averaging
    np.testing.assert_allclose(merged.forward(x), raw, atol=1e-4)


def _eval_json(*args: str) -> dict:
    p = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "eval", *args, "--json"], capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.slow
def test_training_starts_from_the_shipped_network_exactly(data_root):
    """init_onnx: the shipped float32 export, batch norms folded, taken back into torch gives the
    same logits as onnxruntime on real PublicTest faces, and training leaves its frozen batch
    norms alone (fine-tuning starts from the shipped model, not from a perturbed one)."""
    torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")
    from affectlens.models.landmarks import weights_path as mesh_weights
    from affectlens.models.runtime import onnx_session
    from affectlens.registry import get_model_cfg
    from affectlens.train.loop import FerData, normalise
    from affectlens.train.model import ExpressionNet, freeze_batch_norm

    onnx_file = get_model_cfg("fer2013-lite0").path
    x = normalise(torch, torch.from_numpy(FerData(data_root, "val", limit=64).pixels)[:, None])
    want = onnx_session(onnx_file).run(None, {"crop": x.numpy()})
    net = ExpressionNet(80, pretrained=False)
    net.load_folded_onnx(onnx_file)
    with torch.no_grad():
        got = [t.numpy() for t in net.eval()(x)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-4)
        assert (g.argmax(1) == w.argmax(1)).all()
    # a training step's forward pass leaves the frozen batch norms (the folded biases) alone
    net.train()
    freeze_batch_norm(net)
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    net(x)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    with pytest.raises(ValueError, match="not an export of it"):
        ExpressionNet(80, pretrained=False).load_folded_onnx(mesh_weights())


def test_eval_fer2013_scores_the_default_networks_7_class_head_with_dedup():
    from affectlens.registry import default_model_name, get_model_cfg, sibling_head

    default = get_model_cfg(default_model_name())
    head7 = sibling_head(default.name, FER2013_LABELS)
    assert head7 != default.name  # the default network has a 7-class head, and eval scores it
    r = _eval_json("--dataset", "fer2013", "--split", "test", "--dedup")
    for key in ("n", "accuracy", "macro_f1", "balanced_accuracy", "ece", "labels", "per_class", "confusion"):
        assert key in r
    assert r["n"] == 3589 - 288 and r["removed_duplicates"] == 288
    assert r["model"] == head7 and not r["left_out_classes"]
    assert len(r["labels"]) == 7 and np.asarray(r["confusion"]).sum() == r["n"]
    assert 0.0 <= r["ece"] <= 1.0 and r["accuracy"] > 0.5


def test_eval_folder_dataset(fer, tmp_path):
    from PIL import Image

    emotion, pixels, usage = fer
    test = np.flatnonzero(usage == "PrivateTest")
    for folder, label in (("happy", 3), ("surprised", 5)):
        (tmp_path / folder).mkdir()
        for r in test[emotion[test] == label][:20]:
            Image.fromarray(pixels[r]).save(tmp_path / folder / f"{r}.png")
    r = _eval_json("--dataset", f"folder:{tmp_path}")
    assert r["n"] == 40 and r["labels"] == ["happiness", "surprise"]
    assert r["accuracy"] > 0.7
    text = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "eval", "--dataset", f"folder:{tmp_path}"],
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    assert "confusion" in text and "present-only" in text


@pytest.mark.slow
def test_speech_cnn_trains_exports_and_runs_like_torch(data_root, tmp_path):
    """The spectrogram recipe end to end on two real actors: augmentation, training with
    variable-length clips, ONNX export, and the exported file through SpeechModel."""
    torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")
    from affectlens.eval.datasets.ravdess import load_ravdess
    from affectlens.models.speech import SPEECH_LABELS, SpeechModel, power_spectrogram
    from affectlens.registry import ModelCfg
    from affectlens.train import speech_cnn as sc

    data = load_ravdess(data_root / "ravdess")
    pick = np.flatnonzero(np.isin(data.actors, (1, 2)))[::4]
    from affectlens.detect.vad import SileroVAD
    from affectlens.io.audio import load_audio
    from affectlens.train.speech import trim_to_speech

    vad = SileroVAD()
    clips = [trim_to_speech(load_audio(data.paths[i]).samples, vad) for i in pick]
    rng = np.random.default_rng(0)
    view = sc.augment(clips[0], sc.CnnRecipe(noise_p=1.0, narrow_p=1.0, clip_p=0.0), rng)
    assert np.isfinite(view).all() and len(view) <= 3 * 16000
    assert np.abs(np.fft.rfft(view)[len(view) // 4 + 1 :]).max() < 1e-3  # telephone band: nothing above 4 kHz

    net = sc.train_net(clips, data.labels[pick], sc.CnnRecipe(epochs=1, batch=8), progress=False)
    onnx_path = tmp_path / "cnn.onnx"
    sc.export_onnx(net, onnx_path)
    assert [p.name for p in tmp_path.glob("cnn.onnx*")] == ["cnn.onnx"]  # weights inside, no .onnx.data
    cfg = ModelCfg(
        name="tiny-cnn",
        kind="speech",
        file=onnx_path.name,
        labels=SPEECH_LABELS,
        output=sc.OUTPUT,
        band="any",
        input="spectrogram",
        folder=str(tmp_path),
    )
    model = SpeechModel(cfg)
    p = model.predict(clips[:3])
    assert p.shape == (3, 8) and np.allclose(p.sum(axis=1), 1)
    with torch.no_grad():
        ref = torch.softmax(net(torch.from_numpy(power_spectrogram(clips[1])[None])), dim=1).numpy()
    np.testing.assert_allclose(p[1], ref[0], atol=1e-5)  # ONNX = torch, for any clip length


@pytest.mark.slow
def test_distillation_pulls_the_student_towards_its_teacher(tmp_path, data_root):
    """teacher_onnx + distill_weight: two short fine-tunes of the shipped default network on the same
    real faces, in the same order, one distilling from the shipped robust network: the distilled
    one ends closer to that teacher on held-out validation faces (both heads), and the other one
    does not use the teacher at all (its weights do not depend on it)."""
    torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")
    import torch.nn.functional as F

    from affectlens.registry import get_model_cfg
    from affectlens.train.config import TrainConfig
    from affectlens.train.loop import FerData, OnnxTeacher, normalise, train
    from affectlens.train.model import ExpressionNet

    # the float32 default (an int8 file's convolutions are not plain weights) and the robust int8 file
    student = str(Path(get_model_cfg("ferplus-lite0").path).with_name("ferplus-lite0.onnx"))
    teacher = str(get_model_cfg("ferplus-lite0-robust").path)
    x = normalise(torch, torch.from_numpy(FerData(data_root, "val", limit=400).pixels)[:, None])
    t8, t7 = (torch.from_numpy(t) for t in OnnxTeacher([teacher], 2)(x.numpy()))

    def fine_tune(name: str, **distil) -> tuple[float, float]:
        cfg = TrainConfig(
            init_onnx=student, epochs=1, limit_train=384, limit_val=64, lr=3e-4, warmup_epochs=0.0, **distil
        )
        train(cfg, data_root, tmp_path / name, progress=False)
        net = ExpressionNet(cfg.net_size, cfg.dropout, pretrained=False)
        net.load_folded_onnx(student)
        net.load_state_dict(torch.load(tmp_path / name / "last.pt", weights_only=False)["model"])
        with torch.no_grad():
            s8, s7 = net.eval()(x)
        kl = [
            F.kl_div(F.log_softmax(s, 1), F.log_softmax(t, 1), log_target=True, reduction="batchmean").item()
            for s, t in ((s8, t8), (s7, t7))
        ]
        return kl[0], kl[1]

    plain = fine_tune("plain")
    distilled = fine_tune("distilled", teacher_onnx=(teacher,), distill_weight=1.0)
    assert distilled[0] < plain[0] and distilled[1] < plain[1], (plain, distilled)
    # a teacher with distill_weight 0 is not used: the run is the plain one exactly
    unused = fine_tune("unused", teacher_onnx=(teacher,), distill_weight=0.0)
    assert unused == plain
