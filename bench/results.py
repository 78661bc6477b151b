"""Record benchmark measurements as JSON lines and print the summary tables.

    results.py add RECORDS [--wrk-output FILE] [--merge JSON] key=value ...
    results.py summary RECORDS

Values that parse as JSON (numbers, objects) are stored as such, other values as text.
With --wrk-output, the BENCH_JSON line that bench/wrk_report.lua prints is merged in
and requests per second are computed from it; --merge adds the fields of a JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

MB = 1_000_000


def parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def wrk_report(path: str) -> dict:
    """Parse the BENCH_JSON line of a wrk run and compute requests per second."""
    lines = [line for line in Path(path).read_text().splitlines() if line.startswith("BENCH_JSON ")]
    if not lines:
        raise ValueError(f"no BENCH_JSON line in {path}; did wrk fail?")
    report = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    report["rps"] = round(report["requests"] / (report["duration_us"] / 1e6), 1)
    report["errors"] = sum(v for k, v in report.items() if k.startswith("errors_"))
    return report


def add(records: Path, args: list[str]) -> int:
    record: dict = {}
    items = iter(args)
    for item in items:
        if item == "--wrk-output":
            record.update(wrk_report(next(items)))
        elif item == "--merge":
            record.update(json.loads(next(items)))
        else:
            key, sep, value = item.partition("=")
            if not sep:
                print(f"invalid field {item!r}: expected key=value", file=sys.stderr)
                return 2
            record[key] = parse_value(value)
    with records.open("a") as file:
        file.write(json.dumps(record, sort_keys=True) + "\n")
    return 0


def load(records: Path) -> list[dict]:
    return [json.loads(line) for line in records.read_text().splitlines() if line.strip()]


def spread(values: list[float], digits: int = 0) -> str:
    """Format the median with the min-max range of repeated runs."""
    if not values:
        return "-"
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:,.{digits}f}"
    return f"{middle:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:,.1f}x" if numerator / denominator >= 10 else f"{numerator / denominator:.2f}x"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
    return "\n".join(out)


def ecr_tables(records: list[dict]) -> list[str]:
    runs = [r for r in records if r.get("kind") == "ecr-wrk"]
    if not runs:
        return []
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for run in runs:
        grouped[(run["server"], run["action"], run["images"], run["connections"])].append(run)

    def rps(server: str, action: str, images: int, connections: int | None = None) -> list[float]:
        return [
            r["rps"]
            for key, group in grouped.items()
            if key[0] == server and key[1] == action and key[2] == images
            and (connections is None or key[3] == connections)
            for r in group
        ]

    out = []
    seeds = [r for r in records if r.get("kind") == "seed"]
    if seeds:
        rows = [
            [s["server"], s["repository"], f"{s['stored']:,}", f"{s['seconds']:.1f}",
             f"{s['puts_per_second']:,.0f}", "yes" if s.get("deadline_hit") else "no"]
            for s in seeds
        ]
        out.append("Seeding through PutImage (boto3, threaded)\n\n" + table(
            ["server", "repository", "images", "seconds", "PutImage/s", "deadline hit"], rows))

    rows = []
    berth_images = sorted({k[2] for k in grouped if k[0] == "berth"})
    moto_images = sorted({k[2] for k in grouped if k[0] == "moto"})
    for images in sorted(set(berth_images) | set(moto_images)):
        for action in ["DescribeImages", "ListImages", "BatchGetImage"]:
            berth = rps("berth", action, images)
            if not berth:
                continue
            moto_by_connections = {
                key[3]: [r["rps"] for r in group]
                for key, group in grouped.items()
                if key[0] == "moto" and key[1] == action and key[2] == images
            }
            moto_text = ", ".join(
                f"c{c}: {spread(v, 1)}" for c, v in sorted(moto_by_connections.items())
            ) or "-"
            moto_best = max((median(v) for v in moto_by_connections.values()), default=None)
            berth_items = first_field(rps_runs(grouped, "berth", action, images), "items")
            moto_items = first_field(rps_runs(grouped, "moto", action, images), "items")
            rows.append([
                action, f"{images:,}", spread(berth), moto_text,
                ratio(median(berth), moto_best), f"{berth_items} / {moto_items}",
                cpu_per_request(rps_runs(grouped, "berth", action, images)),
                cpu_per_request(rps_runs(grouped, "moto", action, images)),
            ])
    out.append("ECR read throughput, requests/s: median (min-max) of repeated wrk runs\n\n" + table(
        ["action", "images", "berth c16", "moto", "berth/moto (best moto)",
         "items returned berth / moto", "berth CPU us/request", "moto CPU us/request"],
        rows))

    rows = []
    base = median(rps("berth", "DescribeImages", min(berth_images))) if berth_images else None
    for images in berth_images:
        group = rps_runs(grouped, "berth", "DescribeImages", images)
        values = [r["rps"] for r in group]
        p50 = [r["p50_us"] / 1000 for r in group]
        p99 = [r["p99_us"] / 1000 for r in group]
        rows.append([f"{images:,}", spread(values), ratio(median(values), base),
                     spread(p50, 2), spread(p99, 2)])
    out.append("berth DescribeImages (maxResults 100) by repository size\n\n" + table(
        ["images", "requests/s", "vs smallest", "p50 ms", "p99 ms"], rows))

    errors = [r for r in runs if r.get("errors")]
    if errors:
        out.append("WARNING: runs with errors: " + ", ".join(
            f"{r['server']} {r['action']} {r['images']} rep {r['rep']}: {r['errors']}" for r in errors))
    return out


def cpu_per_request(runs: list[dict]) -> str:
    """Format the server's median CPU time per request in microseconds."""
    values = [
        r["server_cpu_seconds"] / r["requests"] * 1e6
        for r in runs
        if r.get("server_cpu_seconds") is not None and r.get("requests")
    ]
    return f"{median(values):,.0f}" if values else "-"


def other_load(runs: list[dict]) -> str:
    """Format the cores that other processes kept busy during the runs: median (min-max)."""
    return spread([r["other_cores_during"] for r in runs if "other_cores_during" in r], 2)


def first_field(runs: list[dict], field: str) -> str:
    return next((str(r[field]) for r in runs if field in r), "-")


def rps_runs(grouped: dict, server: str, action: str, images: int) -> list[dict]:
    return [
        r for key, group in grouped.items()
        if key[0] == server and key[1] == action and key[2] == images
        for r in group
    ]


def oci_tables(records: list[dict]) -> list[str]:
    copies = [r for r in records if r.get("kind") == "copy"]
    out = []
    if copies:
        grouped: dict[tuple, list[dict]] = defaultdict(list)
        for c in copies:
            grouped[(c["scenario"], c["direction"], c["server"])].append(c)
        rows = []
        for scenario in sorted({c["scenario"] for c in copies}):
            for direction in ["push", "pull"]:
                berth = grouped.get((scenario, direction, "berth"), [])
                dist = grouped.get((scenario, direction, "distribution"), [])
                if not berth and not dist:
                    continue
                total = (berth or dist)[0]["bytes"]

                def mbps(group):
                    return [total / r["seconds"] / MB for r in group]

                def hwm(group):
                    return [r["vm_hwm_kib"] / 1024 for r in group]

                rows.append([
                    scenario, direction,
                    spread(mbps(berth), 1), spread(mbps(dist), 1),
                    ratio(median(mbps(berth)), median(mbps(dist))),
                    spread(hwm(berth), 1), spread(hwm(dist), 1),
                ])
        out.append(
            "Push and pull with skopeo, MB/s (10^6 bytes) of layer data: median (min-max)\n\n"
            + table(["image", "direction", "berth MB/s", "distribution MB/s", "berth/distribution",
                     "berth peak RSS MiB", "distribution peak RSS MiB"], rows))
        rows = []
        for (scenario, direction, server), group in sorted(grouped.items()):
            server_cpu = [r["server_cpu_seconds"] for r in group if "server_cpu_seconds" in r]
            rows.append([scenario, direction, server,
                         spread([r["seconds"] for r in group], 2),
                         spread([r["client_cpu_seconds"] for r in group], 2),
                         spread(server_cpu, 2), other_load(group)])
        out.append("Wall time and CPU time (user+sys) of skopeo and the server, seconds\n\n"
                   + table(["image", "direction", "server", "wall s", "skopeo CPU s",
                            "server CPU s", "other processes, cores"], rows))

    out += transfer_tables(
        [r for r in records if r.get("kind") == "curl"],
        "Push (PUT of the whole blob) and pull (GET to /dev/null) of one blob with curl")
    out += transfer_tables(
        [r for r in records if r.get("kind") == "huge"],
        "Memory check: one large blob pushed and pulled once with curl")
    for skipped in (r for r in records if r.get("kind") == "huge-skipped"):
        out.append(f"Memory check skipped: {skipped['available_bytes']:,} bytes free, less than"
                   f" 3 x {skipped['bytes']:,}")

    bars = [r for r in records if r.get("kind") == "bar"]
    if bars:
        grouped_bars: dict[str, list[dict]] = defaultdict(list)
        for b in bars:
            grouped_bars[b["tool"]].append(b)
        berth_push = [r for r in copies if r["server"] == "berth" and r["direction"] == "push"
                      and r["scenario"].startswith("1 layer of")]
        push_mbps = median([r["bytes"] / r["seconds"] / MB for r in berth_push])
        curl_push = median([
            r["bytes"] / r["seconds"] / MB for r in records
            if r.get("kind") == "curl" and r["server"] == "berth" and r["direction"] == "push"
            and not r.get("error")
        ])
        rows = []
        for tool, group in sorted(grouped_bars.items()):
            speeds = [r["bytes"] / r["seconds"] / MB for r in group]
            rows.append([tool, spread(speeds, 1), ratio(push_mbps, median(speeds)),
                         ratio(curl_push, median(speeds))])
        out.append("Bars on the single-layer file (page cache warm), MB/s\n\n" + table(
            ["tool", "MB/s", "berth skopeo push / tool", "berth curl push / tool"], rows))

    gets = [r for r in records if r.get("kind") == "oci-wrk"]
    if gets:
        grouped_gets: dict[tuple, list[dict]] = defaultdict(list)
        for g in gets:
            grouped_gets[(g["target"], g["server"])].append(g)
        targets = sorted({g["target"] for g in gets})
        before = any(g["server"] == "berth-before" for g in gets)
        rows = []
        for target in targets:
            berth_runs = grouped_gets.get((target, "berth"), [])
            dist_runs = grouped_gets.get((target, "distribution"), [])
            berth = [r["rps"] for r in berth_runs]
            dist = [r["rps"] for r in dist_runs]
            size = first_field(berth_runs or dist_runs, "response_bytes")
            row = [target, size, spread(berth), spread(dist), ratio(median(berth), median(dist))]
            if before:
                before_runs = grouped_gets.get((target, "berth-before"), [])
                before_rps = [r["rps"] for r in before_runs]
                row += [spread(before_rps), ratio(median(berth), median(before_rps))]
            row += [spread([r["p50_us"] / 1000 for r in berth_runs], 1),
                    spread([r["p50_us"] / 1000 for r in dist_runs], 1),
                    cpu_per_request(berth_runs), cpu_per_request(dist_runs)]
            if before:
                row.append(cpu_per_request(grouped_gets.get((target, "berth-before"), [])))
            row += [other_load(berth_runs), other_load(dist_runs)]
            if before:
                row.append(other_load(grouped_gets.get((target, "berth-before"), [])))
            rows.append(row)
        headers = ["request", "body bytes", "berth", "distribution", "berth/distribution"]
        if before:
            headers += ["berth-before", "berth/berth-before"]
        headers += ["berth p50 ms", "distribution p50 ms", "berth CPU us/request",
                    "distribution CPU us/request"]
        if before:
            headers.append("berth-before CPU us/request")
        headers += ["other cores (berth)", "other cores (distribution)"]
        if before:
            headers.append("other cores (berth-before)")
        out.append("OCI GET throughput with wrk, requests/s: median (min-max)\n\n"
                   + table(headers, rows))

        # wrk counts every byte it reads, headers included.
        servers = [s for s in ["berth", "distribution", "berth-before"]
                   if any(g["server"] == s for g in gets)]
        rows = []
        for target in targets:
            rows.append([target] + [
                spread([r["bytes"] / (r["duration_us"] / 1e6) / MB
                        for r in grouped_gets.get((target, server), [])], 1)
                for server in servers
            ] + [
                spread([r["wrk_cpu_seconds"] for r in grouped_gets.get((target, server), [])
                        if "wrk_cpu_seconds" in r], 1)
                for server in servers
            ])
        out.append("OCI GET data rate with wrk, MB/s (10^6 bytes, headers included), and wrk's"
                   " CPU seconds per run\n\n" + table(
                       ["request"] + [f"{s} MB/s" for s in servers]
                       + [f"wrk CPU s ({s})" for s in servers], rows))
        errors = [g for g in gets if g.get("errors")]
        if errors:
            out.append("WARNING: GET runs with errors: " + ", ".join(
                f"{g['server']} {g['target']} rep {g['rep']}: {g['errors']}" for g in errors))

    memory = [r for r in records if r.get("kind") == "memory"]
    if memory:
        rows = [[m["server"], m["when"], f"{m['vm_rss_kib'] / 1024:.1f}",
                 f"{m['vm_hwm_kib'] / 1024:.1f}"] for m in memory]
        out.append("Server memory after the ECR runs, MiB\n\n" + table(
            ["server", "when", "VmRSS", "VmHWM"], rows))
    return out


def transfer_tables(runs: list[dict], title: str) -> list[str]:
    """Tabulate curl pushes and pulls per server, and the ratios between servers."""
    if not runs:
        return []
    good = [r for r in runs if not r.get("error")]

    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for run in good:
        grouped[(run["scenario"], run["direction"], run["server"])].append(run)
    servers = [s for s in ["berth", "berth-before", "distribution"]
               if any(r["server"] == s for r in good)]

    rows = []
    ratios = []
    for scenario in sorted({r["scenario"] for r in good}):
        for direction in ["push", "pull"]:
            speeds = {}
            for server in servers:
                group = grouped.get((scenario, direction, server), [])
                if not group:
                    continue
                speeds[server] = [r["bytes"] / r["seconds"] / MB for r in group]
                rows.append([
                    scenario, direction, server, spread(speeds[server], 1),
                    spread([r["seconds"] for r in group], 2),
                    spread([r["client_cpu_seconds"] for r in group], 2),
                    spread([r["server_cpu_seconds"] for r in group], 2),
                    spread([r["vm_rss_before_kib"] / 1024 for r in group], 1),
                    spread([r["vm_hwm_kib"] / 1024 for r in group], 1),
                    other_load(group),
                ])
            berth = median(speeds.get("berth", []))
            ratios.append([scenario, direction,
                           ratio(berth, median(speeds.get("distribution", []))),
                           ratio(berth, median(speeds.get("berth-before", [])))])

    out = [title + ", MB/s (10^6 bytes per second of wall time): median (min-max)\n\n" + table(
        ["blob", "direction", "server", "MB/s", "wall s", "curl CPU s", "server CPU s",
         "server RSS before MiB", "server peak RSS MiB", "other processes, cores"], rows)]
    out.append("Ratios of the medians above\n\n" + table(
        ["blob", "direction", "berth/distribution", "berth/berth-before"], ratios))

    failed = [r for r in runs if r.get("error")]
    if failed:
        out.append("WARNING: failed transfers, left out above: " + "; ".join(
            f"{r['server']} {r['scenario']} {r['direction']} rep {r['rep']}: {r['error']}"
            for r in failed))
    return out


def summary(records_path: Path) -> int:
    records = load(records_path)
    sections = ecr_tables(records) + oci_tables(records)
    during = [r["other_cores_during"] for r in records if "other_cores_during" in r]
    if during:
        loaded = sum(1 for value in during if value > 0.25)
        sections.append(
            f"CPU used by other processes during the measured runs, cores: median"
            f" {statistics.median(during):.2f}, max {max(during):.2f};"
            f" {loaded} of {len(during)} runs above 0.25"
        )
    busy = [r["background_busy_cores"] for r in records if "background_busy_cores" in r]
    nproc = next((r["nproc"] for r in records if r.get("kind") == "run"), "?")
    if busy:
        sections.append(
            f"CPU busy before runs (cores used by other processes, of {nproc}):"
            f" median {statistics.median(busy):.2f}, max {max(busy):.2f}"
        )
    print("\n\n".join(sections))
    return 0


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in {"add", "summary"}:
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "add":
        return add(Path(sys.argv[2]), sys.argv[3:])
    return summary(Path(sys.argv[2]))


if __name__ == "__main__":
    sys.exit(main())
