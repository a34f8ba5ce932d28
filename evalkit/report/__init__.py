"""Tables, rate–distortion curves and reports built from manifests and metric tables.

``tables`` (summaries, tables at each target, RD points, BD tables), ``bjontegaard`` (BD-rate and
BD-metric), ``figures`` (matplotlib RD figures), ``visual`` (boxed and magnified crops),
``study_sections`` (a study's results) and ``build`` (the HTML page, ``evalkit report``).
"""
