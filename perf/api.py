"""API backend throughput and memory, healthy and during an outage, against one local server.

    python perf/api.py [--n 200] [--concurrency 32] [--delay 0.5]

Prints, for each image policy, the time to prepare one 3840x2160 probe4k payload and the bytes per
request; the rate at which this machine prepares payloads with all its cores. Then three runs
against the same local server (OpenAI wire format, answering in ``delay`` seconds), each in a
process of its own so each peak memory is its own:

- the ``openai`` backend, healthy: samples/s against the ideal ``concurrency / delay`` and against
  the lesser of that and the preparation rate (target >= 0.9), and its peak memory;
- a plain SDK loop doing the same work the obvious way (``AsyncOpenAI``, a semaphore of
  ``concurrency``, each image resized to 1365x768 in a thread and sent as JPEG): the backend's
  throughput as a ratio of it;
- the backend during an outage (every request a 500: five attempts per sample with backoff, then
  an error record): its peak memory against the healthy run's (target <= 1.2x).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _backend(url: str, n: int, concurrency: int, out: str) -> dict[str, float]:
    from ps3_eval.runner import evaluate

    start = time.perf_counter()
    summary = evaluate("probe4k", "openai", model_args={"model": "gpt-4o", "base_url": url},
                       task_args={"n": n}, concurrency=concurrency, output_dir=out)  # fmt: skip
    wall = time.perf_counter() - start
    return {"n": summary.n, "errors": summary.n_errors, "wall": wall,
            "throughput": summary.throughput, "peak_mb": _peak_mb()}  # fmt: skip


def _plain(url: str, n: int, concurrency: int) -> dict[str, float]:
    """The straightforward loop a user would write with the SDK alone."""
    import asyncio
    import base64
    import io

    import openai
    from PIL import Image

    from ps3_eval import probe4k

    items = probe4k.generate(n, seed=0)

    def encode(path: Path) -> str:
        with Image.open(path) as img:
            small = img.convert("RGB").resize((1365, 768), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        small.save(buf, format="JPEG", quality=90)
        return base64.b64encode(buf.getvalue()).decode()

    async def main() -> int:
        client = openai.AsyncOpenAI(base_url=url, max_retries=4)
        gate = asyncio.Semaphore(concurrency)

        async def one(item: probe4k.Probe4kItem) -> bool:
            async with gate:
                data = await asyncio.to_thread(encode, item.image)
                options = "\n".join(f"{k}. {c}" for k, c in zip("ABCD", item.choices, strict=True))
                prompt = f"{item.question}\n{options}\nAnswer with the letter."
                content = [
                    {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}},
                    {"type": "text", "text": prompt},
                ]
                resp = await client.chat.completions.create(
                    model="gpt-4o", max_completion_tokens=16, temperature=0,
                    messages=[{"role": "user", "content": content}],
                )  # fmt: skip
                return bool(resp.choices[0].message.content)

        done = await asyncio.gather(*(one(i) for i in items))
        await client.close()
        return sum(done)

    start = time.perf_counter()
    answered = asyncio.run(main())
    wall = time.perf_counter() - start
    return {"n": answered, "wall": wall, "throughput": answered / wall, "peak_mb": _peak_mb()}


def _child(mode: str, url: str, n: int, concurrency: int, out: str) -> None:
    os.environ.setdefault("OPENAI_API_KEY", "sk-perf-not-a-real-key")
    if mode == "plain":
        result = _plain(url, n, concurrency)
    else:
        result = _backend(url, n, concurrency, out)
    print(json.dumps(result))


def _run_child(mode: str, url: str, n: int, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        res = subprocess.run(
            [sys.executable, __file__, "--n", str(n), "--child", mode, url, str(concurrency), out],
            capture_output=True, text=True,
        )  # fmt: skip
    if res.returncode != 0:
        raise SystemExit(f"the {mode} run failed:\n{res.stderr[-3000:]}")
    result: dict[str, float] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.5)
    ap.add_argument("--child", nargs=4, metavar=("MODE", "URL", "CONCURRENCY", "OUT"))
    a = ap.parse_args()
    if a.child:
        _child(a.child[0], a.child[1], a.n, int(a.child[2]), a.child[3])
        return

    from ps3_eval import probe4k
    from ps3_eval.models.api.payload import ImagePolicy, prepare_all
    from ps3_eval.models.api.vision import RULES, openai_rule
    from ps3_eval.records import ImagePart, ImageSource
    from ps3_eval.runner.pipeline import encoded_part

    t = time.perf_counter()
    items = probe4k.generate(a.n, seed=0)
    print(
        f"probe4k: {a.n} scenes ready in {time.perf_counter() - t:.1f} s (cached after a first run)"
    )

    def part(path: Path) -> ImagePart:
        return encoded_part(ImageSource(path=str(path)))

    sample = [Path(i.image) for i in items[:24]]
    policies = {
        "gpt-4o, shrink to what it sees (default)": (openai_rule("gpt-4o"), ImagePolicy()),
        "gpt-4o, lossless png": (openai_rule("gpt-4o"), ImagePolicy(image_format="png")),
        "gpt-4o, whole + 9 tiles": (openai_rule("gpt-4o"), ImagePolicy(tiles=9)),
        "claude, shrink to what it sees": (RULES["anthropic"], ImagePolicy()),
        "server that resizes nothing": (RULES["none"], ImagePolicy(resize="none")),
    }
    for label, (rule, policy) in policies.items():
        sizes, times = [], []
        for path in sample:
            t = time.perf_counter()
            out = prepare_all([part(path)], rule, policy)
            times.append(time.perf_counter() - t)
            sizes.append(sum(len(p.data) for p in out))
        print(f"{label}: {1000 * sum(times) / len(times):.0f} ms per 4K image, "
              f"{sum(sizes) / len(sizes) / 1e6:.2f} MB per request")  # fmt: skip

    cores = os.cpu_count() or 1
    rule, policy = policies["gpt-4o, shrink to what it sees (default)"]
    paths = [Path(i.image) for i in items[:48]]

    def prep_rate() -> float:
        t = time.perf_counter()
        with ThreadPoolExecutor(cores) as pool:
            list(pool.map(lambda p: prepare_all([part(p)], rule, policy), paths))
        return len(paths) / (time.perf_counter() - t)

    # Measured before and after the runs (this machine is shared): the mean is the reference.
    before = prep_rate()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_api.py"), "--delay", str(a.delay)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        healthy = _run_child("backend", url + "/v1", a.n, a.concurrency)
        plain = _run_child("plain", url + "/v1", a.n, a.concurrency)
        outage = _run_child("backend", url + "/fail/v1", a.n, a.concurrency)
    finally:
        server.terminate()
        server.wait()
    after = prep_rate()
    rate = (before + after) / 2
    ideal = a.concurrency / a.delay
    print(f"payload preparation on {cores} cores: {rate:.1f} images/s (before the runs "
          f"{before:.1f}, after {after:.1f}); ideal with {a.concurrency} in flight at {a.delay} s: "
          f"{ideal:.0f}/s")  # fmt: skip
    target = 0.9 * min(ideal, rate)
    thr = healthy["throughput"]
    print(f"backend, healthy: {healthy['n']:.0f} answered, {healthy['errors']:.0f} errors in "
          f"{healthy['wall']:.1f} s; {thr:.1f} samples/s = {thr / ideal:.2f} of the ideal "
          f"{ideal:.0f}/s, {thr / min(ideal, rate):.2f} of the lesser of ideal and preparation "
          f"(target >= 0.90, i.e. >= {target:.1f}/s)")  # fmt: skip
    print(f"plain SDK loop: {plain['n']:.0f} answered in {plain['wall']:.1f} s; "
          f"{plain['throughput']:.1f} samples/s; the backend runs at "
          f"{thr / plain['throughput']:.2f}x its throughput")  # fmt: skip
    print(f"backend, outage (every request a 500): {outage['errors']:.0f} error records, "
          f"{outage['n']:.0f} answered, in {outage['wall']:.1f} s")  # fmt: skip
    ratio = outage["peak_mb"] / healthy["peak_mb"]
    print(f"peak memory: healthy {healthy['peak_mb']:.0f} MB, outage {outage['peak_mb']:.0f} MB "
          f"({ratio:.2f}x; target <= 1.20x), plain SDK loop {plain['peak_mb']:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
