"""Build glue for the one C extension (everything else is in pyproject.toml).

``livepark.media._fastsend`` is the SFU's per-subscriber send loop.  It is optional: when it
cannot be compiled the SFU uses the same loop in Python (see docs/performance.md), and
``livepark serve`` says so at start.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "livepark.media._fastsend",
            ["src/livepark/media/_fastsend.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
            optional=True,
        )
    ]
)
