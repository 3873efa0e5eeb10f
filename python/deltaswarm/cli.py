"""Running the deltaswarm CLI with --json and reading its JSON lines."""
from __future__ import annotations

import json
import subprocess
from typing import Any, Dict, Iterable, List, Mapping, Optional


class DeltaswarmError(RuntimeError):
    """A deltaswarm command that failed: its exit code, error_code and one-line error."""

    def __init__(self, command: str, exit_code: int, message: str, error_code: str = "", stderr: str = ""):
        self.command, self.exit_code, self.error_code, self.stderr = command, exit_code, error_code, stderr
        super().__init__(f"deltaswarm {command}: exit {exit_code}"
                         + (f" ({error_code})" if error_code else "") + f": {message}")


def flag_args(flags: Mapping[str, Any]) -> List[str]:
    """Keyword flags as command-line flags: keyframe_every=10 -> --keyframe-every 10, True -> --flag,
    False/None -> nothing, a list or tuple -> the flag repeated."""
    out: List[str] = []
    for key, value in flags.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag)
        elif isinstance(value, (list, tuple)):
            for v in value:
                out += [flag, str(v)]
        else:
            out += [flag, str(value)]
    return out


def json_lines(text: str) -> List[Dict[str, Any]]:
    """The JSON objects of a --json run's stdout (other lines skipped)."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            lines.append(obj)
    return lines


def run(binary: str, command: str, args: Iterable[str], timeout: Optional[float] = None) -> Dict[str, Any]:
    """Runs `binary command args --json`; returns the summary's result, or raises DeltaswarmError."""
    argv = [binary, *command.split(), *args, "--json"]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except FileNotFoundError:
        raise DeltaswarmError(command, 127, f"{binary}: no such program (pass binary=... or put it on PATH)")
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    lines = json_lines(out)
    summary = lines[-1] if lines and lines[-1].get("event") == "summary" else None
    if p.returncode != 0 or summary is None or not summary.get("ok", False):
        message = (summary or {}).get("error") or err.strip().splitlines()[-1:] or ["no summary"]
        if isinstance(message, list):
            message = message[0] if message else ""
        raise DeltaswarmError(command, p.returncode, str(message), (summary or {}).get("error_code", ""), err)
    return summary.get("result") or {}
