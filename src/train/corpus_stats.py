"""Corpus statistics for the data card: counts, lengths, registers, hard cases, industries."""

from collections.abc import Sequence

import pandas as pd
from triage.models.labels import CAUSES, LANGS
from triage.train.corpus import Example

LENGTH_BUCKETS = {"2-6 words": (0, 6), "7-34 words": (7, 34), "35+ words": (35, 10**9)}


def _frame(examples: Sequence[Example]) -> pd.DataFrame:
    rows = []
    for e in examples:
        tags = e.extra.get("tags") or []
        rows.append(
            {
                "lang": e.lang,
                "cause": e.cause,
                "troll": e.troll,
                "words": len(e.text.split()),
                "hard": any(str(t).startswith("hard:") for t in tags),
                "tags": [str(t) for t in tags],
                "industry": e.extra.get("industry", "unknown"),
                "source": e.source,
                "generated": e.is_generated,
                "wave": int(e.extra.get("wave", 1)),
                "register": e.extra.get("register") or "wave 1",
                "subcase": e.extra.get("subcase"),
            }
        )
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _share(mask: pd.Series) -> str:
    return f"{mask.mean():.0%}"


def _by_register(written: pd.DataFrame) -> str:
    rows = []
    for (lang, register), part in written.groupby(["lang", "register"], sort=False):
        row = {"lang": lang, "register": register}
        for cause in CAUSES:
            row[cause] = int(((part.cause == cause) & ~part.troll).sum())
        row["troll"] = int(part.troll.sum())
        row["total"] = len(part)
        rows.append(row)
    order = {lang: i for i, lang in enumerate(LANGS)}
    table = pd.DataFrame(rows).sort_values(
        ["lang", "register"], key=lambda c: c.map(order) if c.name == "lang" else c
    )
    return _markdown(table)


def corpus_tables(examples: Sequence[Example]) -> str:
    """Markdown tables describing the corpus (hand-written rows; variants counted apart)."""
    frame = _frame(examples)
    written = frame[frame.source != "augmented"]
    counts = []
    for lang in LANGS:
        part = written[written.lang == lang]
        row = {"lang": lang}
        for cause in CAUSES:
            row[cause] = int(((part.cause == cause) & ~part.troll).sum())
        row["troll (cause none)"] = int((part.troll & (part.cause == "none")).sum())
        row["troll (topic)"] = int((part.troll & (part.cause != "none")).sum())
        row["total"] = len(part)
        counts.append(row)
    sections = [
        "### Hand-written comments: language × cause (troll false) and trolls",
        _markdown(pd.DataFrame(counts)),
    ]
    shape = []
    for lang in LANGS:
        part = written[written.lang == lang]
        row = {"lang": lang, "hard cases": _share(part.hard)}
        for name, (low, high) in LENGTH_BUCKETS.items():
            row[name] = _share(part.words.between(low, high))
        for tag in (
            "translit",
            "latin_bg",
            "no_diacritics",
            "surzhyk",
            "texting",
            "non_native",
            "caps",
            "emoji",
            "profane",
        ):
            row[tag] = _share(part.tags.apply(lambda t, tag=tag: tag in t))
        shape.append(row)
    sections += [
        "### Lengths, hard cases and typing (share of each language's comments)",
        _markdown(pd.DataFrame(shape)),
    ]
    hard = written.explode("tags").tags.dropna()
    hard = hard[hard.str.startswith("hard:")].str.removeprefix("hard:").value_counts()
    sections += [
        "### Hard-case tags (a comment may carry several)",
        _markdown(hard.rename_axis("tag").reset_index(name="comments")),
    ]
    sections += ["### Registers: language × register × cause (troll false) and trolls", _by_register(written)]
    sections += [
        "### Hard cases by wave (share of each language's comments)",
        _markdown(
            written.groupby(["lang", "wave"])
            .hard.mean()
            .map("{:.0%}".format)
            .unstack("wave")
            .rename(columns=lambda w: f"wave {w}")
            .reindex(list(LANGS))
            .reset_index()
        ),
    ]
    subcases = written[written.subcase.notna() & ~written.troll]
    if not subcases.empty:
        per_lang = subcases.groupby(["cause", "subcase", "lang"]).size().unstack("lang", fill_value=0)
        sections += [
            "### Sub-cases (troll false; written for the reply policy)",
            _markdown(per_lang.reindex(columns=list(LANGS), fill_value=0).reset_index()),
        ]
    industries = written.industry.value_counts()
    sections += ["### Industries", _markdown(industries.rename_axis("industry").reset_index(name="comments"))]
    augmented = int((frame.source == "augmented").sum())
    respelled = int((frame.generated & (frame.source != "augmented")).sum())
    sections.append(
        f"Generated variants (`source: augmented`, train only): {augmented}. Comments re-spelled by a "
        f"program (marked `generated`, train only): {respelled}."
    )
    return "\n\n".join(sections) + "\n"
