"""Run every ``gpu``-profile training step of the dry run on a real GPU, at the full batch size.

``tests/gpu_dry_run.py`` estimates on the CPU the peak GPU memory of each case study's training
steps at the ``gpu`` profile's full batch B. This script takes the same steps
(``tests/test_gpu_dry_run.py``'s ``*_steps()``), moves the model and a batch of B samples to CUDA,
and measures what the estimate predicts: the peak of ``torch.cuda.max_memory_reserved`` (what the
caching allocator took from the card) and ``max_memory_allocated``, and the seconds per step (the
median of ``--repeat`` steps after two warm-up steps, with ``torch.cuda.synchronize``).

Usage, on a CUDA machine: ``python tools/gpu_steps.py --out steps.json`` (one JSON object per
step). With ``--device cpu --batch 2`` it runs anywhere, for testing the script itself.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_gpu_dry_run as dry  # noqa: E402  (the steps live with the dry run's tests)


def _to(batch, device):
    return tuple(t.to(device) if isinstance(t, torch.Tensor) else t for t in batch)


def run_step(step, device: torch.device, batch: int, repeat: int) -> dict:
    """Warm up twice, then time ``repeat`` training steps of ``step`` at ``batch`` samples."""
    torch.manual_seed(0)
    module, parameters = step.build()
    module = module.to(device)
    parameters = [p for p in module.parameters() if p.requires_grad]
    optimizer = step.optimizer(parameters)
    torch.manual_seed(1)
    data = _to(step.make_batch(batch), device)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    seconds, losses = [], []
    for i in range(2 + repeat):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = step.loss(module, data)
        loss.backward()
        if step.clip is not None:
            torch.nn.utils.clip_grad_norm_(parameters, step.clip)
        optimizer.step()
        losses.append(float(loss.detach()))
        if cuda:
            torch.cuda.synchronize()
        if i >= 2:
            seconds.append(time.perf_counter() - start)
    return {
        "case": step.case,
        "model": step.model,
        "key": step.key,
        "batch": batch,
        "full_batch": step.batch,
        "parameters": sum(p.numel() for p in parameters),
        "seconds_per_step": statistics.median(seconds),
        "max_reserved": torch.cuda.max_memory_reserved() if cuda else None,
        "max_allocated": torch.cuda.max_memory_allocated() if cuda else None,
        "losses": losses,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=None, help="default: each step's full B")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cases", default="deblur,navier_stokes,lp,reasoning")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    failures = 0
    with args.out.open("w") as out:
        if device.type == "cuda":
            out.write(json.dumps({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__}))
            out.write("\n")
        for case in args.cases.split(","):
            for step in getattr(dry, f"{case}_steps")():
                try:
                    row = run_step(step, device, args.batch or step.batch, args.repeat)
                except Exception as error:  # report, and go on with the next step
                    failures += 1
                    row = {
                        "case": step.case,
                        "model": step.model,
                        "error": repr(error),
                        "traceback": traceback.format_exc(),
                    }
                print(json.dumps({k: v for k, v in row.items() if k != "traceback"}), flush=True)
                out.write(json.dumps(row) + "\n")
                out.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
