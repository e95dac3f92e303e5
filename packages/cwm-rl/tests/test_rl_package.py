"""The package installs and registers through the cwm entry point.

cwm-rl sits at the top of the dependency direction (it may import every other
package), so it has no import-direction test of its own; the others' tests keep
them from importing it.
"""

from importlib.metadata import entry_points


def test_registered_in_the_cwm_entry_point_group():
    names = {ep.value for ep in entry_points(group="cwm") if ep.dist and ep.dist.name == "cwm-rl"}
    assert names == {"cwm.rl.plugin"}
