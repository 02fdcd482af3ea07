"""Benchmark helper: one DVC command on a project, profiled stage by stage.

    .venv/bin/python benchmarks/pipeline_profile.py --project /tmp/scale22-project \
        --json /tmp/repro.json -- dvc repro

Runs the command (after `--`) in --project (a scratch clone, never the repository) and,
every --interval seconds, walks its process tree: each stage process (`python
stages/<name>.py ...`, the command DVC runs) is followed from first to last sight, with
the peaks of its VmRSS, RssAnon (anonymous) and RssFile (file-backed, e.g. page-cache
pages of files it maps) from /proc/<pid>/status, and its last VmHWM (the kernel's peak
RSS, read just before it exits; sampling can miss a short peak, VmHWM does not). Every
--du-interval seconds `du -sb` of the project (its DVC cache, `.dvc/cache`, included;
files hard-linked between the cache and the workspace count once) gives the disk.
Printed and written to --json: the command's wall time, each stage's wall time (from the
samples: +-interval), the rest (DVC's own work: hashing, checking, linking, the
run-cache), the peak and final disk, and --stop-rss-gb: a stage above it is killed, and
the profile says so.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

FIELDS = ("VmRSS", "RssAnon", "RssFile", "VmHWM")


def children() -> dict[int, list[int]]:
    """Every process's children, from /proc/<pid>/stat (ppid is field 4)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(root: int) -> list[int]:
    tree, found, todo = children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def stage_of(pid: int) -> str | None:
    """`name` for a `python stages/<name>.py ...` process (not the shell DVC starts it with)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if len(argv) < 2 or not Path(argv[0].decode()).name.startswith("python"):
        return None
    script = argv[1].decode()
    if script.startswith("stages/") and script.endswith(".py"):
        return Path(script).stem
    return None


def status_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in FIELDS:
            fields[name] = int(value.split()[0])
    return fields


def disk_bytes(project: Path) -> int:
    out = subprocess.run(["du", "-sb", str(project)], capture_output=True, text=True).stdout
    return int(out.split()[0]) if out else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--json", type=Path, help="write the profile here")
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--du-interval", type=float, default=5.0)
    parser.add_argument("--stop-rss-gb", type=float, default=20.0)
    parser.add_argument(
        "--timeline", action="store_true", help="keep every sample (s, stage, RSS, anon GiB)"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    disk = {"start": disk_bytes(args.project)}
    disk["peak"] = disk["start"]
    done = threading.Event()

    def watch_disk():
        while not done.wait(args.du_interval):
            disk["peak"] = max(disk["peak"], disk_bytes(args.project))

    threading.Thread(target=watch_disk, daemon=True).start()
    log = open(args.json.with_suffix(".log") if args.json else os.devnull, "w")
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=args.project, stdout=log, stderr=subprocess.STDOUT)
    stages: dict[int, dict] = {}
    timeline = []
    killed = None
    while process.poll() is None:
        now = time.perf_counter() - started
        for pid in descendants(process.pid):
            name = stages[pid]["stage"] if pid in stages else stage_of(pid)
            if name is None:
                continue
            try:
                fields = status_kb(pid)
            except OSError:
                continue
            record = stages.setdefault(
                pid, {"stage": name, "first": now, **dict.fromkeys(FIELDS, 0)}
            )
            record["last"] = now
            for field in ("VmRSS", "RssAnon", "RssFile"):
                record[field] = max(record[field], fields.get(field, 0))
            record["VmHWM"] = fields.get("VmHWM", record["VmHWM"])
            if args.timeline:
                rss, anon = (fields.get(f, 0) / 2**20 for f in ("VmRSS", "RssAnon"))
                timeline.append([round(now, 2), name, round(rss, 3), round(anon, 3)])
            if fields.get("VmRSS", 0) > args.stop_rss_gb * 2**20:
                killed = f"{name} above {args.stop_rss_gb} GB RSS: killed"
                os.kill(pid, signal.SIGKILL)
        time.sleep(args.interval)
    wall = time.perf_counter() - started
    done.set()
    disk["end"] = disk_bytes(args.project)
    disk["peak"] = max(disk["peak"], disk["end"])
    log.close()

    rows = []
    for record in stages.values():
        seconds = record["last"] - record["first"]
        gib = {field: record[field] / 2**20 for field in FIELDS}
        rows.append({"stage": record["stage"], "wall_s": seconds} | gib)
    in_stages = sum(row["wall_s"] for row in rows)
    profile = {
        "command": command,
        "returncode": process.returncode,
        "wall_s": wall,
        "stages_s": in_stages,
        "dvc_s": wall - in_stages,
        "disk_gb": {name: value / 1e9 for name, value in disk.items()},
        "stages": rows,
        "killed": killed,
    }
    if args.timeline:
        profile["timeline"] = timeline
    print(
        f"{' '.join(command)}: rc {process.returncode}, {wall:.1f} s wall, stages"
        f" {in_stages:.1f} s, DVC's own {wall - in_stages:.1f} s"
    )
    print("| stage | wall s | peak RSS (VmHWM) GiB | peak anon GiB | peak file-backed GiB |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['stage']} | {row['wall_s']:.1f} | {row['VmHWM']:.2f} |"
            f" {row['RssAnon']:.2f} | {row['RssFile']:.2f} |"
        )
    print(
        "disk (du -sb of the project and its cache), GB: "
        + ", ".join(f"{name} {value:.2f}" for name, value in profile["disk_gb"].items())
    )
    if killed:
        print(killed)
    if args.json:
        args.json.write_text(json.dumps(profile, indent=2) + "\n")


if __name__ == "__main__":
    main()
