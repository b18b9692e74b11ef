"""Style benchmark: does a model write like the author?

`profile.build_profile` reads a text, `profile.compare` measures a candidate against the
author's profile, and `score.overall_score` turns the metrics into 0-100. Generation,
perplexity and the report live beside them; `training.evaluate` is the command line.
"""
