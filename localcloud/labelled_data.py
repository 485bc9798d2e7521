"""New labelled penguins, as production would collect them: the local stand-in for the incoming data feed.

    python -m localcloud.labelled_data --records 200 [--files 2] [--drift shift|relabel] [--bad 5] [--seed 1]

Each record is a shipped span-1 penguin with a little measurement noise, so an unchanged champion scores as
it did. `--drift shift` changes the measurements (bills longer and shallower, as a miscalibrated calliper
would), `--drift relabel` swaps Adelie and Chinstrap labels: both make the champion fall short and retrain.
`--bad N` adds N invalid records (unknown label, empty value, out-of-range number, wrong field count) for the
quarantine. Files land the way a producer should write them: a hidden temporary name, then a rename into
`<local root>/data/penguins/incoming/`. Formats vary per file (column order, BOM, CRLF), as real feeds do.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
from pathlib import Path

from contracts.config import ConfigError, load_environment
from pipelines.sources import pipeline_sources

LIMITS = {
    "bill_length_mm": (25, 70),
    "bill_depth_mm": (10, 25),
    "flipper_length_mm": (150, 250),
    "body_mass_g": (2000, 7000),
}
SHIFT = {"bill_length_mm": 1.15, "bill_depth_mm": 0.85}
RELABEL = {"Adelie": "Chinstrap", "Chinstrap": "Adelie"}
BAD = (("species", "Emperor"), ("island", ""), ("body_mass_g", "90000"), ("bill_depth_mm", "deep"))


def penguin(base: dict[str, str], rng: random.Random, drift: str | None) -> dict[str, str]:
    record = dict(base)
    for name, (low, high) in LIMITS.items():
        value = float(base[name]) * rng.gauss(1.0, 0.01) * (SHIFT.get(name, 1.0) if drift == "shift" else 1.0)
        value = min(max(value, low), high)
        record[name] = str(round(value)) if name in ("flipper_length_mm", "body_mass_g") else f"{value:.1f}"
    if drift == "relabel":
        record["species"] = RELABEL.get(record["species"], record["species"])
    return record


def file_bytes(records: list[dict[str, str]], rng: random.Random, bad: int, first_kind: int = 0) -> bytes:
    """The records as one CSV file, plus `bad` invalid ones of the kinds from `first_kind` on, in turn."""
    columns = list(records[0])
    rng.shuffle(columns)  # any column order
    crlf = rng.random() < 0.5
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([record[c] for c in columns])
    for index in range(bad):
        kind = (first_kind + index) % (len(BAD) + 1)
        if kind == len(BAD):
            writer.writerow(["too", "few"])  # wrong number of fields
            continue
        column, value = BAD[kind]
        writer.writerow([value if c == column else records[index % len(records)][c] for c in columns])
    return (b"\xef\xbb\xbf" if rng.random() < 0.5 else b"") + out.getvalue().encode()


def land(incoming: Path, name: str, data: bytes) -> Path:
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / f".{name}.tmp"
    tmp.write_bytes(data)
    os.rename(tmp, incoming / name)
    return incoming / name


def generate(incoming: Path, records: int, files: int, drift: str | None, bad: int, seed: int) -> list[Path]:
    with open(pipeline_sources("penguins").data_dir / "span-1" / "penguins.csv", newline="") as source:
        shipped = list(csv.DictReader(source))
    rng = random.Random(seed)
    stamp = f"{seed}-{os.getpid()}-{rng.getrandbits(32):08x}"
    landed = []
    bad_so_far = 0
    for index in range(files):
        count = records // files + (1 if index < records % files else 0)
        batch = [penguin(rng.choice(shipped), rng, drift) for _ in range(count)]  # count >= 1: files <= records
        bad_here = bad // files + (1 if index < bad % files else 0)
        data = file_bytes(batch, rng, bad_here, bad_so_far)
        bad_so_far += bad_here
        landed.append(land(incoming, f"labelled-{stamp}-{index:03d}.csv", data))
    return landed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcloud.labelled_data", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
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
        config = load_environment(args.env)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if config.gcp is not None:
        print(f"error: {config.name}: labelled data is generated for the local data area only", file=sys.stderr)
        return 2
    incoming = Path(config.data_area("incoming", args.local_root))
    landed = generate(incoming, args.records, args.files, args.drift, args.bad, args.seed)
    print(f"{args.records} labelled records (+{args.bad} bad) in {len(landed)} file(s) -> {incoming}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
