"""A reply review you can repeat: sample comments per language from a split (40 by default, half of
them from wave 2's registers when there are enough), score them with a model folder, and write a
review sheet for a reader who did not write the templates.

Each row has the comment, the predicted labels, sub-case, priority, action and reply, and empty
judgement fields (action_right, on_topic, practice_followed, postable) to fill in with true/false.
The sample is seeded, so the same split and seed give the same sheet.

    .venv/bin/python benchmarks/reply_review.py --model artifacts/model \
        [--split data/processed/test.jsonl] [--per-language 40] [--out reports/reply_review]
writes OUT.jsonl (for a script to total) and OUT.md (for a person to read). Several --split
files are read as one (the real comments: ../shared/benchmark/real_*.jsonl, with --out under
reports/benchmark/, which git ignores: those texts never enter the project).

    .venv/bin/python benchmarks/reply_review.py --totals OUT.jsonl [--totals-out OUT.totals.json]
totals a judged sheet: the share of true per judgement and language (`postable` over the rows
with a reply; a judgement left empty is counted as missing, not as false).
"""

import argparse
import json
import random
from pathlib import Path

from triage.models.labels import LANGS
from triage.serve.predictor import Predictor

JUDGEMENTS = ("action_right", "on_topic", "practice_followed", "postable")


def sample(rows: list[dict], per_language: int, seed: int) -> list[dict]:
    """Per language: half from wave 2 (the new registers) where there are enough, the rest from the others."""
    rng = random.Random(seed)
    chosen = []
    for lang in LANGS:
        mine = [r for r in rows if r["lang"] == lang]
        wave2 = [r for r in mine if r.get("wave") == 2]
        older = [r for r in mine if r.get("wave") != 2]
        take2 = min(len(wave2), per_language // 2 if older else per_language)
        picked = rng.sample(wave2, take2)
        picked += rng.sample(older, min(len(older), per_language - take2))
        chosen += picked
    return chosen


def review_rows(predictor: Predictor, rows: list[dict]) -> list[dict]:
    predictions = predictor.predict([r["text"] for r in rows], ids=[r.get("id") for r in rows])
    sheet = []
    for row, p in zip(rows, predictions, strict=True):
        sheet.append(
            {
                "id": row.get("id"),
                "lang": row["lang"],
                "register": row.get("register"),
                "comment": row["text"],
                "true": {"cause": row.get("cause"), "troll": row.get("troll"), "subcase": row.get("subcase")},
                "predicted": {"lang": p.lang, "cause": p.cause, "troll": p.troll, "subcase": p.subcase},
                "priority": p.priority,
                "action": p.action,
                "reason": p.reason,
                "reply": p.reply,
                **dict.fromkeys(JUDGEMENTS),
            }
        )
    return sheet


def markdown(sheet: list[dict], model: str) -> str:
    lines = [
        f"# Reply review sheet ({model})",
        "",
        "For each comment mark action_right, on_topic, practice_followed (acknowledge, apologise for",
        'complaints, concrete next step with a time, no bare "contact support") and postable (unedited).',
        "",
    ]
    for i, row in enumerate(sheet, start=1):
        predicted = row["predicted"]
        lines += [
            f"## {i}. {row['id']} [{row['lang']}, {row['register'] or 'wave 1'}]",
            "",
            "> " + row["comment"].replace("\n", "\n> "),
            "",
            f"- predicted: {predicted['cause']} / {predicted['subcase'] or '-'}; troll {predicted['troll']};"
            f" priority {row['priority']}",
            f"- action: **{row['action']}**" + (f" ({row['reason']})" if row["reason"] else ""),
            "",
            "```text",
            row["reply"] or "(no reply)",
            "```",
            "",
            "- [ ] action_right  - [ ] on_topic  - [ ] practice_followed  - [ ] postable",
            "",
        ]
    return "\n".join(lines)


def totals(sheet: list[dict]) -> dict:
    """Per language and overall: n, and for each judgement the share judged true."""
    groups: dict[str, list[dict]] = {"all": sheet}
    for row in sheet:
        groups.setdefault(row["lang"], []).append(row)
    out = {}
    for name, rows in groups.items():
        summary: dict = {"n": len(rows), "with_reply": sum(bool(r["reply"]) for r in rows)}
        for judgement in JUDGEMENTS:
            pool = [r for r in rows if r["reply"]] if judgement != "action_right" else rows
            judged = [r[judgement] for r in pool if r[judgement] is not None]
            summary[judgement] = round(sum(map(bool, judged)) / len(judged), 3) if judged else None
            summary[f"{judgement}_missing"] = len(pool) - len(judged)
        out[name] = summary
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model folder or MLflow URI")
    parser.add_argument("--totals", type=Path, help="a judged sheet (.jsonl) to total instead")
    parser.add_argument("--totals-out", type=Path)
    parser.add_argument("--split", type=Path, nargs="+", default=[Path("data/processed/test.jsonl")])
    parser.add_argument("--per-language", type=int, default=40)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--out", type=Path, default=Path("reports/reply_review"))
    args = parser.parse_args()
    if args.totals:
        sheet = [
            json.loads(line) for line in args.totals.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        result = json.dumps(totals(sheet), indent=1)
        (args.totals_out or args.totals.with_suffix(".totals.json")).write_text(result + "\n")
        print(result)
        return
    if not args.model:
        parser.error("--model is needed to write a sheet")
    rows = [
        json.loads(line)
        for split in args.split
        for line in split.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    sheet = review_rows(Predictor.load(args.model), sample(rows, args.per_language, args.seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.with_suffix(".jsonl").open("w", encoding="utf-8") as handle:
        for row in sheet:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    args.out.with_suffix(".md").write_text(markdown(sheet, args.model), encoding="utf-8")
    print(f"wrote {len(sheet)} rows to {args.out.with_suffix('.jsonl')} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
