"""LIF layer forward+backward at the issue-17 sizes: spikeforge vs the JAX peers (.venv-jax), one run.

Prints one markdown table per size (the rows of `make bench` section 1, without the torch peers) and
writes the raw rows to /tmp/jaxbench.json. Usage: `.venv/bin/python tools/bench_jax_peers.py`
(needs `make jax-peers`). Each case is its own subprocess, as in `make bench`.
"""

import json
import os
import sys
from typing import Any

from spikeforge.bench.harness import run_case
from spikeforge.bench.jax_bridge import jax_rows
from spikeforge.bench.report import _case_table
from spikeforge.bench.scenarios import lif_input


def main() -> None:
    out: dict[str, Any] = {"load_start": os.getloadavg(), "cases": []}
    for shape in ((100, 128, 2048), (100, 32, 512)):
        ours = run_case("lif_layer", "spikeforge", {"shape": shape}, reps=7, warmup=2)
        rows = [{"lib": "spikeforge", "check": {"equal": True}, **ours}]
        rows += jax_rows(lif_input(*shape), reps=7, warmup=2, log=lambda m: print(m, file=sys.stderr, flush=True))
        out["cases"].append({"shape": shape, "rows": rows})
        print(f"\n### shape={shape}\n\n" + "\n".join(_case_table(rows)), flush=True)
    out["load_end"] = os.getloadavg()
    with open("/tmp/jaxbench.json", "w") as f:
        json.dump(out, f, default=str)
    print("load average (1, 5, 15 min) at start / end:", out["load_start"], out["load_end"])


if __name__ == "__main__":
    main()
