"""Default locations of the pipeline's inputs and outputs, relative to the working directory.

Every command runs from the project root (as `dvc repro` does), so relative paths keep the
pipeline relocatable: a copy of the project in another folder works unchanged.
"""

from pathlib import Path

RAW_DIR = Path("data/raw")
SUBCASE_DIR = Path("data/subcases")
"""The sub-case set (data/README.md): never part of the corpus in RAW_DIR or its splits."""
PROCESSED_DIR = Path("data/processed")
MODEL_DIR = Path("artifacts/model")
REPORTS_DIR = Path("reports")
PARAMS_FILE = Path("params.yaml")
