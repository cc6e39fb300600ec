"""Copies an ONNX model in the form FaceFusion feeds and reads: its single input renamed to `input` (the
testdata's SCRFD calls it `input.1`, its MobileFaceNet `input0`) and, with --squeeze-batch, every output's
leading batch axis dropped (FaceFusion's scrfd_2.5g gives [N, C]; the testdata's SCRFD export gives [1, N, C]).

usage: python3 rename_input.py SOURCE.onnx DEST.onnx [--squeeze-batch]
"""
import sys

import onnx
import numpy
from onnx import helper, numpy_helper

model = onnx.load(sys.argv[1])
graph = model.graph
old_name = graph.input[0].name
graph.input[0].name = 'input'
for node in graph.node:
	for index, name in enumerate(node.input):
		if name == old_name:
			node.input[index] = 'input'
if '--squeeze-batch' in sys.argv[3:]:
	opset = next(entry.version for entry in model.opset_import if entry.domain in ('', 'ai.onnx'))
	if opset >= 13:
		graph.initializer.append(numpy_helper.from_array(numpy.array([ 0 ], numpy.int64), 'batch_axis'))
	for output in graph.output:
		batched = output.name + '_batched'
		for node in graph.node:
			node.output[:] = [ batched if name == output.name else name for name in node.output ]
			node.input[:] = [ batched if name == output.name else name for name in node.input ]
		if opset >= 13:
			graph.node.append(helper.make_node('Squeeze', [ batched, 'batch_axis' ], [ output.name ]))
		else:
			graph.node.append(helper.make_node('Squeeze', [ batched ], [ output.name ], axes = [ 0 ]))
		del output.type.tensor_type.shape.dim[0]
onnx.save(model, sys.argv[2])
