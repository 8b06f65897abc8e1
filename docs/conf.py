"""Sphinx configuration: MyST Markdown pages (as SB3's docs), the Read the Docs theme, autodoc of the algorithms."""

import sb3_pg

project = "sb3-pg"
author = "the sb3-pg developers"
release = version = sb3_pg.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx_rtd_theme"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "sphinx_rtd_theme"
autodoc_member_order = "bysource"
# SB3's docstrings use reST field lists; the base classes' members come from SB3's own docs
autodoc_default_options = {"members": "learn, train, collect_rollouts, predict, save, load", "show-inheritance": True}
# Links to the repository's files (benchmarks/, hyperparams/) are not pages of this site
suppress_warnings = ["myst.xref_missing"]
