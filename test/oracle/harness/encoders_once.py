"""Imported by the harness scripts before they build FaceFusion's argument parser. FaceFusion 3.8.1 runs
`ffmpeg -encoders` seven times for each parser it builds (the output options' choices), 0.1-0.2 s each with
Debian's ffmpeg, and the scripts build one per case or per model pair. The answer is the ffmpeg binary's, the
same for the whole process: FaceFusion's own function, asked once. Nothing else of FaceFusion is changed.
"""
import functools

from facefusion import program

program.get_available_encoder_set = functools.cache(program.get_available_encoder_set)
