"""FaceFusion 3.8.1's own face analysis and face selection, for many images in one process, printed as JSON.

usage (cwd = FaceFusion's source tree, PYTHONPATH = the oracle's shim): python3 analyse_faces.py CASES.json
CASES.json: a list of { "target": IMAGE, "sources": [IMAGE...], "args": [FaceFusion CLI options...] }.
Prints one entry per case: every face FaceFusion finds in the target (in its own order, from its face store) and
the indices of the faces its selector picks (select_faces with the case's options), in the order it returns them.
Cases that differ only in selector options (--face-selector-*, --reference-face-*) share one analysis.
"""
import json
import os
import sys

sys.path.insert(0, os.getcwd())

import encoders_once  # before FaceFusion builds a parser: `ffmpeg -encoders` asked once

import numpy

from facefusion import face_store, state_manager
from facefusion.args import apply_args
from facefusion.face_creator import get_static_faces
from facefusion.face_selector import select_faces
from facefusion.program import create_program

def option_value(argv, name):
	return argv[argv.index(name) + 1] if name in argv else None


PROGRAMS = {}


def parse(argv):
	# FaceFusion's parser takes some defaults and choices from sys.argv as it is built (the detector size from
	# --face-detector-model, the pixel boost from --face-swapper-model): build one per such pair, with sys.argv set
	# as the command line would set it.
	key = option_value(argv, '--face-detector-model'), option_value(argv, '--face-swapper-model')
	if key not in PROGRAMS:
		sys.argv = [ 'facefusion.py' ] + argv
		PROGRAMS[key] = create_program()
	return vars(PROGRAMS[key].parse_args(argv))
from facefusion.vision import read_image


def face_json(face):
	return {
		'box': face.bounding_box.tolist(),
		'score': float(face.score_set.get('detector')),
		'landmarkerScore': float(face.score_set.get('landmarker')),
		'landmarks5': numpy.asarray(face.landmark_set.get('5')).tolist(),
		'landmarks5from68': numpy.asarray(face.landmark_set.get('5/68')).tolist(),
		'landmarks68': numpy.asarray(face.landmark_set.get('68')).tolist(),
		'angle': int(face.angle),
		'embedding': numpy.asarray(face.embedding, numpy.float64).tolist(),
		'embeddingNorm': numpy.asarray(face.embedding_norm, numpy.float64).tolist(),
		'gender': face.gender,
		'age': [ face.age.start, face.age.stop ],
		'race': face.race
	}


def same_face(a, b):
	return numpy.array_equal(a.bounding_box, b.bounding_box)


def analysis_key(case):
	args = case.get('args', [])
	options = [ tuple(args[index:index + 2]) for index in range(0, len(args), 2) ]
	return case.get('target'), tuple(option for option in options if not option[0].startswith(('--face-selector', '--reference-face')))


previous_key = None


def run_case(case):
	global previous_key
	sources = [ '-s', *case.get('sources') ] if case.get('sources') else []
	argv = [ 'headless-run', '-t', case.get('target'), '-o', '/dev/null' ] + sources + case.get('args', [])
	apply_args(parse(argv), state_manager.init_item)
	if analysis_key(case) != previous_key:
		face_store.clear_faces()
		previous_key = analysis_key(case)
	target = read_image(case.get('target'))
	faces = get_static_faces([ target ])
	source_frames = [ read_image(path) for path in case.get('sources', []) ]
	picked = select_faces(target, source_frames, [ target ])
	return {
		'faces': [ face_json(face) for face in faces ],
		'picked': [ next(index for index, face in enumerate(faces) if same_face(face, pick)) for pick in picked ]
	}


with open(sys.argv[1]) as cases_file:
	cases = json.load(cases_file)
print(json.dumps([ run_case(case) for case in cases ]))
