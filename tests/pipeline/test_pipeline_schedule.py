"""The pipeline's stage graph: independent stages run side by side, each after what it reads, reruns flow downstream."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from lerobot_recap.pipeline.runner import Pipeline, PipelineConfig
from lerobot_recap.pipeline.schedule import Task, run_tasks


def _recorder():
    events: list[tuple[str, str]] = []
    lock = threading.Lock()
    live = {"now": 0, "peak": 0}

    def work(name: str, seconds: float = 0.05):
        def run() -> None:
            with lock:
                events.append(("start", name))
                live["now"] += 1
                live["peak"] = max(live["peak"], live["now"])
            time.sleep(seconds)
            with lock:
                events.append(("end", name))
                live["now"] -= 1

        return run

    return events, live, work


def test_tasks_start_only_after_what_they_come_after():
    events, live, work = _recorder()
    tasks = [
        Task("sft", work("sft")),
        Task("eval_sft", work("eval_sft", 0.3), ("sft",)),
        Task("collect", work("collect", 0.3), ("sft",)),
        Task("bc", work("bc", 0.1), ("collect",)),
        Task("value", work("value"), ("collect",)),
        Task("recap", work("recap"), ("value",)),
    ]
    run_tasks(tasks, jobs=2)
    order = {event: i for i, event in enumerate(events)}
    for task in tasks:
        for before in task.after:
            assert order[("end", before)] < order[("start", task.name)]
    assert live["peak"] == 2  # eval_sft beside collect, bc beside value


def test_one_job_runs_everything_one_after_another_in_list_order():
    events, live, work = _recorder()
    run_tasks([Task("a", work("a")), Task("b", work("b")), Task("c", work("c"), ("a",))], jobs=1)
    assert [name for kind, name in events if kind == "start"] == ["a", "b", "c"]
    assert live["peak"] == 1


def test_a_failure_starts_nothing_new_lets_the_running_finish_and_is_raised():
    events, _, work = _recorder()

    def broken() -> None:
        raise SystemExit("stage value failed (exit 1)")

    tasks = [Task("value", broken), Task("bc", work("bc", 0.2)), Task("recap", work("recap"), ("value",)),
             Task("recorded", work("recorded"), ("bc",))]
    with pytest.raises(SystemExit, match="stage value failed"):
        run_tasks(tasks, jobs=2)
    assert ("end", "bc") in events  # the running one finished
    assert not any(name in ("recap", "recorded") for _, name in events)


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([Task("a", lambda: None, ("missing",))], "do not exist"),
        ([Task("a", lambda: None), Task("a", lambda: None)], "repeat"),
        ([Task("a", lambda: None, ("b",)), Task("b", lambda: None, ("a",))], "cycle"),
    ],
)
def test_a_malformed_graph_is_refused(tasks, message):
    with pytest.raises(ValueError, match=message):
        run_tasks(tasks, jobs=2)


def _graph(pipeline: Pipeline, tags: dict[str, str]) -> list[Task]:
    """sft -> (bc, value -> recap): each task one real subprocess stage that records that it ran."""
    log = pipeline.cfg.output_dir / "ran.txt"

    def stage(name: str):
        command = [sys.executable, "-c", f"open({str(log)!r}, 'a').write({name!r} + ' ')", tags.get(name, "v1")]
        return lambda: pipeline.run(name, command, metric=lambda: name)

    return [
        pipeline.task("sft", stage("sft")),
        pipeline.task("bc", stage("bc"), ("sft",)),
        pipeline.task("value", stage("value"), ("sft",)),
        pipeline.task("recap", stage("recap"), ("value",)),
    ]


def _ran(tmp_path, tags: dict[str, str]) -> list[str]:
    pipeline = Pipeline(PipelineConfig(output_dir=tmp_path))
    run_tasks(_graph(pipeline, tags), jobs=2)
    path = tmp_path / "ran.txt"
    ran = sorted(path.read_text().split()) if path.exists() else []
    path.unlink(missing_ok=True)
    return ran


def test_a_rerun_invalidates_what_is_downstream_of_it_and_nothing_beside_it(tmp_path):
    assert _ran(tmp_path, {}) == ["bc", "recap", "sft", "value"]
    assert _ran(tmp_path, {}) == []
    assert _ran(tmp_path, {"value": "v2"}) == ["recap", "value"]  # bc does not read the value model
    assert _ran(tmp_path, {"value": "v2", "sft": "v2"}) == ["bc", "recap", "sft", "value"]


def test_jobs_default_to_two_on_cpu_and_one_on_a_gpu(tmp_path):
    assert PipelineConfig(output_dir=tmp_path).jobs == 2
    assert PipelineConfig(output_dir=tmp_path, device="cuda").jobs == 1
    with pytest.raises(ValueError, match="--jobs"):
        PipelineConfig(output_dir=tmp_path, jobs=0)
