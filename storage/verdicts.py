"""The judge's verdicts, kept in the store: `<root>/.shared/judge/<sha256 of key>.json`.

One file per verdict, written atomically the moment it arrives, so a run killed mid-evaluation
keeps every verdict it received and the resume asks only the rest. Shared by the store's runs,
as the base model's evaluation is: a comparison's members ask each question once. The SQL view
`judge_verdicts` reads them (`edco sql`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from edco.config.schema import EdcoConfig
from edco.evaluation.judge import Judge, key_digest
from edco.faultpoints import fault_point
from edco.storage.files import write_json

FOLDER = Path(".shared") / "judge"


class VerdictStore:
    """`edco.evaluation.judge.VerdictCache` over a store folder; `asker` records who asked first."""

    def __init__(self, root: Path, run: str, interval: int) -> None:
        self.folder = Path(root) / FOLDER
        self.asker = {"run": run, "interval": interval}

    def _path(self, key: dict[str, Any]) -> Path:
        return self.folder / f"{key_digest(key)}.json"

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        path = self._path(key)
        if not path.exists():
            return None
        entry = json.loads(path.read_text())
        return {"accepted": entry["accepted"], "reply": entry["reply"]}

    def put(self, key: dict[str, Any], verdict: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json(self._path(key), {**key, **verdict, **self.asker, "asked_at": time.time()})
        fault_point(f"judge.verdict@{self.asker['interval']}")  # crash tests: a verdict is kept, the stage is not


def store_judge(cfg: EdcoConfig, store_root: Path, run: str, interval: int) -> Judge | None:
    """The run's judge with its verdicts kept in the store (None without a `judge` section): what
    the evaluate and train stages, and each training rank, ask."""
    return Judge(cfg.judge, VerdictStore(store_root, run, interval)) if cfg.judge else None
