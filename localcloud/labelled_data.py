"""New labelled records of a pipeline, as production would collect them: the local stand-in for its incoming feed.

    python -m localcloud.labelled_data [--pipeline P] --records 200 [--files 2] [--drift shift|relabel] [--bad 5]

Each record is a row of the pipeline's shipped span 1 with a little noise on its numbers (1%, kept inside the
schema's ranges and written with the source's precision), so an unchanged champion scores as it did.
`--drift shift` scales the first two numeric features (1.15 and 0.85: penguins' bills longer and shallower,
as a miscalibrated calliper would), `--drift relabel` changes the label (a classifier's first two classes
swapped, a regression's target times 1.5): both make the champion fall short and retrain. `--bad N` adds N
invalid records (a bad label, an empty value, an out-of-range number, a word for a number, a wrong field
count) for the quarantine. Files land the way a producer should write them: a hidden temporary name, then a
rename into `<local root>/data/<pipeline>/incoming/`. Formats vary per file (column order, BOM, CRLF), as
real feeds do. Everything comes from the pipeline's schema and span 1 (pipelines/<name>/).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from contracts.config import ConfigError, add_pipeline_argument, load_pipeline_environment
from contracts.data_layout import span_file, span_folder
from pipelines.sources import pipeline_sources
from release.datacheck.rules import Column, Rules, load_rules

SHIFT = (1.15, 0.85)
RELABEL_SCALE = 1.5


@dataclass(frozen=True)
class Feed:
    """What the generator knows of a pipeline: its rules (the schema), span 1's rows, each number's precision."""

    rules: Rules
    shipped: list[dict[str, str]]
    decimals: dict[str, int]

    @property
    def numeric(self) -> list[Column]:
        return [c for c in self.rules.columns if c.kind != "string" and c.name != self.rules.label]

    @property
    def label(self) -> Column:
        return next(c for c in self.rules.columns if c.name == self.rules.label)

    def bad(self) -> tuple[tuple[str, str], ...]:
        """(column, invalid value) of each kind of bad record, in turn."""
        label = self.label
        words = [c for c in self.rules.columns if c.kind == "string" and c.name != label.name]
        numeric = self.numeric
        return (
            (label.name, "not-a-class" if label.kind == "string" else "n/a"),
            ((words or numeric)[0].name, ""),
            (numeric[-1].name, _text(numeric[-1].maximum * 10 + 1, self.decimals.get(numeric[-1].name, 0))),
            (numeric[min(1, len(numeric) - 1)].name, "deep"),
        )


def _text(value: float, decimals: int) -> str:
    return str(round(value)) if decimals == 0 else f"{value:.{decimals}f}"


def feed(pipeline: str) -> Feed:
    sources = pipeline_sources(pipeline)
    rules = load_rules(sources.schema_file, sources.definition().LABEL)
    with open(sources.data_dir / span_folder(1) / span_file(pipeline), newline="") as source:
        shipped = list(csv.DictReader(source))
    decimals = {
        c.name: 0 if c.kind == "int" else max(len(row[c.name].partition(".")[2]) for row in shipped) or 1
        for c in rules.columns
        if c.kind != "string"
    }
    return Feed(rules, shipped, decimals)


def record_of(source: Feed, base: dict[str, str], rng: random.Random, drift: str | None) -> dict[str, str]:
    record = dict(base)
    shifted = {c.name: f for c, f in zip(source.numeric[: len(SHIFT)], SHIFT, strict=False)} if drift == "shift" else {}
    for column in source.numeric:
        value = float(base[column.name]) * rng.gauss(1.0, 0.01) * shifted.get(column.name, 1.0)
        record[column.name] = _text(min(max(value, column.minimum), column.maximum), source.decimals[column.name])
    if drift == "relabel":
        label = source.label
        if label.kind == "string":
            first, second = source.rules.classes[:2]
            record[label.name] = {first: second, second: first}.get(record[label.name], record[label.name])
        else:
            value = min(float(base[label.name]) * RELABEL_SCALE, label.maximum)
            record[label.name] = _text(value, source.decimals[label.name])
    return record


def file_bytes(
    records: list[dict[str, str]], rng: random.Random, bad: int, kinds: tuple[tuple[str, str], ...], first_kind: int = 0
) -> bytes:
    """The records as one CSV file, plus `bad` invalid ones of `kinds` (and a short row) from `first_kind` on."""
    columns = list(records[0])
    rng.shuffle(columns)  # any column order
    crlf = rng.random() < 0.5
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([record[c] for c in columns])
    for index in range(bad):
        kind = (first_kind + index) % (len(kinds) + 1)
        if kind == len(kinds):
            writer.writerow(["too", "few"])  # wrong number of fields
            continue
        column, value = kinds[kind]
        writer.writerow([value if c == column else records[index % len(records)][c] for c in columns])
    return (b"\xef\xbb\xbf" if rng.random() < 0.5 else b"") + out.getvalue().encode()


def land(incoming: Path, name: str, data: bytes) -> Path:
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / f".{name}.tmp"
    tmp.write_bytes(data)
    os.rename(tmp, incoming / name)
    return incoming / name


def generate(
    incoming: Path, records: int, files: int, drift: str | None, bad: int, seed: int, pipeline: str
) -> list[Path]:
    source = feed(pipeline)
    rng = random.Random(seed)
    stamp = f"{seed}-{os.getpid()}-{rng.getrandbits(32):08x}"
    landed = []
    bad_so_far = 0
    for index in range(files):
        count = records // files + (1 if index < records % files else 0)
        batch = [record_of(source, rng.choice(source.shipped), rng, drift) for _ in range(count)]  # count >= 1
        bad_here = bad // files + (1 if index < bad % files else 0)
        data = file_bytes(batch, rng, bad_here, source.bad(), bad_so_far)
        bad_so_far += bad_here
        landed.append(land(incoming, f"labelled-{stamp}-{index:03d}.csv", data))
    return landed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcloud.labelled_data", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    add_pipeline_argument(parser)
    parser.add_argument("--local-root", type=Path)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--drift", choices=("shift", "relabel"))
    parser.add_argument("--bad", type=int, default=0, help="invalid records to add, for the quarantine")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.records < 1 or args.files < 1 or args.bad < 0 or args.files > args.records:
        print("error: --records and --files must be >= 1, --files <= --records, --bad >= 0", file=sys.stderr)
        return 2
    try:
        config = load_pipeline_environment(args.env, args.pipeline)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if config.gcp is not None:
        print(f"error: {config.name}: labelled data is generated for the local data area only", file=sys.stderr)
        return 2
    incoming = Path(config.data_area("incoming", args.local_root))
    landed = generate(incoming, args.records, args.files, args.drift, args.bad, args.seed, config.dataset)
    print(f"{args.records} labelled records (+{args.bad} bad) in {len(landed)} file(s) -> {incoming}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
