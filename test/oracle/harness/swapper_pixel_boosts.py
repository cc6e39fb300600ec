"""FaceFusion 3.8.1's `--face-swapper-pixel-boost` choices per face swapper model (face_swapper/choices.py), as
JSON. usage (cwd = FaceFusion's source tree, PYTHONPATH = the oracle's shim): python3 swapper_pixel_boosts.py
INPUT.json (INPUT.json is not read; runHarness always passes one).
"""
import json
import os
import sys

sys.path.insert(0, os.getcwd())

from facefusion.processors.modules.face_swapper import choices

print(json.dumps(choices.face_swapper_set))
