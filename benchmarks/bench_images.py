"""Image store and state database costs, each next to the raw operation it wraps.

    .venv/bin/python benchmarks/bench_images.py [--size-mib 256] [--instances 500]

* import: ``ImageStore.import_file`` (copy + sha256 + qemu-img info + record) against a plain
  copy plus sha256 of the same file (what any import must at least do).
* overlay: ``ImageStore.create_overlay`` against one ``qemu-img create`` with a backing file.
* state: listing N instances, and one begin_task/end_task pair (the per-operation overhead
  the driver adds to every spawn/destroy).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from zcompute.images import ImageStore
from zcompute.model import Flavor, Instance, InstanceState, Task, new_uuid
from zcompute.state import StateDB


def best_of(runs: int, action: Callable[[int], object]) -> float:
    """Median wall time of ``runs`` calls of ``action(i)``, in seconds."""
    times = []
    for i in range(runs):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def raw_copy_and_hash(source: Path, dest: Path) -> str:
    digest = hashlib.sha256()
    with source.open("rb") as fin, dest.open("wb") as fout:
        while chunk := fin.read(1 << 20):
            digest.update(chunk)
            fout.write(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    return digest.hexdigest()


def bench_import(work: Path, store: ImageStore, size_mib: int) -> None:
    source = work / "source.raw"
    with source.open("wb") as handle:
        for _ in range(size_mib):
            handle.write(os.urandom(1 << 20))
    raw = best_of(3, lambda i: raw_copy_and_hash(source, work / f"copy-{i}"))
    ours = best_of(3, lambda i: store.import_file(f"img-{i}", source))
    print(
        f"import {size_mib} MiB: zcompute {ours * 1000:8.1f} ms   raw copy+sha256 "
        f"{raw * 1000:8.1f} ms   ratio {ours / raw:.2f}   ({size_mib / ours:.0f} MiB/s)"
    )


def bench_overlay(work: Path, store: ImageStore) -> None:
    image = store.list()[0]
    assert image.path is not None
    assert image.disk_format is not None
    base, fmt = str(image.path), image.disk_format

    def raw(i: int) -> None:
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", fmt,
             str(work / f"raw-overlay-{i}"), str(1 << 30)],
            check=True,
        )  # fmt: skip

    raw_time = best_of(20, raw)
    ours = best_of(20, lambda i: store.create_overlay(image, work / f"overlay-{i}", 1))
    print(
        f"overlay:            zcompute {ours * 1000:8.2f} ms   raw qemu-img create "
        f"{raw_time * 1000:8.2f} ms   ratio {ours / raw_time:.2f}"
    )


def bench_state(store: ImageStore, db: StateDB, count: int) -> None:
    image = store.list()[0]
    flavor = Flavor("bench", 1, 128, 1)
    uuids = []
    with db.transaction():
        for n in range(count):
            inst = Instance(
                uuid=new_uuid(),
                name=f"vm-{n}",
                flavor=flavor,
                image=image,
                arch="s390x",
                machine_type="s390-ccw-virtio",
                domain_type="qemu",
            )
            uuids.append(db.add_instance(inst).uuid)
    listing = best_of(10, lambda i: db.list_instances())

    def task_pair(i: int) -> None:
        db.begin_task(uuids[i], Task.REBOOTING)
        db.end_task(uuids[i], InstanceState.RUNNING)

    pair = best_of(50, task_pair)
    print(
        f"state: list {count} instances {listing * 1000:7.2f} ms   "
        f"begin_task+end_task {pair * 1000:6.2f} ms (2 durable commits)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--instances", type=int, default=500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="zcompute-bench-images-"))
    try:
        with StateDB(work / "data" / "state.sqlite3") as db:
            store = ImageStore(work / "data", db)
            bench_import(work, store, args.size_mib)
            bench_overlay(work, store)
            bench_state(store, db, args.instances)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
