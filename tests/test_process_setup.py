"""marketsim freezes the imported libraries out of the garbage collector's walks in the processes
it owns (the command line, sweep workers), once, and never in a user's own session."""

from __future__ import annotations

import gc
import subprocess
import sys
from concurrent import futures

from marketsim import process_setup
from marketsim.experiments.executors import ProcessPoolExecutor


def _in_fresh_process(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_freeze_imports_freezes_once_what_is_alive():
    out = _in_fresh_process(
        "import gc; from marketsim import process_setup as p; import marketsim.model; "
        "first = p.freeze_imports(); n = gc.get_freeze_count(); x = [[] for _ in range(1000)]; "
        "second = p.freeze_imports(); print(first, n > 50_000, second, gc.get_freeze_count() == n)")
    assert out == "True True False True"  # the imports frozen; a second call changes nothing


def test_importing_and_running_the_model_freezes_nothing_in_a_users_session():
    out = _in_fresh_process(
        "import gc; start = gc.get_freeze_count(); from marketsim.runner import run; "
        "run('baseline', seed=1, n_firms=16, months=2, progress=False); "
        "print(gc.get_freeze_count() == start, __import__('marketsim.process_setup').process_setup.in_worker())")
    assert out == "True False"  # (an interpreter may start with a few objects frozen: none added)


def _freeze_count() -> int:
    return gc.get_freeze_count()


def test_pool_workers_are_frozen_after_their_imports():
    with ProcessPoolExecutor(workers=1) as pool:
        futures.wait(pool.warming)
        assert pool.pool.submit(process_setup.in_worker).result() is True
        assert pool.pool.submit(_freeze_count).result() > 50_000


def test_the_command_line_freezes_before_it_runs():
    out = _in_fresh_process(
        "import gc, sys; from marketsim import cli; "
        
        "code = cli.main(['run', 'baseline', '--months', '2', '--firms', '16', '--quiet']); print(code, gc.get_freeze_count() > 50_000)")
    assert out.splitlines()[-1] == "0 True"
