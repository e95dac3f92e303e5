"""cwm.serve: the inference engine, the OpenAI-compatible server and the neural debugger."""

from cwm.core import package_version

__version__ = package_version("cwm-serve")
