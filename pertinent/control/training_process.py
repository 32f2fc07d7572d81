"""Train a solution version in a child process, so the API stays responsive and a crash stays contained.

The child reads the Parquet inputs, runs :func:`pertinent.training.pipeline.train_solution_version` and
sends progress and the result over a pipe. The parent records progress, honours
StopSolutionVersionCreation by terminating the child, and turns a crash or an out-of-memory kill into a
:class:`TrainingFailure` with a reason instead of a job stuck IN_PROGRESS.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from pertinent import arns
from pertinent.config import Settings
from pertinent.errors import TrainingFailure

ProgressCallback = Callable[[float, str], bool]

#: linux/prctl.h: deliver a signal to this process when its parent thread exits
PR_SET_PDEATHSIG = 1


def _cap_memory(memory_mb: int) -> None:
    """Let training allocate at most ``memory_mb`` MiB beyond what the process holds after its imports."""
    import resource

    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    limit = pages * resource.getpagesize() + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``), so a killed
    worker leaves no training behind; exit at once if the parent is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def _child(conn: Connection, job: dict[str, Any], memory_mb: int) -> None:
    """Entry point of the training process (top-level so the spawn start method can import it)."""
    die_with_parent(int(job["parent_pid"]))
    try:
        import pyarrow.parquet as pq

        from pertinent.training.pipeline import train_solution_version

        solver = None
        if job.get("training_engine") == "spark":
            from pertinent.training.spark_als import SparkFactorSolver

            solver = SparkFactorSolver(job["spark_master"], Path(job["artifact_dir"]) / "inputs" / "spark")
        elif memory_mb:  # (not for Spark: its JVM reserves far more address space than it uses)
            _cap_memory(memory_mb)

        def read(name: str) -> Any:
            path = job["inputs"].get(name)
            return pq.read_table(path, memory_map=True) if path else None

        if job["recipe_name"] == "aws-next-best-action":
            from pertinent.training.actions import train_next_best_action

            outcome = train_next_best_action(
                read("INTERACTIONS"),
                read("USERS"),
                read("ACTIONS"),
                read("ACTION_INTERACTIONS"),
                job["solution_config"],
                Path(job["artifact_dir"]),
                progress=lambda fraction, message: conn.send(("progress", fraction, message)),
            )
            conn.send(
                ("done", {"metrics": outcome["metrics"], "tuned_params": {}, "algorithm": job["recipe_name"]})
            )
            return
        result = train_solution_version(
            read("INTERACTIONS"),
            read("ITEMS"),
            read("USERS"),
            recipe_name=job["recipe_name"],
            solution_config=job["solution_config"],
            event_type=job["event_type"],
            perform_hpo=job["perform_hpo"],
            ease_max_items=job["ease_max_items"],
            artifact_dir=Path(job["artifact_dir"]),
            progress=lambda fraction, message: conn.send(("progress", fraction, message)),
            factor_solver=solver,
        )
        if solver is not None:
            solver.stop()
        # the serving files (mapped arrays, the ANN index of a large factor model) are made here, with
        # the artifact, so no API process builds them on a request
        from pertinent.serving.shared_models import prepare_for_serving

        conn.send(("progress", 0.99, "Preparing the model for serving"))
        prepare_for_serving(
            Path(job["artifact_dir"]),
            int(job.get("ann_min_items") or 0),
            float(job.get("ann_target_recall") or 0.99),
        )
        conn.send(
            (
                "done",
                {
                    "metrics": dict(result.metrics),
                    "tuned_params": dict(result.tuned_params),
                    "algorithm": result.algorithm,
                },
            )
        )
    except TrainingFailure as exc:
        conn.send(("failed", str(exc)))
    except MemoryError:
        conn.send(
            (
                "failed",
                f"Training ran out of memory (limit {memory_mb} MiB)."
                if memory_mb
                else "Training ran out of memory.",
            )
        )
    except ImportError as exc:
        conn.send(("failed", f"This version of pertinent cannot train yet: {exc}."))
    except BaseException as exc:
        conn.send(("failed", f"Training failed: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_training_process(
    version: dict[str, Any],
    inputs: dict[str, Path | None],
    artifact_dir: Path,
    settings: Settings,
    on_progress: ProgressCallback,
) -> dict[str, Any]:
    """Train ``version`` in a child process; returns metrics/tuned_params/algorithm or raises TrainingFailure."""
    artifact_dir.mkdir(parents=True, exist_ok=True)
    job = {
        "inputs": {k: str(v) if v else None for k, v in inputs.items()},
        "recipe_name": arns.parse(version["recipe_arn"]).path,
        "solution_config": version.get("solution_config") or {},
        "event_type": version.get("event_type"),
        "perform_hpo": bool(version.get("perform_hpo")),
        "ease_max_items": settings.ease_max_items,
        "ann_min_items": settings.ann_min_items,
        "ann_target_recall": settings.ann_target_recall,
        "artifact_dir": str(artifact_dir),
        "parent_pid": os.getpid(),
        "training_engine": settings.training_engine,
        "spark_master": settings.spark_master,
    }
    context = multiprocessing.get_context("spawn")  # no fork of a threaded server
    parent_end, child_end = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child_end, job, settings.training_memory_mb), daemon=True)
    process.start()
    child_end.close()
    outcome: tuple[Any, ...] | None = None
    try:
        while outcome is None:
            if parent_end.poll(0.25):
                try:
                    message = parent_end.recv()
                except EOFError:
                    break
                if message[0] == "progress":
                    if not on_progress(float(message[1]), str(message[2])):
                        raise TrainingFailure("stopped")
                else:
                    outcome = message
            elif not process.is_alive():
                if parent_end.poll(0.1):
                    continue
                break
            elif not on_progress(-1.0, ""):
                raise TrainingFailure("stopped")
    finally:
        if process.is_alive() and outcome is None:
            process.terminate()
        process.join(timeout=30)
        parent_end.close()
    if outcome is None:
        code = process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (most likely out of memory)" if -code == signal.SIGKILL else ""
            raise TrainingFailure(f"The training process was killed by {name}{hint}.")
        raise TrainingFailure(f"The training process exited unexpectedly with code {code}.")
    if outcome[0] == "failed":
        raise TrainingFailure(str(outcome[1]))
    return dict(outcome[1])
