"""FaceFusion 3.8.1's own model sets of the named processors, as JSON: for each model its licence, the
models-X.Y.Z release and file it downloads, and the rest of its options (template, size, scale, precision).

usage (cwd = FaceFusion's source tree, PYTHONPATH = the oracle's shim): python3 model_sets.py INPUT.json
INPUT.json: a list of processor names, e.g. ["face_enhancer", "frame_enhancer"].
"""
import importlib
import json
import os
import sys

sys.path.insert(0, os.getcwd())

with open(sys.argv[1]) as input_file:
	processors = json.load(input_file)

result = {}
for processor in processors:
	core = importlib.import_module('facefusion.processors.modules.' + processor + '.core')
	# The real resolver pings the download hosts (offline here) and answers None: name the release instead.
	core.resolve_download_url = lambda base_name, file_name: base_name + '/' + file_name
	models = {}
	for name, options in core.create_static_model_set('full').items():
		sources = options.get('sources')
		models[name] =\
		{
			'license': options.get('__metadata__').get('license'),
			'urls': [ source.get('url') for source in sources.values() ],
			**{ key: value for key, value in options.items() if key not in [ '__metadata__', 'hashes', 'sources' ] }
		}
	result[processor] = models

print(json.dumps(result))
