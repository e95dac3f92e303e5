"""cwm-core imports no sibling package, and nothing outside its torch modules needs torch."""

from cwm.core.testing import cwm_packages_loaded_by, modules_loaded_by


def test_core_imports_no_sibling():
    assert cwm_packages_loaded_by("cwm.core") == {"cwm.core"}


def test_core_contracts_do_not_need_torch():
    for module in (
        "cwm.core.schemas",
        "cwm.core.io",
        "cwm.core.plugins",
        "cwm.core.formats.trace",
        "cwm.core.formats.chat",
        "cwm.core.cli",
    ):
        assert "torch" not in modules_loaded_by(module), module
