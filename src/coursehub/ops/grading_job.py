"""Runs inside a grading job on a Slurm node, as root: one grading, in the same
sandbox as on the hub's machine, its result written for the service to record.

    python -m coursehub.ops.grading_job --gid 12 --limits '{...}' --result FILE
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursehub.ops.grading_job")
    parser.add_argument("--gid", type=int, required=True)
    parser.add_argument("--limits", required=True, help="grading limits, as JSON")
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    from coursehub.config.models import GradingLimitsConfig
    from coursehub.db.session import Database
    from coursehub.grading.autograde import grade_submission
    from coursehub.grading.grader import limits_from
    from coursehub.grading.paths import GradingPaths
    from coursehub.grading.store import GradingStore

    store = GradingStore(
        Database(os.environ["COURSEHUB_DATABASE_URL"]),
        GradingPaths(Path(os.environ["COURSEHUB_DATA_DIR"])),
    )
    code = 0
    try:
        limits = limits_from(GradingLimitsConfig.model_validate_json(args.limits))
        result = grade_submission(store, args.gid, limits)
    except Exception as exc:  # noqa: BLE001 - recorded on the grading, shown to staff
        result = {"state": "failed", "outcome": f"the grader failed: {exc}"[:300]}
        code = 1
    tmp = args.result.with_name(args.result.name + ".part")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, args.result)
    print(f"coursehub: grading {args.gid} {result.get('state')} on {os.uname().nodename}")
    return code


if __name__ == "__main__":
    sys.exit(main())
