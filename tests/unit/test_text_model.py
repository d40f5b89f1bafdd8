"""The TF-IDF text model on real dataset rows, its bad-input statuses and train/inference parity.

(The transformer model's tests are in test_text_transformer.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.eval.datasets.text import load_text_dataset
from affectlens.labels import CANONICAL
from affectlens.models.text import TextEmotionModel, char_ngrams, load_text_model, word_ngrams
from affectlens.registry import get_model_cfg


@pytest.fixture(scope="module")
def model() -> TextEmotionModel:
    return load_text_model("text-tfidf-lr")


def _rows(data_root, name: str, ids: list[str]):
    ds = load_text_dataset(name, "test", data_root)
    where = {i: k for k, i in enumerate(ds.ids)}
    idx = [where[i] for i in ids]
    return [ds.texts[k] for k in idx], [ds.contexts[k] for k in idx], [CANONICAL[ds.labels[k]] for k in idx]


# Clear cases from the test splits (the label given by the data set's annotators).
GOEMOTIONS_CLEAR = ["eesysv3", "ef6yq1b"]  # "Thats absolutely disgusting." / "You're disgusting" (disgust)
DAIR_CLEAR = [
    "test:186",
    "test:17",
    "test:751",
]  # "i feel terrified because my landlord ..." (fear), heartbroken (sadness x2)
MELD_CLEAR = [
    "dia21_utt5",
    "dia39_utt9",
    "dia29_utt11",
]  # "I love you Phoebe." (joy), "Oh my God! Monica!" (surprise), "Thank you for a delightful stay." (joy)


@pytest.mark.parametrize("name,ids", [("goemotions", GOEMOTIONS_CLEAR), ("dair", DAIR_CLEAR), ("meld", MELD_CLEAR)])
def test_clear_real_rows_get_their_label(model, data_root, name, ids):
    texts, contexts, gold = _rows(data_root, name, ids)
    results = model.predict(texts, contexts)
    assert [r.status for r in results] == ["ok"] * len(ids)
    assert [r.label for r in results] == gold
    for r in results:
        assert r.labels == CANONICAL and len(r.probs) == 8
        assert abs(sum(r.probs) - 1) < 1e-6 and min(r.probs) >= 0
        assert r.as_dict()["contempt"] == 0.0  # no training data has contempt


def test_beats_chance_on_real_tweets(model, data_root):
    """A sanity floor on 300 dair-ai test rows; the real numbers are in benchmarks/results/text.json."""
    ds = load_text_dataset("dair", "test", data_root)
    p = model.predict_proba(ds.texts[:300])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert (p.argmax(axis=1) == ds.labels[:300]).mean() > 0.75  # majority class ~0.43


def test_context_changes_the_answer_and_is_optional(model):
    text = "Really?"
    alone = model.predict_proba([text])
    with_ctx = model.predict_proba([text], ["We won the lottery! A million dollars!"])
    assert not np.allclose(alone, with_ctx)
    np.testing.assert_allclose(model.predict_proba([text], [""]), alone)


def test_batch_and_order_do_not_matter(model, data_root):
    ds = load_text_dataset("meld", "test", data_root)
    texts, ctx = list(ds.texts[:20]), list(ds.contexts[:20])
    p = model.predict_proba(texts, ctx)
    np.testing.assert_allclose(model.predict_proba(texts[::-1], ctx[::-1])[::-1], p)
    np.testing.assert_allclose(model.predict_proba(texts[:1], ctx[:1]), p[:1])
    assert model.predict_proba([]).shape == (0, 8)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "...", "?!"])
def test_empty_text_has_no_label(model, text):
    (r,) = model.predict([text])
    assert r.status == "empty" and r.label is None and r.probs == () and r.as_dict() == {}


NON_ENGLISH = [
    ("fr", "Je suis tellement heureux de te voir aujourd'hui, merci beaucoup."),
    ("de", "Ich bin heute sehr traurig, weil mein Hund gestorben ist."),
    ("es", "Estoy muy enojado con mi hermano porque rompió mi teléfono."),
    ("ru", "Я очень рад тебя видеть"),
    ("zh", "我今天很高兴"),
]


@pytest.mark.parametrize("code,text", NON_ENGLISH)
def test_non_english_is_unsupported(model, code, text):
    (r,) = model.predict([text])
    assert r.status == "unsupported language" and r.label is None and r.probs == ()
    assert r.language == code


@pytest.mark.parametrize(
    "text", ["ok", "lol", "no way", "What?", "Oh.", "Hmm", "wtf", "Yes!", "You're a genius!", "ugh", "I am so happy"]
)
def test_short_english_is_not_called_foreign(model, text):
    (r,) = model.predict([text])
    assert r.status == "ok" and r.label in CANONICAL


def test_one_bad_text_does_not_spoil_the_others(model):
    results = model.predict(["I am so happy today!", "", "Je suis très triste aujourd'hui, vraiment.", "I hate you"])
    assert [r.status for r in results] == ["ok", "empty", "unsupported language", "ok"]
    assert results[0].label == "happiness" and results[3].label == "anger"
    assert [r.language for r in results] == ["en", "", "fr", "en"]


def test_language_check_can_be_skipped():
    cfg = get_model_cfg("text-tfidf-lr", kind="text")
    (r,) = TextEmotionModel(cfg, check_language=False).predict(["Je suis très triste aujourd'hui, vraiment."])
    assert r.status == "ok" and r.language == ""


def test_rejects_a_bare_string_and_non_strings(model):
    with pytest.raises(TypeError, match="list of texts"):
        model.predict("I am happy")
    with pytest.raises(TypeError, match="texts must be str"):
        model.predict([None])
    with pytest.raises(ValueError, match="2 texts but 1 contexts"):
        model.predict(["a", "b"], ["c"])


def test_analyzers():
    assert word_ngrams("I’m SO happy!!") == ["i'm", "so", "happy", "!", "!", "i'm so", "so happy", "happy !", "! !"]
    assert char_ngrams("Hi") == [" h", "hi", "i ", " hi", "hi ", " hi "]


@pytest.mark.slow
def test_export_matches_sklearn(tmp_path, data_root):
    """Training code and numpy inference give the same probabilities (small real sample)."""
    pytest.importorskip("sklearn", reason="training the text model needs the [train] extra (scikit-learn)")
    import json

    from sklearn.linear_model import LogisticRegression

    from affectlens.registry import load_models_json
    from affectlens.train.text import (
        TextTrainConfig,
        build_vectorizers,
        export_npz,
        featurize,
        load_split,
        write_models_json,
    )

    data = {k: v[:400] for k, v in load_split(["meld"], "val", data_root).items()}
    cfg = TextTrainConfig(name="tiny-text", min_df={"word": 1, "char": 1, "ctx": 1})
    vecs = build_vectorizers(cfg)
    x = featurize(vecs, data, cfg.ctx_weight, fit=True)
    clf = LogisticRegression(C=1.0, max_iter=100).fit(x, data["y"])
    export_npz(tmp_path / "tiny-text.npz", vecs, clf, cfg.ctx_weight)
    write_models_json(tmp_path, "tiny-text", 1.0)
    (tmp_cfg,) = load_models_json(tmp_path / "models.json")
    assert json.loads((tmp_path / "models.json").read_text())["models"][0]["kind"] == "text"
    ours = TextEmotionModel(tmp_cfg, check_language=False)
    p = ours.predict_proba(data["texts"][:200], data["contexts"][:200])
    expected = clf.predict_proba(x[:200])  # float16 coefficients in the npz: small tolerance
    np.testing.assert_allclose(p[:, [CANONICAL.index(c) for c in tmp_cfg.labels]], expected, atol=2e-3)


def test_transcript_segments_use_the_previous_turns(tmp_path):
    from affectlens.pipeline.text import analyze_transcript, dialogue_contexts

    assert dialogue_contexts(["a", "b", " ", "d"]) == ["", "a", "a | b", "b"]
    path = tmp_path / "t.vtt"
    path.write_text(
        "WEBVTT\n\n00:00.000 --> 00:01.500\n<v Ann>We got the house! They said yes!\n\n"
        "00:01.500 --> 00:02.000\n<v Bob>Really?\n",
        encoding="utf-8",
    )
    first, second = analyze_transcript(path)
    assert (second.segment.start_ms, second.segment.end_ms, second.segment.speaker) == (1500, 2000, "Bob")
    model = load_text_model()
    np.testing.assert_allclose(
        second.result.probs,
        model.predict_proba(["Really?"], ["We got the house! They said yes!"])[0],
        rtol=1e-5,  # float32 sums differ in the last bits between runs on some CPUs (AVX2: 2.4e-7)
    )
    assert first.result.label == "happiness"


@pytest.mark.slow
def test_train_smoke_exports_a_registered_model(tmp_path, data_root):
    """The whole training entry point on a few hundred real rows per data set."""
    pytest.importorskip("sklearn", reason="training the text model needs the [train] extra (scikit-learn)")
    import json

    from affectlens.registry import load_models_json
    from affectlens.train.text import main as train_main

    out = tmp_path / "text"
    assert train_main(["--data-root", str(data_root), "--out", str(out), "--c", "1", "--limit", "300"]) == 0
    log = json.loads((out / "training_log.json").read_text())
    assert (
        log["chosen_C"] == 1.0
        and log["temperature"] > 0
        and set(log["history"][0]["val"]) == {"goemotions", "dair", "meld"}
    )
    (cfg,) = load_models_json(out / "models.json")
    assert cfg.kind == "text" and "contempt" not in cfg.labels
    (r,) = TextEmotionModel(cfg, check_language=False).predict(["I am so happy"])
    assert r.ok and abs(sum(r.probs) - 1) < 1e-9
