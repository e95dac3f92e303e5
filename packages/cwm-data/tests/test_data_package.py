"""The package installs, registers through the cwm entry point, and imports only what it may."""

from importlib.metadata import entry_points

from cwm.core.testing import cwm_packages_loaded_by, modules_loaded_by


def test_registered_in_the_cwm_entry_point_group():
    names = {ep.value for ep in entry_points(group="cwm") if ep.dist and ep.dist.name == "cwm-data"}
    assert names == {"cwm.data.plugin"}


def test_imports_follow_the_dependency_direction():
    assert cwm_packages_loaded_by("cwm.data") <= {"cwm.core", "cwm.data"}


def test_works_without_torch():
    """cwm-data depends on cwm-core without its torch extra."""
    assert "torch" not in modules_loaded_by("cwm.data")
