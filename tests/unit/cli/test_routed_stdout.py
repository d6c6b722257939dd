"""The local runtime's per-thread stdout must never raise, even from io's finaliser at exit."""

from __future__ import annotations

import io
import subprocess
import sys

from mcn_devkit.lambda_runtime import _stdout_of_this_thread, _ThreadRoutedStdout


def test_an_instance_whose_attributes_are_gone_still_flushes_and_writes() -> None:
    routed = _ThreadRoutedStdout.__new__(_ThreadRoutedStdout)  # as io's finaliser may meet it at exit
    routed.flush()
    assert routed.write("") == 0


def test_the_invoking_threads_output_is_captured_and_stdout_restored() -> None:
    before = sys.stdout
    capture = io.StringIO()
    with _stdout_of_this_thread(capture):
        print("inside")
    assert capture.getvalue() == "inside\n"
    assert sys.stdout is before


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
