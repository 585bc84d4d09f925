"""Reading a config file (syncer/loader.py): whatever bytes a file holds, the
loader returns a Config or raises one bounded ConfigError - never another
exception, never a value from the file in the message."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from syncer import loader
from syncer.errors import ConfigError

GOOD = """
vault: {address: "http://127.0.0.1:8200", auth: {method: token, token: t}}
credentials:
  - name: hf
    type: hf
    vault: {path: p/hf, keys: {token: token}}
    targets: [{namespaces: [a], secret: storage-config}]
"""
SECRETISH = "s3cr3t-Value-From-The-File"

HOSTILE: list[tuple[str, bytes, str]] = [
    ("not UTF-8", b"vault: {address: \"http://v\xff\xfe\"}\n", "not valid UTF-8"),
    ("a float tag on a word", f"vault: !!float {SECRETISH}\n".encode(), "line 1"),
    ("an impossible timestamp", b"vault: !!timestamp 2020-13-45\n", "line 1"),
    ("a python tag", b"vault: !!python/object/apply:os.system ['true']\n", "line 1"),
    ("deep nesting", b"vault: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nest"),
    ("an empty file", b"", "the file is empty"),
    ("a list at the top", b"- a\n- b\n", "top level must be a mapping"),
    ("a binary blob", bytes(range(256)) * 4, "not valid UTF-8"),
    ("a NUL byte", b"vault: {address: x}\x00\n", "character #x0000"),
]


@pytest.mark.parametrize(("case", "data", "says"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_give_one_bounded_error(case: str, data: bytes, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        loader.parse(data, source="f.yaml", environ={})
    text = str(err.value)
    assert says in text and len(text) < 4096, text[:500]
    assert SECRETISH not in text


def test_alias_bomb_is_bounded() -> None:
    """Anchors that expand to millions of invalid entries: the error stays small."""
    lines = ["a: &a [" + ",".join(["{bad: 1}"] * 10) + "]"]
    for i in range(1, 8):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 10)
                     + "]")
    text = "\n".join(lines) + "\n" + GOOD.replace("credentials:", "credentials: *h\nx:")
    with pytest.raises(ConfigError) as err:
        loader.parse(text, source="f.yaml", environ={})
    assert len(str(err.value)) < 8192 and len(err.value.errors) <= loader.MAX_ERRORS + 1


def test_too_large_a_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (loader.MAX_BYTES + 1))
    with pytest.raises(ConfigError) as err:
        loader.load_file(str(path), {})
    assert "larger than" in str(err.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        loader.load_file(str(tmp_path / "missing.yaml"), {})
    assert err.value.errors == ["cannot read: No such file or directory"]


def test_good_file_as_bytes_or_text(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(GOOD)
    assert loader.load_file(str(path), {}).credentials[0].name == "hf"
    assert loader.parse(GOOD.encode(), environ={}).credentials[0].name == "hf"


@given(st.binary(max_size=2048))
@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_bytes(data: bytes) -> None:
    try:
        loader.parse(data, source="f", environ={})
    except ConfigError as exc:
        assert len(str(exc)) < 8192


YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=20))
YAML_DOCS = st.recursive(YAML_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=30)


@given(YAML_DOCS, st.sampled_from(["vault", "credentials", "sync", "kserve", "other"]))
@hsettings(max_examples=300, deadline=None)
def test_any_yaml_structure(doc: object, key: str) -> None:
    import yaml
    try:
        loader.parse(yaml.safe_dump({key: doc}), source="f", environ={})
    except ConfigError as exc:
        assert len(str(exc)) < 8192
