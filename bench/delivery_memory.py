"""Benchmark: how much does delivering a 25 MB video raise the worker's peak memory? (Not a test.)

Target: less than 50 MB. Starts a real redis-server, the Ark and Feishu
simulators and the bot as three roles in separate processes
(`seedance-bot web`, `worker`, `scheduler`; sim.stack.LocalStack), so the worker
process does the delivery and nothing else shares its memory. Then:

1. a warm-up job (small video) is delivered, so every lazy import and
   connection pool of the delivery path already exists;
2. a control job (small video), then the 25 MB job three times (`--repeat`;
   `[[minbytes:26214400]]` in the prompt: the Ark simulator pads its mp4 to
   25 MiB with a trailing `free` box), one after the other. Before each, the
   worker's peak RSS is reset (`echo 5 > /proc/PID/clear_refs`); after it is
   delivered, the peak (`VmHWM`) is read. A sampler also reads `VmRSS` every
   2 ms as a cross-check.

delta = peak during the delivery − RSS just before it; the first 25 MB job's
delta is the figure, the repeats show whether the peak keeps rising. Beside the
control's delta, it is what a big file costs: the download streams to a
temporary file in 64 KiB pieces and the upload streams from the file
(lark-oapi's `MultipartEncoder` reads the file object in 8 KiB blocks), so
neither holds the video in memory.

    .venv/bin/python bench/delivery_memory.py
    .venv/bin/python bench/delivery_memory.py --mb 29      # just under Feishu's 30 MB limit

Results: bench/results/delivery_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sim.redis_server import RedisServer
from sim.stack import LocalStack, wait_until

ROOT = Path(__file__).resolve().parents[1]

MIB = 1024 * 1024


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False if not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Sampler:
    """VmRSS of a process every `interval` seconds, on a thread."""

    def __init__(self, pid: int, interval: float = 0.002) -> None:
        self.pid, self.interval = pid, interval
        self.max_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        path = f"/proc/{self.pid}/status"
        while not self._stop.is_set():
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.max_kb = max(self.max_kb, int(line.split()[1]))
                            break
                self.samples += 1
            except OSError:
                return
            time.sleep(self.interval)

    def __enter__(self) -> Sampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def deliver_one(stack: LocalStack, pid: int, label: str, text: str, chat: str, timeout: float) -> dict[str, Any]:
    """Send one /video message; measure the worker from just before the send until the media reply."""
    before_media = {m["message_id"] for m in stack.bot_messages("media")}
    time.sleep(1.0)  # let the previous job's card updates settle
    rss_before = status_kb(pid, "VmRSS")
    hwm_reset = reset_peak(pid)
    hwm_start = status_kb(pid, "VmHWM")
    t0 = time.monotonic()
    with Sampler(pid) as sampler:
        stack.send(text, chat_id=chat, user={"open_id": f"ou_{chat}", "name": label})

        def new_media() -> list[dict[str, Any]]:
            return [m for m in stack.bot_messages("media") if m["message_id"] not in before_media]

        media = wait_until(new_media, timeout, interval=0.2, what=f"{label}: the media reply")
        time.sleep(0.5)  # the job card's last patch and the marker writes come right after the reply
    elapsed = time.monotonic() - t0
    hwm = status_kb(pid, "VmHWM")
    rss_after = status_kb(pid, "VmRSS")
    size = len(stack.file(media[0]["content"]["file_key"]))
    return {
        "label": label, "video_bytes": size, "video_mib": round(size / MIB, 2),
        "rss_before_mib": round(rss_before / 1024, 1), "rss_after_mib": round(rss_after / 1024, 1),
        "peak_hwm_mib": round(hwm / 1024, 1) if hwm_reset else None,
        "peak_hwm_at_start_mib": round(hwm_start / 1024, 1),
        "peak_sampled_mib": round(sampler.max_kb / 1024, 1), "samples": sampler.samples,
        "delta_hwm_mib": round((hwm - rss_before) / 1024, 1) if hwm_reset else None,
        "delta_sampled_mib": round((sampler.max_kb - rss_before) / 1024, 1),
        "seconds": round(elapsed, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=25.0, help="padded video size in MiB (default 25)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="big deliveries one after the other (default 3: does the peak keep rising?)")
    ap.add_argument("--speed", type=float, default=60.0, help="Ark simulator speed (default 60)")
    ap.add_argument("--timeout", type=float, default=180.0, help="real seconds to wait per delivery")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "delivery_memory.json")
    args = ap.parse_args()
    min_bytes = int(args.mb * MIB)

    workdir = Path(tempfile.mkdtemp(prefix="mem-bench-"))
    redis_server = RedisServer(workdir / "redis")
    redis_server.start()
    stack = LocalStack(workdir=workdir, redis_url=redis_server.url, speed=args.speed, callbacks=True,
                       bot_env={"BOT_USER_MAX_JOBS": "0", "BOT_USER_DAILY_SECONDS": "0", "LOG_LEVEL": "INFO"})
    rows: list[dict[str, Any]] = []
    try:
        stack.start_simulators()
        stack.start_bot(("web", "worker", "scheduler"))
        pid = stack.procs["bot-worker"].pid
        common = "--model 1.5-pro --resolution 720p --duration 5"
        print(f"worker pid {pid}; warm-up delivery ...", flush=True)
        deliver_one(stack, pid, "warm-up", f"/video warm-up clip of a harbour {common}", "oc_mem_0", args.timeout)
        print("control delivery (normal size) ...", flush=True)
        rows.append(deliver_one(stack, pid, "control", f"/video a lighthouse at dusk {common}", "oc_mem_1",
                                args.timeout))
        for i in range(args.repeat):
            print(f"big delivery {i + 1}/{args.repeat} ({args.mb:g} MiB) ...", flush=True)
            rows.append(deliver_one(stack, pid, f"{args.mb:g} MiB #{i + 1}",
                                    f"/video a lighthouse at night, take {i + 1} [[minbytes:{min_bytes}]] {common}",
                                    f"oc_mem_{i + 2}", args.timeout))
    except BaseException:
        for name in list(stack.procs):
            text = stack.log(name)
            if text:
                print(f"----- {name} log (tail) -----\n{text[-3000:]}", file=sys.stderr)
        raise
    finally:
        stack.stop()
        redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    big = rows[1]  # the first big delivery: its delta is the figure
    delta = big["delta_hwm_mib"] if big["delta_hwm_mib"] is not None else big["delta_sampled_mib"]
    peaks = [r["peak_hwm_mib"] if r["peak_hwm_mib"] is not None else r["peak_sampled_mib"] for r in rows[1:]]
    over_all = round(max(peaks) - big["rss_before_mib"], 1)  # all big deliveries against the RSS before the first
    result = {
        "video_target_bytes": min_bytes, "rows": rows, "delta_mib": delta,
        "delta_all_big_deliveries_mib": over_all, "target_mib": 50,
        "meets_target": delta < 50, "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    head = (f"{'delivery':<12} {'video MiB':>9} {'RSS before':>10} {'peak (HWM)':>10} {'peak (2ms)':>10} "
            f"{'delta HWM':>9} {'delta 2ms':>9} {'seconds':>7}")
    print("\nworker process (seedance-bot worker), MiB")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['label']:<12} {r['video_mib']:>9.1f} {r['rss_before_mib']:>10.1f} "
              f"{(r['peak_hwm_mib'] or 0):>10.1f} {r['peak_sampled_mib']:>10.1f} "
              f"{(r['delta_hwm_mib'] if r['delta_hwm_mib'] is not None else float('nan')):>9.1f} "
              f"{r['delta_sampled_mib']:>9.1f} {r['seconds']:>7.1f}")
    print(f"\n{args.mb:g} MiB delivery raised the worker's peak by {delta} MiB (target < 50): "
          f"{'yes' if delta < 50 else 'NO'}; all {args.repeat} big deliveries together: +{over_all} MiB "
          "over the RSS before the first")
    print(f"written {args.out}")
    return 0 if delta < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
