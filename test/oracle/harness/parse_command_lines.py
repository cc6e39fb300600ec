"""Parses command lines with FaceFusion 3.8.1's own argument parser, as `facefusion.py headless-run` would,
as one JSON list, an entry per case: the options as FaceFusion's state holds them once its `apply_args` has normalised
them (padding as four sides, ...), or {"error": message} where FaceFusion refuses the line.

usage (cwd = FaceFusion's source tree, PYTHONPATH = the oracle's shim): python3 parse_command_lines.py CASES.json
CASES.json: a list of argument lists, each what would follow `facefusion.py headless-run`.
"""
import io
import json
import os
import sys
from contextlib import redirect_stderr

sys.path.insert(0, os.getcwd())

import encoders_once  # before FaceFusion builds a parser: `ffmpeg -encoders` asked once

from facefusion import config
from facefusion.args import apply_args
from facefusion.program import create_program

with open(sys.argv[1]) as cases_file:
	cases = json.load(cases_file)

results = []
for case in cases:
	argv = [ 'headless-run' ] + case
	# The parser reads its defaults from the --config-path file and some choices from sys.argv as it is built.
	sys.argv = [ 'facefusion.py' ] + argv
	config.get_static_config_parser.cache_clear()
	errors = io.StringIO()
	try:
		with redirect_stderr(errors):
			args = vars(create_program().parse_args(argv))
		state = {}
		apply_args(args, state.__setitem__)
		results.append(state)
	except SystemExit:
		results.append({ 'error': errors.getvalue().strip().splitlines()[-1] })
print(json.dumps(results))
