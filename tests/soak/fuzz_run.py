"""A long fuzz run of greensio's decoders and of the whole reader (issue #7).

    python -m tests.soak.fuzz_run --minutes 20          # time budget split across the properties
    python -m tests.soak.fuzz_run --examples 5000       # that many examples of each property
    python -m tests.soak.fuzz_run --minutes 20 --atheris   # plus coverage-guided fuzzing (needs atheris)

Hypothesis mode reuses the property tests (pytest marker ``hypothesis``) of the decoder
and reader test files: each property runs in its own pytest process under the
``soak`` profile of tests/conftest.py, in rounds of ``GREENSIO_SOAK_EXAMPLES`` examples
sized from the rate of the previous round, until its share of the budget is spent.
The properties allow a decoded packet, ``ProtocolError`` (a ``"parse error"``
disconnect for the reader) or an ignored packet, and bound what a decoder keeps.
A hang fails the round (pytest-timeout); each round runs under an address-space limit
and its peak RSS is reported.

Atheris mode (``--atheris``; atheris is an optional dependency: ``pip install atheris``)
fuzzes the pure decoders (Engine.IO payloads and handshakes, Socket.IO frame sequences,
msgpack frames, WebSocket frames, HTTP responses against h11) coverage-guided, with the invariant checks of the unit
tests, for ``--atheris-share`` of the budget.

Per property it prints examples run, time, peak RSS and failures, then a total, and
last one JSON line with all the figures. Logs go to ``--out`` (a new folder in /tmp by
default). Exit status 0 when nothing failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    "tests/unit/test_eio_codec.py",
    "tests/unit/test_sio_codec.py",
    "tests/unit/test_msgpack_codec.py",
    "tests/unit/test_wsframe.py",
    "tests/unit/test_deflate.py",
    "tests/unit/test_protocol_v3.py",
    "tests/unit/test_protocol_v3_state.py",
    "tests/unit/test_http_h11.py",
    "tests/integration/test_fuzz_reader.py",
]
SKIP = {"test_encode_frame_matches_websocket_client_property"}  # an encoder property: nothing is decoded
WEIGHTS = {  # share of the budget relative to a plain decoder property
    "test_random_frames_never_break_the_reader": 4.0,  # the whole reader: one connection per example
    "test_damaged_binary_packets_never_break_the_reader": 4.0,
    "test_long_base64_items": 0.5,
}
FIRST_ROUND = 100  # examples of a property's first round, which measures its rate
MAX_ROUND = 20_000  # examples per pytest process (Hypothesis keeps some state per example)
ADDRESS_SPACE = 6 * 2**30  # RLIMIT_AS of every child: garbage must never make a decoder allocate this much
ATHERIS_TARGETS = ["eio", "sio", "msgpack", "wsframe", "http"]


@dataclass
class Result:
    """What one property's run did."""

    name: str
    mode: str
    examples: int = 0
    invalid: int = 0
    seconds: float = 0.0
    rounds: int = 0
    failures: int = 0
    max_rss_mb: float = 0.0
    stopped: str = ""
    logs: list[str] = field(default_factory=list)
    failure: Optional[str] = None


@dataclass
class Child:
    """How a child process ended."""

    returncode: int
    seconds: float
    max_rss_mb: float
    timed_out: bool


def _child_setup() -> None:
    """In the child before exec: a process group of its own and a cap on its address space."""
    os.setsid()  # its own process group, so that a hung child is ended with everything it started
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_child(command: list[str], log: Path, env: dict[str, str], timeout: float) -> Child:
    """Run *command* with its output in *log*; kill its process group after *timeout* seconds."""
    start = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_child_setup,
        )
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > timeout and not timed_out:
            timed_out = True
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                time.sleep(2)
        time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Child(proc.returncode, time.monotonic() - start, usage.ru_maxrss / 1024, timed_out)


# ---------------------------------------------------------------------------- Hypothesis mode

STATS_PHASE = re.compile(
    r"during (?P<phase>\w+) phase \((?P<seconds>[\d.]+) seconds\):.*?"
    r"(?P<passing>\d+) passing, (?P<failing>\d+) failing, and (?P<invalid>\d+) invalid",
    re.S,
)
STOPPED = re.compile(r"Stopped because (.*)")


@dataclass
class RoundStats:
    """Hypothesis' statistics of one round (generate and reuse phases; shrinking is not counted)."""

    examples: int = 0
    invalid: int = 0
    seconds: float = 0.0
    stopped: str = ""


def parse_statistics(text: str) -> Optional[RoundStats]:
    """The figures of ``--hypothesis-show-statistics`` output, None if there are none."""
    stats = RoundStats()
    found = False
    for match in STATS_PHASE.finditer(text):
        if match["phase"] in ("generate", "reuse", "explicit"):
            found = True
            stats.examples += int(match["passing"]) + int(match["failing"])
            stats.invalid += int(match["invalid"])
            stats.seconds += float(match["seconds"])
    stopped = STOPPED.search(text)
    if stopped:
        stats.stopped = stopped.group(1).strip()
    return stats if found else None


def failure_excerpt(text: str, limit: int = 60) -> str:
    """The lines of a pytest log that tell what failed (the falsifying example included)."""
    keep = [
        line
        for line in text.splitlines()
        if line.startswith(("E ", "FAILED", "ERROR")) or any(k in line for k in ("reproduce_failure", "Timeout"))
    ]
    return "\n".join(keep[:limit]) or "\n".join(text.splitlines()[-limit:])


def collect(only: list[str]) -> list[str]:
    """Node ids of the property tests to run."""
    env = {**os.environ, "GREENSIO_HYPOTHESIS_PROFILE": "soak"}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "hypothesis", *FILES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    ids = [line.strip() for line in out.stdout.splitlines() if "::" in line]
    if not ids:
        raise SystemExit(f"no property tests collected:\n{out.stdout}\n{out.stderr}")
    ids = [i for i in ids if i.rsplit("::", 1)[1] not in SKIP]
    return [i for i in ids if not only or any(o in i for o in only)]


def run_property(
    node: str, budget: Optional[float], examples: Optional[int], out: Path, report: Callable[[str], None]
) -> Result:
    """Run one property for *budget* seconds or *examples* examples, in rounds."""
    name = node.split("/")[-1]
    result = Result(name=name, mode="hypothesis")
    safe = re.sub(r"[^\w.-]+", "_", name)
    wanted = examples
    n = FIRST_ROUND if wanted is None else min(wanted, MAX_ROUND)
    gen_seconds = 0.0
    while True:
        seed = random.getrandbits(32)
        planned = n * (gen_seconds / max(result.examples, 1)) if result.examples else 30.0
        timeout = max(120.0, 3 * planned + 60)
        log = out / f"{safe}.round{result.rounds + 1}.log"
        env = {**os.environ, "GREENSIO_HYPOTHESIS_PROFILE": "soak", "GREENSIO_SOAK_EXAMPLES": str(n)}
        command = [
            sys.executable,
            "-m",
            "pytest",
            node,
            "-q",
            "--hypothesis-show-statistics",
            f"--hypothesis-seed={seed}",
            f"--timeout={int(timeout)}",
            "-p",
            "no:warnings",
        ]
        child = run_child(command, log, env, timeout + 60)
        text = log.read_text(errors="replace")
        stats = parse_statistics(text)
        result.rounds += 1
        result.logs.append(str(log))
        result.seconds += child.seconds
        result.max_rss_mb = max(result.max_rss_mb, child.max_rss_mb)
        if stats is not None:
            result.examples += stats.examples
            result.invalid += stats.invalid
            result.stopped = stats.stopped
            gen_seconds += stats.seconds
        ok = child.returncode == 0 and not child.timed_out and stats is not None
        report(
            f"  round {result.rounds}: {stats.examples if stats else '?'} examples in {child.seconds:.1f} s, "
            f"rss {child.max_rss_mb:.0f} MB, seed {seed}, {'ok' if ok else 'FAILED'} ({log})"
        )
        if not ok:
            result.failures += 1
            why = "hang (killed)" if child.timed_out else f"exit status {child.returncode}"
            result.failure = f"{why}, seed {seed}, log {log}\n{failure_excerpt(text)}"
            break
        if "nothing left to do" in result.stopped:
            break  # the strategy's space is exhausted
        if wanted is not None:
            if result.examples >= wanted:
                break
            n = min(wanted - result.examples, MAX_ROUND)
            continue
        assert budget is not None
        overhead = max(child.seconds - (stats.seconds if stats else 0.0), 0.5)  # interpreter + pytest start
        remaining = budget - result.seconds - overhead
        if remaining < 2 or stats is None or not stats.examples:
            break
        rate = result.examples / max(gen_seconds, 1e-3)
        n = max(10, min(MAX_ROUND, int(rate * remaining * 0.9)))
    return result


# ---------------------------------------------------------------------------- atheris mode

DONE = re.compile(r"Done (\d+) runs in (\d+) second")
EXECUTED = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
PEAK_RSS = re.compile(r"stat::peak_rss_mb:\s*(\d+)")


def run_atheris(target: str, seconds: Optional[float], runs: Optional[int], out: Path) -> Result:
    """Fuzz one decoder with atheris in a child process."""
    result = Result(name=f"atheris:{target}", mode="atheris", rounds=1)
    log = out / f"atheris-{target}.log"
    command = [sys.executable, "-m", "tests.soak.fuzz_run", "--atheris-target", target, "--out", str(out)]
    command += ["--seconds", str(int(seconds))] if seconds is not None else ["--runs", str(runs)]
    child = run_child(command, log, dict(os.environ), (seconds or 3600) + 120)
    text = log.read_text(errors="replace")
    executed = EXECUTED.search(text) or DONE.search(text)
    peak = PEAK_RSS.search(text)
    result.examples = int(executed.group(1)) if executed else 0
    result.seconds = child.seconds
    result.max_rss_mb = float(peak.group(1)) if peak else child.max_rss_mb
    result.logs.append(str(log))
    if child.returncode != 0 or child.timed_out:
        result.failures = 1
        lines = [line for line in text.splitlines() if not line.startswith(("#", "INFO:", "stat::"))]
        result.failure = f"exit status {child.returncode}, log {log}\n" + "\n".join(lines[-40:])
    return result


def _seeds(target: str) -> list[bytes]:
    """A few valid inputs for *target*, so that the fuzzer starts from real packets."""
    from greensio._core.eio import encode_payload
    from greensio._core.msgpack_codec import MsgpackEncoder
    from greensio._core.sio import Encoder
    from tests.unit import test_wsframe

    packets: list[tuple[int, str, Any, Optional[int]]] = [
        (0, "/", {"sid": "x"}, None),
        (2, "/", ["ev", 1, {"a": [None, True]}], None),
        (2, "/chat", ["bin", b"\x00\x01", {"k": [b"x"]}], 7),
        (3, "/", ["ok", b"z"], 3),
        (4, "/", {"message": "no"}, None),
    ]
    if target == "eio":
        return [
            encode_payload(["4hello", b"\x01\x02", "2", "6", "3probe"]).encode(),
            b'0{"sid":"a","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}',
        ]
    if target == "sio":
        seeds = []
        for packet in packets:
            text, attachments = Encoder().encode(*packet)
            seeds.append(SIO_SPLIT.join([b"\x00" + text.encode(), *(b"\x01" + a for a in attachments)]))
        return seeds
    if target == "msgpack":
        return [MsgpackEncoder().encode(*packet)[0] for packet in packets]
    if target == "http":
        from tests.unit import test_http_h11

        return [b"\x07\x80\x40\x07" + response for response in test_http_h11.REAL.values()]
    return [test_wsframe.STREAM, bytes.fromhex("".join(test_wsframe.RFC_HELLO.values()))]


SIO_SPLIT = b"\xff\xfe"  # sio target input: frames split on this; a frame's first byte even: text, odd: binary


def atheris_child(target: str, seconds: Optional[int], runs: Optional[int], out: Path) -> None:
    """Run in the child: instrument greensio, then hand one decoder to libFuzzer (never returns)."""
    import atheris

    with atheris.instrument_imports(include=["greensio"]):
        import greensio._core.deflate  # noqa: F401
        import greensio._core.eio  # noqa: F401
        import greensio._core.http  # noqa: F401
        import greensio._core.msgpack_codec  # noqa: F401
        import greensio._core.sio  # noqa: F401
        import greensio._core.wsframe  # noqa: F401
    fuzz = _atheris_target(target)
    corpus = out / f"corpus-{target}"
    corpus.mkdir(exist_ok=True)
    for i, seed in enumerate(_seeds(target)):
        (corpus / f"seed-{i}").write_bytes(seed)
    args = [
        sys.argv[0],
        f"-artifact_prefix={out}/crash-{target}-",
        "-timeout=20",
        "-rss_limit_mb=2048",
        "-max_len=8192",
        "-print_final_stats=1",
        str(corpus),
    ]
    args.append(f"-max_total_time={seconds}" if seconds is not None else f"-runs={runs}")
    atheris.Setup(args, fuzz)
    atheris.Fuzz()


def _atheris_target(target: str) -> Callable[[bytes], None]:
    """The fuzz target: bytes in, the unit tests' invariants checked (they raise on a violation)."""
    from greensio._core.eio import TYPES, decode_payload, parse_handshake
    from greensio._core.sio import Decoder
    from greensio._core.wsframe import FrameReader
    from greensio._exceptions import ProtocolError
    from tests.unit import test_http_h11, test_msgpack_codec, test_sio_codec, test_wsframe

    def eio(data: bytes) -> None:
        try:
            body = data.decode("utf-8")  # the polling transport refuses invalid UTF-8 with ProtocolError
        except UnicodeDecodeError:
            return
        try:
            packets = decode_payload(body)
        except ProtocolError:
            pass
        else:
            assert len(packets) == body.count("\x1e") + 1
            assert all(isinstance(p, bytes) or p[:1] in TYPES for p in packets)
        try:
            hs = parse_handshake(body)
        except ProtocolError:
            return
        assert hs.sid and hs.ping_interval >= 0 and hs.ping_timeout >= 0 and hs.max_payload >= 0

    def sio(data: bytes) -> None:
        frames: list[Any] = []
        for piece in data.split(SIO_SPLIT):
            if piece[:1] and piece[0] & 1:
                frames.append(piece[1:])
            else:
                frames.append(piece[1:].decode("utf-8", "replace"))
        test_sio_codec._feed_checked(Decoder(max_attachments=data[0] % 12 if data else 10), frames)

    def msgpack(data: bytes) -> None:
        test_msgpack_codec._check_never_raises_other(data)
        test_msgpack_codec._ext_formats(data)

    def wsframe(data: bytes) -> None:
        limit = (50, 300, 1 << 20)[data[0] % 3] if data else 300
        step = 1 + (data[1] if len(data) > 1 else 0)
        codec = test_wsframe.deflate() if len(data) > 2 and data[2] & 1 else None  # permessage-deflate on
        test_wsframe._feed_garbage(FrameReader(limit, codec), [data[i : i + step] for i in range(0, len(data), step)])

    targets: dict[str, Callable[[bytes], None]] = {
        "eio": eio,
        "sio": sio,
        "msgpack": msgpack,
        "wsframe": wsframe,
        "http": test_http_h11.fuzz_one,  # the h11 differential and the limits check
    }
    return targets[target]


def atheris_available() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("--minutes", type=float, help="total time budget (default 20)")
    amount.add_argument("--examples", type=int, help="examples of each property instead of a time budget")
    parser.add_argument("--atheris", action="store_true", help="also fuzz the pure decoders with atheris")
    parser.add_argument("--atheris-share", type=float, default=0.2, help="share of the budget for atheris")
    parser.add_argument("--only", action="append", default=[], help="run the properties whose id contains this")
    parser.add_argument("--out", type=Path, help="folder for the logs (default: a new one in /tmp)")
    parser.add_argument("--atheris-target", choices=ATHERIS_TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.atheris_target:
        atheris_child(args.atheris_target, args.seconds, args.runs, args.out)
        return 0  # not reached: libFuzzer exits

    out: Path = args.out or Path(tempfile.mkdtemp(prefix="greensio-fuzz-", dir="/tmp"))
    out.mkdir(parents=True, exist_ok=True)
    minutes = args.minutes if args.minutes is not None or args.examples is not None else 20.0
    if args.atheris and not atheris_available():
        parser.error("--atheris needs the atheris package (pip install atheris)")

    def report(line: str) -> None:
        print(line, flush=True)

    nodes = collect(args.only)
    targets = [t for t in ATHERIS_TARGETS if not args.only or any(o in f"atheris:{t}" for o in args.only)]
    targets = targets if args.atheris else []
    total = minutes * 60 if minutes is not None else None
    atheris_seconds = total * args.atheris_share if total is not None and targets else 0.0
    weights = {n: WEIGHTS.get(n.rsplit("::", 1)[1], 1.0) for n in nodes}
    report(
        f"fuzz run: {len(nodes)} properties"
        + (f", {len(targets)} atheris targets" if targets else "")
        + (f", {minutes:g} minutes" if minutes is not None else f", {args.examples} examples each")
        + f"; logs in {out}"
    )
    started = time.monotonic()
    results: list[Result] = []
    for node in nodes:
        budget = None
        if total is not None:  # share what is left among the properties still to run
            left = total - atheris_seconds - (time.monotonic() - started)
            todo = sum(weights[n] for n in nodes[len(results) :])
            budget = max(left * weights[node] / todo, 5.0)
            report(f"{node}: {budget:.0f} s")
        else:
            report(f"{node}: {args.examples} examples")
        result = run_property(node, budget, args.examples, out, report)
        results.append(result)
        report(_line(result))
    for i, target in enumerate(targets):
        seconds = None
        if total is not None:
            seconds = max((total - (time.monotonic() - started)) / (len(targets) - i), 10.0)
        report(f"atheris:{target}: " + (f"{seconds:.0f} s" if seconds else f"{args.examples} runs"))
        result = run_atheris(target, seconds, args.examples, out)
        results.append(result)
        report(_line(result))

    summary = {
        "examples": sum(r.examples for r in results),
        "failures": sum(r.failures for r in results),
        "properties": len(results),
        "seconds": round(time.monotonic() - started, 1),
        "max_rss_mb": round(max((r.max_rss_mb for r in results), default=0.0), 1),
        "logs": str(out),
    }
    report("")
    report(f"{'property':<78} {'examples':>9} {'seconds':>8} {'rss MB':>7} {'failures':>8}")
    for r in results:
        report(f"{r.name:<78} {r.examples:>9} {r.seconds:>8.1f} {r.max_rss_mb:>7.0f} {r.failures:>8}")
    report(
        f"{'total':<78} {summary['examples']:>9} {summary['seconds']:>8.1f} {summary['max_rss_mb']:>7.0f} "
        f"{summary['failures']:>8}"
    )
    for r in results:
        if r.failure:
            report(f"\nFAILED {r.name}: {r.failure}")
    properties = [{**asdict(r), "seconds": round(r.seconds, 1), "max_rss_mb": round(r.max_rss_mb, 1)} for r in results]
    print(json.dumps({"fuzz_run": {"total": summary, "properties": properties}}), flush=True)
    return 1 if summary["failures"] else 0


def _line(r: Result) -> str:
    state = "FAILED" if r.failures else "ok"
    return (
        f"  => {r.examples} examples ({r.invalid} invalid) in {r.seconds:.1f} s, {r.rounds} round(s), "
        f"peak rss {r.max_rss_mb:.0f} MB, {state}" + (f", stopped: {r.stopped}" if r.stopped else "")
    )


if __name__ == "__main__":
    sys.exit(main())
