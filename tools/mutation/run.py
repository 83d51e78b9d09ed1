"""Mutation check: plant each one-line bug of ``mutants.py`` in a copy of the repository, run the
tests that should catch it, and report which bugs the suite kills.

Usage (from the repository root; ``make mutation`` runs the first form)::

    .venv/bin/python tools/mutation/run.py --report MUTATION.md   # every mutant, write the report
    .venv/bin/python tools/mutation/run.py --only lif-threshold-strict,stdp-ltd-sign
    .venv/bin/python tools/mutation/run.py --list                  # ids, files and tests
    .venv/bin/python tools/mutation/run.py --check                 # does every mutant still apply?
    .venv/bin/python tools/mutation/run.py --source worktree       # uncommitted edits included

How it works:

- The repository is never touched: the files of ``HEAD`` (``git archive``; or the working tree's
  tracked and untracked non-ignored files with ``--source worktree``) are copied to a temporary
  directory, and every mutant is applied there, tested and reverted.
- A mutant is an exact substring of one file and its replacement; the substring must occur
  exactly once, otherwise the mutant is reported ``stale`` (the code moved on: update the list).
- Tests run with the same interpreter (``sys.executable``) as ``pytest -x -q`` on the mutant's
  own test files only, with the copy first on ``sys.path`` (each run checks that ``spikeforge``
  was imported from the copy). To avoid paying torch's import for every mutant (~15 s on a
  loaded machine), one parent process imports the heavy third-party modules once and forks a
  child per run; the child imports the (mutated) ``spikeforge`` fresh. Bytecode caching is off,
  so a same-size edit within one second can never load a stale ``.pyc``.
- A kill is confirmed by re-running the test that failed on the unmutated copy (all killing
  tests in one run at the end); if it fails there too, the tree itself is broken: the mutant
  runs again with the broken tests deselected (up to three rounds), and is reported ``baseline
  failed`` (not scored) if it still has no confirmed kill. ``--baseline-only`` runs every distinct
  selection unmutated instead.
- C++ mutants (``.cpp``/``.h``) rebuild the kernels into a private cache directory
  (``XDG_CACHE_HOME``), deleted afterwards, through a ``g++`` shim (:data:`SHIM`) that compiles
  with ``-O1`` instead of ``-O3`` (the arithmetic is the same IEEE arithmetic either way:
  ``-ffp-contract=off``, no fast-math) and caches objects, so only the mutated file recompiles.

Outcomes: ``killed`` (a test failed, or the run timed out), ``survived``, ``equivalent`` (survived,
and the mutant carries a reason it cannot be detected), ``stale``, ``baseline failed``, ``error``
(the run could not start, or ``spikeforge`` did not come from the copy). The score is
killed / (killed + survived). Exit status 1 if any mutant survived unexplained or errored.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mutants import HISTORY, MUTANTS, Mutant  # noqa: E402  (the list sits next to this file)

REPO = HERE.parent.parent
PRELOAD = ("numpy", "torch", "pytest", "scipy", "h5py", "nir", "snntorch", "matplotlib")
"""Third-party modules the parent imports once before forking (never ``spikeforge``)."""
RUN_TIMEOUT = 900.0
"""Seconds one pytest run may take before it is killed (counted as a kill: the mutant hangs)."""


@dataclass
class Result:
    mutant: Mutant
    outcome: str
    seconds: float = 0.0
    detail: str = ""


# ------------------------------------------------------------------------------------------------
# the copy
# ------------------------------------------------------------------------------------------------
def make_copy(dest: Path, source: str) -> str:
    """Fill ``dest`` with the repository's files; returns a description (commit or 'worktree')."""
    if source == "worktree":
        names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                               check=True, capture_output=True).stdout.decode().split("\0")
        for name in filter(None, names):
            src = REPO / name
            if src.is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / name)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        return f"working tree (HEAD {head.stdout.strip()} plus uncommitted edits)"
    commit = subprocess.run(["git", "rev-parse", source], cwd=REPO, check=True, capture_output=True,
                            text=True).stdout.strip()
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return f"commit {commit[:12]}"


def _touch(path: Path) -> None:
    """Move the mtime forward so nothing keyed on (mtime, size) can mistake one version for another."""
    st = path.stat()
    ns = max(time.time_ns(), st.st_mtime_ns + 1_000_000_000)
    os.utime(path, ns=(ns, ns))


# ------------------------------------------------------------------------------------------------
# one pytest run in a forked child
# ------------------------------------------------------------------------------------------------
def run_tests(root: Path, tests: tuple[str, ...], log: Path, timeout: float, env: dict[str, str], *,
              stop_first: bool = True) -> tuple[str, str]:
    """Run ``pytest -x -q tests`` in ``root``; returns ``(status, detail)``.

    ``status`` is ``pass``, ``fail`` (detail: the first failed test), ``timeout`` or ``error``.
    """
    args = [*(["-x"] if stop_first else []), "-q", "-p", "no:cacheprovider", "--timeout", str(int(timeout)), *tests]
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 98
        try:
            os.setpgid(0, 0)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(root)
            os.environ.update(env)
            sys.path.insert(0, str(root))
            import pytest

            code = int(pytest.main(args))
            sf = sys.modules.get("spikeforge")
            origin = getattr(sf, "__file__", None) or ""
            if sf is not None and not Path(origin).resolve().is_relative_to(root.resolve()):
                print(f"\nMUTATION-RUNNER: spikeforge was imported from {origin}, not from {root}", flush=True)
                code = 97
            print(f"\nMUTATION-RUNNER: pytest exit code {code}; spikeforge from {origin or '(not imported)'}",
                  flush=True)
        except BaseException as e:  # noqa: BLE001 (report anything, then leave the child)
            print(f"\nMUTATION-RUNNER: child failed: {e!r}", flush=True)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)  # the child's own process group (it and its subprocesses)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return "timeout", f"no result within {RUN_TIMEOUT:.0f} s"
        time.sleep(0.1)
    code = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace") if log.exists() else ""
    if code == 0:
        return "pass", ""
    if code in (1, 2):  # tests failed (2: interrupted, e.g. a collection error)
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.M)
        return "fail", failed[0] if failed else f"tests failed (exit code {code})"
    last = [ln for ln in text.splitlines() if ln.strip()][-3:]
    return "error", f"exit code {code}: " + " | ".join(last)


def unmutated_failures(root: Path, nodes: list[str], log: Path, timeout: float, env: dict[str, str]) -> set[str]:
    """The test ids among ``nodes`` that fail on the unmutated copy (all run in one pytest call, no ``-x``)."""
    status, _ = run_tests(root, tuple(nodes), log, timeout, env, stop_first=False)
    if status == "pass":
        return set()
    text = log.read_text(errors="replace") if log.exists() else ""
    failed = set(re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.M))
    return failed if failed else set(nodes)  # no summary (timeout, crash): trust none of them


# ------------------------------------------------------------------------------------------------
# mutants
# ------------------------------------------------------------------------------------------------
def apply(root: Path, m: Mutant) -> str | None:
    """Plant ``m`` in the copy; returns its original text, or ``None`` if the mutant is stale."""
    path = root / m.file
    if not path.is_file():
        return None
    text = path.read_text()
    if text.count(m.old) != 1:
        return None
    path.write_text(text.replace(m.old, m.new))
    _touch(path)
    return text


def revert(root: Path, m: Mutant, original: str) -> None:
    path = root / m.file
    path.write_text(original)
    _touch(path)


SHIM = """#!{python}
# g++ for mutant builds: -O1 instead of -O3 (same IEEE arithmetic: -ffp-contract=off, no fast-math;
# about 2.5x faster to compile), and each object cached by its flags, source and headers, so a
# mutant of one .cpp file recompiles only that file.
import hashlib, os, shutil, subprocess, sys
real, cache = {real!r}, {cache!r}
args = ["-O1" if a == "-O3" else a for a in sys.argv[1:]]
if "-c" in args and "-o" in args:
    src, out = args[args.index("-c") + 1], args[args.index("-o") + 1]
    h = hashlib.sha256(" ".join(a for a in args if a not in (src, out)).encode())
    folder = os.path.dirname(src) or "."
    for name in sorted(f for f in os.listdir(folder) if f.endswith(".h")) + [os.path.basename(src)]:
        with open(os.path.join(folder, name), "rb") as f:
            h.update(name.encode() + b"\\0" + f.read() + b"\\0")
    hit = os.path.join(cache, h.hexdigest() + ".o")
    if os.path.exists(hit):
        shutil.copyfile(hit, out)
        sys.exit(0)
    rc = subprocess.call([real, *args])
    if rc == 0:
        shutil.copyfile(out, hit + ".tmp")
        os.replace(hit + ".tmp", hit)
    sys.exit(rc)
os.execv(real, [real, *args])
"""


def compiler_shim(work: Path) -> Path:
    """A directory holding ``g++`` (see :data:`SHIM`) to put first on ``PATH`` for C++ mutant builds."""
    folder = work / "bin"
    shim = folder / "g++"
    if not shim.exists():
        real = next((shutil.which(n) for n in ("g++", "c++", "clang++") if shutil.which(n)), None)
        if real is None:
            raise RuntimeError("C++ mutants need a C++ compiler on PATH")
        (work / "objects").mkdir(parents=True, exist_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        shim.write_text(SHIM.format(python=sys.executable, real=real, cache=str(work / "objects")))
        shim.chmod(0o755)
    return folder


def is_cpp(m: Mutant) -> bool:
    return m.file.endswith((".cpp", ".h"))


def stale_reason(root: Path, m: Mutant) -> str:
    path = root / m.file
    if not path.is_file():
        return f"{m.file} does not exist"
    n = path.read_text().count(m.old)
    return f"the original text occurs {n} times in {m.file} (expected once)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default="HEAD", help="a git revision, or 'worktree' (default: HEAD)")
    ap.add_argument("--only", default="", help="comma-separated mutant ids (default: all)")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per test (pytest-timeout; default: 240)")
    ap.add_argument("--report", type=Path, help="write a Markdown report here (e.g. MUTATION.md)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy and logs")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--check", action="store_true", help="only check that every mutant applies (no tests)")
    ap.add_argument("--baseline-only", action="store_true", help="only run the unmutated test selections")
    args = ap.parse_args(argv)

    ids = [m.id for m in MUTANTS]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        print(f"duplicate mutant ids: {sorted(dup)}", file=sys.stderr)
        return 2
    chosen = list(MUTANTS)
    if args.only:
        want = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = sorted(set(want) - set(ids))
        if unknown:
            print(f"unknown mutant ids: {unknown}", file=sys.stderr)
            return 2
        chosen = [m for m in MUTANTS if m.id in want]
    if args.list:
        for m in chosen:
            print(f"{m.id:32s} {m.file:44s} {' '.join(m.tests)}")
        return 0

    t_start = time.monotonic()
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    work = Path(tempfile.mkdtemp(prefix="spikeforge-mutation-"))
    root, logs = work / "repo", work / "logs"
    root.mkdir()
    origin = make_copy(root, args.source)
    env = {"PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"}
    print(f"mutation check of {origin} in {root} ({len(chosen)} mutants)", flush=True)

    results: list[Result] = []
    planted: list[Mutant] = []
    for m in chosen:
        path = root / m.file
        if not path.is_file() or path.read_text().count(m.old) != 1:
            results.append(Result(m, "stale", detail=stale_reason(root, m)))
        else:
            planted.append(m)
    if args.check:
        for r in results:
            print(f"  STALE {r.mutant.id}: {r.detail}")
        print(f"{len(planted)} of {len(chosen)} mutants apply")
        shutil.rmtree(work, ignore_errors=True)
        return 1 if results else 0

    for name in PRELOAD:  # shared by every forked run
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    assert "spikeforge" not in sys.modules, "the parent must not import spikeforge"

    if args.baseline_only:  # every distinct selection once, unmutated
        for k, sel in enumerate(dict.fromkeys(m.tests for m in planted)):
            t0 = time.monotonic()
            status, detail = run_tests(root, sel, logs / f"baseline-{k}.log", args.timeout, env)
            print(f"  baseline {' '.join(sel)}: {status} {detail} ({time.monotonic() - t0:.0f} s)", flush=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        return 0

    def run_mutant(m: Mutant, deselect: set[str]) -> Result:
        t0 = time.monotonic()
        original = apply(root, m)
        assert original is not None
        run_env = dict(env)
        cache = work / f"cache-{m.id}"
        if is_cpp(m):
            run_env["XDG_CACHE_HOME"] = str(cache)
            run_env["PATH"] = f"{compiler_shim(work)}{os.pathsep}{os.environ.get('PATH', '')}"
        extra = tuple(a for node in sorted(deselect) for a in ("--deselect", node))
        try:
            status, detail = run_tests(root, extra + m.tests, logs / f"{m.id}.log", args.timeout, run_env)
        finally:
            revert(root, m, original)
            shutil.rmtree(cache, ignore_errors=True)
        outcome = {"fail": "killed", "timeout": "killed", "pass": "survived", "error": "error"}[status]
        if status == "timeout":
            detail = f"timeout ({detail})"
        if outcome == "survived" and m.equivalent:
            outcome, detail = "equivalent", m.equivalent
        print(f"  {m.id}: {outcome.upper()} {detail} ({time.monotonic() - t0:.0f} s)", flush=True)
        return Result(m, outcome, time.monotonic() - t0, detail)

    results += [run_mutant(m, set()) for m in planted]

    # A kill counts only if the killing test passes without the mutant: run the killing tests once,
    # unmutated. Mutants "killed" by a test that fails anyway run again without the broken tests.
    confirmed: set[str] = set()
    broken: set[str] = set()
    scanned: set[tuple[str, ...]] = set()
    for _ in range(3):
        killers = sorted({r.detail for r in results if r.outcome == "killed" and "::" in r.detail} - confirmed - broken)
        if not killers:
            break
        t0 = time.monotonic()
        n_log = len(confirmed | broken)
        failing = unmutated_failures(root, killers, logs / f"unmutated-{n_log}.log", args.timeout, env)
        broken |= failing
        confirmed |= set(killers) - failing
        print(f"  {len(killers)} killing tests re-run without mutants: {len(failing)} fail there too "
              f"({time.monotonic() - t0:.0f} s){': ' + ', '.join(sorted(failing)) if failing else ''}", flush=True)
        redo = [i for i, r in enumerate(results) if r.outcome == "killed" and r.detail in broken]
        for sel in dict.fromkeys(results[i].mutant.tests for i in redo) if redo else ():
            if sel not in scanned:  # the tree is broken here: find every failing test of the selection
                scanned.add(sel)
                broken |= unmutated_failures(root, list(sel), logs / f"unmutated-{n_log}-{len(scanned)}.log",
                                             args.timeout, env)
        for i in redo:
            results[i] = run_mutant(results[i].mutant, broken)
    for r in results:
        if r.outcome == "killed" and r.detail in broken:
            r.outcome, r.detail = "baseline failed", f"{r.detail} also fails without the mutant"
    if broken:
        print(f"  tests failing without any mutant (deselected on re-runs): {', '.join(sorted(broken))}")

    elapsed = time.monotonic() - t_start
    order = {m.id: i for i, m in enumerate(chosen)}
    results.sort(key=lambda r: order[r.mutant.id])
    text = report(results, origin, elapsed, argv if argv is not None else sys.argv[1:], sorted(broken))
    print("\n" + text)
    if args.report:
        args.report.write_text(text)
        print(f"report written to {args.report}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    bad = [r for r in results if r.outcome in ("survived", "error")]
    return 1 if bad else 0


def report(results: list[Result], origin: str, elapsed: float, argv: list[str], broken: list[str]) -> str:
    count = {k: sum(r.outcome == k for r in results)
             for k in ("killed", "survived", "equivalent", "stale", "baseline failed", "error")}
    scored = count["killed"] + count["survived"]
    score = f"{count['killed']}/{scored} = {count['killed'] / scored:.0%}" if scored else "n/a"
    cmd = " ".join(["python tools/mutation/run.py", *argv])
    lines = [
        "# Mutation check",
        "",
        "Generated by `make mutation` (`tools/mutation/run.py`; the mutants and the tests that should",
        "catch each are listed in `tools/mutation/mutants.py`). Each mutant is one planted bug in the",
        "modules that carry the math and the accounting; it is applied to a temporary copy of the",
        "repository, only its own tests run (`pytest -x`), and it is reverted.",
        "",
        f"- command: `{cmd}`",
        f"- date: {_dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- code: {origin}",
        f"- run time: {elapsed / 60:.1f} min",
        f"- **score: {score}** killed (killed / (killed + survived))",
        "- " + ", ".join(f"{v} {k}" for k, v in count.items()),
        "",
        "| mutant | file | planted bug | outcome | detail |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        m = r.mutant
        detail = r.detail.replace("|", "\\|")
        lines.append(f"| `{m.id}` | `{m.file}` | {m.what} | {r.outcome} | {detail} |")
    survivors = [r for r in results if r.outcome == "survived"]
    lines += ["", "## Survivors", ""]
    lines += [f"- `{r.mutant.id}` ({r.mutant.file}): {r.mutant.what}" for r in survivors] or ["None."]
    if broken:
        lines += ["", "## Tests that fail without any mutant (deselected when mutants ran again)", ""]
        lines += [f"- `{b}`" for b in broken]
    equivalent = [r for r in results if r.outcome == "equivalent"]
    if equivalent:
        lines += ["", "## Survivors explained (not counted in the score)", ""]
        lines += [f"- `{r.mutant.id}`: {r.mutant.what}. {r.mutant.equivalent}" for r in equivalent]
    if HISTORY:
        lines += ["", "## Earlier runs", ""] + [f"- {h}" for h in HISTORY]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
