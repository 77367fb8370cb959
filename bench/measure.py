"""Runs main + post as the runner would, `runs` times, and reports wall, CPU and peak memory.

CPU time comes from wait4()'s rusage of each child (microsecond resolution). Peak memory comes
from GNU time's %M for the binary alone: a child forked from this Python process would report
Python's own resident set as its high-water mark, so the binary is started by /usr/bin/time,
a small C program, and its figure is the binary's. Inputs: every permission input declared
(empty), as the runner sets them.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, os.environ.get("BENCH_BIN_DIR", os.path.join("target", "release")))


def run(binary, env, scratch):
    rss_file = os.path.join(scratch, "rss")
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["/usr/bin/time", "-f", "%M", "-o", rss_file, binary],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{binary} failed: {stderr}")
    peak_kb = int(open(rss_file).read().split()[-1])
    return wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000, peak_kb / 1024


def read_state(path):
    state, lines, i = {}, open(path).read().split("\n"), 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if "<<" in line:
            key, delim = line.split("<<", 1)
            value = []
            while lines[i] != delim:
                value.append(lines[i])
                i += 1
            i += 1
            state[key] = "\n".join(value)
    return state


def main():
    api_url, runs = sys.argv[1], int(sys.argv[2])
    permissions = json.load(open(os.path.join(ROOT, "fake-github", "api", "app-permissions.json")))
    key = open(os.path.join(ROOT, "fake-github", "keys", "app-key.pkcs1.pem")).read()
    base = {
        "PATH": os.environ["PATH"],
        "GITHUB_API_URL": api_url,
        "GITHUB_REPOSITORY": "octo-org/api",
        "GITHUB_REPOSITORY_OWNER": "octo-org",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "1",
        "INPUT_APP-ID": "12345",
        "INPUT_PRIVATE-KEY": key,
        "INPUT_SKIP-TOKEN-REVOKE": "false",
        "INPUT_GITHUB-API-URL": api_url,
        "INPUT_LEAST-PRIVILEGE": "warn",
    }
    # Where root certificates come from changes start-up cost (see README, Cost).
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if var in os.environ:
            base[var] = os.environ[var]
    for name in permissions:
        base["INPUT_PERMISSION-" + name.replace("_", "-").upper()] = ""
    base["INPUT_PERMISSION-CONTENTS"] = "read"
    samples = {"main": [], "post": [], "both": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(base)
            for var in ("GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"):
                env[var] = os.path.join(tmp, var.lower())
                open(env[var], "w").close()
            main_sample = run(os.path.join(RELEASE, "token-lease"), env, tmp)
            post_env = dict(env)
            for name, value in read_state(env["GITHUB_STATE"]).items():
                post_env["STATE_" + name] = value
            post_sample = run(os.path.join(RELEASE, "token-lease-post"), post_env, tmp)
            samples["main"].append(main_sample)
            samples["post"].append(post_sample)
            samples["both"].append(tuple(a + b if i < 2 else max(a, b) for i, (a, b) in enumerate(zip(main_sample, post_sample))))

    print(f"binaries ({RELEASE}):")
    for name in ("token-lease", "token-lease-post", "token-lease-open"):
        print(f"  {name:18} {os.path.getsize(os.path.join(RELEASE, name)) / 1e6:6.2f} MB")
    print(f"\n{runs} runs against the fake on loopback: median (p95)")
    print(f"  {'step':10} {'wall ms':>16} {'cpu ms':>16} {'peak RSS MB':>16}")
    for step, rows in samples.items():
        cols = []
        for index in range(3):
            values = sorted(row[index] for row in rows)
            p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
            cols.append(f"{statistics.median(values):7.2f} ({p95:6.2f})")
        label = "main+post" if step == "both" else step
        print(f"  {label:10} {cols[0]:>16} {cols[1]:>16} {cols[2]:>16}")
    print("\ntargets: main+post CPU < 25 ms, peak memory < 16 MB")


if __name__ == "__main__":
    main()
