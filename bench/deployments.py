#!/usr/bin/env python3
"""Deployments (UpdateEndpoint with a DeploymentConfig) under steady load, and alarm rollbacks, in one run.

    .venv/bin/python bench/deployments.py              # 4 modes, 3 rollbacks; about 1 minute
    .venv/bin/python bench/deployments.py --quick      # shorter windows and waits, 1 rollback; about 30 s
    .venv/bin/python bench/deployments.py --clients 8  # more client threads

Against one real `homeport serve` (`ServerProcess`, 1 s metric period, on core 1 with its instances; this process and
its load on core 0) serving the worked example's Abalone XGBoost model on one 2-instance endpoint:

- Load: `--clients` (4) threads, each with its own keep-alive HTTP connection, invoking the endpoint back to back
  (closed loop; `--rate R` makes it open loop at R requests a second instead) with one CSV row, SigV4 headers signed
  once (homeport checks them on every request). A client-visible error is any reply that is not 200 with the right
  prediction, or a failed connection; nothing is retried. This is failover.py's `Load`.
- Modes: for ALL_AT_ONCE, CANARY (1 instance of 2), LINEAR (50% steps) and ROLLING (a RollingUpdatePolicy in batches
  of 1 instance), in turn on the same endpoint: load for
  `--before` s, then UpdateEndpoint to a new config (a new model of the same model data, same variant), with
  WaitIntervalInSeconds and TerminationWaitInSeconds `--wait`. DescribeEndpoint is polled every 50 ms; the phases are
  provisioning (update → the first bake's StartTime), each bake (its StartTime → the next; labelled by green's
  CurrentWeight), then `after` (InService → `--after` s later). Per phase: p50/p99 ÷ those of `before`.
- Rollback (`--rollbacks` times, median): a CANARY deployment with 200 s waits that watches an alarm on a metric of
  its own (Period 1, EvaluationPeriods 1, Maximum >= 10). Once green is baking, a thread puts a breaching value every
  0.2 s (PutMetricData). `ALARM` is the alarm's StateTransitionedTimestamp (the server's clock, the same machine);
  `blue` is the first DescribeEndpoint (polled every 20 ms) reading InService on the old config: all the traffic is
  back on blue. The figure is (blue - ALARM) ÷ the alarm's period.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from failover import Load, clients, health_tick_s, homeport, latency_stats
from invoke import IMAGE, LOADGEN_CORE, ROLE, add_cores_option, affinity, build_model, can_pin
from invoke import signed_headers as sign

from batch import say, verdict, write_results  # bench/ is on sys.path: this file runs beside them

ENDPOINT, VARIANT, INSTANCES = "bench-deployments", "AllTraffic", 2
NAMESPACE = "Homeport/Bench"
ALARM_PERIOD_S = 1  # the rollback alarm's Period, and the server's metric period (HOMEPORT_METRIC_PERIOD_SECONDS)
THRESHOLD, BREACH, FEED_S = 10.0, 50.0, 0.2  # the alarm's threshold, the value fed, and how often
POLL_S, ROLLBACK_POLL_S = 0.05, 0.02
LONG_WAIT_S = 200  # the rollback deployment's bakes: it never gets to the end by itself
TIMEOUT_S = 600  # MaximumExecutionTimeoutInSeconds: SageMaker's least, more than any wait here
DEPLOY_LIMIT_S, ROLLBACK_LIMIT_S = 120.0, 30.0
SETTLE_S = 1.5  # after a deployment's after-window: blue's instances stopped before the next `before`
TARGET_ERRORS = 0
TARGET_ROLLBACK = 1.5  # (all traffic back on blue - alarm in ALARM) / the alarm's period
MODES: dict[str, dict[str, Any]] = {
    "ALL_AT_ONCE": {},
    "CANARY": {"CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}},
    "LINEAR": {"LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50}},
    "ROLLING": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}},  # a RollingUpdatePolicy
}


class BackToBack(Load):
    """Closed loop: each thread sends its next request as soon as it has read the last reply; a request's latency
    runs from its send. `rate` > 0 runs it, 0 pauses it."""

    def _claim(self) -> tuple[float | None, float]:
        return (time.time(), 0.0) if self.rate > 0 else (None, 0.005)


# --------------------------------------------------------------------------------------------------------
# homeport: configs, deployment configs, DescribeEndpoint
# --------------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    sm: Any
    cw: Any
    server: Any
    load: Load
    model_url: str
    blue: str = ""  # the config the endpoint is on
    made: int = 0  # configs made so far

    def new_config(self) -> str:
        """A new model of the same model data, and a 2-instance config of it with the same variant name."""
        self.made += 1
        model, config = f"{ENDPOINT}-model-{self.made}", f"{ENDPOINT}-config-{self.made}"
        self.sm.create_model(
            ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": self.model_url}
        )
        variant = {"VariantName": VARIANT, "ModelName": model, "InitialInstanceCount": INSTANCES}
        self.sm.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[{**variant, "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}],
        )
        return config


def deployment_config(mode: str, wait_s: int, alarm: str | None = None) -> dict[str, Any]:
    config: dict[str, Any]
    if mode == "ROLLING":
        policy = {"WaitIntervalInSeconds": wait_s, "MaximumExecutionTimeoutInSeconds": TIMEOUT_S, **MODES[mode]}
        config = {"RollingUpdatePolicy": policy}
    else:
        routing = {"Type": mode, "WaitIntervalInSeconds": wait_s, **MODES[mode]}
        config = {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": routing,
                "TerminationWaitInSeconds": wait_s,
                "MaximumExecutionTimeoutInSeconds": TIMEOUT_S,
            }
        }
    if alarm:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": alarm}]}
    return config


@dataclass
class Seen:
    """One DescribeEndpoint."""

    at: float  # epoch s: the middle of the call
    status: str
    config: str
    green: str = ""  # the pending fleet's VariantStatus Status: Creating, Baking ("" when none)
    message: str = ""
    since: float = math.nan  # its StartTime (the server's clock)
    weight: float = math.nan  # green's CurrentWeight
    reason: str = ""  # FailureReason


def look(sm: Any) -> Seen:
    t0 = time.time()
    d = sm.describe_endpoint(EndpointName=ENDPOINT)
    seen = Seen((t0 + time.time()) / 2, d["EndpointStatus"], d["EndpointConfigName"], reason=d.get("FailureReason", ""))
    for variant in d.get("PendingDeploymentSummary", {}).get("ProductionVariants", [])[:1]:
        status = (variant.get("VariantStatus") or [{}])[0]
        seen.green, seen.message = status.get("Status", ""), status.get("StatusMessage", "")
        seen.since = status["StartTime"].timestamp() if "StartTime" in status else math.nan
        seen.weight = float(variant.get("CurrentWeight", math.nan))
    return seen


def watch_until(sm: Any, done: Any, every_s: float, limit_s: float, into: list[Seen]) -> Seen | None:
    """Poll DescribeEndpoint into `into` until `done(seen)`; the Seen that was, or None after `limit_s`."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        seen = look(sm)
        into.append(seen)
        if done(seen):
            return seen
        time.sleep(every_s)
    return None


def error_counts(replies: list[Any]) -> dict[str, int]:
    return dict(Counter(r.error[:120] for r in replies if not r.ok))


def window(b: Bench, label: str, start: float, end: float, before: dict[str, Any] | None) -> dict[str, Any]:
    stats: dict[str, Any] = {"phase": label, "from": start, "to": end, **latency_stats(b.load.window(start, end))}
    for q in ("p50", "p99"):
        base = (before or stats)[f"{q}_ms"]
        stats[f"{q}_ratio"] = stats[f"{q}_ms"] / base if base and not math.isnan(base) else math.nan
    return stats


# --------------------------------------------------------------------------------------------------------
# One deployment under load
# --------------------------------------------------------------------------------------------------------


def deploy_mode(b: Bench, mode: str) -> dict[str, Any]:
    a = b.args
    green = b.new_config()
    time.sleep(a.before)
    updated = time.time()
    b.sm.update_endpoint(
        EndpointName=ENDPOINT, EndpointConfigName=green, DeploymentConfig=deployment_config(mode, a.wait)
    )
    seen: list[Seen] = []
    end = watch_until(b.sm, lambda s: s.status != "Updating", POLL_S, DEPLOY_LIMIT_S, seen)
    done = end.at if end is not None else time.time()
    time.sleep(max(0.0, done + a.after - time.time()))
    bakes: dict[str, Seen] = {}  # each bake's first sighting, by its message, in order
    for s in seen:
        if s.green == "Baking" and s.message not in bakes:
            bakes[s.message] = s
    edges = [updated, *(s.since if not math.isnan(s.since) else s.at for s in bakes.values()), done]
    labels = ["provisioning", *(f"green {s.weight:.0%}" for s in bakes.values())]
    before = window(b, "before", updated - a.before, updated, None)
    phases = [before]
    phases += [window(b, lab, t0, t1, before) for lab, t0, t1 in zip(labels, edges, edges[1:], strict=False)]
    phases.append(window(b, "after", done, done + a.after, before))
    replies = b.load.window(updated - a.before, done + a.after)
    ok = end is not None and end.status == "InService" and end.config == green
    if ok:
        b.blue = green
    row = {
        "mode": mode,
        "green": green,
        "completed": ok,
        "final": asdict(end) if end else None,
        "updated": updated,
        "total_s": done - updated,
        "phases": phases,
        "errors": sum(1 for r in replies if not r.ok),
        "error_counts": error_counts(replies),
        "bake_messages": list(bakes),
        "polls": len(seen),
    }
    say(
        f"  {mode}: {'InService on green' if ok else 'NOT completed'} after {row['total_s']:.2f} s,"
        f" {len(bakes)} bake(s), {row['errors']} errors in {len(replies):,} requests"
    )
    time.sleep(SETTLE_S)
    return row


# --------------------------------------------------------------------------------------------------------
# A rollback by an alarm
# --------------------------------------------------------------------------------------------------------


def feed(cw: Any, metric: str, stop: threading.Event, fed: list[float]) -> None:
    """A breaching datapoint every FEED_S until `stop`; the time of each put goes into `fed`."""
    while not stop.is_set():
        t0 = time.time()
        cw.put_metric_data(
            Namespace=NAMESPACE, MetricData=[{"MetricName": metric, "Value": BREACH, "StorageResolution": 1}]
        )
        fed.append(t0)
        stop.wait(max(0.0, FEED_S - (time.time() - t0)))


def alarm_state(cw: Any, alarm: str) -> tuple[str, float]:
    """(StateValue, StateTransitionedTimestamp as epoch s)."""
    (doc,) = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    when = doc.get("StateTransitionedTimestamp")
    return doc["StateValue"], when.timestamp() if when is not None else math.nan


def rollback(b: Bench, run: int) -> dict[str, Any]:
    metric, alarm = f"bench-errors-{run}", f"{ENDPOINT}-rollback-{run}"
    b.cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace=NAMESPACE,
        MetricName=metric,
        Statistic="Maximum",
        Period=ALARM_PERIOD_S,
        EvaluationPeriods=1,
        Threshold=THRESHOLD,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    blue, green = b.blue, b.new_config()
    time.sleep(b.args.before)
    updated = time.time()
    config = deployment_config("CANARY", LONG_WAIT_S, alarm)
    b.sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=green, DeploymentConfig=config)
    seen: list[Seen] = []
    baking = watch_until(b.sm, lambda s: s.green == "Baking" or s.status != "Updating", POLL_S, DEPLOY_LIMIT_S, seen)
    if baking is None or baking.green != "Baking":
        raise RuntimeError(f"rollback run {run}: green never baked: {seen[-1] if seen else 'no DescribeEndpoint'}")
    stop, fed = threading.Event(), list[float]()
    feeder = threading.Thread(target=feed, args=(clients(b.server)[1], metric, stop, fed), daemon=True)
    feeder.start()
    seen_alarm = math.nan  # the first poll that read ALARM
    deadline = time.time() + ROLLBACK_LIMIT_S
    back: Seen | None = None
    k = 0
    while back is None and time.time() < deadline:
        if math.isnan(seen_alarm) and k % 5 == 0 and alarm_state(b.cw, alarm)[0] == "ALARM":
            seen_alarm = time.time()
        s = look(b.sm)
        seen.append(s)
        if s.status != "Updating":
            back = s
        k += 1
        time.sleep(ROLLBACK_POLL_S)
    stop.set()
    feeder.join(5)
    state, alarmed = alarm_state(b.cw, alarm)
    blue_at = back.at if back is not None else math.nan
    time.sleep(max(0.0, (blue_at if back else time.time()) + b.args.after - time.time()))
    replies = b.load.window(updated, (blue_at if back else time.time()) + b.args.after)
    on_blue = back is not None and back.status == "InService" and back.config == blue
    before = window(b, "before", updated - b.args.before, updated, None)
    baked = baking.since if not math.isnan(baking.since) else baking.at
    row = {
        "run": run,
        "alarm": alarm,
        "green": green,
        "on_blue": on_blue,
        "final": asdict(back) if back else None,
        "named_alarm": back is not None and alarm in back.reason,
        "baking_at": baking.at - updated,
        "first_fed_to_alarm_s": alarmed - fed[0] if fed else math.nan,
        "alarm_state": state,
        "alarm_to_seen_s": seen_alarm - alarmed,
        "alarm_to_blue_s": blue_at - alarmed,
        "ratio": (blue_at - alarmed) / ALARM_PERIOD_S,
        "tick_phase_s": (alarmed - baked) % health_tick_s(),  # ALARM's time past the controller's last tick
        "errors": sum(1 for r in replies if not r.ok),
        "error_counts": error_counts(replies),
        "requests": len(replies),
        "phases": [
            before,
            window(b, "provisioning", updated, baked, before),
            window(b, f"green {baking.weight:.0%}", baked, alarmed, before),
            window(b, "ALARM → blue", alarmed, blue_at, before),
            window(b, "after", blue_at, blue_at + b.args.after, before),
        ],
    }
    say(
        f"  rollback {run + 1}: {'back on blue' if on_blue else 'NOT back on blue'}; first datum → ALARM"
        f" {row['first_fed_to_alarm_s']:.3f} s, ALARM → blue {row['alarm_to_blue_s']:.3f} s;"
        f" {row['errors']} errors in {len(replies):,} requests"
    )
    time.sleep(SETTLE_S)
    return row


# --------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------


def first_endpoint(b: Bench) -> None:
    b.blue = b.new_config()
    b.sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=b.blue)
    b.sm.get_waiter("endpoint_in_service").wait(EndpointName=ENDPOINT, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})


def measure(args: argparse.Namespace) -> dict[str, Any]:
    if can_pin():
        os.sched_setaffinity(0, {LOADGEN_CORE})
    # failover.homeport starts the server with a 1 s metric period; it inherits the rest of the environment.
    os.environ["HOMEPORT_LOG_LEVEL"] = "warning"
    with tempfile.TemporaryDirectory(prefix="homeport-deployments-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        booster, tarball, row, body = build_model(work / "model")
        expected = float(booster.inplace_predict(row, validate_features=False)[0])
        with homeport(work, args.homeport_cores) as server:
            sm, cw = clients(server)
            url = f"{server.url}/endpoints/{ENDPOINT}/invocations"
            kind = Load if args.rate > 0 else BackToBack
            with kind(url, body, sign(url, body, server), expected, args.clients) as load:
                b = Bench(args, sm, cw, server, load, tarball.as_uri())
                first_endpoint(b)
                say(f"model trained, server at {server.url}, 2 instances InService in {time.perf_counter() - t0:.1f} s")
                pins = {"bench": affinity(os.getpid()), "homeport": affinity(server.proc.pid)}
                load.rate = args.rate if args.rate > 0 else 1.0
                time.sleep(args.warmup)
                modes = [deploy_mode(b, mode) for mode in MODES]
                rollbacks = [rollback(b, run) for run in range(args.rollbacks)]
                load.rate = 0.0
                total = latency_stats(load.replies)
                errors = error_counts(load.replies)
        log = (work / "homeport.log").read_text(errors="replace").splitlines()
    ratios = [r["ratio"] for r in rollbacks if not math.isnan(r["ratio"])]
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "config": {k: v for k, v in vars(args).items() if k != "homeport_cores"},
        "pinning": pins if can_pin() else "none (fewer than 2 usable cores)",
        "modes": modes,
        "rollbacks": rollbacks,
        "rollback_ratio_median": statistics.median(ratios) if ratios else math.nan,
        "rollback_ratio_max": max(ratios, default=math.nan),
        "all_requests": total,
        "all_errors": errors,
        "server_log_warnings": [ln for ln in log if " WARNING " in ln or " ERROR " in ln][:20],
    }


def table(r: dict[str, Any]) -> str:
    cfg = r["config"]
    load = f"{cfg['rate']:g} req/s open loop" if cfg["rate"] > 0 else "back to back"
    lines = [
        f"deployments: 1 endpoint of {INSTANCES} instances, {cfg['clients']} clients {load};"
        f" waits {cfg['wait']} s; phases from UpdateEndpoint (s); latency ratios ÷ before",
        f"{'mode':<12} {'phase':<14} {'from':>6} {'len':>5} {'reqs':>6} {'err':>4} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'p50 x':>5} {'p99 x':>5}",
    ]
    runs = [(m["mode"], m["updated"], m["phases"]) for m in r["modes"]]
    runs += [(f"rollback {x['run'] + 1}", x["phases"][0]["to"], x["phases"]) for x in r["rollbacks"]]
    for name, updated, phases in runs:
        for k, p in enumerate(phases):
            lines.append(
                f"{name if k == 0 else '':<12} {p['phase']:<14} {p['from'] - updated:>6.2f} {p['to'] - p['from']:>5.2f}"
                f" {p['requests']:>6} {p['errors']:>4} {p['p50_ms']:>7.2f} {p['p99_ms']:>7.2f}"
                f" {p['p50_ratio']:>5.2f} {p['p99_ratio']:>5.2f}"
            )
    lines += [
        "",
        f"{'rollback':<10} {'baking at':>9} {'datum→ALARM':>11} {'ctl phase':>9} {'ALARM→blue':>10} {'÷ period':>8}"
        f" {'errors':>6}"
        f" {'on blue':>7} {'reason names alarm':>18}",
    ]
    for x in r["rollbacks"]:
        lines.append(
            f"{x['run'] + 1:<10} {x['baking_at']:>9.2f} {x['first_fed_to_alarm_s']:>11.3f} {x['tick_phase_s']:>9.3f}"
            f" {x['alarm_to_blue_s']:>10.3f} {x['ratio']:>8.2f} {x['errors']:>6}"
            f" {x['on_blue']!s:>7} {x['named_alarm']!s:>18}"
        )
    med = r["rollback_ratio_median"]
    lines += ["", f"{'figure':<56} {'value':>8} {'target':>14}"]
    for m in r["modes"]:
        lines.append(
            f"{'client errors, ' + m['mode'] + (' (did not complete)' if not m['completed'] else ''):<56}"
            f" {m['errors']:>8} {'= 0  ' + verdict(m['errors'] <= TARGET_ERRORS and m['completed']):>14}"
        )
    rb_errors = sum(x["errors"] for x in r["rollbacks"])
    rb_ok = rb_errors <= TARGET_ERRORS and all(x["on_blue"] for x in r["rollbacks"])
    lines += [
        f"{'client errors, rollbacks (all runs)':<56} {rb_errors:>8} {'= 0  ' + verdict(rb_ok):>14}",
        f"{'ALARM → all traffic on blue ÷ alarm period, median':<56} {med:>8.2f}"
        f" {'≤ ' + format(TARGET_ROLLBACK, 'g') + '  ' + verdict(med <= TARGET_ROLLBACK):>14}",
        f"{'  same, worst run':<56} {r['rollback_ratio_max']:>8.2f} {'(information)':>14}",
        "",
        "phases: provisioning = UpdateEndpoint → the first bake's StartTime; green N% = a bake (StartTime → the next),"
        " N = green's CurrentWeight; after = InService → +" + format(cfg["after"], "g") + " s.",
        "rollback: ALARM = the alarm's StateTransitionedTimestamp; blue = the first DescribeEndpoint (every"
        f" {ROLLBACK_POLL_S * 1e3:g} ms) reading InService on the old config; datum→ALARM: the first breaching put →"
        f" ALARM, for information (the alarm is evaluated at each {ALARM_PERIOD_S} s period boundary).",
        f"ctl phase: ALARM's time past the endpoint controller's last tick (every {health_tick_s():g} s from the bake's"
        " start, unless something wakes it); the controller reads alarms at its ticks, so ALARM→blue ≈ tick - phase.",
        f"all requests: {r['all_requests']['requests']:,}, {r['all_requests']['errors']} errors, p50"
        f" {r['all_requests']['p50_ms']:.2f} ms, p99 {r['all_requests']['p99_ms']:.2f} ms",
    ]
    lines += [f"error x{n}: {e}" for e, n in r["all_errors"].items()]
    lines += [f"server log: {ln}" for ln in r["server_log_warnings"][:5]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s waits, shorter windows, 1 rollback")
    parser.add_argument("--clients", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop at this many req/s (default: closed loop)")
    parser.add_argument("--wait", type=int, help="WaitIntervalInSeconds and TerminationWaitInSeconds (default 2)")
    parser.add_argument("--before", type=float, help="seconds of load before each update (default 3)")
    parser.add_argument("--after", type=float, help="seconds of load kept after each deployment (default 2)")
    parser.add_argument("--rollbacks", type=int, help="rollback runs (default 3)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before the first deployment")
    add_cores_option(parser)
    args = parser.parse_args(argv)
    defaults = {"wait": 1, "before": 2.0, "after": 1.0, "rollbacks": 1} if args.quick else {}
    for name, full in {"wait": 2, "before": 3.0, "after": 2.0, "rollbacks": 3}.items():
        if getattr(args, name) is None:
            setattr(args, name, defaults.get(name, full))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the server is stopped on the way out
    results = measure(args)
    print(table(results))
    write_results("deployments", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
