"""Runs FaceFusion 3.8.1's own headless-run for many command lines in one process (model loading and
Python's start-up are paid once), one line of JSON per case: {"ok": true|false}.

usage (cwd = FaceFusion's source tree, PYTHONPATH = the oracle's shim): python3 process_images.py CASES.json
CASES.json: a list of argument lists, each what would follow `facefusion.py headless-run`.
"""
import json
import os
import sys

sys.path.insert(0, os.getcwd())

import encoders_once  # before FaceFusion builds a parser: `ffmpeg -encoders` asked once

from facefusion import face_store, logger, state_manager
from facefusion.args import apply_args
from facefusion.core import process_headless
from facefusion.jobs import job_manager
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

with open(sys.argv[1]) as cases_file:
	cases = json.load(cases_file)

for case in cases:
	args = parse([ 'headless-run' ] + case)
	apply_args(args, state_manager.init_item)
	logger.init(state_manager.get_item('log_level'))
	face_store.clear_faces()
	ok = job_manager.init_jobs(state_manager.get_item('jobs_path')) and process_headless(args) == 0
	print(json.dumps({ 'ok': ok }), flush = True)
