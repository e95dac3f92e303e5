"""The package installs, registers through the cwm entry point, and imports only what it may."""

from importlib.metadata import entry_points

from cwm.core.testing import cwm_packages_loaded_by


def test_registered_in_the_cwm_entry_point_group():
    names = {
        ep.value for ep in entry_points(group="cwm") if ep.dist and ep.dist.name == "cwm-serve"
    }
    assert names == {"cwm.serve.plugin"}


def test_imports_follow_the_dependency_direction():
    assert cwm_packages_loaded_by("cwm.serve") <= {"cwm.core", "cwm.serve"}


def test_plugin_module_stays_cheap_to_import():
    from cwm.core.testing import modules_loaded_by

    loaded = modules_loaded_by("cwm.serve.plugin")
    assert not loaded & {"torch", "starlette", "uvicorn"}


def test_commands_and_their_one_line_errors(tmp_path):
    import subprocess

    from cwm.serve.testing import cwm_command

    def cwm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cwm_command(), *args], capture_output=True, text=True, timeout=120)

    help_text = cwm("--help").stdout
    assert "serve" in help_text and "debug" in help_text
    out = cwm("serve")
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "Error: give exactly one of --checkpoint DIR or --random FLAVOR (e.g. --random debug)"
    )
    out = cwm("serve", "--checkpoint", str(tmp_path / "missing"))
    assert out.returncode == 1 and "no such checkpoint directory" in out.stderr
    program = tmp_path / "p.py"
    program.write_text("def f(x):\n    return x\n")
    out = cwm("debug", str(program), "--call", "g(1)", "--checkpoint", str(tmp_path))
    assert out.returncode == 1 and out.stderr.strip().splitlines()[-1].startswith("Error: ")
    debug = ["debug", str(program), "--call", "f(1)", "--checkpoint", str(tmp_path)]
    for command in (["serve", "--random", "debug"], debug):
        out = cwm(*command, "--threads", "0")  # was ignored (and -1 a traceback)
        assert out.returncode == 2 and "'--threads': 0 is not in the range x>=1" in out.stderr
