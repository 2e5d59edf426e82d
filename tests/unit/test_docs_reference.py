"""The documentation's generated reference sections agree with the code, and the derivation
behind them finds what the code really reads."""

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from botgateway.queue import QueueSettings
from botgateway.reference.bots_file import bot_docs, bot_fields, check_bot_docs
from botgateway.reference.crd import crd_schema, render_crd_spec, schema_fields
from botgateway.reference.environment import (
    EnvRead,
    RecordingEnv,
    check_catalogue,
    record,
    scan_catalogue_reads,
    scan_env_reads,
    scan_package,
)
from botgateway.reference.errors import DriftError
from botgateway.reference.metrics import metric_docs
from botgateway.reference.pages import main, markdown_files, update, update_pages

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _pages() -> dict[str, str]:
    return {str(f.relative_to(ROOT)): f.read_text("utf-8") for f in markdown_files(DOCS)}


def test_the_reference_pages_are_up_to_date() -> None:
    pages = _pages()
    stale = [name for name, text in update_pages(pages).items() if text != pages[name]]
    assert not stale, f"{', '.join(stale)} out of date: run make docs"


def test_every_metric_the_readme_names_exists() -> None:
    known = {m.name for m in metric_docs()}
    series = known | {
        f"{m.name}{suffix}"
        for m in metric_docs()
        if m.type == "histogram"
        for suffix in ("_bucket", "_sum", "_count")
    }
    texts = [*_pages().values(), (ROOT / "README.md").read_text("utf-8")]
    named = {n for text in texts for n in re.findall(r"(?<![-\w])botgateway_[a-z_]+", text)}
    assert named, "the documentation names no metric"
    assert named <= series, f"the docs name metrics the service does not have: {named - series}"


# -- the environment ------------------------------------------------------------------------


def test_recording_env_records_names_and_offered_defaults() -> None:
    env = RecordingEnv({"A": "1"})
    assert env.get("A", "x") == "1"
    assert env.get("B", "2") == "2"
    assert env.get("C") is None
    assert env["A"] == "1"
    with pytest.raises(KeyError):
        env["D"]
    assert "E" not in env
    assert env.reads == {"A": "x", "B": "2", "C": None, "D": None, "E": None}
    assert dict(env) == {"A": "1"}


def test_record_finds_required_variables() -> None:
    recorded = record(QueueSettings.from_env)
    assert recorded.required == {"DATABASE_URL"}
    assert next(iter(recorded.reads)) == "DATABASE_URL"
    assert "QUEUE_BACKOFF" in recorded.reads


def test_scan_finds_literal_reads_of_the_environment() -> None:
    source = """
import os
a = os.environ.get("ALPHA", "1")
b = os.getenv("BETA")
c = env["GAMMA"]
d = self.env.get("DELTA", "")
env["ASSIGNED"] = "x"
e = os.environ.get(name, "x")
f = settings.get("NOT_ENV", "x")
g = os.environ.get("lowercase")
"""
    found = {(r.name, r.default) for r in scan_env_reads(source, "m.py")}
    assert found == {("ALPHA", "1"), ("BETA", None), ("GAMMA", None), ("DELTA", "")}


def test_the_code_reads_every_catalogued_variable_and_no_other() -> None:
    assert scan_package() == []  # no variable is read by a literal name any more
    read = scan_catalogue_reads()
    assert {"LOG_FORMAT", "BOTGATEWAY_NAMESPACES", "QUEUE_STUCK_TIMEOUT"} <= read
    check_catalogue([], read)


def test_unknown_and_unread_variables_are_refused() -> None:
    with pytest.raises(DriftError) as caught:
        check_catalogue([EnvRead("NEW_KNOB", "service/x.py", "1")], {"LOG_FORMAT"})
    assert "NEW_KNOB is read by name in service/x.py" in str(caught.value)
    assert "LOG_LEVEL is declared but no command reads it" in str(caught.value)


# -- the bots file --------------------------------------------------------------------------


def test_bot_fields_come_from_the_parser() -> None:
    fields = {f.path: f for f in bot_fields()}
    assert set(fields) == set(bot_docs())
    assert {p for p, f in fields.items() if f.required and not f.alternatives} == {
        "slug",
        "handler",
        "handler.type",
        "handler.url",
    }
    assert fields["token"].alternatives == ("token", "tokenFile", "tokenEnv")
    assert fields["tokenEnv"].required
    assert not fields["webhookSecretFile"].required
    assert fields["chatOrdering"].default is False
    assert fields["handler.timeoutSeconds"].default == 10
    assert fields["handler.url"].only_for == ("forward",)
    assert not fields["handler.type"].only_for
    assert not fields["handler.options"].required


def test_undocumented_bot_fields_are_refused() -> None:
    with pytest.raises(DriftError, match="no description"):
        check_bot_docs(bot_fields(), {"slug": "x"})


# -- the CRD --------------------------------------------------------------------------------


def test_every_spec_and_status_field_is_described() -> None:
    schema = crd_schema()
    paths = {f.path for f in schema_fields(schema["properties"]["spec"])}
    assert {"bots[].handler.timeoutSeconds", "scaling.maxReplicas", "janitor.stuckTimeout"} <= (
        paths
    )
    assert schema_fields(schema["properties"]["status"])


def test_a_field_without_description_is_refused() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"a": {"type": "array", "items": {"properties": {"b": {"type": "string"}}}}},
    }
    schema["properties"]["a"]["description"] = "A list."
    with pytest.raises(DriftError, match=r"a\[\]\.b has no description"):
        schema_fields(schema)


def test_constraints_and_rules_are_rendered() -> None:
    text = render_crd_spec()
    assert "| `worker.concurrency` | `integer` | `32` | ≥ 1; ≤ 1024 |" in text
    assert "`spec.scaling`: minReplicas must be less than or equal to maxReplicas" in text
    assert "`<name>-webhook-secrets`" in text


# -- the blocks -----------------------------------------------------------------------------


def test_update_rewrites_blocks_in_place() -> None:
    blocks = {"one": lambda: "fresh\n", "two": lambda: "also"}
    text = (
        "intro\n<!-- generated: one -->\nstale\n<!-- end generated -->\nmiddle\n"
        "<!-- generated: two -->\n<!-- end generated -->\nend\n"
    )
    assert update(text, blocks) == (
        "intro\n<!-- generated: one -->\nfresh\n<!-- end generated -->\nmiddle\n"
        "<!-- generated: two -->\nalso\n<!-- end generated -->\nend\n"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<!-- generated: one -->\n<!-- end generated -->\n", "missing: two"),
        (
            "<!-- generated: one -->\n<!-- end generated -->\n"
            "<!-- generated: two -->\n<!-- end generated -->\n"
            "<!-- generated: nine -->\n<!-- end generated -->\n",
            "unknown generated block 'nine'",
        ),
        (
            "<!-- generated: one -->\n<!-- end generated -->\n<!-- generated: two -->\n",
            "missing: two",
        ),
    ],
)
def test_update_refuses_broken_markers(text: str, problem: str) -> None:
    with pytest.raises(DriftError, match=problem):
        update(text, {"one": lambda: "x", "two": lambda: "y"})


def test_blocks_may_sit_on_any_page_but_once() -> None:
    blocks = {"one": lambda: "1", "two": lambda: "2"}
    pages = {
        "a.md": "<!-- generated: one -->\n<!-- end generated -->\n",
        "b/c.md": "text\n<!-- generated: two -->\nold\n<!-- end generated -->\n",
    }
    assert update_pages(pages, blocks) == {
        "a.md": "<!-- generated: one -->\n1\n<!-- end generated -->\n",
        "b/c.md": "text\n<!-- generated: two -->\n2\n<!-- end generated -->\n",
    }
    with pytest.raises(DriftError, match="repeated: one"):
        update_pages({**pages, "d.md": pages["a.md"]}, blocks)
    with pytest.raises(DriftError, match=r"b/c\.md: a `<!-- generated: NAME -->` marker has no"):
        update_pages({**pages, "b/c.md": pages["b/c.md"] + "<!-- generated: one -->\n"}, blocks)


def test_check_mode_names_the_stale_page_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    page = docs / "reference" / "environment.md"
    text = page.read_text("utf-8")
    page.write_text(text.replace("<!-- end generated -->", "stale\n<!-- end generated -->", 1))
    assert main(["--check", str(docs)]) == 1
    assert capsys.readouterr().err == f"{page} is out of date: run make docs\n"
    assert main(["--write", str(docs)]) == 0
    assert page.read_text("utf-8") == text
    assert main(["--check", str(docs)]) == 0


def test_a_missing_path_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "no/such/docs"]) == 2
    assert capsys.readouterr().err.startswith("botgateway.reference: ")
