"""Sphinx configuration for skhda.

Build: ``pip install -e ".[docs]"``, then
``sphinx-build -W --keep-going -b html doc doc/_build/html`` (the CI command;
it runs every gallery example). ``-D plot_gallery=0`` skips the examples.
"""

import os
import sys
from pathlib import Path
from urllib.request import urlopen

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sphinxext"))

from skhda_docs import API_MEMBERS, API_NOTES  # noqa: E402

project = "skhda"
author = "skhda developers"
copyright = "skhda developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
templates_path = ["_templates"]
autosummary_generate = True
# per-class notes (benchmark figures, gallery examples) for the class template
autosummary_context = {"api_notes": API_NOTES, "api_members": API_MEMBERS}
numpydoc_show_class_members = False
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json"]
myst_heading_anchors = 3

# Intersphinx needs the network. An inventory that cannot be fetched would be
# a warning (an error under -W), so the build keeps only those it can reach
# now (a 3 s probe each); SKHDA_DOCS_INTERSPHINX=0 skips all, =1 keeps all.
_INVENTORIES = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "skorch": ("https://skorch.readthedocs.io/en/stable", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
}


def _reachable(url):
    try:
        with urlopen(url.rstrip("/") + "/objects.inv", timeout=3) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


_mode = os.environ.get("SKHDA_DOCS_INTERSPHINX", "auto")
intersphinx_mapping = {
    name: target for name, target in _INVENTORIES.items()
    if _mode == "1" or (_mode != "0" and _reachable(target[0]))
}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "skhda_docs.ExampleOrder",
    "doc_module": ("skhda",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"skhda": None},
    "abort_on_example_error": True,
    "download_all_examples": False,
    "min_reported_time": 1,
}

html_theme = "alabaster"
html_theme_options = {"page_width": "1200px", "sidebar_width": "230px"}
html_static_path = ["_static"]
