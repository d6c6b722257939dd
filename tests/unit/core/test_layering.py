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
