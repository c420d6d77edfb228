"""The optional extras name what pip needs to settle at once.

ps3-torch pins ``transformers<=4.49.0`` while the hf extra asks for ``transformers>=4.49``; pip
learns of the pin only after it has picked the newest transformers and tokenizers, and then
backtracked through every older release for more than 20 minutes. The ps3 extra therefore names
the one transformers both accept, and the tokenizers and huggingface-hub ranges that release
needs. These tests read pyproject.toml and check those pins against the metadata of the
ps3-torch and transformers that are installed (the ps3 extra's test environment).
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
if not os.environ.get("CI") and importlib.util.find_spec("ps3") is None:
    pytest.skip("needs the ps3 extra (ps3-torch)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]


def _extra(name: str) -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["optional-dependencies"][name]]
    return {canonicalize_name(r.name): r for r in reqs}


def _installed_requirement(dist: str, name: str) -> Requirement:
    """The requirement the installed ``dist`` declares on ``name`` (outside its extras)."""
    for line in md.requires(dist) or []:
        req = Requirement(line)
        if canonicalize_name(req.name) == name and (
            req.marker is None or req.marker.evaluate({"extra": ""})
        ):
            return req
    raise AssertionError(f"{dist} declares no requirement on {name}")


def _pinned(req: Requirement) -> Version:
    (spec,) = list(req.specifier)
    assert spec.operator == "==", f"{req} should name one version"
    return Version(spec.version)


def _within(ours: SpecifierSet, theirs: SpecifierSet) -> bool:
    """Whether every version ``ours`` allows near any bound of either set, ``theirs`` allows."""
    bounds = {Version(s.version) for s in [*ours, *theirs]}
    probes = set(bounds)
    for v in bounds:
        major, minor, micro = (*v.release, 0, 0)[:3]
        probes |= {
            Version(f"{major}.{minor}.{micro + 1}"),
            Version(f"{major}.{minor + 1}.0"),
            Version(f"{major}.{max(minor - 1, 0)}.99"),
            Version(f"{major + 1}.0.0"),
        }
    return all(theirs.contains(v) for v in probes if ours.contains(v))


def test_the_ps3_extra_names_the_transformers_ps3_torch_and_the_hf_extra_accept() -> None:
    ps3, hf = _extra("ps3"), _extra("hf")
    assert "transformers" in ps3, "the ps3 extra should pin the transformers ps3-torch accepts"
    version = _pinned(ps3["transformers"])
    assert _installed_requirement("ps3-torch", "transformers").specifier.contains(version)
    assert hf["transformers"].specifier.contains(version)


def test_the_ps3_extra_narrows_tokenizers_and_hub_to_what_its_transformers_needs() -> None:
    ps3 = _extra("ps3")
    assert "transformers" in ps3, "the ps3 extra should pin the transformers ps3-torch accepts"
    version = _pinned(ps3["transformers"])
    assert Version(md.version("transformers")) == version
    for name in ("tokenizers", "huggingface-hub"):
        theirs = _installed_requirement("transformers", name).specifier
        assert name in ps3, f"the ps3 extra should name {name} {theirs} (transformers {version})"
        assert _within(ps3[name].specifier, theirs), (name, ps3[name].specifier, theirs)
    # What pip installed from those pins satisfies every one of them.
    for name, req in ps3.items():
        try:
            installed = md.version(name)
        except md.PackageNotFoundError:
            continue
        assert req.specifier.contains(installed, prereleases=True), (name, installed, req)
