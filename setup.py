"""Package discovery; everything else is in pyproject.toml.

setuptools finds the packages under explorer/ and ui/. The repo's plain `assets/` folder ships as
the package `qwen3_explorer_assets` (pyproject's package-dir), so importlib.resources finds the
catalog, style and templates in any install; pyproject's own `find` cannot rename a folder, so the
two lists are joined here.
"""

from setuptools import find_namespace_packages, find_packages, setup

ASSETS = "qwen3_explorer_assets"
assets = [ASSETS + name[len("assets"):] for name in find_namespace_packages(include=["assets", "assets.*"])]
setup(packages=[*find_packages(include=["explorer", "explorer.*", "ui", "ui.*"]), *assets])
