"""Every registered model obeys its kind's contract (a new model gets every check)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectlens.labels import CANONICAL
from affectlens.models.expression import ExpressionModel
from affectlens.registry import default_model_name, get_model_cfg, list_models

MODELS = [c.name for c in list_models("expression")]
TEXT_MODELS = [c.name for c in list_models("text")]
SPEECH_MODELS = [c.name for c in list_models("speech")]


def test_every_model_is_checked_by_a_contract():
    assert {c.name for c in list_models()} == set(MODELS) | set(TEXT_MODELS) | set(SPEECH_MODELS)


def test_registry_has_a_default():
    assert default_model_name() in MODELS
    assert default_model_name("text") in TEXT_MODELS


def test_every_model_has_a_known_kind():
    from affectlens.registry import KINDS

    assert {c.kind for c in list_models()} <= set(KINDS)
    assert SPEECH_MODELS, "no speech model registered"


@pytest.mark.parametrize("name", MODELS)
def test_config_is_complete(name):
    cfg = get_model_cfg(name)
    assert cfg.path.is_file()
    assert set(cfg.labels) <= set(CANONICAL) and len(set(cfg.labels)) == len(cfg.labels)
    assert cfg.licence and cfg.description
    card = Path(cfg.folder) / cfg.card
    assert card.is_file(), f"{name}: model card {card} missing"
    t = np.asarray(cfg.template)
    assert ((t > 0) & (t < cfg.input_size)).all()
    assert t[0, 0] < t[1, 0] and t[3, 0] < t[4, 0]  # left/right order of eyes and mouth corners
    assert t[0, 1] < t[2, 1] < t[3, 1]  # eyes above nose above mouth


@pytest.mark.parametrize("name", MODELS)
def test_outputs_are_distributions_and_deterministic(name, fer):
    cfg = get_model_cfg(name)
    model = ExpressionModel(cfg, threads=1)
    _, pixels, usage = fer
    crops = pixels[usage == "PrivateTest"][:16]
    if cfg.colour == "rgb":
        crops = np.repeat(crops[..., None], 3, axis=-1)
    p = model.predict(crops)
    assert p.shape == (16, len(cfg.labels))
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(model.predict(crops), p, atol=1e-6)  # deterministic
    np.testing.assert_allclose(model.predict(crops[:1]), p[:1], atol=1e-5)  # batch size does not matter
    assert model.predict(crops[:0]).shape == (0, len(cfg.labels))


@pytest.mark.parametrize("name", MODELS)
def test_rejects_wrong_crop_shape(name):
    model = ExpressionModel(get_model_cfg(name), threads=1)
    with pytest.raises(ValueError, match="expects crops of shape"):
        model.preprocess(np.zeros((1, 17, 17), np.uint8))


@pytest.mark.parametrize("name", MODELS)
def test_beats_chance_on_real_faces(name, data_root):
    """A sanity floor on 300 real FER2013 validation faces; the real numbers are in benchmarks/."""
    from affectlens import Analyzer, Options
    from affectlens.eval.datasets import load_fer2013
    from affectlens.eval.protocol import evaluate

    fs = load_fer2013(data_root, "val")
    small = type(fs)(**{**fs.__dict__, "images": fs.images[:300], "labels": fs.labels[:300], "ids": fs.ids[:300]})
    report = evaluate(Analyzer(Options().replace(model=name, crop_mode="face")), small, progress=False)
    assert report.accuracy > 0.45  # chance is ~0.25 (majority class)


def test_unknown_model_lists_available():
    with pytest.raises(ValueError, match="unknown model 'nope'; available: .*" + MODELS[0]):
        get_model_cfg("nope")


# -- text models -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", TEXT_MODELS)
def test_text_config_is_complete(name):
    cfg = get_model_cfg(name, kind="text")
    if cfg.engine == "ensemble":  # no file of its own: registered members with weights
        assert all(get_model_cfg(m, kind="text").labels == cfg.labels for m in cfg.members)
        assert sum(cfg.member_weights) == pytest.approx(1) and (Path(cfg.folder) / cfg.card).is_file()
        assert cfg.licence and cfg.description
        return
    assert cfg.path.is_file() and cfg.path.suffix == {"tfidf": ".npz", "transformer": ".onnx"}[cfg.engine]
    if cfg.engine == "transformer":
        assert (Path(cfg.folder) / cfg.tokenizer).is_file()
        assert cfg.max_tokens >= cfg.max_text_tokens + 2 > 2
    assert set(cfg.labels) <= set(CANONICAL) and len(set(cfg.labels)) == len(cfg.labels)
    assert cfg.licence and cfg.description
    assert (Path(cfg.folder) / cfg.card).is_file(), f"{name}: model card missing"
    assert cfg.path.stat().st_size < (
        10_000_000 if cfg.engine == "tfidf" else 25_000_000
    )  # committed weights stay small


@pytest.mark.parametrize("name", TEXT_MODELS)
def test_text_outputs_are_distributions_and_deterministic(name, data_root):
    from affectlens.eval.datasets.text import load_text_dataset
    from affectlens.models.text import create_text_model

    model = create_text_model(get_model_cfg(name, kind="text"), check_language=False)
    ds = load_text_dataset("goemotions", "test", data_root)
    texts = list(ds.texts[:32])
    p = model.predict_proba(texts)
    assert p.shape == (32, len(CANONICAL))
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(model.predict_proba(texts), p)
    np.testing.assert_allclose(model.predict_proba(texts[:1]), p[:1], atol=1e-6)  # float32 batch padding
    missing = [CANONICAL.index(c) for c in CANONICAL if c not in model.labels]
    assert (p[:, missing] == 0).all()
    results = model.predict(texts)
    assert all(r.status == "ok" and r.label == CANONICAL[int(np.argmax(r.probs))] for r in results)


@pytest.mark.parametrize("name", TEXT_MODELS)
def test_text_beats_chance_on_real_texts(name, data_root):
    """A sanity floor on 500 GoEmotions test rows; the real numbers are in benchmarks/results/text.json."""
    from affectlens.eval.datasets.text import load_text_dataset
    from affectlens.models.text import create_text_model

    model = create_text_model(get_model_cfg(name, kind="text"), check_language=False)
    ds = load_text_dataset("goemotions", "test", data_root)
    pred = model.predict_proba(ds.texts[:500]).argmax(axis=1)
    hit = ds.multi[np.arange(500), pred]
    assert hit.mean() > 0.5  # the majority group (happiness) is ~0.38


def test_kinds_are_not_mixed():
    with pytest.raises(ValueError, match="is of kind 'expression', not 'text'"):
        get_model_cfg(MODELS[0], kind="text")
    with pytest.raises(ValueError, match="unknown model kind 'audio'; valid: expression, speech, text"):
        default_model_name("audio")


# -- speech --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def speech_clips(data_root):
    """One real RAVDESS utterance per emotion (actor 3), decoded to 16 kHz mono and trimmed to
    its speech by the voice activity detector, as at inference."""
    from affectlens.detect.vad import SileroVAD
    from affectlens.io.audio import load_audio
    from affectlens.train.speech import trim_to_speech

    folder, vad = data_root / "ravdess" / "Actor_03", SileroVAD()
    return [trim_to_speech(load_audio(folder / f"03-01-{e:02d}-01-01-01-03.flac").samples, vad) for e in range(1, 9)]


@pytest.mark.parametrize("name", SPEECH_MODELS)
def test_speech_config_is_complete(name):
    from affectlens.models.speech import RAVDESS_TO_CANONICAL

    cfg = get_model_cfg(name, kind="speech")
    assert cfg.path.is_file() and cfg.path.stat().st_size < 5_000_000
    assert set(cfg.labels) <= set(RAVDESS_TO_CANONICAL) and len(set(cfg.labels)) == len(cfg.labels)
    assert {RAVDESS_TO_CANONICAL[label] for label in cfg.labels} <= set(CANONICAL)  # every label maps somewhere
    assert cfg.licence and cfg.description and (Path(cfg.folder) / cfg.card).is_file()
    assert cfg.band in ("full", "narrow", "any") and cfg.input in ("features", "spectrogram")
    assert 0.125 < cfg.metrics["ravdess_actor_kfold_acc"] <= 1 and 0 <= cfg.metrics["ravdess_actor_kfold_ece"] <= 1


@pytest.mark.parametrize("name", SPEECH_MODELS)
def test_speech_outputs_are_distributions_and_deterministic(name, speech_clips):
    from affectlens.models.speech import N_BINS, N_FEATURES, SpeechModel, power_spectrogram

    model = SpeechModel(name)
    p = model.predict(speech_clips)
    assert p.shape == (8, len(model.labels)) and np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(model.predict(speech_clips), p, atol=1e-6)
    np.testing.assert_allclose(model.predict(speech_clips[:1]), p[:1], atol=1e-5)  # batch size does not matter
    assert model.predict([]).shape == (0, len(model.labels))
    if model.cfg.input == "features":
        with pytest.raises(ValueError, match=f"expects features of shape \\(N, {N_FEATURES}\\)"):
            model.predict_features(np.zeros((1, 5), np.float32))
        with pytest.raises(ValueError, match="reads feature vectors, not spectrograms"):
            model.predict_spectrogram(power_spectrogram(speech_clips[0]))
    else:
        with pytest.raises(ValueError, match=f"expects a \\({N_BINS}, frames\\) spectrogram"):
            model.predict_spectrogram(np.zeros((5, 10), np.float32))
        with pytest.raises(ValueError, match="reads spectrograms, not feature vectors"):
            model.predict_features(np.zeros((1, N_FEATURES), np.float32))
    # the export is wired right: the final model saw these clips in training, so it must get
    # most of them (this is not an accuracy claim; see benchmarks/speech_accuracy.py)
    assert (p.argmax(axis=1) == np.arange(8)).mean() >= 0.5


def test_default_speech_model_needs_no_librosa_and_the_svm_names_its_extra(monkeypatch, speech_clips):
    """The default [audio] install has no librosa: the default model still runs on real clips,
    and an SVM model asked for there says which extra to install, in one line."""
    import sys

    from affectlens.models.speech import SpeechModel, default_speech_model_name

    monkeypatch.setitem(sys.modules, "librosa", None)  # import librosa now raises ImportError
    default = SpeechModel(default_speech_model_name())
    assert default.cfg.input == "spectrogram" and default.predict(speech_clips[:2]).shape == (2, 8)
    with pytest.raises(ImportError, match=r"pip install 'affectlens\[audio-features\]'") as err:
        SpeechModel("ravdess-svm").predict(speech_clips[:1])
    assert "\n" not in str(err.value)


def test_power_spectrogram_frames_like_torch_stft(speech_clips):
    """The numpy front end of the spectrogram models matches torch.stft (what they were trained on
    is the same numpy function; this pins its framing to the documented convention)."""
    torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")
    from affectlens.models.speech import HOP, N_FFT, loudness_normalise, power_spectrogram

    y = speech_clips[0]
    ours = power_spectrogram(y)
    ref = (
        torch.stft(
            torch.from_numpy(loudness_normalise(y)),
            N_FFT,
            HOP,
            window=torch.hann_window(N_FFT),
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        .abs()
        .pow(2)
        .numpy()
    )
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-6 * ref.max())


def test_models_of_the_wrong_kind_are_refused():
    from affectlens.models.speech import SpeechModel

    with pytest.raises(ValueError, match=f"'{SPEECH_MODELS[0]}' is of kind 'speech', not an expression model"):
        ExpressionModel(get_model_cfg(SPEECH_MODELS[0], kind="speech"))
    with pytest.raises(ValueError, match="'ferplus-lite0' is of kind 'expression', not 'speech'"):
        SpeechModel("ferplus-lite0")
