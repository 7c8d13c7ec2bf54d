import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Native calls run in this process, not in edgeq's worker (edgeq.isolation), to keep the suite fast;
# tests/cli/test_isolation.py runs the real worker (it sets EDGEQ_ISOLATION=process) at every call site.
os.environ.setdefault("EDGEQ_ISOLATION", "inprocess")
os.environ.setdefault("EDGEQ_CACHE", str(Path(__file__).resolve().parents[1] / ".edgeq-cache"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
