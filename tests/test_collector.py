"""The cyclic collector is paused during profiling and put back as the user had it, whatever
order overlapping profiles (threads, adapters) end in."""

from __future__ import annotations

import gc
import threading

import pytest

from flopmagic._collector import collector_paused


@pytest.mark.parametrize("user_enabled", [True, False])
def test_overlapping_pauses_ending_out_of_order_restore_the_users_setting(user_enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if user_enabled else gc.disable)()
        first, second = collector_paused(), collector_paused()
        first.__enter__()
        second.__enter__()  # a second profile starts while the first runs
        assert not gc.isenabled()
        first.__exit__(None, None, None)  # the first one ends first
        assert not gc.isenabled()  # the second is still running: still paused
        second.__exit__(None, None, None)
        assert gc.isenabled() is user_enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_pauses_on_many_threads_restore_the_collector() -> None:
    was = gc.isenabled()
    gc.enable()
    start = threading.Barrier(8)
    inside: list[bool] = []

    def work() -> None:
        start.wait()
        for _ in range(200):
            with collector_paused():
                inside.append(gc.isenabled())

    try:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(inside) == 8 * 200 and not any(inside)  # 8 threads x 200 pauses, all paused
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def test_a_raising_block_restores_the_collector() -> None:
    was = gc.isenabled()
    gc.enable()
    try:
        with pytest.raises(ZeroDivisionError), collector_paused():
            1 / 0  # noqa: B018
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
