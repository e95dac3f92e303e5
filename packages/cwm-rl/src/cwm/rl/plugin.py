"""cwm-rl's built-in plugins, registered through the ``cwm`` entry point like any other.

Hook implementations (``@hookimpl def register_...``) are added here as the
package's capabilities land; see cwm.core.plugins.hookspecs for the hooks.
"""
