"""Every Python block in README.md and docs/*.md runs, as written, in a fresh namespace.

- A fence opened with ```python (or py / python3) is a complete program: it is executed on its
  own (imports included) in a temporary working directory, seeded with ``torch.manual_seed(0)``.
- ```python no-run marks a block that is deliberately not runnable; there must be very few
  (``MAX_NO_RUN``), and each must say why in its first line.
- A ```text output block (after a Python block, with only prose between) is that block's output:
  the printed text must match it — the same words and layout, each number within 10 % (or 1e-3)
  of the one shown, so a report in the docs is a real report of the code above it.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON = {"python", "py", "python3"}
MAX_NO_RUN = 3
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>.*)$")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    info: list[str]  # the fence's info words, e.g. ["python", "no-run"]
    code: str
    output: str | None = None  # the following ```text output block, if any

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def parse(path: Path) -> list[Block]:
    """Fenced blocks of a Markdown file, with each Python block's expected output attached."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent, start = m.group("fence"), len(m.group("indent")), i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        if i >= len(lines):
            raise ValueError(f"{path}:{start + 1}: unclosed code fence")
        info = m.group("info").strip().lower().split()
        block = Block(path, start + 1, info, "\n".join(body) + "\n")
        previous = blocks[-1] if blocks else None
        if info[:2] == ["text", "output"]:
            if previous is None or not previous.info or previous.info[0] not in PYTHON or previous.output is not None:
                raise ValueError(f"{path}:{start + 1}: a text output block must follow its Python block")
            previous.output = block.code
        blocks.append(block)
        i += 1
    return blocks


ALL = [b for path in DOC_FILES for b in parse(path)]
PY = [b for b in ALL if b.info[:1] and b.info[0] in PYTHON]
RUN = [b for b in PY if "no-run" not in b.info]
NO_RUN = [b for b in PY if "no-run" in b.info]


def _skeleton_and_numbers(text: str) -> tuple[str, list[float]]:
    """Text with numbers replaced by '#' and whitespace / rule lines normalised; the numbers."""
    numbers = [float(n) for n in NUMBER.findall(text)]
    skeleton = NUMBER.sub("#", text)
    skeleton = re.sub(r"-{2,}", "--", skeleton)  # table rules change width with their columns
    skeleton = "\n".join(" ".join(line.split()) for line in skeleton.strip().splitlines())
    return skeleton, numbers


def assert_output_matches(got: str, shown: str, where: str) -> None:
    sk_got, n_got = _skeleton_and_numbers(got)
    sk_shown, n_shown = _skeleton_and_numbers(shown)
    hint = f"{where}: the output shown in the docs is not what the block prints; it now prints:\n{got}"
    assert sk_got == sk_shown, hint
    for a, b in zip(n_got, n_shown):
        assert abs(a - b) <= max(0.1 * abs(b), 1e-3), f"{a} vs {b} shown. {hint}"


def test_docs_have_python_blocks():
    assert len(RUN) >= 8, [b.id for b in PY]  # the parser finds the blocks (README and docs/*.md)
    assert any(b.output for b in RUN if b.path.name == "README.md"), "the README quickstart shows its report"


def test_few_blocks_are_marked_not_runnable():
    assert len(NO_RUN) <= MAX_NO_RUN, [b.id for b in NO_RUN]
    for b in NO_RUN:
        first = b.code.lstrip().splitlines()[0] if b.code.strip() else ""
        assert first.startswith("#"), f"{b.id}: a no-run block starts with a comment saying why"


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_block_runs(block: Block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    out = io.StringIO()
    code = compile(block.code, block.id, "exec")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the examples are small: one thread is faster on a shared machine
    try:
        with contextlib.redirect_stdout(out):
            exec(code, {"__name__": "__main__"})  # noqa: S102 - executing the documentation is the test
    finally:
        torch.set_num_threads(threads)
    if block.output is not None:
        assert_output_matches(out.getvalue(), block.output, block.id)


def test_output_comparison_can_fail():
    shown = "layer rate\n-----  ----\n1 0.0906\nacc 0.92\n"
    assert_output_matches("layer rate\n---  ------\n1 0.0950\nacc 0.93\n", shown, "self")
    with pytest.raises(AssertionError):
        assert_output_matches("layer rate\n-----  ----\n1 0.0000\nacc 0.92\n", shown, "self")
    with pytest.raises(AssertionError):
        assert_output_matches("layer rates\n-----  ----\n1 0.0906\nacc 0.92\n", shown, "self")
