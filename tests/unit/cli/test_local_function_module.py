"""The local runtime loads a handler's module as an import would: registered in sys.modules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mcn_devkit.lambda_runtime import LocalFunction

HANDLER = '''
from __future__ import annotations

import msgspec


class Order(msgspec.Struct):
    """A model defined in the handler itself: msgspec resolves its annotations through sys.modules."""

    item: str
    count: int = 1


def handler(event, context):
    return msgspec.to_builtins(msgspec.convert(event, Order))
'''


def _function(code_dir: Path, name: str) -> LocalFunction:
    return LocalFunction(
        logical_id="OrderFunction",
        name=name,
        arn=f"arn:aws:lambda:eu-west-1:000000000000:function:{name}",
        code_dir=code_dir,
        handler="app.handler",
        environment={},
        memory_mb=256,
        timeout_s=3,
    )


def test_a_model_defined_in_a_handler_module_validates(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(HANDLER)
    entry = _function(tmp_path, "orders-a").entry_point()
    assert entry({"item": "sim"}, None) == {"item": "sim", "count": 1}
    assert entry.__module__ in sys.modules


def test_a_module_that_fails_to_load_is_not_left_registered(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("raise RuntimeError('broken handler')\n")
    before = set(sys.modules)
    with pytest.raises(RuntimeError, match="broken handler"):
        _function(tmp_path, "orders-b").entry_point()
    assert set(sys.modules) == before
