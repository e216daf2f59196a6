"""``make course`` as incremental runs: the notebooks' graph, stamps, progress and measurements.

The course sits on top of the pipeline, like the command line (``eotdl-tutorials course``):

- :mod:`~eotdl_tutorials.course.graph`: which notebooks read what another one wrote, declared in
  each notebook's metadata (``eotdl_tutorials.upstream``);
- :mod:`~eotdl_tutorials.course.stamps`: what a notebook's run depends on, hashed, and why a
  notebook runs again or is kept;
- :mod:`~eotdl_tutorials.course.memory`: the peak memory of a process tree, sampled;
- :mod:`~eotdl_tutorials.course.progress`: the lines a run prints;
- :mod:`~eotdl_tutorials.course.record`: the course's results file, time and memory per step;
- :mod:`~eotdl_tutorials.course.runner`: the world, the notebooks and the book, each run only
  when something it depends on changed;
- :mod:`~eotdl_tutorials.course.plan`: the plan-ahead page (time, memory, disk of the two
  commands), generated from the last runs' results files.
"""
