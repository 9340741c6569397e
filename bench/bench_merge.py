"""Benchmark: the merge of a sample's part tables, spliced against decoded and encoded again.

Writes ``--parts`` Parquet tables of ``--rows`` rows each, as ``hepml ingest --part`` writes
them (``--features`` float32 features plus ``_weight``, ``_label``, ``_fold``, ``_event``,
``_file``, ``_entry``; the ingest writer's settings; row groups of ``--row-group`` rows), then
times, in this process, best of ``--repeat``:

* **ingest, old**: every row group decoded, ``_weight`` normalised, encoded again
  (``hepml.ingest.partial._decode_and_encode``);
* **ingest, new**: the row groups' bytes copied and ``_weight`` alone encoded anew
  (``hepml.ingest.partial._write_merged``, through :func:`hepml.tables.parquet_splice.splice`);
* **apply, old / new**: the same tables, written with the apply writer (no dictionaries),
  concatenated unchanged (``hepml.apply.merge._decode_and_encode`` / ``_concatenate``).

Each new output is checked byte for byte against the old. Printed: wall and CPU seconds of
each, the table's size and the CPU seconds per 100 MB (wall times are unreliable on a shared
machine; CPU ratios less so).

    python bench/bench_merge.py --parts 5 --rows 600000 --json merge.json
    python bench/bench_merge.py --parts 3 --rows 50000 --repeat 1          # a quick check
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa


def part_table(rows: int, features: int, seed: int) -> pa.Table:
    """A table with the columns and value kinds of an ingest part (weights unnormalised)."""
    rng = np.random.default_rng(seed)
    columns = {f"f{i}": rng.normal(size=rows).astype(np.float32) for i in range(features)}
    columns["_weight"] = rng.exponential(size=rows)
    columns["_label"] = np.full(rows, seed % 2, np.int8)
    columns["_fold"] = rng.integers(0, 5, rows).astype(np.int8)
    columns["_event"] = rng.integers(0, 2**40, rows).astype(np.uint64)
    columns["_file"] = np.full(rows, seed, np.int32)
    columns["_entry"] = np.arange(rows, dtype=np.int64)
    return pa.table(columns)


def write_parts(directory: Path, args: argparse.Namespace, kind: str) -> list[Path]:
    """The part tables, written with the ingest (or apply) writer one row group at a time."""
    from hepml.apply.scoring import _parquet_writer as apply_writer
    from hepml.ingest.sample import _parquet_writer as ingest_writer

    writer = ingest_writer if kind == "ingest" else apply_writer
    paths = []
    for k in range(args.parts):
        table = part_table(args.rows, args.features, seed=k)
        path = directory / f"{kind}_part{k}.parquet"
        with writer(path, table.schema) as out:
            for batch in table.to_batches(max_chunksize=args.row_group):
                out.write_table(pa.Table.from_batches([batch]))
        paths.append(path)
    return paths


def contenders(parts: dict[str, list[Path]], out: dict[str, Path]) -> dict:
    """The four merges, each writing its output anew (the ingest ones through
    ``hepml.atomic``, as ``merge_parts`` writes them: the SHA-256 of the output included)."""
    from hepml.apply import merge as apply_merge
    from hepml.atomic import atomic_path
    from hepml.ingest import partial

    norm = 0.123

    def ingest_old() -> None:
        with atomic_path(out["ingest_old"]) as tmp:
            partial._decode_and_encode(parts["ingest"], tmp, norm)

    return {
        "ingest_old": ingest_old,
        "ingest_new": lambda: partial._write_merged(parts["ingest"], out["ingest_new"], norm),
        "apply_old": lambda: apply_merge._decode_and_encode(parts["apply"], out["apply_old"]),
        "apply_new": lambda: apply_merge._concatenate(parts["apply"], out["apply_new"]),
    }


def run(directory: Path, args: argparse.Namespace) -> dict:
    """Best wall and CPU seconds of each merge; the new outputs checked against the old."""
    parts = {kind: write_parts(directory, args, kind) for kind in ("ingest", "apply")}
    names = ("ingest_old", "ingest_new", "apply_old", "apply_new")
    out = {name: directory / f"{name}.parquet" for name in names}
    results = {name: {"wall_s": np.inf, "cpu_s": np.inf} for name in names}
    for _ in range(args.repeat):  # in turn, so that each finds the page cache as warm
        for name, merge in contenders(parts, out).items():
            wall, cpu = time.perf_counter(), time.process_time()
            merge()
            best = results[name]
            best["wall_s"] = round(min(best["wall_s"], time.perf_counter() - wall), 3)
            best["cpu_s"] = round(min(best["cpu_s"], time.process_time() - cpu), 3)
    for kind in ("ingest", "apply"):
        if out[f"{kind}_old"].read_bytes() != out[f"{kind}_new"].read_bytes():
            raise SystemExit(f"the {kind} merges differ: the splice is wrong")
    sizes = {kind: out[f"{kind}_new"].stat().st_size / 1e6 for kind in ("ingest", "apply")}
    for name, result in results.items():
        result["table_MB"] = round(sizes[name.split("_")[0]], 1)
        result["cpu_s_per_100MB"] = round(100 * result["cpu_s"] / sizes[name.split("_")[0]], 3)
    return {"parts": args.parts, "rows": args.parts * args.rows, **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=5)
    parser.add_argument("--rows", type=int, default=600_000, help="rows per part")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--row-group", type=int, default=100_000, help="rows per row group")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_merge_") as tmp:
        results = run(Path(tmp), args)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
