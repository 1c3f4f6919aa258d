#!/usr/bin/env python3
"""Target-tracking autoscaling of a real-time endpoint under a load ramp, against the floor its alarms set.

    .venv/bin/python bench/autoscaling.py              # 2 runs, about 2.5 minutes
    .venv/bin/python bench/autoscaling.py --runs 1 --png /tmp/scaling.png

What it does, against one real `homeport serve` (`ServerProcess` with HOMEPORT_METRIC_PERIOD_SECONDS=1, on core 1 with
its instances; this process and its load on core 0) serving the worked example's Abalone XGBoost model:

- A 1-instance endpoint; a scalable target (Application Auto Scaling, `endpoint/<ep>/variant/<v>`,
  `sagemaker:variant:DesiredInstanceCount`, Min 1, Max `--max` 4) and a TargetTrackingScaling policy on
  SageMakerVariantInvocationsPerInstance with TargetValue `--per-instance` (20) requests a second per instance, given
  per MINUTE as in SageMaker (1,200), whatever the metric period; cooldowns `--cooldown` (1 s) both ways.
- The load (open loop, paced, single-row CSV requests over keep-alive connections; see failover.py) rises in steps of
  `--steps` (0.5, 1.5, 2.5, 3.8) times the per-instance target, `--step-s` (8 s) each, holds the top step `--hold-s`
  (8 s) longer, then stops. Each step above the capacity in place (1.5x on 1 instance, 2.5x on 2, 3.8x on 3) should
  add exactly one instance: target tracking asks for ceil(instances x metric / target). The top step is 95 % of the
  target per instance on 4 instances: between AlarmLow's 90 % and the target, so that the hold moves nothing and the
  low periods start when the load stops (at 3.5x, 87.5 %, AlarmLow would count the hold and scale in early).
- Every `--sample-s` (0.25 s): time, offered rate, achieved rate (replies in the last second), DesiredInstanceCount and
  CurrentInstanceCount (DescribeEndpoint), client errors: the CSV and the PNG plot. Count changes are also watched
  every 50 ms, for the timings below.

Figures (per run, then the median over runs):

- scale-out: from the step start that put the offered rate above target x CurrentInstanceCount, to the first
  DescribeEndpoint with DesiredInstanceCount up (`decided`) and with CurrentInstanceCount up (`serving`: the new
  instance passed /ping and takes requests). The floor is set by the alarm shape, not by homeport's speed: AlarmHigh
  needs 3 of 3 periods above the target, so with a 1 s period the earliest scale-out is ~3 s after the rate crosses it
  (less when the crossing lands early in a period, whose average is then already above). `÷ floor` is the ratio to
  3 periods; `alarm earliest` is the exact earliest moment for that event given where it fell in its period, and
  `÷ it` the ratio to that: ~1.0 plus the instance start (~0.1 s) means homeport acted as soon as the alarm let it.
- scale-in: from the load stopping to CurrentInstanceCount down to the minimum. AlarmLow needs 15 of 15 periods below
  90 % of the target: the floor is 15 periods (15 s), and again the exact earliest for the moment of the stop.

Machines are shared and noisy; the ratios, and the median of runs, are what to compare.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from failover import Load, clients, homeport, latency_stats
from invoke import IMAGE, LOADGEN_CORE, ROLE, add_cores_option, affinity, build_model, can_pin
from invoke import signed_headers as sign

from batch import RESULTS, say, write_results  # bench/ is on sys.path: this file runs beside them

ENDPOINT, VARIANT, MODEL = "bench-autoscaling", "AllTraffic", "bench-autoscaling-model"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
PERIOD_S = 1.0  # HOMEPORT_METRIC_PERIOD_SECONDS, as failover.homeport() starts the server
WATCH_S = 0.05  # the watcher's poll, for the timings
SCALE_IN_TIMEOUT_S = 45.0


def alarm_shape() -> tuple[int, int, float]:
    """homeport's target-tracking alarms: (periods high, periods low, the low alarm's share of the target)."""
    from homeport.services.scaling import HIGH_PERIODS, LOW_FACTOR, LOW_PERIODS

    return HIGH_PERIODS, LOW_PERIODS, LOW_FACTOR


# --------------------------------------------------------------------------------------------------------
# homeport: the endpoint and its scaling policy
# --------------------------------------------------------------------------------------------------------


def deploy(sm: Any, tarball: Path) -> None:
    sm.create_model(
        ModelName=MODEL, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": tarball.as_uri()}
    )
    variant = {
        "VariantName": VARIANT,
        "ModelName": MODEL,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
        "InitialVariantWeight": 1.0,
    }
    sm.create_endpoint_config(EndpointConfigName=f"{ENDPOINT}-config", ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName=ENDPOINT, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})


def scale_policy(aas: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Register the variant as a scalable target (1..max) and put the target-tracking policy on it."""
    common = {"ServiceNamespace": "sagemaker", "ResourceId": f"endpoint/{ENDPOINT}/variant/{VARIANT}"}
    aas.register_scalable_target(**common, ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=args.max)
    config = {
        "TargetValue": args.per_instance * 60.0,  # invocations per instance per MINUTE, whatever the period
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleOutCooldown": args.cooldown,
        "ScaleInCooldown": args.cooldown,
    }
    reply = aas.put_scaling_policy(
        **common,
        ScalableDimension=DIMENSION,
        PolicyName="bench-invocations",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=config,
    )
    return {"config": config, "alarms": [a["AlarmName"] for a in reply.get("Alarms", [])]}


def counts(sm: Any) -> tuple[int, int]:
    """(DesiredInstanceCount, CurrentInstanceCount) of the endpoint's variant."""
    (variant,) = sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]
    return int(variant.get("DesiredInstanceCount") or 0), int(variant.get("CurrentInstanceCount") or 0)


# --------------------------------------------------------------------------------------------------------
# Watching: the series every --sample-s, count changes every 50 ms
# --------------------------------------------------------------------------------------------------------


@dataclass
class Change:
    at: float  # epoch seconds: the middle of the DescribeEndpoint call that first showed it
    desired: int
    current: int


@dataclass
class Watcher:
    sm: Any
    load: Load
    sample_s: float
    samples: list[dict[str, float]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Watcher:
        self._poll(0.0)  # the counts before anything happens
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        next_sample = time.time() + self.sample_s
        while not self._stop.wait(WATCH_S):
            next_sample = self._poll(next_sample)

    def _poll(self, next_sample: float) -> float:
        """One DescribeEndpoint: a change is kept, and a sample when one is due; when the next one is."""
        t0 = time.time()
        desired, current = counts(self.sm)
        now = (t0 + time.time()) / 2
        last = self.changes[-1] if self.changes else None
        if last is None or (last.desired, last.current) != (desired, current):
            self.changes.append(Change(now, desired, current))
        if now < next_sample:
            return next_sample
        self.samples.append(self._sample(now, desired, current))
        return now + self.sample_s

    def _sample(self, now: float, desired: int, current: int) -> dict[str, float]:
        replies = self.load.replies
        done, i = 0, len(replies) - 1
        while i >= 0 and replies[i].due + replies[i].latency >= now - 1.0:  # appended as they complete
            done += 1
            i -= 1
        return {
            "t": now,
            "offered_rps": self.load.rate,
            "achieved_rps": float(done),
            "desired": desired,
            "current": current,
            "errors": sum(1 for r in replies if not r.ok),  # so far
        }

    def count_at(self, at: float) -> int:
        """CurrentInstanceCount as last seen at or before `at`."""
        seen = [c.current for c in self.changes if c.at <= at]
        return seen[-1] if seen else 0

    def first(self, after: float, test: Any) -> float:
        """The first change at or after `after` that passes `test`; its time, or NaN."""
        return next((c.at for c in self.changes if c.at >= after and test(c)), math.nan)


# --------------------------------------------------------------------------------------------------------
# One run: the ramp, the hold, the stop
# --------------------------------------------------------------------------------------------------------


def ramp(load: Load, args: argparse.Namespace) -> tuple[list[tuple[float, float]], float]:
    """Drive the load through the steps; the (start, rate) of each step, and when the load stopped."""
    steps: list[tuple[float, float]] = []
    for k, factor in enumerate(args.steps):
        rate = factor * args.per_instance
        load.rate = rate
        steps.append((time.time(), rate))
        hold = args.step_s + (args.hold_s if k == len(args.steps) - 1 else 0.0)
        say(f"    {rate:g} req/s for {hold:g} s")
        time.sleep(hold)
    load.rate = 0.0
    return steps, time.time()


def earliest_alarm(at: float, old: float, new: float, threshold: float, periods: int, above: bool) -> float:
    """Seconds from a rate change at `at` (old → new per instance per second) to the earliest moment an alarm of
    `periods` of `periods` periods above (or below) `threshold` per second can fire: the period the change falls in
    counts when its average, old and new weighted by time, is already past the threshold; periods are aligned to
    the epoch, as homeport's metric loop aligns them."""
    first = math.floor(at / PERIOD_S) * PERIOD_S
    share_new = (first + PERIOD_S - at) / PERIOD_S
    average = old * (1 - share_new) + new * share_new
    past = average > threshold if above else average < threshold
    return (first if past else first + PERIOD_S) + periods * PERIOD_S - at


def scale_outs(w: Watcher, steps: list[tuple[float, float]], per_instance: float) -> list[dict[str, Any]]:
    """Each step that put the offered rate above target x the instances in place: how long until more were asked
    for (DesiredInstanceCount up) and until they served (CurrentInstanceCount up), and the alarm's earliest."""
    high = alarm_shape()[0]
    events = []
    for k, (start, rate) in enumerate(steps):
        before = w.count_at(start)
        if rate <= per_instance * before:
            continue
        old = steps[k - 1][1] if k else 0.0
        decided = w.first(start, lambda c, n=before: c.desired > n)
        serving = w.first(start, lambda c, n=before: c.current > n)
        events.append(
            {
                "rate": rate,
                "from": before,
                "to": w.count_at(serving) if not math.isnan(serving) else before,
                "decided_s": decided - start,
                "serving_s": serving - start,
                "alarm_floor_s": earliest_alarm(start, old / before, rate / before, per_instance, high, above=True),
            }
        )
    return events


def wait_scaled_in(w: Watcher, stopped: float, top: float, args: argparse.Namespace) -> dict[str, Any]:
    """After the load stops: until CurrentInstanceCount is back to 1 (or the timeout)."""
    _, low, low_factor = alarm_shape()
    before = w.count_at(stopped)
    floor_s = earliest_alarm(stopped, top / before, 0.0, low_factor * args.per_instance, low, above=False)
    timeout_s = args.scale_in_timeout
    deadline = stopped + timeout_s
    while time.time() < deadline and w.count_at(time.time()) > 1:
        time.sleep(0.1)
    time.sleep(1.0)  # a little of the idle endpoint in the series
    first_down = w.first(stopped, lambda c: c.current < before)
    at_min = w.first(stopped, lambda c: c.current <= 1 and c.desired <= 1)
    return {
        "from": before,
        "first_down_s": first_down - stopped,
        "at_min_s": at_min - stopped,
        "alarm_floor_s": floor_s,
    }


def one_run(b: Bench, run: int) -> dict[str, Any]:
    say(f"  run {run + 1}:")
    t0 = time.time()
    with Watcher(b.sm, b.load, b.args.sample_s) as w:
        steps, stopped = ramp(b.load, b.args)
        scale_in = wait_scaled_in(w, stopped, steps[-1][1], b.args)
    outs = scale_outs(w, steps, b.args.per_instance)
    replies = b.load.window(t0, stopped)
    samples = [{"run": run + 1, **s, "t": s["t"] - t0} for s in w.samples]
    for e in outs:
        say(
            f"    {e['from']} → {e['to']} at {e['rate']:g} req/s: decided after {e['decided_s']:.2f} s,"
            f" serving after {e['serving_s']:.2f} s (the alarm's earliest {e['alarm_floor_s']:.2f} s)"
        )
    say(
        f"    load stopped: {scale_in['from']} → 1 after {scale_in['at_min_s']:.2f} s (the alarm's earliest"
        f" {scale_in['alarm_floor_s']:.2f} s)"
    )
    return {
        "start": t0,
        "steps": [{"t": s - t0, "rate": r} for s, r in steps],
        "stopped_t": stopped - t0,
        "scale_out": outs,
        "scale_in": scale_in,
        "load": latency_stats(replies),
        "samples": samples,
        "changes": [{"t": c.at - t0, "desired": c.desired, "current": c.current} for c in w.changes],
    }


# --------------------------------------------------------------------------------------------------------
# Output: CSV, PNG, table
# --------------------------------------------------------------------------------------------------------


def write_csv(path: Path, runs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["run", "t", "offered_rps", "achieved_rps", "desired", "current", "errors"]
    with open(path, "w", newline="") as f:
        out = csv.DictWriter(f, columns)
        out.writeheader()
        for run in runs:
            for s in run["samples"]:
                out.writerow({k: (round(s[k], 3) if isinstance(s[k], float) else s[k]) for k in columns})


def plot(path: Path, runs: list[dict[str, Any]], per_instance: float, floors: tuple[float, float]) -> None:
    """One panel per run (see `plot_run`), saved as a PNG with matplotlib's Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(11, 3.6 * len(runs)), squeeze=False)
    for k, (ax, run) in enumerate(zip(axes[:, 0], runs, strict=True), 1):
        plot_run(ax, run, per_instance, floors)
        ax.set_title(
            f"run {k}: target tracking, {per_instance:g} req/s per instance; floors: scale-out {floors[0]:g} s after a"
            f" crossing, scale-in {floors[1]:g} s after the load stops (shaded)",
            fontsize=9,
        )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_run(ax: Any, run: dict[str, Any], per_instance: float, floors: tuple[float, float]) -> None:
    """Offered and achieved rate on the left axis; DesiredInstanceCount and CurrentInstanceCount on the right one,
    scaled so that n instances sit at n x the target rate: where the load is above the red line, it is above the
    target for the instances in place."""
    samples = run["samples"]
    t = [s["t"] for s in samples]
    ax.plot(t, [s["offered_rps"] for s in samples], color="tab:gray", lw=1.2, label="offered req/s")
    ax.plot(t, [s["achieved_rps"] for s in samples], color="tab:blue", lw=1.2, label="achieved req/s (last 1 s)")
    ax.set_xlabel("s since the ramp started")
    ax.set_ylabel("requests / s")
    counts_ax = ax.twinx()
    counts_ax.step(t, [s["desired"] for s in samples], where="post", color="tab:orange", label="desired instances")
    counts_ax.step(t, [s["current"] for s in samples], where="post", color="tab:red", lw=2, label="current instances")
    top = 1.15 * max(max(s["offered_rps"] for s in samples), per_instance * max(s["desired"] for s in samples))
    ax.set_ylim(0, top)
    counts_ax.set_ylim(0, top / per_instance)
    counts_ax.set_ylabel(f"instances (n at n x {per_instance:g} req/s)")
    ax.axvline(run["stopped_t"], color="black", lw=0.8, ls=":")
    ax.axvspan(run["stopped_t"], run["stopped_t"] + floors[1], color="tab:gray", alpha=0.08)
    for step in run["steps"]:
        ax.axvline(step["t"], color="tab:gray", lw=0.5, ls=":")
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = counts_ax.get_legend_handles_labels()
    ax.legend(handles + more_handles, labels + more_labels, loc="upper left", fontsize=8)


def summarize(runs: list[dict[str, Any]], floors: tuple[float, float]) -> dict[str, Any]:
    def med(values: list[float]) -> float:
        good = [v for v in values if not math.isnan(v)]
        return statistics.median(good) if good else math.nan

    outs = [e for run in runs for e in run["scale_out"]]
    ins = [r["scale_in"] for r in runs]
    return {
        "scale_outs": len(outs),
        "scale_outs_one_step": sum(1 for e in outs if e["to"] == e["from"] + 1),
        "decided_s": med([e["decided_s"] for e in outs]),
        "serving_s": med([e["serving_s"] for e in outs]),
        "serving_over_floor": med([e["serving_s"] for e in outs]) / floors[0],
        "serving_over_alarm": med([e["serving_s"] / e["alarm_floor_s"] for e in outs]),
        "decided_over_alarm": med([e["decided_s"] / e["alarm_floor_s"] for e in outs]),
        "start_s": med([e["serving_s"] - e["decided_s"] for e in outs]),
        "scale_in_s": med([i["at_min_s"] for i in ins]),
        "scale_in_over_floor": med([i["at_min_s"] for i in ins]) / floors[1],
        "scale_in_over_alarm": med([i["at_min_s"] / i["alarm_floor_s"] for i in ins]),
        "errors": sum(r["load"]["errors"] for r in runs),
        "requests": sum(r["load"]["requests"] for r in runs),
        "max_reached": max((max(s["current"] for s in r["samples"]) for r in runs), default=0),
    }


def event_rows(r: dict[str, Any]) -> list[str]:
    out_floor, in_floor = r["floors_s"]
    lines = [
        f"{'run':>4} {'event':<26} {'decided':>8} {'serving':>8} {'÷ ' + format(out_floor, 'g') + ' s':>7}"
        f" {'alarm earliest':>14} {'÷ it':>6}"
    ]
    for k, run in enumerate(r["runs"], 1):
        for e in run["scale_out"]:
            what = f"out {e['from']}→{e['to']} at {e['rate']:g} req/s"
            lines.append(
                f"{k:>4} {what:<26} {e['decided_s']:>8.2f} {e['serving_s']:>8.2f} {e['serving_s'] / out_floor:>7.2f}"
                f" {e['alarm_floor_s']:>14.2f} {e['serving_s'] / e['alarm_floor_s']:>6.2f}"
            )
        si = run["scale_in"]
        what = f"in {si['from']}→1, load stopped"
        lines.append(
            f"{k:>4} {what:<26} {'':>8} {si['at_min_s']:>8.2f} {si['at_min_s'] / in_floor:>7.2f}"
            f" {si['alarm_floor_s']:>14.2f} {si['at_min_s'] / si['alarm_floor_s']:>6.2f}"
        )
    return lines


def table(r: dict[str, Any]) -> str:
    cfg, s = r["config"], r["summary"]
    out_floor, in_floor = r["floors_s"]
    high, low, low_factor = r["alarm_shape"]
    lines = [
        f"target tracking on SageMakerVariantInvocationsPerInstance, TargetValue {cfg['per_instance'] * 60:g}/min"
        f" ({cfg['per_instance']:g} req/s per instance), Min 1 Max {cfg['max']}, cooldowns {cfg['cooldown']:g} s;"
        f" metric period {PERIOD_S:g} s; steps {', '.join(f'{x:g}' for x in cfg['steps'])} x target,"
        f" {cfg['step_s']:g} s each, top held {cfg['hold_s']:g} s more; {len(r['runs'])} run(s); times in s",
        "",
        *event_rows(r),
        "",
        f"{'figure (median over events / runs)':<54} {'value':>7} {'÷ floor':>8} {'÷ alarm earliest':>17}",
        f"{'scale-out: crossing → DesiredInstanceCount up (s)':<54} {s['decided_s']:>7.2f}"
        f" {s['decided_s'] / out_floor:>8.2f} {s['decided_over_alarm']:>17.2f}",
        f"{'scale-out: crossing → CurrentInstanceCount up (s)':<54} {s['serving_s']:>7.2f}"
        f" {s['serving_over_floor']:>8.2f} {s['serving_over_alarm']:>17.2f}",
        f"{'  of which the instance start, decided → serving (s)':<54} {s['start_s']:>7.2f}",
        f"{'scale-in: load stopped → back to 1 instance (s)':<54} {s['scale_in_s']:>7.2f}"
        f" {s['scale_in_over_floor']:>8.2f} {s['scale_in_over_alarm']:>17.2f}",
        f"{'scale-outs that added exactly one instance':<54} {s['scale_outs_one_step']:>3} of {s['scale_outs']}",
        f"{'most instances reached':<54} {s['max_reached']:>7}  (MaxCapacity {cfg['max']})",
        f"{'client errors during the ramps':<54} {s['errors']:>7}  (of {s['requests']:,} requests)",
        "",
        f"The floors are the alarm shapes', not homeport's: AlarmHigh fires after {high} of {high} periods above the"
        f" target, so with a {PERIOD_S:g} s period the earliest scale-out is ~{out_floor:g} s after the rate crosses"
        f" it; AlarmLow after {low} of {low} periods below {low_factor:.0%} of it, so scale-in comes ~{in_floor:g} s"
        " after the load stops at the earliest. `÷ floor` divides by these; `alarm earliest` is the exact earliest for"
        " each event, from where the change fell in its period (a period the change falls in early enough already"
        " counts), so `÷ it` near 1 means homeport acted at the first moment the alarm allowed.",
        f"A crossing is the start of a step whose offered rate is above target x the instances then in place. Times"
        f" from DescribeEndpoint polled every {WATCH_S * 1000:g} ms.",
        f"samples: {r['csv']} (every {cfg['sample_s']:g} s); plot: {r['png']}",
    ]
    lines += [f"error: {e}" for e in r["error_messages"]]
    lines += [f"server log: {ln}" for ln in r["server_log_warnings"][:5]]
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    sm: Any
    load: Load


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import boto3

    if can_pin():
        os.sched_setaffinity(0, {LOADGEN_CORE})
    high, low, low_factor = alarm_shape()
    floors = (high * PERIOD_S, low * PERIOD_S)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="homeport-autoscaling-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        booster, tarball, row, body = build_model(work / "model")
        expected = float(booster.inplace_predict(row, validate_features=False)[0])
        with homeport(work, args.homeport_cores) as server:
            sm, _ = clients(server)
            deploy(sm, tarball)
            aas = boto3.client(
                "application-autoscaling",
                endpoint_url=server.url,
                region_name="us-east-1",
                aws_access_key_id=server.access_key_id,
                aws_secret_access_key=server.secret_access_key,
            )
            policy = scale_policy(aas, args)
            say(f"model trained, server at {server.url}, endpoint and policy in {time.perf_counter() - t0:.1f} s")
            url = f"{server.url}/endpoints/{ENDPOINT}/invocations"
            pins = {"bench": affinity(os.getpid()), "homeport": affinity(server.proc.pid)}
            with Load(url, body, sign(url, body, server), expected, args.threads) as load:
                b = Bench(args, sm, load)
                runs = [one_run(b, k) for k in range(args.runs)]
                errors = sorted({r.error for r in load.replies if not r.ok})[:10]
            activities = aas.describe_scaling_activities(
                ServiceNamespace="sagemaker", ResourceId=f"endpoint/{ENDPOINT}/variant/{VARIANT}"
            )["ScalingActivities"]
        log = (work / "homeport.log").read_text(errors="replace").splitlines()
    top = args.steps[-1] / args.max  # the top step's load per instance at MaxCapacity, as a share of the target
    if not low_factor < top <= 1.0:
        notes.append(
            f"the top step gives {top:.0%} of the target per instance at {args.max} instances, outside"
            f" ({low_factor:.0%}, 100%]: the hold itself may move the count (AlarmLow, or not reaching the maximum),"
            " so scale-in is not timed from the stop alone"
        )
    if any(math.isnan(r["scale_in"]["at_min_s"]) for r in runs):
        notes.append(f"a run did not scale back in to 1 instance within {args.scale_in_timeout:g} s of the stop")
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "config": {k: v for k, v in vars(args).items() if k not in ("homeport_cores", "png", "csv")},
        "pinning": pins if can_pin() else "none (fewer than 2 usable cores)",
        "policy": policy,
        "alarm_shape": (high, low, low_factor),
        "floors_s": floors,
        "runs": runs,
        "summary": summarize(runs, floors),
        "error_messages": errors,
        "activities": [
            {k: str(a.get(k)) for k in ("StartTime", "EndTime", "Description", "Cause", "StatusCode")}
            for a in activities
        ],
        "server_log_warnings": [ln for ln in log if " WARNING " in ln or " ERROR " in ln][:20],
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="ramps, each followed by the scale-in (default 2)")
    parser.add_argument("--per-instance", type=float, default=20.0, help="target req/s per instance (default 20)")
    parser.add_argument(
        "--steps",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[0.5, 1.5, 2.5, 3.8],
        help="the ramp's rates, as multiples of --per-instance (default 0.5,1.5,2.5,3.8)",
    )
    parser.add_argument("--step-s", type=float, default=8.0, help="seconds per step (default 8)")
    parser.add_argument("--hold-s", type=float, default=8.0, help="extra seconds at the top step (default 8)")
    parser.add_argument("--max", type=int, default=4, help="MaxCapacity (default 4)")
    parser.add_argument("--cooldown", type=int, default=1, help="ScaleOut/ScaleInCooldown, s (default 1)")
    parser.add_argument("--sample-s", type=float, default=0.25, help="the series' sampling interval (default 0.25)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--scale-in-timeout", type=float, default=SCALE_IN_TIMEOUT_S)
    parser.add_argument("--png", type=Path, help="the plot (default bench/results/autoscaling-<time>.png)")
    parser.add_argument("--csv", type=Path, help="the samples (default bench/results/autoscaling-<time>.csv)")
    add_cores_option(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the server is stopped on the way out
    stamp = time.strftime("%Y%m%d-%H%M%S")
    png = args.png or RESULTS / f"autoscaling-{stamp}.png"
    csv_path = args.csv or RESULTS / f"autoscaling-{stamp}.csv"
    results = measure(args)
    write_csv(csv_path, results["runs"])
    plot(png, results["runs"], args.per_instance, results["floors_s"])
    results["csv"], results["png"] = str(csv_path), str(png)
    print(table(results))
    write_results("autoscaling", results, stamp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
