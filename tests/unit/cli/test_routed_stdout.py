"""The local runtime's per-thread stdout must never raise, even from io's finaliser at exit."""

from __future__ import annotations

import io
import subprocess
import sys
import threading

from mcn_devkit.lambda_runtime import _stdout_of_this_thread, _ThreadRoutedStdout


def test_an_instance_whose_attributes_are_gone_still_flushes_and_writes() -> None:
    routed = _ThreadRoutedStdout.__new__(_ThreadRoutedStdout)  # as io's finaliser may meet it at exit
    routed.flush()
    assert routed.write("") == 0


def test_the_invoking_threads_output_is_captured_then_goes_where_it_went_before() -> None:
    before = io.StringIO()
    sys.stdout = before  # pytest restores its own stdout after the test
    capture = io.StringIO()
    with _stdout_of_this_thread(capture):
        print("inside")
        with _stdout_of_this_thread(nested := io.StringIO()):
            print("nested invocation")
        print("inside again")
    print("after")
    assert capture.getvalue() == "inside\ninside again\n"
    assert nested.getvalue() == "nested invocation\n"
    assert before.getvalue() == "after\n"


def test_other_threads_output_is_not_captured() -> None:
    before = io.StringIO()
    sys.stdout = before
    other_thread_done = threading.Event()

    def other_thread() -> None:
        print("server thread")
        other_thread_done.set()

    capture = io.StringIO()
    with _stdout_of_this_thread(capture):
        threading.Thread(target=other_thread).start()
        assert other_thread_done.wait(30)
    assert capture.getvalue() == ""
    assert before.getvalue() == "server thread\n"


def test_invocations_ending_while_another_thread_prints_do_not_crash_the_interpreter() -> None:
    # Regression: each invocation used to swap sys.stdout in and out. print() in CPython 3.13.0
    # holds sys.stdout as a borrowed reference, so the main thread's print wrote to a freed object
    # and `mcn demo` died of SIGSEGV about one run in three. This crashed within 20k prints.
    code = (
        "import io, threading\n"
        "from mcn_devkit.lambda_runtime import _stdout_of_this_thread\n"
        "done = threading.Event()\n"
        "def invocations():\n"
        "    while not done.is_set():\n"
        "        with _stdout_of_this_thread(io.StringIO()):\n"
        "            print('handler log line')\n"
        "thread = threading.Thread(target=invocations); thread.start()\n"
        "for _ in range(60_000):\n"
        "    print('demo line', flush=True)\n"
        "done.set(); thread.join()\n"
    )
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", code],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_no_exception_is_reported_at_interpreter_exit() -> None:
    code = (
        "import io, sys\n"
        "from mcn_devkit.lambda_runtime import _stdout_of_this_thread\n"
        "cm = _stdout_of_this_thread(io.StringIO()); cm.__enter__()\n"
        "print('left routed at exit')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr, result.stderr
