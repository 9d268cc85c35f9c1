"""Benchmark: N jobs in flight at once, roles as separate processes. What does each task cost? (Not a test.)

For each N: a fresh redis-server, the Ark and Feishu simulators (`seedance-bot sim ark|feishu`)
and the bot as three processes (`seedance-bot web`, `worker`, `scheduler`: sim.stack.LocalStack),
all on loopback. Polling only (no BOT_PUBLIC_URL: Ark cannot call back), `ARK_MAX_IN_FLIGHT=N`, no
per-user limits (every job comes from its own user in its own chat, and BOT_USER_* = 0), the Ark
simulator running every task at once (`--concurrency N --queue-cap N`). The job mix takes about a
minute of service time (57.5–65 s expected); the simulator runs `--speed S` times faster than the
real service (default 1: real time) and the bot is told so with SEEDANCE_EXPECTED_TIME_FACTOR=1/S.
The N chat messages are sent as fast as 8 sender threads can, so the tasks end within a short
window and delivery works through a backlog.

Reported per N (from the simulators' own request logs, the job records in Redis and /proc):

  Ark             calls per task (list calls shared by the tasks each named, fallback GETs,
                  delivery's reads; creates apart) and look calls (list + GET) per second: the
                  average over the window while tasks run (first create → last task ended at
                  Ark) and the peak of any one-second bucket; also per service second (÷ S).
  Feishu          calls per task by kind: card updates (PATCH /im/v1/messages/:id and
                  card/update), replies by msg_type (the card, the video, texts), uploads
                  (file, image), reactions, everything else; 429s.
  CPU             utime + stime of each role's process tree (/proc/<pid>/stat, children
                  included: gunicorn's workers), from healthy to all delivered, in CPU-seconds
                  and as a share of one core over that wall time; the simulators and Redis too.
  Redis           INFO memory: used_memory_peak (a fresh server per N) and used_memory at the end.
  delivery        per job: bot knew the task ended (`finished_at`) → video posted
                  (`delivered_at`), median / p95 / max; throughput per worker process while it
                  had a backlog (more finished jobs waiting than it delivers at once), and the
                  best 5-second window.

    .venv/bin/python bench/scale.py --n 100,300,1000
    .venv/bin/python bench/scale.py --n 300 --speed 2 --worker-args=--threads=8

Results: bench/results/scale-N.json, and one markdown table line per N on stdout.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detection import ArkCalls, pct, warm_media

from sim.redis_server import RedisServer
from sim.stack import LocalStack, StackError, wait_until

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("web", "worker", "scheduler")
TERMINAL_JOB = ("done", "failed", "cancelled")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# (model alias, resolution, duration): about a minute of service time each (57.5–65 s expected).
JOB_MIX: list[tuple[str, str, int]] = [
    ("1.5-pro", "1080p", 4), ("2.0", "720p", 5), ("1.0-pro", "1080p", 5),
    ("2.0-fast", "480p", 10), ("pro-fast", "720p", 10),
]

# Targets of issue 12 at N = 1,000.
TARGET_ARK_LOOKS_PER_S = 2.0
TARGET_SCHEDULER_CORE = 0.10
TARGET_CARD_UPDATES = 3.0
TARGET_VIDEOS_PER_S = 25.0


# --- /proc ------------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, utime + stime in seconds) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu(root: int) -> float:
    """CPU seconds of `root` and every live descendant (gunicorn's workers, ...)."""
    table: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                table[int(entry)] = st
    keep = {root}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in table.items():
            if ppid in keep and pid not in keep:
                keep.add(pid)
                grew = True
    return sum(table[p][1] for p in keep if p in table)


class Sampler:
    """Once a second: each role's tree CPU and Redis used_memory (kept for the timeline)."""

    def __init__(self, pids: dict[str, int], r: redis.Redis) -> None:
        self.pids = pids
        self.r = r
        self.samples: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def take(self) -> dict[str, Any]:
        s: dict[str, Any] = {"t": time.time(), "cpu": {n: tree_cpu(p) for n, p in self.pids.items()}}
        try:
            s["redis_used"] = int(self.r.info("memory")["used_memory"])
        except redis.RedisError:
            pass
        return s

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            self.samples.append(self.take())

    def __enter__(self) -> Sampler:
        self.samples.append(self.take())
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.samples.append(self.take())


# --- one run ------------------------------------------------------------------------------------------


def run(n: int, speed: float, senders: int, timeout: float, worker_args: list[str],
        keep_logs: Path | None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"scale-{n}-"))
    rs = RedisServer(tmp / "redis")
    rs.start()
    prefix = f"scale{n}"
    stack = LocalStack(
        workdir=tmp / "stack", redis_url=rs.url, speed=speed, callbacks=False, max_in_flight=n,
        redis_prefix=prefix, ark_args=["--concurrency", str(n), "--queue-cap", str(n)],
        bot_env={"BOT_USER_MAX_JOBS": "0", "BOT_USER_MAX_QUEUED": "0", "BOT_USER_DAILY_SECONDS": "0",
                 "BOT_DAILY_SECONDS": "0", "BOT_INBOX_MAX": str(max(10_000, 4 * n)), "LOG_LEVEL": "INFO"},
    )
    r = redis.Redis.from_url(rs.url, decode_responses=True)
    jobs = [JOB_MIX[i % len(JOB_MIX)] for i in range(n)]
    try:
        stack.start_simulators()
        names = [f"bot-{role}" for role in ROLES]
        for role, name in zip(ROLES, names, strict=True):
            stack.spawn(name, [role, *(worker_args if role == "worker" else [])], stack.bot_environment())
        stack.wait_healthy(90, names)
        time.sleep(2.0)  # the scheduler takes its lease, APScheduler starts
        pids = {role: stack.procs[f"bot-{role}"].pid for role in ROLES}
        pids.update({"ark sim": stack.procs["ark"].pid, "feishu sim": stack.procs["feishu"].pid})
        assert rs.proc is not None
        pids["redis"] = rs.proc.pid
        memory_before = int(r.info("memory")["used_memory"])

        with Sampler(pids, r) as sampler:
            t0 = time.time()

            def send(i: int) -> None:
                alias, res, dur = jobs[i]
                stack.send(f"/video scale clip {i}, a slow pan over a harbour at dusk --model {alias} "
                           f"--resolution {res} --duration {dur}",
                           chat_id=f"oc_scale_{i}", user={"open_id": f"ou_scale_{i}", "name": f"User {i}"})

            with ThreadPoolExecutor(senders) as pool:
                list(pool.map(send, range(n)))
            sent_s = time.time() - t0
            print(f"  [{n}] {n} messages sent in {sent_s:.1f} s", flush=True)

            def progress() -> bool:
                stack.check_running()
                states = Counter(_job_states(r, prefix))
                done = sum(states[s] for s in TERMINAL_JOB)
                progress.last = states  # type: ignore[attr-defined]
                return sum(states.values()) == n and done == n

            try:
                wait_until(progress, timeout, interval=1.0, what=f"N={n}: every job delivered")
            except AssertionError:
                print(f"  [{n}] timed out; job states {dict(progress.last)}", file=sys.stderr)  # type: ignore[attr-defined]
                raise
            wall = time.time() - t0
        print(f"  [{n}] all {n} jobs ended in {wall:.1f} s", flush=True)
        # Card patches still waiting in the card queue (the token bucket paces them) are part of the
        # cost: wait for the queue to drain, then check that every card ended showing its video.
        due = "{" + prefix + "}:cards:due"
        wait_until(lambda: r.zcard(due) == 0, 300, interval=0.5, what=f"N={n}: the card queue to drain")
        cards_settled = time.time() - t0
        records = _jobs(r, prefix)
        finals = Counter(_card_template(m) for m in stack.bot_messages("interactive"))
        print(f"  [{n}] card queue drained at {cards_settled:.1f} s; card headers {dict(finals)}", flush=True)

        info = r.info("memory")
        tasks = {t["id"]: t for t in stack.ark_tasks()}
        ark_log = requests.get(f"{stack.ark_origin}/__sim__/requests", timeout=60).json()
        feishu_log = stack.feishu_requests()
        if keep_logs is not None:
            keep_logs.mkdir(parents=True, exist_ok=True)
            (keep_logs / f"{n}-requests.json").write_text(json.dumps(
                {"ark": ark_log, "feishu": feishu_log, "tasks": tasks, "jobs": records}))
        res = report(n, speed, records, tasks, ark_log, feishu_log, sampler.samples, info, memory_before,
                     t0, wall, sent_s, worker_args)
        res["feishu"]["cards_drained_s"] = round(cards_settled, 1)
        res["feishu"]["card_headers_at_end"] = dict(finals)
        res["targets"]["every_card_ends_done"] = finals == Counter({"green": n})
        return res
    except BaseException:
        for name in list(stack.procs):
            text = stack.log(name)
            if text:
                print(f"----- {name} log (tail) -----\n{text[-3000:]}", file=sys.stderr)
        raise
    finally:
        if keep_logs is not None:
            keep_logs.mkdir(parents=True, exist_ok=True)
            for log in (tmp / "stack").glob("*.log"):
                shutil.copy(log, keep_logs / f"{n}-{log.name}")
        try:
            stack.stop()
        except StackError:
            pass
        rs.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _card_template(message: dict[str, Any]) -> str:
    """The header colour of a card as the chat shows it now (green: the video is ready)."""
    card = message.get("content") or {}
    if isinstance(card, str):
        try:
            card = json.loads(card)
        except ValueError:
            return "unreadable"
    return str((card.get("header") or {}).get("template", "none"))


def _job_states(r: redis.Redis, prefix: str) -> list[str]:
    keys = list(r.scan_iter("{" + prefix + "}:job:*", count=1000))
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, "state", "task_id", "kind")
    return [state or "" for state, task_id, kind in pipe.execute() if task_id or state in TERMINAL_JOB]


def _jobs(r: redis.Redis, prefix: str) -> dict[str, dict[str, str]]:
    keys = list(r.scan_iter("{" + prefix + "}:job:*", count=1000))
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    return {k: v for k, v in zip(keys, pipe.execute(), strict=True) if v.get("task_id")}


# --- the report -------------------------------------------------------------------------------------------


def _dist(values: list[float], digits: int = 2) -> dict[str, float]:
    if not values:
        return {}
    return {"median": round(statistics.median(values), digits), "p95": round(pct(values, 95), digits),
            "max": round(max(values), digits), "mean": round(statistics.fmean(values), digits)}


def _throughput(finished: list[float], delivered: list[float], workers: int, busy_above: int) -> dict[str, Any]:
    """Deliveries per second while more finished jobs waited than one process delivers at once.

    Walks the events in time order keeping the backlog (finished, not yet delivered). Time with a
    backlog above `busy_above` (the worker's threads) is time the worker was saturated; deliveries
    in it ÷ that time is its throughput. Also the best 5-second window of deliveries.
    """
    events = sorted([(t, 1) for t in finished] + [(t, -1) for t in delivered])
    backlog, busy_s, busy_done, last, peak_backlog = 0, 0.0, 0, None, 0
    for t, d in events:
        if last is not None and backlog > busy_above:
            busy_s += t - last
            if d < 0:
                busy_done += 1
        backlog += d
        peak_backlog = max(peak_backlog, backlog)
        last = t
    ds = sorted(delivered)
    best, j = 0, 0
    for i in range(len(ds)):
        while ds[i] - ds[j] > 5.0:
            j += 1
        best = max(best, i - j + 1)
    out: dict[str, Any] = {"saturated_s": round(busy_s, 1), "delivered_while_saturated": busy_done,
                           "peak_backlog": peak_backlog, "best_5s_per_s": round(best / 5.0 / workers, 1)}
    out["per_worker_per_s"] = round(busy_done / busy_s / workers, 1) if busy_s >= 2.0 else None
    return out


def report(n: int, speed: float, records: dict[str, dict[str, str]], tasks: dict[str, dict[str, Any]],
           ark_log: list[dict[str, Any]], feishu_log: list[dict[str, Any]], samples: list[dict[str, Any]],
           redis_info: dict[str, Any], memory_before: int, t0: float, wall: float, sent_s: float,
           worker_args: list[str]) -> dict[str, Any]:
    recs = list(records.values())
    states = Counter(x.get("state", "") for x in recs)
    delivered = [x for x in recs if x.get("state") == "done" and x.get("video_message_id")]

    # --- Ark
    calls = ArkCalls(ark_log)
    per_task = [calls.of(x["task_id"], float(x.get("finished_at") or 0) or float("inf")) for x in recs]
    api = [x for x in ark_log if str(x.get("path", "")).startswith("/api/v3/")]
    looks = [float(x["time"]) for x in api if x["method"] == "GET"]
    creates = [float(x["time"]) for x in api if x["method"] == "POST"]
    ended = [float(t["finished_at_real"]) for t in tasks.values() if t.get("finished_at_real")]
    start = min(creates) if creates else t0
    end = max(ended) if ended else t0 + wall
    window = max(end - start, 1e-9)
    in_window = [t for t in looks if start <= t <= end]
    buckets = Counter(int(t) for t in looks)
    all_buckets = Counter(int(float(x["time"])) for x in api)
    ark = {
        "tasks": len(tasks), "creates": len(creates), "api_calls": len(api),
        "list_calls": calls.totals()["list_calls"], "gets": calls.totals()["gets"],
        "task_looks_per_list_call": calls.totals()["task_looks_per_list_call"],
        "largest_list_call": calls.totals()["largest_list_call"],
        "other_calls": calls.other,
        "looks_per_task": round(len(looks) / n, 3),
        "calls_per_task_shared": round(statistics.fmean(c["calls_total"] for c in per_task), 3),
        "list_calls_per_task": round(calls.totals()["list_calls"] / n, 3),
        "fallback_gets_per_task": round(statistics.fmean(c["gets_watch"] for c in per_task), 3),
        "delivery_gets_per_task": round(statistics.fmean(c["gets_after"] for c in per_task), 3),
        "window_s": round(window, 1),
        "looks_per_s_avg": round(len(in_window) / window, 3),
        "looks_per_s_peak": max(buckets.values(), default=0),
        "looks_per_service_s_avg": round(len(in_window) / window / speed, 3),
        "api_calls_per_s_avg": round(len([x for x in api if start <= float(x["time"]) <= end]) / window, 2),
        "api_calls_per_s_peak": max(all_buckets.values(), default=0),
        "media_downloads": sum(1 for x in ark_log if str(x.get("path", "")).startswith("/__media__/")),
    }

    # --- Feishu
    kinds: Counter[str] = Counter()
    for x in feishu_log:
        op = x["op"]
        if op in ("patch", "card_update"):
            kinds["card_updates"] += 1
        elif op == "reply":
            kinds[f"reply_{x.get('msg_type') or 'other'}"] += 1
        elif op in ("upload_file", "upload_image", "reaction", "send", "token", "bot_info", "resource",
                    "get_message"):
            kinds[op if op != "reaction" else f"reaction_{x['method'].lower()}"] += 1
        else:
            kinds[op] += 1
    replies = sum(v for k, v in kinds.items() if k.startswith("reply_"))
    feishu = {
        "calls": len(feishu_log), "per_task": {k: round(v / n, 3) for k, v in sorted(kinds.items())},
        "card_updates_per_task": round(kinds["card_updates"] / n, 3),
        "replies_per_task": round(replies / n, 3),
        "uploads_per_task": round((kinds["upload_file"] + kinds["upload_image"]) / n, 3),
        "reactions_per_task": round(sum(v for k, v in kinds.items() if k.startswith("reaction_")) / n, 3),
        "status_429": sum(1 for x in feishu_log if x.get("status") == 429),
        "errors": sum(1 for x in feishu_log if (x.get("status") or 200) >= 400),
        "calls_per_s_peak": max(Counter(int(x["time"]) for x in feishu_log).values(), default=0),
    }

    # --- CPU
    first, last = samples[0], samples[-1]
    span = last["t"] - first["t"]
    cpu = {name: {"cpu_s": round(last["cpu"][name] - first["cpu"][name], 2),
                  "core_share": round((last["cpu"][name] - first["cpu"][name]) / span, 4)}
           for name in first["cpu"]}

    # --- Redis
    used = [s["redis_used"] for s in samples if "redis_used" in s]
    mem = {"used_memory_peak": int(redis_info["used_memory_peak"]),
           "used_memory_peak_mib": round(int(redis_info["used_memory_peak"]) / 2**20, 2),
           "used_memory_before_mib": round(memory_before / 2**20, 2),
           "used_memory_max_sampled_mib": round(max(used) / 2**20, 2) if used else None,
           "used_memory_end_mib": round(int(redis_info["used_memory"]) / 2**20, 2),
           "peak_per_job_kib": round((int(redis_info["used_memory_peak"]) - memory_before) / n / 1024, 2)}

    # --- delivery
    fin = [float(x["finished_at"]) for x in delivered]
    dlv = [float(x["delivered_at"]) for x in delivered]
    by_task = {x["task_id"]: x for x in delivered}
    from_ark = [float(x["delivered_at"]) - float(tasks[tid]["finished_at_real"])
                for tid, x in by_task.items() if tid in tasks and tasks[tid].get("finished_at_real")]
    detect = [float(x["finished_at"]) - float(tasks[x["task_id"]]["finished_at_real"])
              for x in recs if x.get("finished_at") and tasks.get(x["task_id"], {}).get("finished_at_real")]
    threads = _threads(worker_args)
    delivery = {
        "delivered": len(delivered), "states": dict(states),
        "finished_to_delivered_s": _dist([d - f for f, d in zip(fin, dlv, strict=True)]),
        "ark_end_to_delivered_s": _dist(from_ark),
        "detection_delay_service_s": _dist([d * speed for d in detect]),
        "worker_threads": threads,
        "throughput": _throughput(fin, dlv, workers=1, busy_above=threads),
    }

    videos = delivery["throughput"]["per_worker_per_s"]
    targets = {
        "ark_looks_per_s_avg_le_2": ark["looks_per_s_avg"] <= TARGET_ARK_LOOKS_PER_S,
        "scheduler_lt_10pct_core": cpu["scheduler"]["core_share"] < TARGET_SCHEDULER_CORE,
        "card_updates_per_task_le_3": feishu["card_updates_per_task"] <= TARGET_CARD_UPDATES,
        "all_delivered": len(delivered) == n,
        # None: the worker never had a backlog to measure its throughput on (small N)
        "videos_per_s_per_worker_ge_25": None if videos is None else videos >= TARGET_VIDEOS_PER_S,
    }
    return {
        "n": n, "speed": speed, "expected_time_factor": 1 / speed, "roles": list(ROLES),
        "worker_args": worker_args, "job_mix": [list(j) for j in JOB_MIX],
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_s": round(wall, 1), "send_s": round(sent_s, 1), "ark": ark, "feishu": feishu, "cpu": cpu,
        "redis": mem, "delivery": delivery, "targets": targets,
        "redis_timeline_mib": [[round(s["t"] - t0, 1), round(s["redis_used"] / 2**20, 2)]
                               for s in samples if "redis_used" in s],
        # CPU share of one core per process tree, second by second: [t, {name: share}]
        "cpu_timeline": [[round(b["t"] - t0, 1),
                          {k: round((b["cpu"][k] - a["cpu"][k]) / max(b["t"] - a["t"], 1e-9), 3) for k in b["cpu"]}]
                         for a, b in itertools.pairwise(samples)],
        # deliveries per second, second by second from the first send
        "deliveries_per_s": sorted(Counter(int(t - t0) for t in dlv).items()),
    }


def _threads(worker_args: list[str]) -> int:
    for i, a in enumerate(worker_args):
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
        if a == "--threads" and i + 1 < len(worker_args):
            return int(worker_args[i + 1])
    return 4  # `seedance-bot worker`'s default


HEAD = ("| N | wall s | Ark looks/task | Ark looks/s avg (peak) | list calls | sched CPU s (% core) | "
        "worker CPU s | web CPU s | card updates/task | replies/task | uploads/task | reactions/task | "
        "Redis peak MiB | delivery s median / p95 | videos/s per worker | delivered |")


def table_line(res: dict[str, Any]) -> str:
    a, f, c, d = res["ark"], res["feishu"], res["cpu"], res["delivery"]
    v = d["throughput"]["per_worker_per_s"]
    fd = d["finished_to_delivered_s"]
    return (f"| {res['n']} | {res['wall_s']:.0f} | {a['looks_per_task']:.2f} | {a['looks_per_s_avg']:.2f} "
            f"({a['looks_per_s_peak']}) | {a['list_calls']} | {c['scheduler']['cpu_s']:.1f} "
            f"({c['scheduler']['core_share']:.1%}) | {c['worker']['cpu_s']:.1f} | {c['web']['cpu_s']:.1f} | "
            f"{f['card_updates_per_task']:.2f} | {f['replies_per_task']:.2f} | {f['uploads_per_task']:.2f} | "
            f"{f['reactions_per_task']:.2f} | {res['redis']['used_memory_peak_mib']:.1f} | "
            f"{fd.get('median', 0):.2f} / {fd.get('p95', 0):.2f} | "
            f"{'n/a' if v is None else f'{v:.1f}'} (best 5 s: {d['throughput']['best_5s_per_s']:.1f}) | "
            f"{d['delivered']}/{res['n']} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", default="100,300,1000", help="jobs in flight, comma-separated (default 100,300,1000)")
    ap.add_argument("--speed", type=float, default=1.0,
                    help="Ark simulator speed S; the bot gets SEEDANCE_EXPECTED_TIME_FACTOR=1/S (default 1)")
    ap.add_argument("--senders", type=int, default=8, help="threads sending the chat messages (default 8)")
    ap.add_argument("--timeout", type=float, default=900.0, help="real seconds to wait for every delivery per N")
    ap.add_argument("--worker-args", default="", help="extra `seedance-bot worker` flags, comma-separated "
                                                       "(e.g. --worker-args=--threads=8)")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--tag", default="", help="suffix of the result files: scale-N<tag>.json")
    ap.add_argument("--keep-logs", type=Path, default=None, help="copy every process log here")
    args = ap.parse_args()
    ns = [int(x) for x in args.n.split(",") if x.strip()]
    worker_args = [x for x in args.worker_args.split(",") if x]
    warm_media(JOB_MIX)
    lines = []
    ok = True
    for n in ns:
        print(f"[N={n}] speed {args.speed:g}, roles {'+'.join(ROLES)} ...", flush=True)
        res = run(n, args.speed, args.senders, args.timeout, worker_args, args.keep_logs)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        out = args.out_dir / f"scale-{n}{args.tag}.json"
        out.write_text(json.dumps(res, indent=2) + "\n")
        line = table_line(res)
        lines.append(line)
        print(HEAD)
        print("|" + "---|" * HEAD.count(" | ") + "---|")
        print(line)
        print("targets: " + ", ".join(f"{k}={'n/a' if v is None else 'yes' if v else 'NO'}"
                                      for k, v in res["targets"].items()))
        print(f"written {out}", flush=True)
        ok = ok and all(v is not False for v in res["targets"].values())
    print("\n" + HEAD)
    print("|" + "---|" * HEAD.count(" | ") + "---|")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
