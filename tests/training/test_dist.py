"""The processes of a launch: who builds the data, and when the CPU backend is chosen."""

import pytest

import genrm.training.run as run
from genrm.training import data as tdata
from genrm.training import dist
from tests.training.conftest import tiny_args


@pytest.mark.parametrize("rank, order", [("0", ["fn", "barrier"]), ("1", ["barrier", "fn"])])
def test_main_first_runs_on_rank_0_before_the_others(monkeypatch, rank, order):
    events = []
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setattr(dist, "barrier", lambda: events.append("barrier"))
    assert dist.main_first(lambda: events.append("fn") or 42) == 42
    assert events == order


def test_main_first_passes_the_barrier_when_rank_0_fails(monkeypatch):
    events = []
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr(dist, "barrier", lambda: events.append("barrier"))

    def fail():
        raise ValueError("no data")

    with pytest.raises(ValueError):
        dist.main_first(fail)
    assert events == ["barrier"]  # rank 1 is let through and meets the same error


def test_train_builds_the_data_on_the_main_process_first(monkeypatch, tiny_model, tiny_data, tmp_path):
    """Every rank used to call load_data before the first barrier (an LLM unit
    decomposition ran once per rank and raced on publishing): it now runs inside main_first."""
    events = []

    class Stop(Exception):
        pass

    def main_first(fn):
        events.append("main_first")
        return fn()

    def load_data(recipe):
        events.append("load_data")
        raise Stop

    monkeypatch.setattr(dist, "main_first", main_first)
    monkeypatch.setattr(tdata, "load_data", load_data)
    with pytest.raises(Stop):
        run.train(tiny_args(tiny_model, tiny_data, tmp_path / "o"))
    assert events == ["main_first", "load_data"]


def test_cpu_backend_only_for_plain_multi_process_launches_without_a_gpu(monkeypatch):
    monkeypatch.setattr(dist, "_has_accelerator", lambda: False)
    for k in ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not dist.cpu_processes()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert dist.cpu_processes()
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # DeepSpeed picks its own backend (and refuses cpu=True)
    assert not dist.cpu_processes()
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED")
    monkeypatch.setattr(dist, "_has_accelerator", lambda: True)
    assert not dist.cpu_processes()
