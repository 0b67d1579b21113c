"""``wethink-verl doctor``: a real judge-endpoint check, and output that survives a closed pipe.
(Registration checks: tests/test_verl_plugin.py; EasyR1 hosts: tests/test_easyr1_env.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wethink_verl.integrations.doctor import judge_endpoint
from wethink_verl.testing.judge_servers import ScriptedJudgeServer
from wethink_verl.testing.ports import free_port


@pytest.fixture(scope="module")
def server():
    with ScriptedJudgeServer() as srv:
        yield srv


def test_doctor_judge_url_sends_one_item(server):
    proc = subprocess.run([sys.executable, "-m", "wethink_verl.cli", "doctor", "--json", "--judge-url", server.url],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    judge = checks["judge endpoint"]
    assert judge["status"] == "OK" and server.url in judge["detail"] and "verdict 1" in judge["detail"], judge
    assert proc.returncode == 0, checks


def test_judge_endpoint_check_fails_and_warns_honestly(server):
    dead = judge_endpoint(f"http://127.0.0.1:{free_port()}/v1", None)
    assert dead.status == "FAIL" and "connection" in dead.detail
    with ScriptedJudgeServer(default="garbage") as babbler:  # replies, never with a verdict
        garbage = judge_endpoint(babbler.url, None)
    assert garbage.status == "WARN" and "without a valid verdict" in garbage.detail


def test_doctor_output_into_a_closed_pipe_is_no_traceback():
    """`wethink-verl doctor --json | head -1`: the reader leaves before doctor writes."""
    proc = subprocess.Popen([sys.executable, "-m", "wethink_verl.cli", "doctor", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # nobody reads
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 141 and b"Traceback" not in stderr and b"BrokenPipe" not in stderr, stderr.decode()[-2000:]
