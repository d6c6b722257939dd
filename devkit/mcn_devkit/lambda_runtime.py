"""A local Lambda runtime: the template's real handlers, run in-process, no Docker.

Each function is loaded from its CodeUri + Handler and invoked with exactly the
environment template.yaml gives it (plus the AWS_* variables that point every SDK
at the embedded AWS). `http_invoke` answers the Lambda Invoke HTTP API (served by
`aws_server.EmbeddedAwsServer`), so producers such as the gateway use an unmodified boto3 client.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from mcn_devkit.template import PROJECT_ROOT, ResolvedTemplate


class FunctionError(RuntimeError):
    """The handler raised: Lambda reports this as an Unhandled function error."""

    def __init__(self, function: str, error_type: str, message: str, stack: list[str]) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.payload = {"errorType": error_type, "errorMessage": message, "stackTrace": stack}


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers (and Powertools) read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    invoked_function_arn: str
    aws_request_id: str
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    memory_mb: int
    timeout_s: int
    _module: ModuleType | None = None

    def entry_point(self) -> Callable[[Any, Any], Any]:
        module_name, _, attribute = self.handler.rpartition(".")
        if self._module is None:
            path = self.code_dir / (module_name.replace(".", "/") + ".py")
            # A unique module name per function and stack: several `app.py` live side by side.
            unique = f"mcn_local_{self.name.replace('-', '_')}_{module_name.replace('.', '_')}"
            spec = importlib.util.spec_from_file_location(unique, path)
            if spec is None or spec.loader is None:
                raise FileNotFoundError(f"{self.logical_id}: handler module {path} not found")
            module = importlib.util.module_from_spec(spec)
            # registered as an import registers it: what resolves names through sys.modules (msgspec
            # reading a model's annotations, pickle, typing.get_type_hints) finds the handler's module
            sys.modules[unique] = module
            try:
                with _environment(self.environment):
                    spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[unique]
                raise
            self._module = module
        return getattr(self._module, attribute)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


class _ThreadRoutedStdout(io.TextIOBase):
    """sys.stdout while the local runtime is in use: a thread inside an invocation writes to that
    function's log, every other thread (the demo's own output, a server thread) where it went before.

    contextlib.redirect_stdout would capture every thread's output for as long as the call lasts.
    It is installed once and never swapped out per invocation: CPython 3.13.0's print() holds
    sys.stdout as a borrowed reference, so a thread that replaced sys.stdout at the end of its
    invocation freed the object another thread's print() was writing to (a SIGSEGV in `mcn demo`).
    """

    # Class-level fallbacks: io.IOBase's finaliser calls flush() when the object is collected, at
    # interpreter exit possibly after its instance attributes are gone ("'_ThreadRoutedStdout'
    # object has no attribute '_thread'" once ended the demo's output). It must never raise then.
    previous: TextIO = sys.__stdout__  # type: ignore[assignment]
    _captures: threading.local | None = None

    def __init__(self, previous: TextIO) -> None:
        self.previous = previous
        self._captures = threading.local()

    def capture(self) -> TextIO | None:
        """Where this thread's invocation writes, if the thread is inside one."""
        return getattr(self._captures, "stream", None) if self._captures is not None else None

    def route_this_thread(self, stream: TextIO | None) -> None:
        if self._captures is not None:
            self._captures.stream = stream

    def _target(self) -> TextIO:
        return self.capture() or self.previous

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        target = self._target()
        if target is not None and not getattr(target, "closed", False):
            target.flush()


# Kept for the life of the process, so no print() anywhere can find it freed.
_ROUTER: _ThreadRoutedStdout | None = None
_ROUTER_LOCK = threading.Lock()


def _installed_router() -> _ThreadRoutedStdout:
    """The router, made sys.stdout again if something (a test's capture) replaced it meanwhile."""
    global _ROUTER
    with _ROUTER_LOCK:
        if _ROUTER is None:
            _ROUTER = _ThreadRoutedStdout(sys.stdout)
        elif sys.stdout is not _ROUTER:
            _ROUTER.previous = sys.stdout
        if sys.stdout is not _ROUTER:
            sys.stdout = _ROUTER
        return _ROUTER


@contextmanager
def _stdout_of_this_thread(capture: TextIO) -> Iterator[None]:
    router = _installed_router()
    outer = router.capture()  # an invocation made from inside another one in the same thread
    router.route_this_thread(capture)
    try:
        yield
    finally:
        router.route_this_thread(outer)


def _count_as(environment: dict[str, str]) -> None:
    """Give the shared layer's one Metrics the invoked function's namespace and service name.

    In Lambda each function is its own process and Metrics reads POWERTOOLS_* once, at import.
    Here the functions share a process (and with tests, whatever imported mcn_core first, maybe
    with no namespace at all), so without this every metric carried the service of the first
    function, or failed to flush. Log lines read the service per line. Invocations are serialised.
    """
    observability = sys.modules.get("mcn_core.observability")
    if observability is None:
        return  # imported during this invocation, with this function's environment
    metrics = observability.metrics
    if namespace := environment.get("POWERTOOLS_METRICS_NAMESPACE"):
        metrics.namespace = namespace
    if service := environment.get("POWERTOOLS_SERVICE_NAME"):
        metrics.service = service
        metrics.clear_metrics()  # drops the service dimension kept since import; the flush adds this one


class LocalLambdaRuntime:
    """Runs the template's functions. Invocations are serialised: the environment is process-wide."""

    def __init__(self, resolved: ResolvedTemplate, aws_environment: dict[str, str]) -> None:
        self._lock = threading.RLock()
        self.functions: dict[str, LocalFunction] = {}
        for logical_id, resource in resolved.resources_of_type("AWS::Serverless::Function").items():
            props = resource["Properties"]
            name = resolved.physical_name(logical_id)
            self.functions[name] = LocalFunction(
                logical_id=logical_id,
                name=name,
                arn=resolved.arn(logical_id),
                code_dir=PROJECT_ROOT / str(resolved.resolve(props["CodeUri"])),
                handler=str(resolved.resolve(props["Handler"])),
                environment={
                    **aws_environment,
                    **resolved.function_environment(logical_id),
                    "AWS_LAMBDA_FUNCTION_NAME": name,
                },
                memory_mb=int(resolved.function_property(logical_id, "MemorySize", 128)),
                timeout_s=int(resolved.function_property(logical_id, "Timeout", 3)),
            )
        self.invocations: list[tuple[str, float]] = []
        # What each function printed (JSON logs, EMF metrics): the local CloudWatch Logs.
        self.logs: dict[str, list[str]] = {function.logical_id: [] for function in self.functions.values()}
        self.log_sink: TextIO | None = None

    def lookup(self, name_or_arn: str) -> LocalFunction:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        for function in self.functions.values():
            if name in (function.name, function.logical_id):
                return function
        raise KeyError(f"no function {name_or_arn} in the template")

    def invoke(self, name_or_arn: str, payload: Any) -> Any:
        function = self.lookup(name_or_arn)
        context = LambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory_mb,
            timeout_seconds=function.timeout_s,
            invoked_function_arn=function.arn,
            aws_request_id=str(uuid.uuid4()),
        )
        output = io.StringIO()
        with self._lock, _environment(function.environment), _stdout_of_this_thread(output):
            started = time.perf_counter()
            try:
                handler = function.entry_point()
                _count_as(function.environment)
                # A JSON round trip, as the real service does: handlers never see Python objects.
                result = handler(json.loads(json.dumps(payload)), context)
                return json.loads(json.dumps(result))
            except Exception as exc:
                raise FunctionError(
                    function.name, type(exc).__name__, str(exc), traceback.format_exception(exc)
                ) from exc
            finally:
                self.invocations.append((function.logical_id, time.perf_counter() - started))
                self._keep_logs(function.logical_id, output.getvalue())

    def http_invoke(self, name_or_arn: str, payload: Any, asynchronous: bool) -> tuple[int, Any, dict[str, str]]:
        """Status, body and headers as the Lambda Invoke API answers them."""
        try:
            self.lookup(name_or_arn)
        except KeyError:
            return (
                404,
                {"Type": "User", "message": f"Function not found: {name_or_arn}"},
                {"X-Amzn-ErrorType": "ResourceNotFoundException"},
            )
        if asynchronous:
            threading.Thread(target=self._invoke_quietly, args=(name_or_arn, payload), daemon=True).start()
            return 202, {}, {}
        try:
            return 200, self.invoke(name_or_arn, payload), {}
        except FunctionError as exc:
            return 200, exc.payload, {"X-Amz-Function-Error": "Unhandled"}

    def _invoke_quietly(self, name: str, payload: Any) -> None:
        # An async invoke's error is the function's own log, as in Lambda.
        with contextlib.suppress(FunctionError):
            self.invoke(name, payload)

    def _keep_logs(self, logical_id: str, text: str) -> None:
        lines = text.splitlines()
        self.logs[logical_id].extend(lines)
        if self.log_sink is not None:
            for line in lines:
                self.log_sink.write(f"{logical_id} {line}\n")
            self.log_sink.flush()
