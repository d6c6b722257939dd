"""logic/ is plain Python: no Powertools, no AWS SDK, no logging (handlers report what it returns)."""

from __future__ import annotations

import re
from pathlib import Path

LOGIC = Path(__file__).resolve().parents[3] / "layers" / "core" / "mcn_core" / "logic"
_FORBIDDEN = re.compile(
    r"^\s*(?:from|import)\s+(aws_lambda_powertools|boto3|botocore|pynamodb|mcn_core\.observability|mcn_core\.dal|mcn_core\.wiring)\b",
    re.MULTILINE,
)


def test_logic_imports_no_powertools_aws_or_adapters() -> None:
    modules = sorted(LOGIC.glob("*.py"))
    assert modules
    offenders = [
        f"{path.name}: {match.group(1)}" for path in modules for match in _FORBIDDEN.finditer(path.read_text())
    ]
    assert not offenders, offenders


ROOT = LOGIC.parents[3]
_PYDANTIC = re.compile(r"^\s*(?:from|import)\s+(pydantic|pydantic_core|pydantic_settings)\b", re.MULTILINE)


def test_nothing_a_function_runs_imports_pydantic() -> None:
    """Cold start (issue 12): the functions' models are msgspec structs; pydantic is not in the CoreLayer.
    The gateway, edge and receiver keep it for their own configuration files only."""
    sources = sorted(
        path
        for part in ("layers/core", "layers/smpp", "functions")
        for path in (ROOT / part).rglob("*.py")
        if "__pycache__" not in path.parts
    )
    assert len(sources) > 50
    offenders = [str(path.relative_to(ROOT)) for path in sources if _PYDANTIC.search(path.read_text())]
    assert not offenders, offenders
    for requirements in ("layers/core/requirements.txt", "layers/smpp/requirements.txt"):
        pins = [line.split("==")[0].lower() for line in (ROOT / requirements).read_text().splitlines()]
        assert not [pin for pin in pins if pin.startswith("pydantic")], requirements
