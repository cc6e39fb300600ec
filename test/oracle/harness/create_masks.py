"""FaceFusion 3.8.1's own crop masks (face_masker.create_area_mask, create_region_mask), printed as JSON.

usage (cwd = FaceFusion's source tree, PYTHONPATH = the oracle's shim): python3 create_masks.py CASES.json
CASES.json: a list of
  { "kind": "area", "size": N, "landmarks68": [[x, y] x 68], "areas": [AREA...] }   (points in crop pixels), or
  { "kind": "region", "crop": PNG, "regions": [REGION...], "parser": MODEL }          (a square crop).
Prints one list of size*size mask values (row after row) per case.
"""
import json
import os
import sys

sys.path.insert(0, os.getcwd())

import encoders_once  # before FaceFusion builds a parser: `ffmpeg -encoders` asked once

import numpy

from facefusion import state_manager
from facefusion.args import apply_args
from facefusion.face_masker import create_area_mask, create_region_mask
from facefusion.program import create_program
from facefusion.vision import read_image

PROGRAM = None


def use_parser(parser, crop):
	global PROGRAM
	argv = [ 'headless-run', '-t', crop, '-o', '/dev/null', '--execution-providers', 'cpu', '--face-parser-model', parser ]
	if PROGRAM is None:
		sys.argv = [ 'facefusion.py' ] + argv
		PROGRAM = create_program()
	apply_args(vars(PROGRAM.parse_args(argv)), state_manager.init_item)


def run_case(case):
	if case.get('kind') == 'area':
		size = case.get('size')
		crop = numpy.zeros((size, size, 3), numpy.uint8)
		mask = create_area_mask(crop, numpy.array(case.get('landmarks68'), numpy.float64), case.get('areas'))
	else:
		use_parser(case.get('parser'), case.get('crop'))
		mask = create_region_mask(read_image(case.get('crop')), case.get('regions'))
	return numpy.asarray(mask, numpy.float64).ravel().round(6).tolist()


with open(sys.argv[1]) as cases_file:
	cases = json.load(cases_file)
print(json.dumps([ run_case(case) for case in cases ]))
