"""JSON nested very deep: a JSON Lines line 100,000 levels deep, and JSON bodies and files as deep.

Python's parser raised RecursionError (a 500 at upload), and pyarrow's, which the profiler reads
with, overflows its stack and kills the worker (a segmentation fault) a few thousand levels down.
A line may nest at most GOUVERNAIL_MAX_JSON_DEPTH levels: deeper is a 400 at upload and a failed
profile in the worker, each saying which line; checked before any parser recurses.
"""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from catalog import formats
from catalog.models import DatasetVersion

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def nested(depth: int, *, key: str = "x") -> str:
    """A JSON object nesting objects ``depth`` levels deep (the line itself is level 1)."""
    return f'{{"{key}":' * (depth - 1) + "{}" + "}" * (depth - 1)


def _named(content: bytes, name: str) -> io.BytesIO:
    fh = io.BytesIO(content)
    fh.name = name
    return fh


def upload(client, dataset, content: bytes, name: str = "events.jsonl"):
    return client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": _named(content, name)}, format="multipart"
    )


@pytest.mark.parametrize("depth", [100_000, 5_000, 65])
def test_an_upload_nested_past_the_limit_is_a_400_naming_the_line(api_client_for, owner, dataset, depth):
    content = f'{{"id": 1}}\n{{"id": 2, "deep": {nested(depth - 1)}}}\n'.encode()
    r = upload(api_client_for(owner), dataset, content)
    assert r.status_code == 400, r.content[:300]
    assert "Line 2" in r.json()["detail"] and "GOUVERNAIL_MAX_JSON_DEPTH" in r.json()["detail"]
    assert DatasetVersion.objects.count() == 0


def test_a_deep_line_far_into_a_large_file_is_found(api_client_for, owner, dataset):
    rows = b'{"id": 1, "city": "Paris"}\n' * 60_000  # past the 1 MiB head that detection reads
    content = rows + f'{{"id": 2, "deep": {nested(10_000)}}}\n'.encode()
    r = upload(api_client_for(owner), dataset, content)
    assert r.status_code == 400, r.content[:300]
    assert "Line 60001" in r.json()["detail"]


def test_nesting_up_to_the_limit_and_brackets_in_text_are_taken(api_client_for, owner, dataset, media_root):
    lines = [
        nested(64),  # at the limit
        json.dumps({"items": [{} for _ in range(500)]}),  # many objects, none deep
        json.dumps({"text": "[" * 5_000 + "{" * 5_000}),  # brackets inside a string
        json.dumps({"text": '\\"[[[[' * 100}),  # escaped quotes do not end the string
    ]
    r = upload(api_client_for(owner), dataset, ("\n".join(lines) + "\n").encode())
    assert r.status_code == 201, r.content[:300]


def test_the_limit_is_a_setting(settings, api_client_for, owner, dataset, media_root):
    settings.GOUVERNAIL_MAX_JSON_DEPTH = 3
    assert upload(api_client_for(owner), dataset, b'{"a": {"b": {}}}\n').status_code == 201
    r = upload(api_client_for(owner), dataset, b'{"a": {"b": {"c": 1}}}\n{"a": {"b": {"c": {}}}}\n')
    assert r.status_code == 400 and "Line 2" in r.json()["detail"] and "3 levels" in r.json()["detail"]


def test_depth_is_measured_without_recursion():
    assert formats.json_depth(nested(100_000)) == 100_000
    assert formats.json_depth('{"a": "}}}{{{[", "b": [[1]], "c": "\\"{{{"}') == 3
    scan = formats.DepthScan(64)
    data = b'{"a": 1}\n' * 1000 + nested(65).encode() + b"\n"
    with pytest.raises(formats.FormatError, match="Line 1001"):
        for start in range(0, len(data), 777):  # lines cut across blocks
            scan.feed(data[start : start + 777])
        scan.close()


# ---------------------------------------------------------------------------------------------
# The worker: a file past the limit (profiled in a process of its own: before the fix, pyarrow
# crashed the process that read it)

_PROFILE = """
import sys
from profiling.engine import ProfileError, ProfileOptions, profile_file
try:
    profile_file(sys.argv[1], format="jsonl", options=ProfileOptions(max_json_depth=64))
except ProfileError as exc:
    print("REFUSED:", exc)
else:
    print("PROFILED")
"""


@pytest.mark.parametrize("depth", [100_000, 2_000])
def test_the_profiler_refuses_a_deep_line_and_lives(tmp_path, depth):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"id": 1}\n' + f'{{"id": 2, "deep": {nested(depth)}}}\n')
    done = subprocess.run(
        [sys.executable, "-c", _PROFILE, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"the profiling process died ({done.returncode}): {done.stderr[-500:]}"
    assert done.stdout.startswith("REFUSED: Line 2 nests"), done.stdout


def test_the_profilers_line_by_line_reader_checks_depth_too(tmp_path):
    from profiling.engine import ProfileError
    from profiling.engine.json_reader import CountingFile, json_python_batches
    from profiling.engine.read_plan import ReadPlan

    path = tmp_path / "deep.jsonl"
    path.write_text('{"id": 1}\n' + nested(100) + "\n")
    plan = ReadPlan(path=str(path), format="jsonl", json_python_columns={"id"}, max_json_depth=64)
    with pytest.raises(ProfileError, match="Line 2"):
        list(json_python_batches(plan, CountingFile(str(path))))


# ---------------------------------------------------------------------------------------------
# JSON bodies and files


def test_a_version_body_nested_too_deep_is_a_400(api_client_for, owner, dataset):
    body = '{"uri": ' + "[" * 100_000 + "]" * 100_000 + "}"
    client = api_client_for(owner)
    client.raise_request_exception = False
    r = client.post(f"/api/v1/datasets/{dataset.pk}/versions/", body, content_type="application/json")
    assert r.status_code == 400, r.content[:300]
    assert "nested too deeply" in r.json()["detail"]


def test_a_suite_file_nested_too_deep_is_a_400(api_client_for, owner, dataset):
    client = api_client_for(owner)
    client.raise_request_exception = False
    suite = _named(("[" * 100_000 + "]" * 100_000).encode(), "suite.json")
    r = client.post(
        f"/api/v1/datasets/{dataset.pk}/expectation-suite/import/", {"file": suite}, format="multipart"
    )
    assert r.status_code == 400, r.content[:300]
    assert "nested too deeply" in r.json()["detail"]
    deep = client.post(
        f"/api/v1/datasets/{dataset.pk}/expectation-suite/import/",
        "[" * 100_000 + "]" * 100_000,
        content_type="application/json",
    )
    assert deep.status_code == 400, deep.content[:300]


def test_a_raised_limit_holds_for_the_whole_profile_job(
    settings, api_client_for, owner, dataset, media_root, django_capture_on_commit_callbacks
):
    """Profile and quality validation read the file with the deployment's limit, not a default."""
    from profiling.models import ProfileRun

    settings.GOUVERNAIL_MAX_JSON_DEPTH = 80
    content = f'{{"id": 1, "deep": {nested(70)}}}\n{{"id": 2, "deep": {nested(70)}}}\n'.encode()
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(api_client_for(owner), dataset, content).status_code == 201
    run = ProfileRun.objects.get(version__dataset=dataset)
    assert run.status == "succeeded", run.error
    assert run.quality is not None and not [w for w in run.warnings if "Quality validation" in w]
