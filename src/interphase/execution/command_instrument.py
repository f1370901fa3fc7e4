"""An instrument driven by a command: run it per request, then import the cycler file it drops.

The command is a template split like a shell line (:func:`shlex.split`, no shell runs it);
in each argument the placeholders ``{design_json}`` (the design's values, SI, as JSON),
``{protocol_json}``, ``{seed}``, ``{request_id}`` and ``{out_dir}`` (a fresh folder for this
run) are replaced. When the command exits 0, the file matching the drop pattern in
``out_dir`` is read by the importers ``interphase import`` uses, and becomes the request's
result: its per-cycle observations that the request's source declares, its test hours as
lab hours. A command that fails, drops nothing, or drops a file that cannot be read gives a
failed result that says which.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from interphase.execution.launch import Launcher
from interphase.schema import (
    Cost,
    Design,
    FailureKind,
    InvalidInputError,
    Protocol,
    Provenance,
    Result,
    ResultStatus,
    SourceSpec,
)
from interphase.store.records import StoredRequest

PLACEHOLDERS = ("design_json", "protocol_json", "seed", "request_id", "out_dir")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
POLL_S = 0.1
"""How often a running command is checked for its end or a stop (seconds)."""
OUTPUT_TAIL_CHARS = 500


def command_arguments(template: str) -> list[str]:
    """The command's arguments, with its placeholders checked.

    Args:
        template: The command line, e.g. ``"cycle --design {design_json} --out {out_dir}"``.

    Returns:
        The arguments, placeholders still in them.

    Raises:
        InvalidInputError: ``field="--command"``: empty, unbalanced quotes, or a placeholder
            that is not one of :data:`PLACEHOLDERS`.
    """
    try:
        arguments = shlex.split(template)
    except ValueError as exc:
        raise InvalidInputError("--command", f"cannot be split into arguments: {exc}") from None
    if not arguments:
        raise InvalidInputError("--command", "is empty; give the program to run and its arguments")
    unknown = sorted({name for argument in arguments for name in _PLACEHOLDER.findall(argument)}
                     - set(PLACEHOLDERS))
    if unknown:
        named = ", ".join("{" + name + "}" for name in unknown)
        allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise InvalidInputError("--command", f"unknown placeholder(s) {named}; allowed: {allowed}")
    return arguments


def check_drop_pattern(pattern: str) -> str:
    """The drop pattern, checked to stay inside the run's folder.

    Raises:
        InvalidInputError: ``field="--drop"``: empty, absolute, or climbing out with ``..``.
    """
    if not pattern.strip():
        raise InvalidInputError("--drop", "is empty; give a file pattern such as '*.csv'")
    if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise InvalidInputError("--drop", f"{pattern!r} must be relative to the run's folder, without '..'")
    return pattern


class CommandInstrument(Launcher):
    """Runs a command per request and imports the cycler file it drops.

    A test it ran cannot be shortened afterwards, so stop orders do not apply to it.

    Args:
        command: The command template (see the module docstring).
        drop: Glob pattern, relative to ``{out_dir}``, of the file the command writes.
        specs: The sources it posts for, by name, as registered in the store.
        fmt: Cycler format of the dropped file (``"auto"``, ``"arbin"``, ``"maccor"``,
            ``"biologic"``).
        work_dir: Folder of the runs' folders; a new temporary folder by default.
        timeout_s: Longest a command may run (seconds); None for no limit.
    """

    can_stop_early = False

    def __init__(self, command: str, drop: str, specs: Mapping[str, SourceSpec], *, fmt: str = "auto",
                 work_dir: Path | None = None, timeout_s: float | None = None) -> None:
        self.arguments = command_arguments(command)
        self.drop = check_drop_pattern(drop)
        self.specs = dict(specs)
        self.fmt = fmt
        self.work_dir = work_dir
        self.timeout_s = timeout_s
        self._closed = threading.Event()

    @property
    def source_names(self) -> tuple[str, ...]:
        """See :attr:`Launcher.source_names`."""
        return tuple(sorted(self.specs))

    def launch(self, request: StoredRequest, design: Design, protocol: Protocol) -> Future[Result]:
        """See :meth:`Launcher.launch`."""
        future: Future[Result] = Future()

        def run() -> None:
            try:
                future.set_result(self.run(request, design, protocol))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting claim, which reports it
                future.set_exception(exc)

        threading.Thread(target=run, name=f"interphase-command-{request.id}", daemon=True).start()
        return future

    def close(self) -> None:
        """Kill the commands still running; their claims are left to expire."""
        self._closed.set()

    def run(self, request: StoredRequest, design: Design, protocol: Protocol) -> Result:
        """Run the command for ``request`` and turn its dropped file into the request's result."""
        out_dir = self._out_dir(request)
        values = {"design_json": json.dumps(design.values, sort_keys=True),
                  "protocol_json": protocol.model_dump_json(), "seed": str(request.seed),
                  "request_id": request.id, "out_dir": str(out_dir)}
        argv = [_PLACEHOLDER.sub(lambda m: values[m.group(1)], argument) for argument in self.arguments]
        with (out_dir / "command.stdout").open("wb") as out, (out_dir / "command.stderr").open("wb") as err:
            try:
                process = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)  # noqa: S603
            except OSError as exc:
                return self._failed(request, design, protocol, FailureKind.DETERMINISTIC,
                                    f"the command could not start: {exc}", argv)
            code = self._wait(process)
        if code is None:
            return self._failed(request, design, protocol, FailureKind.TRANSIENT,
                                f"the command ran past its {self.timeout_s:g} s limit and was killed", argv)
        if code != 0:
            tail = (out_dir / "command.stderr").read_text(errors="replace")[-OUTPUT_TAIL_CHARS:].strip()
            return self._failed(request, design, protocol, FailureKind.TRANSIENT,
                                f"the command exited with code {code}: {tail or 'no output on stderr'}", argv)
        return self._imported(request, design, protocol, out_dir, argv)

    def _out_dir(self, request: StoredRequest) -> Path:
        root = self.work_dir or Path(tempfile.gettempdir()) / "interphase-worker"
        out_dir = root / f"{request.id}-{uuid.uuid4().hex[:8]}"
        out_dir.mkdir(parents=True)
        return out_dir

    def _wait(self, process: subprocess.Popen[bytes]) -> int | None:
        """The command's exit code; None when it overran; killed when the worker stops."""
        waited_s = 0.0
        while True:
            try:
                return process.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                waited_s += POLL_S
            if self._closed.is_set() or (self.timeout_s is not None and waited_s >= self.timeout_s):
                process.kill()
                process.wait()
                if self._closed.is_set():
                    raise InterruptedError("the worker stopped while the command ran")
                return None

    def _imported(self, request: StoredRequest, design: Design, protocol: Protocol, out_dir: Path,
                  argv: list[str]) -> Result:
        from interphase.store.io.cyclers import read_cycler_file

        matches = sorted(out_dir.glob(self.drop), key=lambda p: (p.stat().st_mtime, p.name))
        matches = [path for path in matches if path.is_file()]
        if not matches:
            return self._failed(request, design, protocol, FailureKind.TRANSIENT,
                                f"the command exited 0 but dropped no file matching {self.drop!r} "
                                f"in {out_dir}", argv)
        path = matches[-1]
        try:
            parsed = read_cycler_file(path, self.fmt)
        except InvalidInputError as exc:
            return self._failed(request, design, protocol, FailureKind.DETERMINISTIC,
                                f"the dropped file {path.name} could not be read: {exc.problem}", argv)
        spec = self.specs[request.source]
        kept = tuple(o for o in parsed.observations if o.observable in spec.observables)
        dropped = sorted({o.observable for o in parsed.observations} - set(spec.observables))
        metadata: dict[str, Any] = {**parsed.metadata(), "command": argv, "out_dir": str(out_dir),
                                    "undeclared_observables_left_out": dropped}
        if len(matches) > 1:
            metadata["other_matches"] = [p.name for p in matches[:-1]]
        return Result(source=spec.name, design=design, protocol=protocol, status=ResultStatus.SUCCEEDED,
                      observations=kept, provenance=self._provenance(request, argv, parsed.sha256),
                      cost=Cost(lab_hours=parsed.lab_hours), cycles_run=parsed.n_cycles, metadata=metadata)

    def _failed(self, request: StoredRequest, design: Design, protocol: Protocol, kind: FailureKind,
                message: str, argv: list[str]) -> Result:
        return Result(source=request.source, design=design, protocol=protocol, status=ResultStatus.FAILED,
                      failure_kind=kind, message=message, provenance=self._provenance(request, argv, None),
                      cycles_run=0, metadata={"command": argv})

    def _provenance(self, request: StoredRequest, argv: list[str], file_sha256: str | None) -> Provenance:
        spec = self.specs[request.source]
        params = {"request": request.idempotency_key, "command": argv, "file_sha256": file_sha256}
        return Provenance.capture(spec.name, spec.version, params, seed=request.seed)
