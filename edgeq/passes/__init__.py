"""Pure Graph -> Graph passes: graph/ (fold, fuse, alias, schedule), lower/ (op -> kernel call), memory/
(liveness and the arena planner); pipeline.py runs them in order."""
