# lit configuration of pmc's FileCheck tests (*.mlir, *.test).
import os
import lit.formats
from lit.llvm import llvm_config

config.name = "pmc"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["conformance", "python", "zoo", "unit", "lit.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.pmc_obj_root, "test")

llvm_config.with_system_environment(["HOME", "TMPDIR", "PATH"])
llvm_config.use_default_substitutions()
# First, so that it wins over lit's own %python (the interpreter running lit).
config.substitutions.insert(0, ("%python", config.python_executable))
config.substitutions.append(("%pmc_src", config.pmc_src_root))
llvm_config.with_environment("PYTHONPATH", os.path.join(config.pmc_obj_root, "python"),
                             append_path=True)
tool_dirs = [config.pmc_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["pmc-opt", "pmc-run"], tool_dirs)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

# ptxas of the CUDA toolkit assembles the PTX of --target cuda (test/Target/cuda-*);
# without it those tests (REQUIRES: ptxas) are UNSUPPORTED.
import shutil
ptxas = shutil.which("ptxas") or shutil.which("ptxas", path="/usr/local/cuda/bin")
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# A loadable CUDA driver: cuda bundles run here (tests of the no-driver
# errors are then unsupported).
try:
    import ctypes
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass
