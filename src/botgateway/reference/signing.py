"""The signature verification snippet, shown as the file the tests run (`snippets/`)."""

from pathlib import Path

from .snippets import verify_signature


def render_verify_snippet() -> str:
    source = Path(verify_signature.__file__).read_text("utf-8").rstrip()
    return f"```python\n{source}\n```"
