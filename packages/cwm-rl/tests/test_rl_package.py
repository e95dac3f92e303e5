"""The package installs, registers through the cwm entry point, and imports only what it may."""

from importlib.metadata import entry_points

from cwm.core.testing import cwm_packages_loaded_by


def test_registered_in_the_cwm_entry_point_group():
    names = {ep.value for ep in entry_points(group="cwm") if ep.dist and ep.dist.name == "cwm-rl"}
    assert names == {"cwm.rl.plugin"}


def test_imports_follow_the_dependency_direction():
    assert cwm_packages_loaded_by("cwm.rl") <= {
        "cwm.core",
        "cwm.data",
        "cwm.train",
        "cwm.serve",
        "cwm.rl",
    }
