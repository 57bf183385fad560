"""`--workers N`: households sharded over processes, each shard writing its own records file.

Shard k of n simulates households i with i % n == k, each from its own random stream, so the
records (and the report made from them) do not depend on n. Workers are spawned fresh (not
forked: the parent may hold a progress-bar thread) and tell the parent how many household-days
they finished through one queue, which feeds a single progress bar.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

RECORDS_DIR = "records"

Progress = Callable[[int], None]
RunShard = Callable[..., None]  # run_shard(scenario, shard, shards, out, progress)

_progress_queue: Any = None  # set in each worker by _start_worker


def records_path(out: Path, shard: int, shards: int) -> Path:
    return out / RECORDS_DIR / f"shard-{shard:03d}-of-{shards:03d}.jsonl"


def _clear(out: Path) -> None:
    """Records of an earlier run in the same folder would not be read, but would mislead."""
    folder = out / RECORDS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("shard-*-of-*.jsonl"):
        old.unlink()


def _default_run_shard() -> RunShard:
    from simulator.run import run_shard

    return run_shard


def _start_worker(progress_queue: Any) -> None:
    global _progress_queue
    _progress_queue = progress_queue


def _worker_progress(n: int) -> None:
    _progress_queue.put(n)


def _shard_job(run_shard: RunShard | None, scenario: Any, shard: int, shards: int,
               path: Path) -> Path:
    (run_shard or _default_run_shard())(scenario, shard, shards, path, _worker_progress)
    return path


def run(scenario: Any, out: Path, workers: int = 1, progress: Progress | None = None,
        run_shard: RunShard | None = None) -> list[Path]:
    """Simulate every household of `scenario` in `workers` shards; returns the records files.

    With one worker everything runs in this process (no start-up cost, easy to profile).
    `run_shard` is simulator.run.run_shard unless given (it must be importable by name, for
    the workers to find it).
    """
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, not {workers}")
    _clear(out)
    paths = [records_path(out, k, workers) for k in range(workers)]
    if workers == 1:
        (run_shard or _default_run_shard())(scenario, 0, 1, paths[0], progress)
        return paths
    context = multiprocessing.get_context("spawn")
    progress_queue = context.Queue()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(progress_queue,)) as pool:
        futures: dict[Future, int] = {
            pool.submit(_shard_job, run_shard, scenario, k, workers, path): k
            for k, path in enumerate(paths)
        }
        try:
            pending = set(futures)
            while pending:
                _drain(progress_queue, progress, timeout=0.2)
                done, pending = wait(pending, timeout=0, return_when=FIRST_EXCEPTION)
                for future in done:
                    if future.exception() is not None:
                        raise RuntimeError(f"shard {futures[future]} of {workers} failed: "
                                           f"{future.exception()}") from future.exception()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    # The workers have exited, so their queue feeders have flushed: the last reports are in.
    _drain(progress_queue, progress, timeout=0.2)
    return paths


def _drain(progress_queue: Any, progress: Progress | None, timeout: float) -> None:
    """Pass on what workers reported; wait up to `timeout` for the first report."""
    try:
        n = progress_queue.get(timeout=timeout) if timeout else progress_queue.get_nowait()
        while True:
            if progress is not None:
                progress(n)
            n = progress_queue.get_nowait()
    except queue.Empty:
        return
