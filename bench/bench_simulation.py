"""The replication protocol at 100 to 1,000 members, on simulated time (lab/simulation.py): the
real protocol code of every member in one process, over links of 20 ms, no Kubernetes.

For each fleet size (regions of 100 members, as a large fleet would be cut):
- at rest: calls and bytes each member sends per simulated second, and the CPU the protocol's
  own code spends per member per simulated second (this process's, so no gRPC: a guide to
  how the listener's own work grows with the fleet);
- a write at one member: simulated time until every member holds it, and the calls it took;
- a crash: simulated time until every member of its region holds it dead, and whether any
  live member was ever taken for dead;
- a 50/50 partition (half of each region on each side) taking `writes` writes, 100 records a
  write, then healed: simulated time until every member holds all of them.
Baselines in the same run: the same fleets with a beat pushed to the whole region (the rule
before the heartbeat fanout), at the sizes where it still runs in reasonable time; and with
one member that does not say it reports its region, so every heartbeat table travels whole
(the rule before region reports).

Usage: bench_simulation.py [--full | --partition MEMBERS WRITES]
  short form (make bench): 100, 300 and 1,000 members; the partition with 1,000 writes at 100
  and 300 members;
  --full: also 10,000 partition writes at 100 members and 1,000 at 1,000 members;
  --partition: only the partition, at that size with that many writes (10,000 writes at 1,000
  members: 10 million records held in one process, 26 minutes and 4.2 GB on 2026-12-05).
Figures are simulated seconds and messages: what the protocol needs, whatever the machine.
The real-time cost of running the simulation is printed too, as a guide only.
"""
from __future__ import annotations

import random
import sys
import time

import common

from ansible_collections.multicluster.kube.plugins.module_utils.model import Placement, Service, ServiceSpec

from lab.simulation import Settings, Simulation

REGION_SIZE = 100
SETTLE, REST_WINDOW = 3.0, 5.0
RECORDS_PER_WRITE = 100


def service(region, name):
    spec = ServiceSpec(region, name, 1)
    return spec.key, Service(spec, Placement())


def traffic_delta(after, before) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items()}


def per_member(traffic, members, seconds) -> tuple:
    calls = sum(v for (_m, what), v in traffic.items() if what == "calls")
    sent = sum(v for (_m, what), v in traffic.items() if what == "bytes_out")
    return calls / members / seconds, sent / members / seconds


def rest_and_write(size: int, settings: Settings, not_reporting=()) -> dict:
    started = time.monotonic()
    sim = Simulation(size, max(1, size // REGION_SIZE), settings, not_reporting=not_reporting)
    sim.run_until(SETTLE)
    before, cpu = sim.traffic(), time.process_time()
    sim.run_until(SETTLE + REST_WINDOW)
    cpu = time.process_time() - cpu  # the protocol's own work (no gRPC): every member's, in this process
    calls, sent = per_member(traffic_delta(sim.traffic(), before), size, REST_WINDOW)
    # a write: delivered within the write itself (the protocol's pushes run at once), so the
    # calls it made are the difference across it
    at, before = sim.time.now, sim.traffic()
    [record] = sim.write(random.Random(size).choice(list(sim.members)), [service("r0", "bench")])
    write_calls = sum(v for (_m, what), v in traffic_delta(sim.traffic(), before).items() if what == "calls")
    sim.run_until(at + 10, lambda: sim.held_by_all([record]))
    reached = max(sim.arrivals(record).values()) - at if sim.held_by_all([record]) else None
    return {"members": size, "calls_per_member_per_s": round(calls, 2), "bytes_per_member_per_s": round(sent),
            "cpu_ms_per_member_per_s": round(cpu * 1000 / size / REST_WINDOW, 2),
            "write_reached_all_s": reached, "write_calls": write_calls,
            "real_seconds": round(time.monotonic() - started, 1), "sim": sim}


def crash(sim: Simulation) -> dict:
    """A member crashes: when each member of its region holds it dead, when every tenth member
    of the other regions does (by its region's reports, or heartbeats where there is one region),
    and how often a sampled member took some live member for dead meanwhile."""
    victim = "m0001"
    region = [m.name for m in sim.alive() if m.region == sim.members[victim].region and m.name != victim]
    far = [m.name for m in sim.alive() if m.region != sim.members[victim].region][::10]
    sim.crash(victim)
    at, seen, seen_far, false_alarms = sim.time.now, {}, {}, 0
    while (len(seen) < len(region) or len(seen_far) < len(far)) and sim.time.now < at + 30:
        sim.run_until(sim.time.now + 0.1)
        for names, times in ((region, seen), (far, seen_far)):
            for name in names:
                if name not in times and sim.seen_unhealthy(victim, name):
                    times[name] = sim.time.now - at
        false_alarms += sum(1 for name in region[::10] + far if sim.members[name].health.unhealthy() - {victim})
    times, times_far = sorted(seen.values()), sorted(seen_far.values())
    return {"crash_seen_by_region_median_s": round(common.percentile(times, 50), 2),
            "crash_seen_by_region_last_s": round(times[-1], 2) if len(times) == len(region) else None,
            "crash_seen_elsewhere_median_s": round(common.percentile(times_far, 50), 2) if far else None,
            "crash_seen_elsewhere_last_s": round(times_far[-1], 2) if far and len(times_far) == len(far) else None,
            "false_alarms": false_alarms}


def partition(size: int, writes: int, settings: Settings) -> dict:
    started = time.monotonic()
    sim = Simulation(size, max(1, size // REGION_SIZE), settings)
    names = list(sim.members)
    side, other = names[0::2], names[1::2]  # half of every region on each side
    sim.run_until(SETTLE)
    sim.partition(side, other)
    records = []
    for i in range(writes // RECORDS_PER_WRITE):
        at = (side, other)[i % 2][i // 2 % len(side)]
        region = sim.members[at].region
        records += sim.write(at, [service(region, f"s{i}-{j}") for j in range(RECORDS_PER_WRITE)])
    sim.run_until(sim.time.now + 2)
    sim.heal()
    healed = sim.time.now
    done = False
    while not done and sim.time.now < healed + 60:  # checked every 50 ms: a check reads every arrival
        sim.run_until(sim.time.now + 0.05)
        done = sim.held_by_all(records)
    return {"members": size, "records": len(records), "healed_all_s": round(sim.time.now - healed, 2) if done else None,
            "real_seconds": round(time.monotonic() - started, 1)}


def main():
    full = "--full" in sys.argv
    if "--partition" in sys.argv:
        numbers = sys.argv[sys.argv.index("--partition") + 1:][:2]
        if len(numbers) != 2 or not all(n.isdigit() and int(n) > 0 for n in numbers):
            sys.exit(f"--partition: must be followed by MEMBERS and WRITES, two positive integers, not {numbers}")
        size, writes = map(int, numbers)
        row = partition(size, writes, Settings())
        print(f"simulation: {size} members, a 50/50 partition with {row['records']} services written on both sides "
              f"({RECORDS_PER_WRITE} a write): every member holds them all {row['healed_all_s']} s after the heal "
              f"[{row['real_seconds']} s to run]")
        common.save(f"simulation-partition-{size}-{writes}", row)
        return
    fanout = Settings()
    to_all = Settings(heartbeat_fanout=10 ** 6)
    results = {"rest": [], "baseline_rest": [], "whole_tables_rest": [], "partition": []}
    for size in (100, 300, 1000):
        row = rest_and_write(size, fanout)
        row.update(crash(row.pop("sim")))
        results["rest"].append(row)
        print(f"simulation: {size} members: at rest {row['calls_per_member_per_s']} calls and "
              f"{row['bytes_per_member_per_s'] / 1000:.1f} kB per member per s, {row['cpu_ms_per_member_per_s']} ms of "
              f"this process's CPU per member per s; a write reached all in "
              f"{row['write_reached_all_s']} s with {row['write_calls']} calls; a crash seen by its region in "
              f"{row['crash_seen_by_region_median_s']} s (median), {row['crash_seen_by_region_last_s']} s (last), "
              f"by other regions in {row['crash_seen_elsewhere_median_s']} s (median), "
              f"{row['crash_seen_elsewhere_last_s']} s (last), "
              f"{row['false_alarms']} false alarms [{row['real_seconds']} s to run]")
    for size in (100, 300):
        row = rest_and_write(size, to_all)
        row.pop("sim")
        results["baseline_rest"].append(row)
        print(f"baseline (a beat to the whole region): {size} members: at rest {row['calls_per_member_per_s']} calls "
              f"and {row['bytes_per_member_per_s'] / 1000:.1f} kB per member per s [{row['real_seconds']} s to run]")
    for size in (300, 1000):
        row = rest_and_write(size, fanout, not_reporting=[f"m{size - 1:04d}"])
        row.pop("sim")
        results["whole_tables_rest"].append(row)
        print(f"baseline (one member not reporting: every table whole): {size} members: at rest "
              f"{row['calls_per_member_per_s']} calls and {row['bytes_per_member_per_s'] / 1000:.1f} kB per member "
              f"per s, {row['cpu_ms_per_member_per_s']} ms of CPU [{row['real_seconds']} s to run]")
    runs = [(100, 1000), (300, 1000)] + ([(100, 10000), (1000, 1000)] if full else [])
    for size, writes in runs:
        row = partition(size, writes, fanout)
        results["partition"].append(row)
        print(f"simulation: {size} members, a 50/50 partition with {row['records']} services written on both sides "
              f"({RECORDS_PER_WRITE} a write): every member holds "
              f"them all {row['healed_all_s']} s after the heal [{row['real_seconds']} s to run]")
    rest = {r["members"]: r for r in results["rest"]}
    ratio = rest[1000]["calls_per_member_per_s"] / rest[100]["calls_per_member_per_s"]
    bytes_ratio = rest[1000]["bytes_per_member_per_s"] / rest[100]["bytes_per_member_per_s"]
    results["calls_ratio_1000_to_100"], results["bytes_ratio_1000_to_100"] = round(ratio, 2), round(bytes_ratio, 2)
    common.save("simulation", results)
    plot(results)
    print(f"simulation: per member per s at 1,000 members / at 100: calls {ratio:.2f}, bytes {bytes_ratio:.2f} "
          "(goal: flat)")


def plot(results) -> None:
    plt, fig, (calls, sent) = common._figure(width=10, height=4, columns=2)
    for key, label in (("rest", "today's rules"), ("baseline_rest", "a beat to the whole region"),
                       ("whole_tables_rest", "every heartbeat table whole")):
        rows = results[key]
        members = [r["members"] for r in rows]
        calls.plot(members, [r["calls_per_member_per_s"] for r in rows], "o-", label=label)
        sent.plot(members, [r["bytes_per_member_per_s"] / 1000 for r in rows], "o-", label=label)
    for ax, ylabel in ((calls, "calls per member per simulated s"), (sent, "kB sent per member per simulated s")):
        ax.set_xscale("log")
        ax.set_xlabel("members (regions of 100)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    calls.legend()
    fig.suptitle("Resting cost per member, simulated (20 ms links)")
    common._save_figure(plt, fig, "simulation")


if __name__ == "__main__":
    main()
